"""Ranked runs as arrays: the shape every retriever, fusion and metric in ragtune works on.

A run over 19k validation questions × 200 candidates × several retrievers is millions of
(docid, score) pairs; as Python dicts it costs minutes to build, sort and fuse. A `RankedRun`
holds them as two arrays over a shared docid table: `ids` (int32, row = question, column =
rank, -1 pads a short row) and `scores` (float32). The row order IS the ranking: best first,
equal scores ordered by docid (`ragtune.ranking`), so a run ranks identically wherever it is read.

On disk a run is a directory holding `qids.json`, `docids.json`, `ids.npy` and `scores.npy`
(a few MB, byte-identical across identical runs: np.save writes no timestamps).

The dict shape `{qid: {docid: score}}` (what ranx and JSON use) converts both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragtune.io import atomic_write, read_json, write_json
from ragtune.ranking import rank_rows, tie_ranks

Run = dict[str, dict[str, float]]


@dataclass
class RankedRun:
    qids: list[str]
    docids: list[str]
    ids: np.ndarray  # (n_questions, depth) int32 positions in `docids`, -1 padded
    scores: np.ndarray  # (n_questions, depth) float32, 0 where ids is -1

    @classmethod
    def empty(cls, qids: Sequence[str], docids: Sequence[str], depth: int) -> RankedRun:
        return cls(
            list(qids),
            list(docids),
            np.full((len(qids), depth), -1, np.int32),
            np.zeros((len(qids), depth), np.float32),
        )

    @classmethod
    def ranked(
        cls,
        qids: Sequence[str],
        docids: Sequence[str],
        ids: np.ndarray,
        scores: np.ndarray,
        ties: np.ndarray | None = None,
    ) -> RankedRun:
        """From unordered rows (e.g. a search library's top-k): put each row in ranking order."""
        ties = tie_ranks(docids) if ties is None else ties
        # Ranked as stored (float32); -0.0 stored as 0.0.
        ranked_ids, ranked_scores = rank_rows(ids, np.asarray(scores, np.float32) + np.float32(0.0), ties)
        return cls(list(qids), list(docids), ranked_ids, ranked_scores)

    @classmethod
    def from_run(
        cls, run: Mapping[str, Mapping[str, float]], qids: Sequence[str], docids: Sequence[str], k: int | None = None
    ) -> RankedRun:
        """From the dict shape; each question keeps its `k` best documents (all when k is None)."""
        position = {d: i for i, d in enumerate(docids)}
        rankings = [run.get(qid, {}) for qid in qids]
        width = max(map(len, rankings), default=0)
        ids = np.full((len(qids), width), -1, dtype=np.int64)
        scores = np.zeros((len(qids), width), dtype=np.float64)
        for row, ranking in enumerate(rankings):
            ids[row, : len(ranking)] = [position[docid] for docid in ranking]
            scores[row, : len(ranking)] = list(ranking.values())
        # Ranked in the dict's own precision, then stored as float32.
        ranked_ids, ranked_scores = rank_rows(ids, scores, tie_ranks(docids))
        result = cls.empty(qids, docids, width if k is None else k)
        cut = min(result.depth, width)
        result.ids[:, :cut], result.scores[:, :cut] = ranked_ids[:, :cut], ranked_scores[:, :cut]
        return result

    @property
    def depth(self) -> int:
        return self.ids.shape[1]

    def cut(self, k: int) -> RankedRun:
        return RankedRun(self.qids, self.docids, self.ids[:, :k], self.scores[:, :k])

    def ranking(self, row: int, k: int | None = None) -> list[str]:
        """Docids of one question, best first."""
        ids = self.ids[row, :k]
        return [self.docids[i] for i in ids[ids >= 0]]

    def to_run(self, k: int | None = None) -> Run:
        k = self.depth if k is None else k
        return {
            qid: {self.docids[i]: float(s) for i, s in zip(self.ids[row, :k], self.scores[row, :k]) if i >= 0}
            for row, qid in enumerate(self.qids)
        }

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        write_json(directory / "qids.json", self.qids)
        write_json(directory / "docids.json", self.docids)
        for name, array in (("ids", self.ids), ("scores", self.scores)):
            with atomic_write(directory / f"{name}.npy", "wb") as handle:
                np.save(handle, np.ascontiguousarray(array))

    @classmethod
    def load(cls, directory: Path) -> RankedRun:
        directory = Path(directory)
        return cls(
            read_json(directory / "qids.json"),
            read_json(directory / "docids.json"),
            np.load(directory / "ids.npy"),
            np.load(directory / "scores.npy"),
        )


def as_ranked(run: RankedRun | Mapping[str, Mapping[str, float]]) -> RankedRun:
    """A RankedRun as is; a dict run over the sorted union of its docids."""
    if isinstance(run, RankedRun):
        return run
    docids = sorted({d for scores in run.values() for d in scores})
    return RankedRun.from_run(run, list(run), docids)


def save_runs(directory: Path, runs: Mapping[str, RankedRun], k: int) -> None:
    """One subdirectory per retriever name (bm25, dense, hybrid, …), each cut to k, plus an index of names."""
    for name, run in runs.items():
        run.cut(k).save(Path(directory) / name)
    write_json(Path(directory) / "retrievers.json", list(runs))


def load_runs(directory: Path) -> dict[str, RankedRun]:
    return {name: RankedRun.load(Path(directory) / name) for name in read_json(Path(directory) / "retrievers.json")}
