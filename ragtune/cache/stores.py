"""What the stores beside the repository hold, and forgetting what has not been used for a while.

The stores (`ragtune.cache.location`) only grow: every candidate search keeps its arrays under its key (31 MB a
searcher over 19k questions), and a change to the code in the key adds a new set. Four of them hold what ragtune
can compute again from the workspace (`REGENERABLE`: candidate searches, offline plans, file digests, lexical
fusions); each entry's last use is its key's modification time, which the memos set when they answer from it.
LLM answers and tuning studies are never pruned here: an answer costs a request (and the tracked caches replay
from it), a study is the record of a search.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ragtune.io import human_size

# store -> where its entries are, relative to it (a file, or a directory holding `key`)
REGENERABLE = {"candidates": "*/*", "plans": "*/*.json", "fingerprints": "*", "fusions": "*"}
KEPT = ("llm", "tune")  # never pruned


@dataclass(frozen=True)
class Usage:
    store: str
    entries: int
    size: int  # bytes
    last_used: float | None  # seconds since the epoch, of its most recently used entry
    prunable: bool


def mark_used(entry: str | os.PathLike) -> None:
    """Record that `entry` (an entry's file, or its `key`) answered a request now, to the nanosecond (a file
    system's own clock may be coarser than two uses apart); a store on a read-only file system stays as it is."""
    now = time.time_ns()
    try:
        os.utime(entry, ns=(now, now))
    except OSError:
        pass


def last_use_ns(entry: Path) -> int:
    """When `entry` (a file, or a directory holding `key`) was last used. A directory without its key is being
    written (or its write was killed): its own modification time, so another process's entry in the making is
    recent and kept, and a killed one ages out. -1 when it is gone."""
    for path in (entry / "key", entry) if entry.is_dir() else (entry,):
        try:
            return path.stat().st_mtime_ns
        except OSError:
            continue
    return -1


def usage(root: str | os.PathLike) -> list[Usage]:
    """Every store under `root` that exists: entries, bytes on disk, last use."""
    root, found = Path(root), []
    for name in [*REGENERABLE, *KEPT]:
        if not (root / name).exists():
            continue
        entries = _entries(root / name, REGENERABLE.get(name, "*"))
        used = [_last_use(entry) for entry in entries]
        found.append(Usage(name, len(entries), _size(root / name), max(used, default=None), name in REGENERABLE))
    return found


def prune(root: str | os.PathLike, unused_for: float, now: float | None = None, dry_run: bool = False) -> list[Usage]:
    """Remove the regenerable entries not used for `unused_for` seconds; per store, what was (or would be)
    removed."""
    root, now, removed = Path(root), time.time() if now is None else now, []
    for name, pattern in REGENERABLE.items():
        if not (root / name).is_dir():
            continue
        stale = [entry for entry in _entries(root / name, pattern) if now - _last_use(entry) >= unused_for]
        size = sum(_size(entry) for entry in stale)
        for entry in [] if dry_run else stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        removed.append(Usage(name, len(stale), size, max(map(_last_use, stale), default=None), True))
    return removed


def _entries(store: Path, pattern: str) -> list[Path]:
    return sorted(path for path in store.glob(pattern) if not path.name.startswith("."))


def _last_use(entry: Path) -> float:
    return max(last_use_ns(entry), 0) / 1e9


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def describe(found: list[Usage], heading: str = "store") -> str:
    """A table a person reads: a line per store, its entries, size and last use."""
    lines = [f"{heading:<14} {'entries':>8} {'size':>10}  last used"]
    for item in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.last_used)) if item.last_used else "-"
        name = item.store + ("" if item.prunable else " (kept)")
        lines.append(f"{name:<14} {item.entries:>8} {human_size(item.size):>10}  {when}")
    return "\n".join(lines)
