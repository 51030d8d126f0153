"""Weighted fusions remembered by the content of the runs they fuse.

The lexical side of the hybrid (BM25 words + BM25 characters, `sparse_weights`) does not change with `alpha`,
yet a sweep fused it again every rerun: over 19k questions that is as long as the hybrid itself. `FusionMemo`
keys a `weighted_sum` by the bytes of its input runs (ids, scores, question and docid tables), the weights,
the normalisation, the depth and the fusion code, so a remembered run is the run the code would give; sha256
reads 120 MB in under 0.1 s where the fusion takes over a second. It keeps the `keep` results used last (one
directory each, written key last as `SearchMemo` does; the validation and eval questions' lexical runs, and a
sweep over the lexical weights' few settings), so it never grows past them.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ragtune.cache.searches import read_key, save_arrays
from ragtune.cache.stores import last_use_ns, mark_used
from ragtune.retrieval import fusion
from ragtune.runs import RankedRun


class FusionMemo:
    """`weighted_sum(runs, weights, norm, depth)` through the `keep` results used last, `directory/<key>/`."""

    def __init__(self, directory: str | Path, keep: int = 4):
        self.directory = Path(directory)
        self.keep = keep
        self.hits = 0

    def weighted_sum(
        self,
        runs: Mapping[str, RankedRun],
        weights: Mapping[str, float],
        norm: str = "min-max",
        depth: int | None = None,
    ) -> RankedRun:
        key = fusion_key(runs, weights, norm, depth)
        place = self.directory / key
        if read_key(place) == key:
            self.hits += 1
            mark_used(place / "key")
            first = next(iter(runs.values()))
            return RankedRun(
                list(first.qids), list(first.docids), np.load(place / "ids.npy"), np.load(place / "scores.npy")
            )
        fused = fusion.weighted_sum(runs, weights, norm, depth)
        save_arrays(place, key, fused.ids, fused.scores)
        mark_used(place / "key")
        self._forget_all_but_the_last()
        return fused

    def _forget_all_but_the_last(self) -> None:
        entries = sorted(self.directory.iterdir(), key=last_use_ns, reverse=True)  # one in the making: recent
        for entry in entries[self.keep :]:
            shutil.rmtree(entry, ignore_errors=True)


def fusion_key(runs: Mapping[str, RankedRun], weights: Mapping[str, float], norm: str, depth: int | None) -> str:
    digest = hashlib.sha256(Path(fusion.__file__).read_bytes())
    digest.update(repr((sorted(weights.items()), norm, depth)).encode("utf-8"))
    for name, run in runs.items():
        digest.update(f"\0{name}\0{len(run.qids)}\0{len(run.docids)}\0{run.ids.shape}\0".encode())
        digest.update("\0".join(run.qids).encode("utf-8") + b"\1" + "\0".join(run.docids).encode("utf-8"))
        for array in (run.ids, run.scores):
            digest.update(array.dtype.str.encode("ascii"))
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()
