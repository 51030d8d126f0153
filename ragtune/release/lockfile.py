"""What dvc.lock records: which stage produced a file and with which md5 (looking inside directory outs
through their listing in the DVC cache), and which stage inputs nothing but the workspace holds.

dvc.lock is read as the plain YAML document it is: DVC's own loader (`dvc.dvcfile.Lockfile`)
needs an opened `dvc.repo.Repo` (1.4 s against 0.14 s on this project's dvc.lock) for the same
stages, deps and outs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from ragtune.release.dvcconfig import cache_dir
from ragtune.release.vcs import ReleaseError, git


@dataclasses.dataclass(frozen=True)
class LockedOutput:
    stage: str
    out: str  # the dvc.lock out path: the file itself, or the directory that contains it
    md5: str  # md5 of the submission file's bytes as DVC recorded it


def cache_object(cache: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object with this md5 in the cache directory `cache`."""
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def read_lock(dvc_root: Path) -> dict:
    """dvc.lock's stages: name -> {cmd, deps, params, outs}."""
    lock_path = dvc_root / "dvc.lock"
    if not lock_path.exists():
        raise ReleaseError(f"{lock_path} not found: run `dvc repro` and commit dvc.lock before releasing")
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{lock_path} is not valid YAML: {exc}") from exc
    return lock.get("stages") or {}


def _overlaps(path: str, others: set[str]) -> bool:
    """`path` is one of `others`, inside one of them, or contains one of them."""
    return any(path == o or path.startswith(o + "/") or o.startswith(path + "/") for o in others)


def _dvc_tracked(dvc_root: Path) -> set[str]:
    """The outs of every .dvc file git tracks (`dvc add`ed data), as paths from `dvc_root`."""
    tracked = set()
    for dvc_file in git(dvc_root, "ls-files", "-z", "--", "*.dvc").stdout.split("\0"):
        if not dvc_file:
            continue
        try:
            spec = yaml.safe_load((dvc_root / dvc_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for out in spec.get("outs") or []:
            tracked.add((Path(dvc_file).parent / out["path"]).as_posix().rstrip("/").removeprefix("./"))
    return tracked


def unreproducible_dependencies(dvc_root: Path, present: Callable[[str], bool] | None = None) -> list[str]:
    """Stage dependencies that no stage produces and that neither git nor a .dvc file tracks.

    A checkout of a tag cannot contain them (typically gitignored raw data that was never
    `dvc add`ed), so a reproduction from the tag would fail or silently use other data.
    With `present`, report instead the unproduced dependencies missing from a checkout.
    """
    stages = read_lock(dvc_root)
    produced = {
        Path(out["path"]).as_posix().rstrip("/") for entry in stages.values() for out in entry.get("outs") or []
    }
    deps = sorted(
        {
            Path(dep["path"]).as_posix().rstrip("/")
            for entry in stages.values()
            for dep in entry.get("deps") or []
            if "://" not in dep["path"] and not Path(dep["path"]).is_absolute()
        }
    )
    candidates = [dep for dep in deps if not _overlaps(dep, produced)]
    if present is not None:
        return [dep for dep in candidates if not present(dep)]
    if not candidates:
        return []
    tracked = git(dvc_root, "ls-files", "-z", "--", *candidates).stdout.split("\0")
    tracked = {t.rstrip("/") for t in tracked if t}
    dvc_tracked = _dvc_tracked(dvc_root)
    return [dep for dep in candidates if not _overlaps(dep, tracked) and not _overlaps(dep, dvc_tracked)]


def locked_output(dvc_root: Path, relpath: str) -> LockedOutput:
    """Find `relpath` among the outs of dvc.lock (as a file out, or inside a directory out)."""
    for stage, entry in sorted(read_lock(dvc_root).items()):
        for out in entry.get("outs") or []:
            out_path = Path(out.get("path", "")).as_posix().rstrip("/")
            md5 = str(out.get("md5", ""))
            if out_path == relpath:
                if md5.endswith(".dir"):
                    raise ReleaseError(f"{relpath} is a directory out in dvc.lock; pass the submission file itself")
                return LockedOutput(stage, out_path, md5)
            if relpath.startswith(out_path + "/") and md5.endswith(".dir"):
                manifest = cache_object(cache_dir(dvc_root), md5)
                try:
                    entries = json.loads(manifest.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as exc:
                    raise ReleaseError(
                        f"cannot read the directory listing of {out_path} from the DVC cache ({manifest}): "
                        "run `dvc pull` or `dvc repro` first"
                    ) from exc
                inner = relpath[len(out_path) + 1 :]
                for item in entries:
                    if item.get("relpath") == inner:
                        return LockedOutput(stage, out_path, item["md5"])
                raise ReleaseError(f"{relpath} is not listed in the DVC output {out_path} recorded in dvc.lock")
    raise ReleaseError(
        f"{relpath} is not an output recorded in {dvc_root / 'dvc.lock'}: only submissions produced by the "
        "pipeline (`dvc repro`) can be released and reproduced"
    )
