"""A rejected `dvc exp run -S key=value` leaves nothing behind: the committed value of each rejected key goes back.

`dvc exp run -S alpha=2` composes `alpha: 2` into params.yaml before any stage runs; the first stage rejects it,
and without this the file keeps it, so the next plain `dvc repro` fails too. `restore_rejected` puts back the
value git's HEAD holds for each key the schema rejects (a key HEAD lacks is removed) and leaves every other
key as it is, the user's accepted changes included. params.yaml is written as DVC's Hydra composition writes it
(OmegaConf's YAML), so the file stays byte-identical apart from the restored keys; a file in another layout
(edited by hand), one git does not track, or one that equals HEAD (the committed file is the problem) is left
alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from ragtune.config.schema import Params, ParamsError, load, rejections
from ragtune.io import DataError, atomic_write

_ABSENT = object()


def committed_text(path: Path) -> str | None:
    """The file as git's HEAD holds it, or None (no git, not a repository, no commit, not tracked)."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return shown.stdout.decode("utf-8") if shown.returncode == 0 else None


def composed_yaml(values: dict[str, Any]) -> str:
    """params.yaml's text as `dvc exp run` / `ragtune params` write it (dvc.utils.hydra: OmegaConf.to_yaml)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(values))


def restore_rejected(path: Path) -> str | None:
    """Put back the committed value of each key the schema rejects in `path` (params.yaml) and say so in one
    line: "alpha = 2 is not allowed: must be …; restored the committed alpha: 0.6". None when nothing was
    restored (the file is valid, untracked, unchanged since HEAD, not in the composed layout, or HEAD's values
    are rejected too)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    committed = committed_text(path)
    if committed is None or committed == text:
        return None
    try:
        current, before = yaml.safe_load(text) or {}, yaml.safe_load(committed) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(current, dict) or not isinstance(before, dict) or composed_yaml(current) != text:
        return None
    if rejections(before):  # HEAD's own params.yaml is rejected too: restoring from it would not help
        return None
    said = []
    for _ in range(100):  # a restored key can uncover another (a union's member); the schema has fewer keys
        rejected = rejections(current)
        if not rejected:
            break
        for parts, problem in rejected:
            old = _get(before, parts)
            if not _put(current, parts, old):
                return None
            key = ".".join(parts)
            said.append(
                f"{key} {problem}; "
                + (
                    f"removed {key} (not in the committed file)"
                    if old is _ABSENT
                    else f"restored the committed {key}: {_inline(old)}"
                )
            )
    else:
        return None
    if not said:
        return None
    with atomic_write(path) as handle:
        handle.write(composed_yaml(current))
    return "; ".join(said)


def read_params(path: Path) -> Params:
    """params.yaml typed by the schema; a rejected key raises ParamsError, or, when the rejected keys could be
    restored from HEAD, a DataError saying in one line what was rejected and what was put back."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    try:
        return load(values, source=path.name)
    except ParamsError:
        restored = restore_rejected(path)
        if restored is None:
            raise
    raise DataError(path.name, f"{restored} (nothing ran; the next `dvc repro` runs with the committed values)")


def _get(values: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(values, dict) and part in values:
            values = values[part]
        elif isinstance(values, list) and part.isdigit() and int(part) < len(values):
            values = values[int(part)]
        else:
            return _ABSENT
    return values


def _put(values: Any, parts: list[str], value: Any) -> bool:
    """Set (or with _ABSENT remove) the key at `parts`; False when its parent is not there."""
    parent = _get(values, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if value is _ABSENT:
            parent.pop(last, None)
        else:
            parent[last] = value
        return True
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent) and value is not _ABSENT:
        parent[int(last)] = value
        return True
    return False


def _inline(value: Any) -> str:
    """A value as YAML writes it inline: 0.6, null, [a, b]."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()
