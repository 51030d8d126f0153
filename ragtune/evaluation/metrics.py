"""Retrieval metrics: the competition's MAP@3 rule, plus standard IR metrics via ranx.

Shapes used across ragtune:
- run:   a `ragtune.runs.RankedRun`, or the dict qid -> {docid: score} (ranking = score
         descending, ties by docid ascending). An empty ranking means the system answered with
         no documents (chit-chat).
- qrels: qid -> [relevant docids]; an empty list means "no retrieval needed" (chit-chat).

`map@k` follows the competition rule and averages over ALL questions, chit-chat included.
`mrr@k`, `ndcg@k` and `recall@k` (binary relevance, the same values as ranx: see the tests)
average over the questions WITH relevant documents only: they are undefined for chit-chat.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

from ragtune.ranking import best_first
from ragtune.runs import RankedRun, as_ranked

Ranking = dict[str, float]
RunDict = dict[str, Ranking]
QrelsDict = dict[str, list[str]]

DEFAULT_METRICS = ("map@3", "mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100")
CURVE_KS = (1, 2, 3, 5, 10, 20, 50, 100)  # the recall curve's cutoffs
DECIMALS = 6  # rounding keeps metrics JSON byte-stable across platforms

_METRIC = re.compile(r"^(map|mrr|ndcg|recall)@([1-9][0-9]*)$")


def ranking(run_for_query: Ranking, k: int | None = None) -> list[str]:
    """Docids by score descending, ties broken by docid ascending; the first `k` if given."""
    return [docid for docid, _ in best_first(run_for_query.items())][:k]


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


def _relevance(qids: list[str], qrels: QrelsDict, docids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each question's relevant documents as positions in `docids` ((n, widest) int64, -2 pads) and their number.

    A relevant docid outside the docid table gets a negative position of its own, so it is counted but can never
    be a hit. Every run over the same docid table shares this (`evaluate_runs` builds it once)."""
    position = {docid: i for i, docid in enumerate(docids)}
    relevant = [sorted({position.get(d, -2 - i) for i, d in enumerate(dict.fromkeys(qrels[qid]))}) for qid in qids]
    width = max((len(r) for r in relevant), default=0) or 1
    table = np.full((len(qids), width), -2, np.int64)
    for row, docs in enumerate(relevant):
        table[row, : len(docs)] = docs
    return table, np.asarray([len(r) for r in relevant])


def _judgements(run: RankedRun, qids: list[str], table: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """For the questions `qids` (relevant positions `table`): hits (n, depth) bool, number answered (≤ depth).
    A question missing from the run is an empty answer."""
    row_of = {qid: row for row, qid in enumerate(run.qids)}
    rows = np.asarray([row_of.get(qid, -1) for qid in qids], np.int64)
    ids = np.full((len(qids), depth), -1, np.int64)
    present = rows >= 0
    cut = min(depth, run.depth)
    ids[present, :cut] = run.ids[rows[present], :cut]
    hits = (ids[:, :, None] == table[:, None, :]).any(axis=2) & (ids >= 0)
    return hits, (ids >= 0).sum(axis=1)


def _scores(name: str, k: int, hits: np.ndarray, n_relevant: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Per-question values of one metric (binary relevance; map@k by the competition rule)."""
    top = hits[:, :k]
    ranks = np.arange(1, k + 1, dtype=np.float64)
    if name == "map":
        found = top.sum(axis=1)
        precision = np.cumsum(top, axis=1) / ranks[: top.shape[1]]
        ap = np.where(found > 0, (precision * top).sum(axis=1) / np.maximum(found, 1), 0.0)
        # No relevant documents: only an empty answer is right.
        return np.where(n_relevant > 0, ap, (np.minimum(answered, k) == 0).astype(np.float64))
    if name == "mrr":
        first = np.argmax(top, axis=1)
        return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)
    if name == "recall":
        return top.sum(axis=1) / np.maximum(n_relevant, 1)
    discount = 1.0 / np.log2(ranks + 1)
    ideal = np.concatenate([[1.0], np.cumsum(discount)])[np.minimum(n_relevant, k)]
    return (top * discount[: top.shape[1]]).sum(axis=1) / np.where(ideal > 0, ideal, 1.0)


def _measured(
    run: RankedRun | RunDict,
    qrels: QrelsDict,
    metrics: tuple[str, ...] | list[str],
    relevance: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """metric -> (per-question values over list(qrels), which questions count: all of them for map@k, those with
    relevant documents for the others). `relevance`: `_relevance` of these questions over the run's docid table."""
    parsed = {metric: _parse(metric) for metric in metrics}
    run = as_ranked(run)
    qids = list(qrels)
    depth = max((k for _, k in parsed.values()), default=1)
    table, n_relevant = relevance if relevance is not None else _relevance(qids, qrels, run.docids)
    hits, answered = _judgements(run, qids, table, depth)
    judged = n_relevant > 0
    result = {}
    for metric, (name, k) in parsed.items():
        values = _scores(name, k, hits, n_relevant, answered)
        result[metric] = (values, np.ones(len(qids), bool) if name == "map" else judged)
    return result


def judge(
    runs: Mapping[str, RankedRun | RunDict], qrels: QrelsDict, k: int
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name -> per question of `qrels` (in its order), at cutoff k: its competition AP (`competition_ap`, on arrays),
    whether anything relevant is in its top k, and whether it was answered at all (the failure report's tallies)."""
    qids, relevance, result = list(qrels), _relevance_lookup(list(qrels), qrels), {}
    for name, run in runs.items():
        run = as_ranked(run)
        table, n_relevant = relevance(run.docids)
        hits, answered = _judgements(run, qids, table, k)
        result[name] = _scores("map", k, hits, n_relevant, answered), hits.any(axis=1), answered > 0
    return result


def _relevance_lookup(qids: list[str], qrels: QrelsDict):
    """docids -> `_relevance(qids, qrels, docids)`, built once per distinct docid table."""
    tables: list[tuple[list[str], tuple[np.ndarray, np.ndarray]]] = []

    def lookup(docids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        for known, table in tables:
            if known == docids:
                return table
        tables.append((docids, _relevance(qids, qrels, docids)))
        return tables[-1][1]

    return lookup


def _per_query_all(
    run: RankedRun | RunDict, qrels: QrelsDict, metrics: tuple[str, ...] | list[str]
) -> dict[str, dict[str, float]]:
    """metric -> {qid: value} over all of qrels for map@k, over the questions with relevant documents for the others."""
    qids = list(qrels)
    return {
        metric: {qid: float(value) for qid, value, kept in zip(qids, values, keep) if kept}
        for metric, (values, keep) in _measured(run, qrels, metrics).items()
    }


def per_query(run: RankedRun | RunDict, qrels: QrelsDict, metric: str) -> dict[str, float]:
    """qid -> score for one metric, over the same questions `evaluate` averages
    (all of qrels for map@k, those with relevant documents for the others)."""
    scores = _per_query_all(run, qrels, [metric])[metric]
    return {qid: round(scores[qid], DECIMALS) for qid in sorted(scores)}


def evaluate(
    run: RankedRun | RunDict, qrels: QrelsDict, metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS
) -> dict[str, float]:
    """Mean of each metric over the questions in `qrels`, rounded to 6 decimals.

    A qid missing from `run` counts as an empty answer; qids in `run` but not in `qrels` are
    ignored. `map@k` (competition rule) averages over all questions, chit-chat included;
    `mrr@k`, `ndcg@k`, `recall@k` average over the questions with relevant documents only
    (0.0 when there are none). Computed on arrays for all questions at once; the tests check it
    against ranx and against `competition_ap`.
    """
    return _means(_measured(run, qrels, metrics))


def _means(measured: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Each metric's mean over the questions that count, rounded (fsum: exact, whatever the order)."""
    return {
        metric: round(math.fsum(values[keep].tolist()) / int(keep.sum()), DECIMALS) if keep.any() else 0.0
        for metric, (values, keep) in measured.items()
    }


def evaluate_with_curve(
    run: RankedRun | RunDict,
    qrels: QrelsDict,
    metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS,
    ks: tuple[int, ...] = CURVE_KS,
) -> tuple[dict[str, float], list[dict]]:
    """`evaluate(run, qrels, metrics)` and `recall_curve(run, qrels, ks)` from one reading of the run (the evaluate
    stage does both for every retriever: once instead of twice over 19k questions)."""
    return evaluate_runs({"run": run}, qrels, metrics, ks)["run"]


def evaluate_runs(
    runs: Mapping[str, RankedRun | RunDict],
    qrels: QrelsDict,
    metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS,
    ks: tuple[int, ...] = CURVE_KS,
) -> dict[str, tuple[dict[str, float], list[dict]]]:
    """name -> `evaluate_with_curve(run, qrels, metrics, ks)` for every run, the questions' relevant documents
    looked up once per docid table rather than once per run."""
    ks = sorted(set(ks))
    wanted = list(dict.fromkeys([*metrics, *(f"recall@{k}" for k in ks)]))
    relevance, result = _relevance_lookup(list(qrels), qrels), {}
    for name, run in runs.items():
        run = as_ranked(run)
        means = _means(_measured(run, qrels, wanted, relevance(run.docids)))
        result[name] = {m: means[m] for m in metrics}, [{"k": k, "recall": means[f"recall@{k}"]} for k in ks]
    return result


def recall_curve(run: RankedRun | RunDict, qrels: QrelsDict, ks: tuple[int, ...] = CURVE_KS) -> list[dict]:
    """Rows {"k": k, "recall": recall@k} in ascending k, ready for `dvc plots`."""
    return evaluate_with_curve(run, qrels, (), ks)[1]


def chitchat_scores(judged: dict[str, bool], qrels: QrelsDict) -> dict[str, float | int]:
    """How well the chit-chat decision matches the labels (truth: chit-chat ⇔ no relevant documents).

    `judged` is qid -> "judged chit-chat" for the questions of `qrels` (a missing qid counts as not
    judged chit-chat). Counts always; `precision` only when something was judged chit-chat, `recall`
    only when the labels hold chit-chat; `false_positive_rate` (knowledge questions judged chit-chat:
    each loses its whole AP) only when there are knowledge questions. Undefined ratios are left out
    rather than given a made-up value.
    """
    truth = {qid: not relevant for qid, relevant in qrels.items()}
    flagged = {qid: bool(judged.get(qid, False)) for qid in qrels}
    tp = sum(truth[q] and flagged[q] for q in qrels)
    fp = sum(not truth[q] and flagged[q] for q in qrels)
    fn = sum(truth[q] and not flagged[q] for q in qrels)
    knowledge = sum(not t for t in truth.values())
    scores: dict[str, float | int] = {
        "questions": len(qrels),
        "chitchat": tp + fn,
        "judged_chitchat": tp + fp,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
    }
    if tp + fp:
        scores["precision"] = round(tp / (tp + fp), DECIMALS)
    if tp + fn:
        scores["recall"] = round(tp / (tp + fn), DECIMALS)
    if knowledge:
        scores["false_positive_rate"] = round(fp / knowledge, DECIMALS)
    return scores
