"""Hard negatives with false negatives filtered out.

The top of a strong ranking is where hard negatives live, and also where unlabelled positives
hide (a near-duplicate passage, a second document answering the same question). So candidates
are merged from several rankings, and a candidate is rejected when it
- is the positive or a near-duplicate of it (shingle Jaccard ≥ `near_duplicate`);
- sits above the rank window (`skip_top`: the first few ranks are too likely to be relevant);
- scores within `margin` of the positive (relative: score ≥ (1 - margin) · positive's score).
Rejections are counted by reason so every run reports what the filter did.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ragtune.queries import document_rng


@dataclass(frozen=True)
class NegativeFilter:
    k: int = 7
    skip_top: int = 2
    margin: float = 0.05
    near_duplicate: float = 0.8
    fill_random: bool = True


@dataclass
class MiningStats:
    questions: int = 0
    kept_questions: int = 0
    negatives: int = 0
    random_fill: int = 0
    rejected: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        kept = max(self.kept_questions, 1)
        return {"questions": self.questions, "kept_questions": self.kept_questions,
                "negatives_per_question": round(self.negatives / kept, 4),
                "random_fill": self.random_fill,
                "rejected": {reason: self.rejected[reason] for reason in sorted(self.rejected)}}


def shingles(text: str, size: int = 5) -> set[str]:
    text = "".join(text.split())
    return {text[i:i + size] for i in range(max(len(text) - size + 1, 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def mine_negatives(positive: str, pools: Sequence[Sequence[tuple[str, float]]], texts: Mapping[str, str],
                   all_docids: Sequence[str], rule: NegativeFilter, stats: MiningStats, seed_key: str,
                   seed: int) -> list[str]:
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
        elif any(p is not None and p > 0 and pool.get(docid, float("-inf")) >= (1 - rule.margin) * p
                 for pool, p in zip(scored, positive_scores)):
            stats.rejected["score_margin"] += 1
        elif jaccard(positive_shingles, shingles(texts[docid])) >= rule.near_duplicate:
            stats.rejected["near_duplicate"] += 1
        else:
            chosen.append(docid)
    if len(chosen) < rule.k and rule.fill_random:
        rng: random.Random = document_rng(seed_key, seed)
        spare = [d for d in all_docids if d != positive and d not in chosen]
        extra = rng.sample(spare, min(rule.k - len(chosen), len(spare)))
        stats.random_fill += len(extra)
        chosen += extra
    stats.questions += 1
    stats.kept_questions += bool(chosen)
    stats.negatives += len(chosen)
    return chosen
