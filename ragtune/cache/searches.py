"""Candidate searches remembered by the content of their inputs, so a sweep over fusion weights
does not encode and search 19k questions again.

A search's result is a pure function of the searcher (model and index bytes, settings: its
`fingerprint`), the query texts and the depth. `SearchMemo` stores the last result of each named
searcher with the sha256 of those inputs, and answers from it only when the key matches
exactly; anything else recomputes with the same code, so a remembered result is byte-identical
to a fresh one. Files are written atomically and the key last: an interrupted write leaves a
stale key, never a half-written result that looks valid.

`dvc exp run` restores the memo (a persisted output) to its committed state before retrieve runs,
so with a `store` (a directory outside the pipeline's outputs) every result is also kept there
under its key, `store/<key[:2]>/<key>/`, and a miss in the memo is answered from it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ragtune.io import atomic_write

Searcher = Callable[[Sequence[str], int], tuple[np.ndarray, np.ndarray]]


def fingerprint(*parts: str | Path) -> str:
    """sha256 over values and, for existing paths, the bytes of every file under them (sorted;
    `__pycache__` skipped: compiled files embed timestamps)."""
    digest = hashlib.sha256()
    for part in parts:
        path = Path(part) if isinstance(part, Path) else None
        if path is not None and path.exists():
            files = (
                sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
                if path.is_dir()
                else [path]
            )
            for file in files:
                digest.update(os.fsencode(file.relative_to(path) if path.is_dir() else file.name) + b"\0")
                with open(file, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
        else:
            digest.update(str(part).encode("utf-8") + b"\0")
    return digest.hexdigest()


class SearchMemo:
    """One remembered result per searcher name under `directory/<name>/`."""

    def __init__(self, directory: str | Path, store: str | Path | None = None):
        self.directory = Path(directory)
        self.store = Path(store) if store is not None else None
        self.hits: list[str] = []
        self.misses: list[str] = []

    def wrap(self, name: str, searcher_fingerprint: str, make_searcher: Callable[[], Searcher]) -> Searcher:
        """A searcher that answers from the memo when it can; `make_searcher` runs only on a miss
        (loading a model is part of what a hit saves) and at most once."""
        made: list[Searcher] = []

        def search(texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
            key = _key(searcher_fingerprint, texts, k)
            place = self.directory / name
            if _read_key(place) == key:
                self.hits.append(name)
                return np.load(place / "ids.npy"), np.load(place / "scores.npy")
            kept = self.store / key[:2] / key if self.store is not None else None
            if kept is not None and _read_key(kept) == key:
                self.hits.append(name)
                ids, scores = np.load(kept / "ids.npy"), np.load(kept / "scores.npy")
            else:
                self.misses.append(name)
                if not made:
                    made.append(make_searcher())
                ids, scores = made[0](texts, k)
                if kept is not None:
                    _save(kept, key, ids, scores)
            _save(place, key, ids, scores)
            return ids, scores

        return search


def _save(place: Path, key: str, ids: np.ndarray, scores: np.ndarray) -> None:
    (place / "key").unlink(missing_ok=True)
    for array_name, array in (("ids", ids), ("scores", scores)):
        with atomic_write(place / f"{array_name}.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
    with atomic_write(place / "key") as handle:
        handle.write(key)


def _key(searcher_fingerprint: str, texts: Sequence[str], k: int) -> str:
    digest = hashlib.sha256(f"{searcher_fingerprint}\0{k}\0{len(texts)}\0".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _read_key(place: Path) -> str | None:
    try:
        return (place / "key").read_text(encoding="utf-8")
    except OSError:
        return None
