"""The workspace's standing choices (`ragtune use`), composed under every `dvc exp run -S …`.

`dvc exp run -S alpha=0.6` composes `conf/` from scratch, so a choice made by an earlier
`-S data=competition` is lost. `ragtune use data=competition alpha=0.6` records such choices in
`conf/workspace/choices.yaml`, which `conf/config.yaml` lists as `optional workspace: choices` after
`_self_`: group choices become `override /<group>: <option>` entries of its defaults list, plain keys
are set on top of config.yaml, and command-line overrides still apply on top of both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ragtune.config.schema import validate
from ragtune.io import DataError, atomic_write

CHOICES = Path("workspace") / "choices.yaml"  # relative to conf/
HEADER = (
    "# @package _global_\n"
    "# The workspace's standing choices, written by `ragtune use` (show: ragtune use --show; clear: --reset).\n"
    "# conf/config.yaml composes this file after its own keys; `dvc exp run -S …` overrides apply on top.\n"
)


def groups(conf: Path) -> list[str]:
    """The config groups (sub-directories of conf/ holding options), the workspace's own excepted."""
    return sorted(
        p.name for p in conf.iterdir() if p.is_dir() and p.name != CHOICES.parent.name and any(p.glob("*.yaml"))
    )


def read_choices(conf: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """(group -> option, dotted key -> value) currently recorded."""
    path = conf / CHOICES
    if not path.exists():
        return {}, {}
    body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    chosen = {}
    for entry in body.pop("defaults", []) or []:
        ((key, option),) = entry.items()
        chosen[key.removeprefix("override /")] = option
    return chosen, dict(_flatten(body))


def parse(assignments: Sequence[str], conf: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """KEY=VALUE words into (group choices, plain keys); values are YAML (0.6 a number, true a bool, null)."""
    known_groups = groups(conf)
    chosen, keys = {}, {}
    for word in assignments:
        key, sep, raw = word.partition("=")
        key = key.strip().lstrip("+")
        if not sep or not key:
            raise DataError(word, f"expected KEY=VALUE, got {word!r}")
        if key in known_groups:
            if not (conf / key / f"{raw}.yaml").exists():
                options = sorted(p.stem for p in (conf / key).glob("*.yaml"))
                raise DataError(word, f"no such option; one of {', '.join(options)}", field=key)
            chosen[key] = raw
        else:
            keys[key] = yaml.safe_load(raw) if raw else None
    return chosen, keys


def overrides(chosen: Mapping[str, str], keys: Mapping[str, Any]) -> list[str]:
    """The same choices as Hydra command-line overrides (for composing a preview)."""
    return [f"{g}={o}" for g, o in chosen.items()] + [f"{k}={json.dumps(v)}" for k, v in keys.items()]


def compose(conf: Path, cli_overrides: Sequence[str] = ()) -> dict[str, Any]:
    """conf/ composed as `dvc exp run` composes it (choices file included), as plain data."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(conf.resolve()), version_base=None):
        return OmegaConf.to_container(hydra_compose("config", overrides=list(cli_overrides)), resolve=True)


def use(conf: Path, assignments: Sequence[str]) -> dict[str, Any]:
    """Add `assignments` to the recorded choices, after checking the composition against the schema
    (a bad choice is refused and the file left as it was). Returns the composed parameters."""
    chosen, keys = read_choices(conf)
    new_chosen, new_keys = parse(assignments, conf)
    chosen.update(new_chosen)
    keys.update(new_keys)
    composed = compose(conf, overrides(chosen, {}) + [f"++{k}={json.dumps(v)}" for k, v in keys.items()])
    validate(composed, source=" ".join(assignments))  # an unknown key fails here too: ++ added it
    for key in ("path", "questions"):  # the collection's files, when set here: a typo is said now, not at a run
        value = new_keys.get(f"data.{key}")
        if isinstance(value, str) and not (conf.parent / value).exists():
            raise DataError(
                " ".join(assignments), f"{value} does not exist (relative to {conf.parent})", field=f"data.{key}"
            )
    write_choices(conf, chosen, keys)
    return compose(conf)


def write_choices(conf: Path, chosen: Mapping[str, str], keys: Mapping[str, Any]) -> None:
    body: dict[str, Any] = {}
    if chosen:
        body["defaults"] = [{f"override /{group}": option} for group, option in sorted(chosen.items())]
    for key, value in sorted(keys.items()):
        node = body
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    with atomic_write(conf / CHOICES) as handle:
        handle.write(HEADER + (yaml.safe_dump(body, sort_keys=False, allow_unicode=True) if body else ""))


def reset(conf: Path) -> bool:
    """Forget every recorded choice; True when there were some."""
    path = conf / CHOICES
    if not path.exists():
        return False
    path.unlink()
    return True


def show(conf: Path) -> str:
    chosen, keys = read_choices(conf)
    if not chosen and not keys:
        return f"no workspace choices ({conf.name}/{CHOICES} absent): dvc exp run composes conf/ as shipped"
    lines = [f"{conf.name}/{CHOICES}:"]
    lines += [f"  {group}={option}" for group, option in sorted(chosen.items())]
    lines += [f"  {key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(keys.items())]
    return "\n".join(lines)


def _flatten(node: Mapping[str, Any], prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def record_data_group(store: Path, name: str) -> str | None:
    """Record `name` as the data group of the workspace's latest run (in the store outside DVC's outputs, shared
    by its experiments and worktrees); return the previous one when it differed."""
    record = store / "last_run.json"
    try:
        previous = json.loads(record.read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous != name:
        try:
            with atomic_write(record) as handle:
                json.dump({"data": name}, handle)
        except OSError:
            pass  # a read-only store must not stop a run: the warning is advice
    return previous if previous not in (None, name) else None


def warn_on_data_switch(store: Path, name: str) -> None:
    """Loudly, when this run's data group is not the one the workspace ran last (`dvc exp run -S alpha=…`
    after `-S data=competition` composes from conf/ again, i.e. on the default data)."""
    previous = record_data_group(store, name)
    if previous is not None:
        bar = "!" * 78
        logging.getLogger("ragtune").warning(
            "\n%s\n  this run uses data=%s, but the last run in this workspace used data=%s.\n"
            "  To keep %s for every later run: ragtune use data=%s  (then dvc exp run …)\n%s",
            bar,
            name,
            previous,
            previous,
            previous,
            bar,
        )
