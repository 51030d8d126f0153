"""Combining rankings: weighted score fusion (`alpha`) and reciprocal rank fusion (`rrf_k`).

A run is {qid: {docid: score}}. Scores of different retrievers live on different scales, so
weighted fusion normalises each query's scores first (min-max by default, as ranx does).
Results are cross-checked against ranx.fusion in the tests; this version avoids building
numba dictionaries for tens of thousands of queries.
"""

from __future__ import annotations

from typing import Mapping

Run = dict[str, dict[str, float]]


def normalise(scores: Mapping[str, float], method: str = "min-max") -> dict[str, float]:
    if not scores:
        return {}
    values = list(scores.values())
    if method == "min-max":
        low, high = min(values), max(values)
        span = high - low
        return {d: (s - low) / span if span > 0 else 1.0 for d, s in scores.items()}
    if method == "max":
        high = max(values)
        return {d: s / high if high > 0 else 0.0 for d, s in scores.items()}
    if method == "sum":
        total = sum(values)
        return {d: s / total if total > 0 else 0.0 for d, s in scores.items()}
    raise ValueError(f"unknown normalisation {method!r} (min-max, max, sum)")


def weighted_sum(runs: Mapping[str, Run], weights: Mapping[str, float], norm: str = "min-max") -> Run:
    """Σ weight · normalised score; a document missing from a run gets 0 from it."""
    qids = sorted({q for run in runs.values() for q in run})
    fused: Run = {}
    for qid in qids:
        total: dict[str, float] = {}
        for name, run in runs.items():
            weight = weights.get(name, 0.0)
            if weight == 0:
                continue
            for docid, score in normalise(run.get(qid, {}), norm).items():
                total[docid] = total.get(docid, 0.0) + weight * score
        fused[qid] = total
    return fused


def hybrid(sparse: Run, dense: Run, alpha: float, norm: str = "min-max") -> Run:
    """alpha weighs the dense run, 1 - alpha the sparse one."""
    return weighted_sum({"sparse": sparse, "dense": dense}, {"sparse": 1.0 - alpha, "dense": alpha}, norm)


def reciprocal_rank_fusion(runs: Mapping[str, Run], k: int = 60, weights: Mapping[str, float] | None = None) -> Run:
    """Σ weight / (k + rank), ranks from 1, ties in a run ordered by docid."""
    qids = sorted({q for run in runs.values() for q in run})
    fused: Run = {}
    for qid in qids:
        total: dict[str, float] = {}
        for name, run in runs.items():
            weight = 1.0 if weights is None else weights.get(name, 0.0)
            ranked = sorted(run.get(qid, {}).items(), key=lambda item: (-item[1], item[0]))
            for rank, (docid, _) in enumerate(ranked, start=1):
                total[docid] = total.get(docid, 0.0) + weight / (k + rank)
        fused[qid] = total
    return fused


def top(run: Run, k: int) -> Run:
    """Keep each query's k best documents (ties by docid)."""
    return {qid: dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]) for qid, scores in run.items()}
