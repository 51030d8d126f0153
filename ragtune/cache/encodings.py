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
        out, new, new_rows = None, None, 0
        name = self.parts / f"part-{uuid.uuid4().hex}"
        try:
            for start in range(0, len(texts), chunk):
                todo = fresh[new_rows : new_rows + chunk]
                todo = todo[todo < start + chunk]
                vectors = np.asarray(encode([texts[i] for i in todo]), np.float32) if len(todo) else None
                if out is None:
                    dim = vectors.shape[1] if vectors is not None else stored[part[part >= 0][0]][1].shape[1]
                    out = allocate((len(texts), dim))
                    if len(fresh):
                        self.parts.mkdir(parents=True, exist_ok=True)
                        new = np.lib.format.open_memmap(f"{name}.vectors.tmp.npy", "w+", np.float32, (len(fresh), dim))
                if len(todo):
                    out[todo] = vectors
                    new[new_rows : new_rows + len(todo)] = vectors
                    new_rows += len(todo)
                rows = np.arange(start, min(start + chunk, len(texts)))
                for p, (_, stored_vectors) in enumerate(stored):
                    take = rows[part[rows] == p]
                    if len(take):
                        out[take] = stored_vectors[row[take]]
                repeats = rows[(first[rows] >= 0) & (first[rows] != rows)]  # a text met again
                if len(repeats):
                    out[repeats] = out[first[repeats]]
            if new is not None:
                new.flush()
                del new
                Path(f"{name}.vectors.tmp.npy").replace(f"{name}.vectors.npy")
                np.save(f"{name}.keys.tmp.npy", keys[fresh])
                Path(f"{name}.keys.tmp.npy").replace(f"{name}.keys.npy")
        finally:
            for leftover in (f"{name}.vectors.tmp.npy", f"{name}.keys.tmp.npy"):
                Path(leftover).unlink(missing_ok=True)
        self.encoded, self.remembered = len(fresh), int(np.count_nonzero(part >= 0))
        return out


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
