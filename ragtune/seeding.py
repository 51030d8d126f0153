"""Seeded randomness keyed by item: each (seed, key) pair, e.g. a document's id, gets its own stream, so
adding or reordering items never changes another item's draws (its questions, negatives, held-out split)."""

from __future__ import annotations

import hashlib
import random


def _keyed_integer(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def keyed_rng(key: str, seed: int) -> random.Random:
    """A random stream of its own for `key` under `seed`."""
    return random.Random(_keyed_integer(f"{seed}:{key}"))


def keyed_fraction(key: str, seed: int, purpose: str) -> float:
    """A uniform draw in [0, 1) for `key` under `seed`, independent of `keyed_rng` and of other purposes."""
    return _keyed_integer(f"{purpose}:{seed}:{key}") / 2**64
