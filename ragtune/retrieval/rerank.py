"""Cross-encoder reranking through FlagEmbedding's `FlagReranker` (bge-reranker-v2-m3 or a tiny local model)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ragtune.models.encoders import default_device
from ragtune.ranking import best_first

# Pairs per FlagReranker call. Each call tokenises, sorts by length and probes the batch size against
# memory once, so one call per question (19k validation questions × 50 pairs) pays that probe 19k
# times; a few thousand pairs per call amortise it and keep the length-sorted padding tight.
PAIRS_PER_CALL = 4096


def rank_by_score(docids: Sequence[str], scores: Sequence[float]) -> list[tuple[str, float]]:
    """(docid, score) best first; equal scores in docid order so the ranking does not depend on input order."""
    return best_first(zip(docids, (float(score) for score in scores)))


class PairReranker:
    """Rankings from a cross-encoder's scores of (query, passage) pairs; `_scores` is the model's (here, or on an
    engine's actors: ragtune.compute.models.PooledReranker)."""

    def _scores(self, pairs: list[tuple[str, str]], pairs_per_call: int = PAIRS_PER_CALL) -> list[float]:
        raise NotImplementedError

    def rerank(self, query: str, candidates: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
        """Candidates are (docid, passage); returns (docid, score) best first, ties by docid."""
        scores = self._scores([(query, passage) for _, passage in candidates])
        return rank_by_score([docid for docid, _ in candidates], scores)

    def rerank_lists(
        self,
        queries: Sequence[str],
        candidates: Sequence[Sequence[tuple[str, str]]],
        pairs_per_call: int = PAIRS_PER_CALL,
    ) -> list[list[tuple[str, float]]]:
        """Rerank many queries' candidates together: every (query, passage) pair is scored in calls of
        `pairs_per_call` pairs (not one call per query), then regrouped; one ranking per query, in order."""
        if len(queries) != len(candidates):
            raise ValueError(f"{len(queries)} queries but {len(candidates)} candidate lists")
        pairs = [(query, passage) for query, group in zip(queries, candidates) for _, passage in group]
        scores = self._scores(pairs, pairs_per_call)
        ranked, offset = [], 0
        for group in candidates:
            ranked.append(rank_by_score([docid for docid, _ in group], scores[offset : offset + len(group)]))
            offset += len(group)
        return ranked

    def rerank_many(
        self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[tuple[str, str]]]
    ) -> dict[str, list[tuple[str, float]]]:
        """Rerank every query's candidates in one batched pass: {query id: [(docid, score), ...]}."""
        keys = sorted(queries)
        missing = [key for key in keys if key not in candidates]
        if missing:
            raise KeyError(f"no candidates for queries {missing[:5]}")
        return dict(zip(keys, self.rerank_lists([queries[key] for key in keys], [candidates[key] for key in keys])))


class CrossEncoderReranker(PairReranker):
    """Scores (query, passage) pairs jointly; higher is more relevant (raw logits, not normalised)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int = 512,
        use_fp16: bool | None = None,
    ):
        from FlagEmbedding import FlagReranker

        self.device = device or default_device()
        fp16 = self.device.startswith("cuda") if use_fp16 is None else use_fp16
        self.batch_size = batch_size
        self.max_length = max_length
        # One device only: a list would make FlagEmbedding start a process pool.
        self.model = FlagReranker(
            str(model_path), use_fp16=fp16, devices=self.device, batch_size=batch_size, max_length=max_length
        )

    def _scores(self, pairs: list[tuple[str, str]], pairs_per_call: int = PAIRS_PER_CALL) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(pairs), pairs_per_call):
            chunk = self.model.compute_score_single_gpu(
                pairs[start : start + pairs_per_call],
                batch_size=self.batch_size,
                max_length=self.max_length,
                device=self.device,
            )
            scores += [float(score) for score in (chunk if isinstance(chunk, list) else [chunk])]
        return scores


def rerank_subset(qids: Iterable[str], limit: int | None, seed: int) -> set[str]:
    """The questions a capped reranking scores: all of them without a limit, else the `limit` whose
    sha256(seed:qid) is smallest — a seeded random subset that does not depend on the questions' order
    and keeps its members when questions are added (adding one displaces at most one)."""
    qids = list(qids)
    if limit is None or limit >= len(qids):
        return set(qids)
    key = {qid: hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest() for qid in qids}
    return set(sorted(qids, key=lambda qid: (key[qid], qid))[:limit])
