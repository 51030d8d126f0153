"""Passage encodings remembered per text, keyed by the model's bytes and the encoder settings.

Encoding the corpus with a 12-layer model is the costliest step on CPU, and the base model's passage
vectors do not change while the base model, the settings and the texts do not: `EncodingMemo` keeps
one file of vectors per (model fingerprint, settings) with the sha256 of each text, answers the texts
it has and encodes only the others (the train stage's selection subset and the index stage's full
corpus then share their work). A key names everything the result depends on, so a remembered vector
is the vector a fresh encoding gives (up to the batch composition's float rounding: batches of
sorted lengths differ when the text set differs; measured below 1e-6 cosine).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ragtune.cache.searches import fingerprint
from ragtune.io import atomic_write


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EncodingMemo:
    """`encode(texts)` through a per-text memo in `directory/<key>.npz` (key: model files + settings)."""

    def __init__(self, directory: str | Path, model_dir: str | Path, *settings: object):
        self.file = Path(directory) / f"{fingerprint(Path(model_dir), *map(str, settings))}.npz"
        self.remembered = 0
        self.encoded = 0

    def _load(self) -> dict[bytes, np.ndarray]:
        if not self.file.is_file():
            return {}
        with np.load(self.file) as archive:
            return dict(zip((bytes(k) for k in archive["keys"]), archive["vectors"]))

    def encode(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        known = self._load()
        keys = [text_key(t) for t in texts]
        missing = list({k: t for k, t in zip(keys, texts) if k not in known}.items())  # first occurrences, in order
        if missing:
            vectors = np.asarray(encode([t for _, t in missing]), dtype=np.float32)
            known.update(zip((k for k, _ in missing), vectors))
            order = sorted(known)
            with atomic_write(self.file, "wb") as handle:
                np.savez(
                    handle,
                    keys=np.asarray([np.frombuffer(k, np.uint8) for k in order]),
                    vectors=np.stack([known[k] for k in order]),
                )
        fresh = {k for k, _ in missing}
        self.encoded, self.remembered = len(fresh), sum(k not in fresh for k in keys)
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)
