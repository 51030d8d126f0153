import math
import random

import pytest

from ragtune.evaluation import metrics
from ragtune.evaluation.metrics import (
    competition_ap,
    evaluate,
    evaluate_runs,
    evaluate_with_curve,
    judge,
    per_query,
    ranking,
    recall_curve,
)
from ragtune.runs import RankedRun

# --- straightforward reference formulae (binary relevance), independent of ranx -------------


def ref_mrr(order, relevant, k):
    return next((1 / rank for rank, d in enumerate(order[:k], 1) if d in relevant), 0.0)


def ref_ndcg(order, relevant, k):
    dcg = sum(1 / math.log2(rank + 1) for rank, d in enumerate(order[:k], 1) if d in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def ref_recall(order, relevant, k):
    return len(set(order[:k]) & set(relevant)) / len(set(relevant))


REFERENCE = {"mrr": ref_mrr, "ndcg": ref_ndcg, "recall": ref_recall}


# --- ranking ---------------------------------------------------------------------------------


def test_ranking_sorts_by_score_then_docid():
    run = {"d3": 0.5, "d1": 0.5, "d2": 0.9, "d0": 0.1}
    assert ranking(run) == ["d2", "d1", "d3", "d0"]
    assert ranking(run, 2) == ["d2", "d1"]
    assert ranking({}) == []


def test_tie_break_is_independent_of_insertion_order():
    a = {"b": 1.0, "a": 1.0, "c": 1.0}
    b = {"c": 1.0, "a": 1.0, "b": 1.0}
    assert ranking(a) == ranking(b) == ["a", "b", "c"]
    qrels = {"q": ["b"]}
    assert evaluate({"q": a}, qrels) == evaluate({"q": b}, qrels)
    assert evaluate({"q": a}, qrels, ["mrr@10", "map@3"]) == {"mrr@10": 0.5, "map@3": 0.5}


# --- competition AP --------------------------------------------------------------------------


def test_competition_ap_hits_at_ranks_two_and_three_divides_by_hits():
    assert competition_ap(["x", "a", "b"], ["a", "b", "c", "d"]) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_competition_ap_first_hit_and_no_hits():
    assert competition_ap(["a", "x", "y"], ["a"]) == 1.0
    assert competition_ap(["x", "y", "a"], ["a"]) == pytest.approx(1 / 3)
    assert competition_ap(["x", "y", "z"], ["a"]) == 0.0


def test_competition_ap_only_first_three_count():
    assert competition_ap(["x", "y", "z", "a"], ["a"]) == 0.0
    assert competition_ap(["x", "a", "y", "b", "c"], ["a", "b", "c"]) == pytest.approx(1 / 2)


def test_competition_ap_chit_chat_and_empty():
    assert competition_ap([], []) == 1.0
    assert competition_ap(["a"], []) == 0.0
    assert competition_ap([], ["a"]) == 0.0


def test_competition_ap_counts_a_repeated_docid_once_at_first_position():
    assert competition_ap(["a", "a", "a"], ["a"]) == 1.0
    assert competition_ap(["x", "a", "a"], ["a"]) == pytest.approx(1 / 2)  # naive loop: (1/2+2/3)/2
    assert competition_ap(["a", "x", "a"], ["a", "b"]) == 1.0


def test_map_covers_chit_chat_and_missing_answers():
    qrels = {"q1": ["a"], "q2": [], "q3": [], "q4": ["b"]}
    run = {"q1": {"a": 1.0, "x": 0.5}, "q2": {}, "q3": {"y": 0.3}}  # q4 missing: empty answer
    assert per_query(run, qrels, "map@3") == {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 0.0}
    assert evaluate(run, qrels, ["map@3"]) == {"map@3": 0.5}


# --- standard metrics ------------------------------------------------------------------------


def test_standard_metrics_by_hand():
    qrels = {"q1": ["a", "b"], "q2": ["c"], "q3": []}
    run = {"q1": {"x": 3.0, "a": 2.0, "y": 1.0, "b": 0.5}, "q2": {"c": 1.0}, "q3": {"z": 1.0}}
    got = evaluate(run, qrels, ["mrr@10", "ndcg@10", "recall@1", "recall@10"])
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert got["mrr@10"] == pytest.approx((1 / 2 + 1) / 2, abs=1e-6)  # q3 (chit-chat) excluded
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + 1) / 2, abs=1e-6)
    assert got["recall@1"] == pytest.approx((0 + 1) / 2, abs=1e-6)
    assert got["recall@10"] == pytest.approx(1.0, abs=1e-6)
    assert set(per_query(run, qrels, "mrr@10")) == {"q1", "q2"}


def test_unanswered_questions_with_relevant_docs_score_zero():
    qrels = {"q1": ["a"], "q2": ["b"], "q3": ["c"]}
    run = {"q1": {"a": 1.0}, "q2": {}}
    assert evaluate(run, qrels, ["mrr@10", "recall@100"]) == {
        "mrr@10": pytest.approx(1 / 3, abs=1e-6),
        "recall@100": pytest.approx(1 / 3, abs=1e-6),
    }
    assert evaluate({}, qrels, ["ndcg@10"]) == {"ndcg@10": 0.0}


def test_only_chit_chat_gives_zero_for_standard_metrics():
    assert evaluate({"q": {}}, {"q": []}) == {
        "map@3": 1.0,
        "mrr@10": 0.0,
        "ndcg@10": 0.0,
        "recall@1": 0.0,
        "recall@10": 0.0,
        "recall@100": 0.0,
    }


def test_metrics_agree_with_reference_formulae_on_random_runs():
    rng = random.Random(7)
    pool = [f"d{i:02d}" for i in range(40)]
    run, qrels = {}, {}
    for q in range(60):
        qid = f"q{q}"
        qrels[qid] = rng.sample(pool, rng.choice([0, 1, 1, 2, 3, 5]))
        if rng.random() < 0.1:
            continue  # missing from run
        docs = rng.sample(pool, rng.choice([0, 1, 5, 20, 40]))
        run[qid] = {d: round(rng.random(), 1) for d in docs}  # coarse scores force ties
    metrics = ["mrr@3", "mrr@10", "ndcg@5", "ndcg@10", "recall@1", "recall@10", "recall@100"]
    got = evaluate(run, qrels, metrics)
    judged = [qid for qid in qrels if qrels[qid]]
    for metric in metrics:
        name, k = metric.split("@")
        expected = [REFERENCE[name](ranking(run.get(qid, {})), set(qrels[qid]), int(k)) for qid in judged]
        assert got[metric] == pytest.approx(sum(expected) / len(expected), abs=2e-6), metric
        one = per_query(run, qrels, metric)
        for qid, value in zip(judged, expected):
            assert one[qid] == pytest.approx(value, abs=2e-6), (metric, qid)
    maps = [competition_ap(ranking(run.get(qid, {}), 3), qrels[qid]) for qid in qrels]
    assert evaluate(run, qrels, ["map@3"])["map@3"] == pytest.approx(sum(maps) / len(maps), abs=1e-6)
    # the failure report's tallies: every question's AP bit for bit, its hit and its answer
    ap, hit, answered = judge({"run": run}, qrels, 3)["run"]
    assert ap.tolist() == maps
    tops = [ranking(run.get(qid, {}), 3) for qid in qrels]
    assert hit.tolist() == [bool(set(top) & set(qrels[qid])) for top, qid in zip(tops, qrels)]
    assert answered.tolist() == [bool(top) for top in tops]


def test_values_are_rounded_and_unknown_metrics_rejected():
    got = evaluate({"q": {"x": 2.0, "y": 1.5, "a": 1.0}}, {"q": ["a"]}, ["mrr@10", "map@3"])
    assert got == {"mrr@10": 0.333333, "map@3": 0.333333}
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate({}, {"q": ["a"]}, ["precision@3"])


def test_recall_curve_rows_are_sorted_and_monotone():
    qrels = {"q1": ["a", "b"], "q2": ["c"]}
    run = {"q1": {"a": 3.0, "x": 2.0, "b": 1.0}, "q2": {"x": 1.0, "c": 0.5}}
    rows = recall_curve(run, qrels, ks=(3, 1, 2))
    assert rows == [{"k": 1, "recall": 0.25}, {"k": 2, "recall": 0.75}, {"k": 3, "recall": 1.0}]
    # the evaluate stage reads both from one pass: the same figures as each alone
    assert evaluate_with_curve(run, qrels) == (evaluate(run, qrels), recall_curve(run, qrels))


def test_runs_evaluated_together_give_each_run_its_own_figures():
    """evaluate_runs looks the relevant documents up once per docid table: the same figures as one run at a time,
    also where the runs' tables differ or a relevant docid is in neither."""
    qrels = {"q1": ["a", "zz"], "q2": ["c"], "q3": []}
    first = RankedRun.from_run({"q1": {"a": 3.0, "b": 1.0}, "q2": {"c": 2.0}}, ["q1", "q2", "q3"], ["a", "b", "c"])
    other = RankedRun.from_run({"q1": {"b": 2.0, "a": 1.0}, "q3": {"c": 1.0}}, ["q1", "q3"], ["c", "b", "a"])
    same_table = RankedRun.from_run({"q2": {"b": 1.0, "c": 0.5}}, ["q2"], ["a", "b", "c"])
    runs = {"first": first, "other": other, "same_table": same_table}
    assert evaluate_runs(runs, qrels) == {name: evaluate_with_curve(run, qrels) for name, run in runs.items()}


def test_standard_metrics_match_ranx_on_random_runs():
    """ranx is the reference implementation for mrr, ndcg and recall."""
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    rng = random.Random(11)
    pool = [f"d{i:02d}" for i in range(50)]
    qrels = {f"q{q}": rng.sample(pool, rng.choice([1, 2, 3, 5])) for q in range(80)}
    run = {qid: {d: rng.random() for d in rng.sample(pool, rng.choice([1, 5, 20, 50]))} for qid in qrels}
    metrics = ["mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100"]
    theirs = ranx_evaluate(Qrels({q: {d: 1 for d in r} for q, r in qrels.items()}), Run(run), metrics)
    ours = evaluate(run, qrels, metrics)
    for metric in metrics:
        assert ours[metric] == pytest.approx(theirs[metric], abs=2e-6), metric


def test_chitchat_scores():
    qrels = {"a": [], "b": [], "c": ["d1"], "d": ["d2"], "e": ["d3"], "f": []}
    judged = {"a": True, "b": True, "c": True, "d": False, "e": False}  # f missing: not judged chit-chat
    scores = metrics.chitchat_scores(judged, qrels)
    assert scores == {
        "questions": 6,
        "chitchat": 3,
        "judged_chitchat": 3,
        "true_positives": 2,
        "false_positives": 1,
        "false_negatives": 1,
        "precision": round(2 / 3, 6),
        "recall": round(2 / 3, 6),
        "false_positive_rate": round(1 / 3, 6),
    }


def test_chitchat_scores_leave_undefined_ratios_out():
    # dev: no chit-chat in the labels, nothing flagged: only the false-positive rate is defined
    assert metrics.chitchat_scores({"c": False}, {"c": ["d1"]}) == {
        "questions": 1,
        "chitchat": 0,
        "judged_chitchat": 0,
        "true_positives": 0,
        "false_positives": 0,
        "false_negatives": 0,
        "false_positive_rate": 0.0,
    }
