"""Ranked runs on disk: compact arrays instead of JSON.

A run over 19k validation questions × 100 candidates × several retrievers is millions of
(docid, score) pairs; as JSON it is hundreds of MB. On disk a run is a directory holding
`qids.json`, `docids.json` (the corpus table), `ids.npy` (int32, -1 padded) and `scores.npy`
(float32) — a few MB, byte-identical across identical runs (np.save writes no timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ragtune.io import atomic_write, read_json, write_json

Run = dict[str, dict[str, float]]


@dataclass
class RankedRun:
    qids: list[str]
    docids: list[str]
    ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_run(cls, run: Mapping[str, Mapping[str, float]], qids: Sequence[str], docids: Sequence[str], k: int) -> "RankedRun":
        position = {d: i for i, d in enumerate(docids)}
        ids = np.full((len(qids), k), -1, dtype=np.int32)
        scores = np.zeros((len(qids), k), dtype=np.float32)
        for row, qid in enumerate(qids):
            ranked = sorted(run.get(qid, {}).items(), key=lambda item: (-item[1], item[0]))[:k]
            for col, (docid, score) in enumerate(ranked):
                ids[row, col] = position[docid]
                scores[row, col] = score
        return cls(list(qids), list(docids), ids, scores)

    def to_run(self, k: int | None = None) -> Run:
        k = self.ids.shape[1] if k is None else k
        return {qid: {self.docids[i]: float(s) for i, s in zip(self.ids[row, :k], self.scores[row, :k]) if i >= 0}
                for row, qid in enumerate(self.qids)}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        write_json(directory / "qids.json", self.qids)
        write_json(directory / "docids.json", self.docids)
        for name, array in (("ids", self.ids), ("scores", self.scores)):
            with atomic_write(directory / f"{name}.npy", "wb") as handle:
                np.save(handle, array)

    @classmethod
    def load(cls, directory: Path) -> "RankedRun":
        directory = Path(directory)
        return cls(read_json(directory / "qids.json"), read_json(directory / "docids.json"),
                   np.load(directory / "ids.npy"), np.load(directory / "scores.npy"))


def save_runs(directory: Path, runs: Mapping[str, Run], qids: Sequence[str], docids: Sequence[str], k: int) -> None:
    """One subdirectory per retriever name (bm25, dense, hybrid, …) plus an index of names."""
    for name, run in runs.items():
        RankedRun.from_run(run, qids, docids, k).save(Path(directory) / name)
    write_json(Path(directory) / "retrievers.json", list(runs))


def load_runs(directory: Path, k: int | None = None) -> dict[str, Run]:
    return {name: RankedRun.load(Path(directory) / name).to_run(k) for name in read_json(Path(directory) / "retrievers.json")}
