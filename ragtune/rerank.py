"""Cross-encoder reranking through FlagEmbedding's `FlagReranker` (bge-reranker-v2-m3 or a tiny local model)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence


def _default_device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def rank_by_score(docids: Sequence[str], scores: Sequence[float]) -> list[tuple[str, float]]:
    """(docid, score) best first; equal scores in docid order so the ranking does not depend on input order."""
    return sorted(zip(docids, (float(score) for score in scores)), key=lambda item: (-item[1], item[0]))


class CrossEncoderReranker:
    """Scores (query, passage) pairs jointly; higher is more relevant (raw logits, not normalised)."""

    def __init__(self, model_path: str | Path, *, device: str | None = None, batch_size: int = 32,
                 max_length: int = 512, use_fp16: bool | None = None):
        from FlagEmbedding import FlagReranker

        self.device = device or _default_device()
        fp16 = self.device.startswith("cuda") if use_fp16 is None else use_fp16
        self.batch_size = batch_size
        self.max_length = max_length
        # One device only: a list would make FlagEmbedding start a process pool.
        self.model = FlagReranker(str(model_path), use_fp16=fp16, devices=self.device, batch_size=batch_size,
                                  max_length=max_length)

    def _scores(self, pairs: list[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        scores = self.model.compute_score_single_gpu(pairs, batch_size=self.batch_size, max_length=self.max_length,
                                                     device=self.device)
        return [float(score) for score in (scores if isinstance(scores, list) else [scores])]

    def rerank(self, query: str, candidates: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
        """Candidates are (docid, passage); returns (docid, score) best first, ties by docid."""
        scores = self._scores([(query, passage) for _, passage in candidates])
        return rank_by_score([docid for docid, _ in candidates], scores)

    def rerank_many(self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[tuple[str, str]]]
                    ) -> dict[str, list[tuple[str, float]]]:
        """Rerank every query's candidates in one batched pass: {query id: [(docid, score), ...]}."""
        keys = sorted(queries)
        missing = [key for key in keys if key not in candidates]
        if missing:
            raise KeyError(f"no candidates for queries {missing[:5]}")
        pairs = [(queries[key], passage) for key in keys for _, passage in candidates[key]]
        scores = self._scores(pairs)
        ranked, offset = {}, 0
        for key in keys:
            count = len(candidates[key])
            ranked[key] = rank_by_score([docid for docid, _ in candidates[key]], scores[offset:offset + count])
            offset += count
        return ranked
