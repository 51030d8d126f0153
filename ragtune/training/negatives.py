"""Hard negatives with false negatives filtered out.

The top of a strong ranking is where hard negatives live, and also where unlabelled positives
hide (a near-duplicate passage, a second document answering the same question). So candidates
are merged from several rankings (BM25, the base dense model: `dense_pools`), deduplicated at their
best rank, and a candidate is rejected when it
- is the positive or a near-duplicate of it (shingle Jaccard ≥ `near_duplicate`);
- sits above the rank window (`skip_top`: the first few ranks are too likely to be relevant);
- scores within `margin` of the positive (relative: score ≥ (1 - margin) · positive's score).
Rejections are counted by reason so every run reports what the filter did.

`training_rows` turns mined negatives into FlagEmbedding's `{query, pos, neg}` rows; `teacher_scores`
adds a cross-encoder's `pos_scores`/`neg_scores` for knowledge distillation; `missed_questions` picks
the questions a model ranks below its top k (the targeted training round).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ragtune.seeding import keyed_rng

if TYPE_CHECKING:
    from ragtune.models.encoders import M3Encoder
    from ragtune.retrieval.rerank import CrossEncoderReranker

Pool = list[tuple[str, float]]


@dataclass(frozen=True)
class NegativeFilter:
    k: int = 7
    skip_top: int = 2
    margin: float = 0.05
    near_duplicate: float = 0.8
    fill_random: bool = True

    @classmethod
    def from_settings(cls, settings) -> NegativeFilter:
        """The rule the `negatives` parameter group (ragtune.config.schema.Negatives) sets: mining, and the targeted
        training round."""
        return cls(
            k=settings.k, skip_top=settings.skip_top, margin=settings.margin, near_duplicate=settings.near_duplicate
        )


@dataclass
class MiningStats:
    questions: int = 0
    kept_questions: int = 0
    negatives: int = 0
    random_fill: int = 0
    rejected: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        kept = max(self.kept_questions, 1)
        return {
            "questions": self.questions,
            "kept_questions": self.kept_questions,
            "negatives_per_question": round(self.negatives / kept, 4),
            "random_fill": self.random_fill,
            "rejected": {reason: self.rejected[reason] for reason in sorted(self.rejected)},
        }


def shingles(text: str, size: int = 5) -> set[str]:
    text = "".join(text.split())
    return {text[i : i + size] for i in range(max(len(text) - size + 1, 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def mine_negatives(
    positive: str,
    pools: Sequence[Sequence[tuple[str, float]]],
    texts: Mapping[str, str],
    all_docids: Sequence[str],
    rule: NegativeFilter,
    stats: MiningStats,
    seed_key: str,
    seed: int,
) -> list[str]:
    """k negative docids for one question from ranked candidate pools (see the module doc)."""
    scored = [dict(pool) for pool in pools]
    positive_scores = [pool.get(positive) for pool in scored]
    best_rank: dict[str, int] = {}
    for pool in pools:
        for rank, (docid, _) in enumerate(pool):
            best_rank[docid] = min(rank, best_rank.get(docid, rank))
    positive_shingles = shingles(texts[positive])
    chosen: list[str] = []
    for docid in sorted(best_rank, key=lambda d: (best_rank[d], d)):
        if len(chosen) == rule.k:
            break
        if docid == positive:
            continue
        if best_rank[docid] < rule.skip_top:
            stats.rejected["rank_window"] += 1
        elif any(
            p is not None and p > 0 and pool.get(docid, float("-inf")) >= (1 - rule.margin) * p
            for pool, p in zip(scored, positive_scores)
        ):
            stats.rejected["score_margin"] += 1
        elif jaccard(positive_shingles, shingles(texts[docid])) >= rule.near_duplicate:
            stats.rejected["near_duplicate"] += 1
        else:
            chosen.append(docid)
    if len(chosen) < rule.k and rule.fill_random:
        rng: random.Random = keyed_rng(seed_key, seed)
        spare = [d for d in all_docids if d != positive and d not in chosen]
        extra = rng.sample(spare, min(rule.k - len(chosen), len(spare)))
        stats.random_fill += len(extra)
        chosen += extra
    stats.questions += 1
    stats.kept_questions += bool(chosen)
    stats.negatives += len(chosen)
    return chosen


def dense_pools(
    encoder: M3Encoder, queries: Sequence[str], docids: Sequence[str], passages: Sequence[str], size: int
) -> list[Pool]:
    """Each query's top `size` passages by a dense model: [(docid, cosine)] best first (exact FAISS search)."""
    from ragtune.retrieval.dense import build_faiss, search

    if size <= 0 or not queries:
        return [[] for _ in queries]
    index = build_faiss(encoder.encode(passages, "passage", lexical=False).dense, "flat")
    scores, ids = search(index, encoder.encode(queries, "query", lexical=False).dense, min(size, len(docids)))
    return [
        [(docids[i], float(score)) for i, score in zip(row_ids, row_scores) if i >= 0]
        for row_ids, row_scores in zip(ids.tolist(), scores.tolist())
    ]


def training_rows(
    pairs: Sequence[Mapping[str, str]],
    pools: Sequence[Sequence[Pool]],
    texts: Mapping[str, str],
    all_docids: Sequence[str],
    rule: NegativeFilter,
    stats: MiningStats,
    seed: int,
    progress: bool = False,
) -> list[dict]:
    """FlagEmbedding rows `{query, pos, neg, pos_id, neg_ids}`, one per (query, docid) pair and its pools."""
    from tqdm import tqdm

    rows = []
    items = list(enumerate(zip(pairs, pools)))
    for i, (pair, question_pools) in tqdm(items, desc="negatives", mininterval=2, disable=not progress):
        negatives = mine_negatives(
            pair["docid"], question_pools, texts, all_docids, rule, stats, f"{i}:{pair['docid']}", seed
        )
        rows.append(
            {
                "query": pair["query"],
                "pos": [texts[pair["docid"]]],
                "neg": [texts[d] for d in negatives],
                "pos_id": pair["docid"],
                "neg_ids": negatives,
            }
        )
    return rows


def teacher_scores(reranker: CrossEncoderReranker, rows: Sequence[Mapping]) -> list[dict]:
    """Rows with the cross-encoder's `pos_scores` and `neg_scores` (raw logits), for knowledge distillation."""
    queries = {f"{i:08d}": row["query"] for i, row in enumerate(rows)}
    candidates = {
        f"{i:08d}": [("pos", row["pos"][0]), *((f"neg{n}", text) for n, text in enumerate(row["neg"]))]
        for i, row in enumerate(rows)
    }
    ranked = reranker.rerank_many(queries, candidates)
    scored = []
    for i, row in enumerate(rows):
        score = dict(ranked[f"{i:08d}"])
        scored.append(
            {
                **row,
                "pos_scores": [round(score["pos"], 6)],
                "neg_scores": [round(score[f"neg{n}"], 6) for n in range(len(row["neg"]))],
            }
        )
    return scored


def missed_questions(pairs: Sequence[Mapping[str, str]], pools: Sequence[Pool], top_k: int) -> list[int]:
    """Indices of the pairs whose document is not among the first `top_k` of their pool."""
    return [
        i
        for i, (pair, pool) in enumerate(zip(pairs, pools))
        if pair["docid"] not in {docid for docid, _ in pool[:top_k]}
    ]


def targeted_rows(
    encoder: M3Encoder,
    pairs: Sequence[Mapping[str, str]],
    texts: Mapping[str, str],
    all_docids: Sequence[str],
    rule: NegativeFilter,
    pool_size: int,
    top_k: int,
    stats: MiningStats,
    seed: int,
) -> list[dict]:
    """Training rows for the questions `encoder` misses (document not in its top `top_k`), with hard
    negatives mined from its own ranking: the data of a targeted second training round."""
    pools = dense_pools(
        encoder, [pair["query"] for pair in pairs], all_docids, [texts[d] for d in all_docids], max(pool_size, top_k)
    )
    missed = missed_questions(pairs, pools, top_k)
    return training_rows([pairs[i] for i in missed], [[pools[i]] for i in missed], texts, all_docids, rule, stats, seed)
