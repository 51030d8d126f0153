"""Retrieval metrics: the competition's MAP@3 rule, plus standard IR metrics via ranx.

Shapes used across ragtune:
- run:   qid -> {docid: score}; ranking = score descending, ties by docid ascending.
         An empty dict means the system answered with no documents (chit-chat).
- qrels: qid -> [relevant docids]; an empty list means "no retrieval needed" (chit-chat).

`map@k` follows the competition rule and averages over ALL questions, chit-chat included.
`mrr@k`, `ndcg@k` and `recall@k` (binary relevance, the same values as ranx: see the tests)
average over the questions WITH relevant documents only: they are undefined for chit-chat.
"""

from __future__ import annotations

import math
import re

Ranking = dict[str, float]
RunDict = dict[str, Ranking]
QrelsDict = dict[str, list[str]]

DEFAULT_METRICS = ("map@3", "mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100")
STANDARD_METRICS = ("mrr", "ndcg", "recall")
DECIMALS = 6  # rounding keeps metrics JSON byte-stable across platforms

_METRIC = re.compile(r"^(map|mrr|ndcg|recall)@([1-9][0-9]*)$")


def ranking(run_for_query: Ranking, k: int | None = None) -> list[str]:
    """Docids by score descending, ties broken by docid ascending; the first `k` if given."""
    order = sorted(run_for_query, key=lambda docid: (-run_for_query[docid], docid))
    return order if k is None else order[:k]


def competition_ap(topk: list[str], relevant: list[str], k: int = 3) -> float:
    """Average precision exactly as the competition scores one submission line.

    With relevant documents: sum of precision@i over the ranks i <= k that are hits, divided by
    the number of HITS (not the number of relevant documents); 0 when nothing hits.
    Without relevant documents: 1 if `topk` is empty, else 0 (any answer is a false positive).

    A docid repeated in `topk` counts once, at its first position; a repeat still occupies its
    rank but is not a hit, so a system cannot raise its score by listing a hit twice. (A naive
    `docid in relevant` loop would count repeats; ragtune's submissions never contain any.)
    """
    if not relevant:
        return 1.0 if not topk else 0.0
    relevant_set, seen = set(relevant), set()
    hits, precision_sum = 0, 0.0
    for rank, docid in enumerate(topk[:k], start=1):
        if docid in relevant_set and docid not in seen:
            hits += 1
            precision_sum += hits / rank
        seen.add(docid)
    return precision_sum / hits if hits else 0.0


def _parse(metric: str) -> tuple[str, int]:
    match = _METRIC.match(metric)
    if not match:
        raise ValueError(f"unknown metric {metric!r}: expected map@k, mrr@k, ndcg@k or recall@k")
    return match.group(1), int(match.group(2))


def _standard(name: str, order: list[str], relevant: set[str], k: int) -> float:
    """Binary-relevance mrr@k, ndcg@k, recall@k of one ranking (cross-checked against ranx in the tests)."""
    hits = [rank for rank, docid in enumerate(order[:k], start=1) if docid in relevant]
    if name == "mrr":
        return 1.0 / hits[0] if hits else 0.0
    if name == "recall":
        return len(hits) / len(relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return sum(1.0 / math.log2(rank + 1) for rank in hits) / ideal


def _standard_scores(run: RunDict, qrels: QrelsDict, metrics: list[str]) -> dict[str, dict[str, float]]:
    """Per-query scores over the questions with relevant documents; unanswered ones score 0.

    Plain Python rather than ranx at run time: ranx builds numba structures and compiles on
    first use, which costs a minute and more on 19k validation questions; the tests check that
    both agree.
    """
    judged = [qid for qid in qrels if qrels[qid]]
    parsed = [(metric, *_parse(metric)) for metric in metrics]
    scores: dict[str, dict[str, float]] = {metric: {} for metric in metrics}
    for qid in judged:
        order, relevant = ranking(run.get(qid, {})), set(qrels[qid])
        for metric, name, k in parsed:
            scores[metric][qid] = _standard(name, order, relevant, k)
    return scores


def _per_query_all(run: RunDict, qrels: QrelsDict, metrics: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    parsed = {metric: _parse(metric) for metric in metrics}
    standard = [metric for metric, (name, _) in parsed.items() if name in STANDARD_METRICS]
    result = _standard_scores(run, qrels, standard)
    for metric, (name, k) in parsed.items():
        if name == "map":
            result[metric] = {qid: competition_ap(ranking(run.get(qid, {}), k), qrels[qid], k) for qid in qrels}
    return {metric: result[metric] for metric in metrics}


def per_query(run: RunDict, qrels: QrelsDict, metric: str) -> dict[str, float]:
    """qid -> score for one metric, over the same questions `evaluate` averages
    (all of qrels for map@k, those with relevant documents for the others)."""
    scores = _per_query_all(run, qrels, [metric])[metric]
    return {qid: round(scores[qid], DECIMALS) for qid in sorted(scores)}


def evaluate(run: RunDict, qrels: QrelsDict, metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS) -> dict[str, float]:
    """Mean of each metric over the questions in `qrels`, rounded to 6 decimals.

    A qid missing from `run` counts as an empty answer; qids in `run` but not in `qrels` are
    ignored. `map@k` (competition rule) averages over all questions, chit-chat included;
    `mrr@k`, `ndcg@k`, `recall@k` average over the questions with relevant documents only
    (0.0 when there are none).
    """
    result = {}
    for metric, scores in _per_query_all(run, qrels, metrics).items():
        result[metric] = round(sum(scores.values()) / len(scores), DECIMALS) if scores else 0.0
    return result


def recall_curve(run: RunDict, qrels: QrelsDict, ks: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 100)) -> list[dict]:
    """Rows {"k": k, "recall": recall@k} in ascending k, ready for `dvc plots`."""
    ks = sorted(set(ks))
    means = evaluate(run, qrels, [f"recall@{k}" for k in ks])
    return [{"k": k, "recall": means[f"recall@{k}"]} for k in ks]
