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

from ragtune.cache.stores import mark_used
from ragtune.io import atomic_write

Searcher = Callable[[Sequence[str], int], tuple[np.ndarray, np.ndarray]]


def fingerprint(*parts: str | Path, remembered: str | Path | None = None) -> str:
    """sha256 over values and, for existing paths, the bytes of every file under them (sorted;
    `__pycache__` skipped: compiled files embed timestamps).

    `remembered`: a directory where the digest is kept under the parts' listing (values; each file's path, size,
    modification time and inode), as DVC's state keeps its hashes: the bytes (a model's 470 MB) are read again
    only when a listed file changed or moved. The digest is the same either way."""
    listed = [(part, _files(part)) for part in parts]
    place = Path(remembered) / _listing(listed) if remembered is not None else None
    if place is not None:
        try:
            digest = place.read_text(encoding="ascii")
            mark_used(place)
            return digest
        except OSError:
            pass
    digest = hashlib.sha256()
    for part, files in listed:
        if files is None:
            digest.update(str(part).encode("utf-8") + b"\0")
            continue
        for name, file in files:
            digest.update(os.fsencode(name) + b"\0")
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    if place is not None:
        with atomic_write(place) as handle:
            handle.write(digest.hexdigest())
    return digest.hexdigest()


def _files(part: str | Path) -> list[tuple[str | Path, Path]] | None:
    """(name hashed, file) of an existing path part, sorted; None for a value."""
    path = Path(part) if isinstance(part, Path) else None
    if path is None or not path.exists():
        return None
    if not path.is_dir():
        return [(path.name, path)]
    files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [(file.relative_to(path), file) for file in files]


def _listing(listed: list[tuple[str | Path, list | None]]) -> str:
    digest = hashlib.sha256(b"listing\0")
    for part, files in listed:
        if files is None:
            digest.update(b"v" + str(part).encode("utf-8") + b"\0")
            continue
        for _, file in files:
            stat = file.stat()
            digest.update(f"f{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\0".encode())
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
            if read_key(place) == key:
                self.hits.append(name)
                return np.load(place / "ids.npy"), np.load(place / "scores.npy")
            kept = self.store / key[:2] / key if self.store is not None else None
            if kept is not None and read_key(kept) == key:
                self.hits.append(name)
                mark_used(kept / "key")  # `ragtune cache --prune` forgets what has long gone unused
                ids, scores = np.load(kept / "ids.npy"), np.load(kept / "scores.npy")
            else:
                self.misses.append(name)
                if not made:
                    made.append(make_searcher())
                ids, scores = made[0](texts, k)
                if kept is not None:
                    save_arrays(kept, key, ids, scores)
            save_arrays(place, key, ids, scores)
            return ids, scores

        return search

    def remembers(self, searcher_fingerprint: str, texts: Sequence[str], k: int) -> bool:
        """Whether a search's result is remembered (in the store, or a question set's place), as `wrap`'s search
        would find it: asked before searching, so that work shared by two searches is done only for both."""
        key = _key(searcher_fingerprint, texts, k)
        places = [self.store / key[:2] / key] if self.store is not None else []
        places += [key_file.parent for key_file in self.directory.glob("**/key")]
        return any(read_key(place) == key for place in places)


def save_arrays(place: Path, key: str, ids: np.ndarray, scores: np.ndarray) -> None:
    """`place/ids.npy`, `place/scores.npy`, then `place/key`: the key is written last and removed first, so a
    killed write leaves no key that matches."""
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


def read_key(place: Path) -> str | None:
    try:
        return (place / "key").read_text(encoding="utf-8")
    except OSError:
        return None
