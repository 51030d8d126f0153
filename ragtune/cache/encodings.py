"""Passage encodings remembered per text, keyed by the model's bytes and the encoder settings.

Encoding the corpus with a 12-layer model is the costliest step on CPU, and the base model's passage
vectors do not change while the base model, the settings and the texts do not: `EncodingMemo` keeps
the vectors per (model fingerprint, settings) with the sha256 of each text, answers the texts
it has and encodes only the others (the train stage's selection subset and the index stage's full
corpus then share their work). A key names everything the result depends on, so a remembered vector
is the vector a fresh encoding gives (up to the batch composition's float rounding: batches of
sorted lengths differ when the text set differs; measured below 1e-6 cosine).

At scale the corpus's vectors are never held in memory twice: each encoding run appends one part (`.npy` files,
read back memory-mapped) holding only the texts it encoded, and `encode_into` fills a caller's array (a
memory-mapped `.npy` for the index stage) `chunk` texts at a time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ragtune.cache.searches import fingerprint

CHUNK = 16_384  # texts encoded per call: one chunk's vectors in memory (a whole sample or competition corpus is one)
Allocate = Callable[[tuple[int, int]], np.ndarray]  # (rows, dim) → the array encode_into fills


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def in_memory(shape: tuple[int, int]) -> np.ndarray:
    return np.empty(shape, np.float32)


def on_disk(path: str | Path) -> Allocate:
    """Allocate a float32 `.npy` at `path`, memory-mapped (np.lib.format.open_memmap): filled rows go to disk."""
    return lambda shape: np.lib.format.open_memmap(Path(path), mode="w+", dtype=np.float32, shape=shape)


class EncodingMemo:
    """`encode(texts)` through a per-text memo in `directory/<key>/` (key: model files + settings): parts of
    `keys.npy` (sha256 of each text) and `vectors.npy`; a `directory/<key>.npz` of earlier versions is read too."""

    def __init__(self, directory: str | Path, model_dir: str | Path, *settings: object):
        key = fingerprint(Path(model_dir), *map(str, settings))
        self.legacy = Path(directory) / f"{key}.npz"
        self.parts = Path(directory) / key
        self.remembered = 0
        self.encoded = 0

    def _stored(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(keys as S32, vectors) of every part; the vectors memory-mapped (the legacy archive: in memory)."""
        stored = []
        if self.legacy.is_file():
            with np.load(self.legacy) as archive:
                stored.append((archive["keys"].view("S32").ravel(), archive["vectors"]))
        for keys in sorted(self.parts.glob("*.keys.npy")):  # written last: its part is complete
            vectors = keys.with_name(keys.name.replace(".keys.npy", ".vectors.npy"))
            stored.append((np.load(keys), np.load(vectors, mmap_mode="r")))
        return stored

    def encode(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The vectors of `texts` in memory, in order; `encode(batch)` runs only on texts not remembered."""
        return self.encode_into(texts, encode, in_memory)

    def encode_into(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        allocate: Allocate = in_memory,
        chunk: int = CHUNK,
    ) -> np.ndarray:
        """`allocate((len(texts), dim))` filled with the vectors of `texts` in order, `chunk` texts at a time:
        remembered rows copied from the memo's parts, the others encoded (each distinct text once) and appended to
        the memo as one new part once all are done. Nothing whole-corpus sized is held besides the result."""
        if not texts:
            return np.zeros((0, 0), np.float32)
        keys = np.array([text_key(t) for t in texts], dtype="S32")
        stored = self._stored()
        part, row = _lookup(keys, [k for k, _ in stored])
        missing = np.flatnonzero(part < 0)
        _, first_of, repeat_of = np.unique(keys[missing], return_index=True, return_inverse=True)
        first = np.full(len(texts), -1, np.int64)  # a missing text's row where it is first met (and encoded)
        first[missing] = missing[first_of][repeat_of.ravel()]
        fresh = np.sort(missing[first_of])
        out, new = None, None
        try:
            for start in range(0, len(texts), chunk):
                todo = fresh[slice(*np.searchsorted(fresh, [start, start + chunk]))]  # the window's new texts
                vectors = np.asarray(encode([texts[i] for i in todo]), np.float32) if len(todo) else None
                if out is None:
                    dim = vectors.shape[1] if vectors is not None else stored[part[part >= 0][0]][1].shape[1]
                    out = allocate((len(texts), dim))
                    new = _NewPart(self.parts, len(fresh), dim) if len(fresh) else None
                if len(todo):
                    out[todo] = vectors
                    new.add(keys[todo], vectors)
                rows = np.arange(start, min(start + chunk, len(texts)))
                for p, (_, stored_vectors) in enumerate(stored):
                    take = rows[part[rows] == p]
                    if len(take):
                        out[take] = stored_vectors[row[take]]
                repeats = rows[(first[rows] >= 0) & (first[rows] != rows)]  # a text met again
                if len(repeats):
                    out[repeats] = out[first[repeats]]
            if new is not None:
                new.commit()
        finally:
            if new is not None:
                new.discard()
        self.encoded, self.remembered = len(fresh), int(np.count_nonzero(part >= 0))
        return out

    def unknown(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` (sha256 of texts, S32) no part remembers."""
        return _lookup(keys, [k for k, _ in self._stored()])[0] < 0


def encode_together(
    memos: Sequence[EncodingMemo],
    texts: Sequence[str],
    load: Callable[[], Callable[[list[str]], Sequence[np.ndarray]] | None],
    chunk: int = CHUNK,
) -> int:
    """The texts that none of `memos` remembers, encoded for all of them at once and remembered by each, so that their
    `encode_into` then finds every one: for models that share work (ragtune.models.shared_bottom). `load()` gives
    the joint encoder (`batch → one array per memo, in order`), or None where there is none (nothing is encoded);
    it is called only when some text is unknown to all. Batches are `encode_into`'s: the texts first met in each
    window of `chunk`. Returns how many texts were encoded."""
    keys = np.array([text_key(t) for t in texts], dtype="S32")
    unknown = np.ones(len(texts), bool)
    for memo in memos:
        unknown &= memo.unknown(keys)
    _, first = np.unique(keys[unknown], return_index=True)
    fresh = np.sort(np.flatnonzero(unknown)[first])
    encode = load() if len(fresh) else None
    if encode is None:
        return 0
    parts: list[_NewPart] = []
    try:
        for start in range(0, len(texts), chunk):
            todo = fresh[slice(*np.searchsorted(fresh, [start, start + chunk]))]
            if not len(todo):
                continue
            encoded = [np.asarray(vectors, np.float32) for vectors in encode([texts[i] for i in todo])]
            if not parts:
                parts = [_NewPart(memo.parts, len(fresh), v.shape[1]) for memo, v in zip(memos, encoded, strict=True)]
            for new, vectors in zip(parts, encoded, strict=True):
                new.add(keys[todo], vectors)
        for new in parts:
            new.commit()
    finally:
        for new in parts:
            new.discard()
    return len(fresh)


class _NewPart:
    """A part being written: vectors into a temporary memory-mapped `.npy`, then its keys; renamed into place at
    `commit`, keys last (a part whose keys file exists is complete). `discard` removes whatever was not committed."""

    def __init__(self, parts: Path, rows: int, dim: int):
        parts.mkdir(parents=True, exist_ok=True)
        self.name = parts / f"part-{uuid.uuid4().hex}"
        self.vectors = np.lib.format.open_memmap(f"{self.name}.vectors.tmp.npy", "w+", np.float32, (rows, dim))
        self.keys: list[np.ndarray] = []
        self.rows = 0

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.vectors[self.rows : self.rows + len(keys)] = vectors
        self.keys.append(keys)
        self.rows += len(keys)

    def commit(self) -> None:
        self.vectors.flush()
        del self.vectors
        Path(f"{self.name}.vectors.tmp.npy").replace(f"{self.name}.vectors.npy")
        np.save(f"{self.name}.keys.tmp.npy", np.concatenate(self.keys))
        Path(f"{self.name}.keys.tmp.npy").replace(f"{self.name}.keys.npy")

    def discard(self) -> None:
        for leftover in (f"{self.name}.vectors.tmp.npy", f"{self.name}.keys.tmp.npy"):
            Path(leftover).unlink(missing_ok=True)


def _lookup(keys: np.ndarray, stored: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(part, row) of each key in the stored parts' keys; part -1 where no part has it."""
    part = np.full(len(keys), -1, np.int64)
    row = np.zeros(len(keys), np.int64)
    for p, known in enumerate(stored):
        order = np.argsort(known)
        at = np.minimum(np.searchsorted(known, keys, sorter=order), max(len(known) - 1, 0))
        found = (part < 0) & (known[order[at]] == keys) if len(known) else np.zeros(len(keys), bool)
        part[found], row[found] = p, order[at[found]]
    return part, row
