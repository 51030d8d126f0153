"""Fusion on RankedRuns, cross-checked against ranx.fusion on random runs."""

import random

import numpy as np
import pytest
from ranx import Run, fuse

from ragtune.retrieval.fusion import fuse_variants, hybrid, normalise, reciprocal_rank_fusion, weighted_sum
from ragtune.runs import RankedRun

DOCIDS = [f"d{d}" for d in range(40)]


def random_run(rng, queries=20, depth=15, coarse=False, empty=True):
    return {
        f"q{q}": {
            f"d{d}": round(rng.random(), 1) if coarse else round(rng.random() * 10, 4)
            for d in rng.sample(range(len(DOCIDS)), rng.choice([0, depth, depth] if empty else [depth]))
        }
        for q in range(queries)
    }


def ranked(run):
    return RankedRun.from_run(run, sorted(run), DOCIDS)


def order(run):
    """qid -> docids in ranking order (score descending, ties by docid)."""
    return {q: [d for d, _ in sorted(s.items(), key=lambda x: (-x[1], x[0]))] for q, s in run.items()}


def ranx_dict(run):
    return Run({q: s for q, s in run.items() if s} or {"_": {"_": 0.0}}).to_dict()


def assert_matches(ours: RankedRun, theirs: dict):
    got = ours.to_run()
    for qid in got:
        expected = theirs.get(qid, {})
        assert set(got[qid]) == set(expected), qid
        for docid, score in got[qid].items():
            assert score == pytest.approx(expected[docid], abs=1e-6)
        ranking = [ours.docids[i] for i in ours.ids[ours.qids.index(qid)] if i >= 0]
        assert ranking == order({qid: expected})[qid]  # row order is the ranking, ties by docid


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6, 1.0])
# not zmuv on coarse (tied) scores: their z-scores tie only up to float rounding, which ranx rounds its own way
@pytest.mark.parametrize("norm, coarse", [("min-max", False), ("min-max", True), ("zmuv", False)])
def test_hybrid_matches_ranx_weighted_sum(alpha, coarse, norm):
    rng = random.Random(1)
    # ranx's zmuv fusion drops a question that one run has no candidates for; ours keeps the other run's
    sparse, dense = (random_run(rng, coarse=coarse, empty=norm != "zmuv") for _ in range(2))
    ours = hybrid(ranked(sparse), ranked(dense), alpha, norm)
    theirs = fuse([Run(sparse), Run(dense)], norm=norm, method="wsum", params={"weights": [1 - alpha, alpha]}).to_dict()
    # ranx keeps documents that got weight 0; a weight of 0 takes a run out of ours entirely
    if alpha in (0.0, 1.0):
        kept = sparse if alpha == 0.0 else dense
        theirs = {q: {d: s for d, s in theirs.get(q, {}).items() if d in kept[q]} for q in kept}
    assert_matches(ours, theirs)


def test_rrf_matches_ranx():
    rng = random.Random(2)
    a, b = random_run(rng), random_run(rng)  # distinct scores: ranx breaks ties its own way
    ours = reciprocal_rank_fusion({"a": ranked(a), "b": ranked(b)}, k=60)
    theirs = fuse([Run(a), Run(b)], method="rrf", params={"k": 60}).to_dict()
    assert_matches(ours, theirs)


def test_a_table_past_16_bits_fuses_as_a_small_one():
    """Tie ranks that fit 16 bits sort by radix, wider ones as int64: one fusion either way."""
    rng = random.Random(4)
    a, b = random_run(rng, coarse=True), random_run(rng, coarse=True)
    small = hybrid(ranked(a), ranked(b), 0.4, "min-max")
    wide = [*DOCIDS, *(f"a{i:05d}" for i in range(70_000))]  # before every d… in tie order: d's ranks pass 65,535
    large = hybrid(*(RankedRun.from_run(run, sorted(run), wide) for run in (a, b)), 0.4, "min-max")
    assert large.to_run() == small.to_run()
    assert [[large.docids[i] for i in row if i >= 0] for row in large.ids] == [
        [small.docids[i] for i in row if i >= 0] for row in small.ids
    ]


def test_weighted_sum_of_three_and_depth_cut():
    rng = random.Random(3)
    runs = {name: random_run(rng) for name in "abc"}
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    ours = weighted_sum({n: ranked(r) for n, r in runs.items()}, weights, depth=5)
    theirs = fuse(
        [Run(runs[n]) for n in "abc"], norm="min-max", method="wsum", params={"weights": [weights[n] for n in "abc"]}
    ).to_dict()
    assert ours.depth == 5
    for row, qid in enumerate(ours.qids):
        assert ours.ranking(row) == order({qid: theirs.get(qid, {})})[qid][:5]


def test_normalise_single_and_empty_rows():
    # A lone candidate is its retriever's best: 1, where ranx's min-max would give 0/0 → 0.
    run = RankedRun.from_run({"q1": {"a": 3.0}, "q2": {}, "q3": {"a": 2.0, "b": 4.0}}, ["q1", "q2", "q3"], ["a", "b"])
    assert normalise(run).tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]


def test_zmuv_rows_have_zero_mean_and_unit_variance():
    run = RankedRun.from_run(
        {"q1": {"a": 3.0}, "q2": {}, "q3": {"a": 2.0, "b": 4.0, "c": 9.0}}, ["q1", "q2", "q3"], ["a", "b", "c"]
    )
    normalised = normalise(run, "zmuv")
    assert normalised[:2].tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # a lone candidate: no spread, 0
    assert normalised[2].mean() == pytest.approx(0.0) and normalised[2].std() == pytest.approx(1.0)


def test_ties_are_broken_by_docid_whatever_the_table_order():
    run = {"q": {"b": 1.0, "a": 1.0, "c": 2.0}}
    table = ["c", "b", "a"]  # not sorted: ties still go by docid
    fused = reciprocal_rank_fusion({"x": RankedRun.from_run(run, ["q"], table)})
    assert fused.ranking(0) == ["c", "a", "b"]
    assert hybrid(
        RankedRun.from_run(run, ["q"], table), RankedRun.from_run({"q": {}}, ["q"], table, k=1), 0.5, depth=2
    ).ranking(0) == ["c", "a"]


def test_runs_must_share_questions_and_table():
    a = RankedRun.from_run({"q": {"a": 1.0}}, ["q"], ["a"])
    b = RankedRun.from_run({"r": {"a": 1.0}}, ["r"], ["a"])
    with pytest.raises(ValueError, match="other questions"):
        hybrid(a, b, 0.5)


def test_fuse_variants_is_rrf_of_each_questions_rows():
    rng = random.Random(4)
    variants = [{f"d{d}": round(rng.random() * 10, 4) for d in rng.sample(range(len(DOCIDS)), 15)} for _ in range(5)]
    owners = np.array([0, 1, 1, 0, 1])
    found = RankedRun.from_run({str(i): v for i, v in enumerate(variants)}, [str(i) for i in range(5)], DOCIDS)
    fused = fuse_variants(found, owners, ["x", "y"], k=60, depth=len(DOCIDS))
    for row, qid in enumerate(["x", "y"]):
        mine = {str(i): {qid: variants[i]} for i in range(5) if owners[i] == row}
        theirs = fuse([Run(r) for r in mine.values()], method="rrf", params={"k": 60}).to_dict()[qid]
        assert fused.ranking(row) == order({qid: theirs})[qid]


def test_a_cut_inside_a_tie_keeps_the_first_docids():
    run = {"q": {f"d{i}": 1.0 for i in (7, 3, 9, 1, 5)} | {"d2": 2.0}}
    fused = reciprocal_rank_fusion({"x": RankedRun.from_run(run, ["q"], DOCIDS)}, depth=3)
    assert fused.ranking(0) == ["d2", "d1", "d3"]
    summed = weighted_sum({"x": RankedRun.from_run(run, ["q"], DOCIDS)}, {"x": 1.0}, depth=3)
    assert summed.ranking(0) == ["d2", "d1", "d3"]


def test_ranked_rows_order_by_score_then_docid_with_negative_scores():
    ids = np.array([[4, 1, 2, 3, -1, 0]])
    scores = np.array([[-1.5, 2.0, -0.0, 0.0, 9.0, 2.0]])
    run = RankedRun.ranked(["q"], ["e", "a", "c", "b", "d"], ids, scores)
    assert run.ranking(0) == ["a", "e", "b", "c", "d"]
    assert run.scores[0].tolist() == [2.0, 2.0, 0.0, 0.0, -1.5, 0.0]


def test_runs_fuse_as_their_flat_entries_do():
    """weighted_sum lays runs side by side per question (accumulate_rows); the flat path (accumulate, as RRF and
    query variants fuse) must rank and sum the very same entries to the same bytes, short rows included."""
    from ragtune.retrieval.fusion import accumulate

    rng = random.Random(7)
    runs = {name: ranked(random_run(rng, coarse=name == "b")) for name in ("a", "b", "c")}
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    fused = weighted_sum(runs, weights, "zmuv", depth=25)
    rows, ids, values = [], [], []
    for name, run in runs.items():
        valid = run.ids >= 0
        rows.append(np.nonzero(valid)[0])
        ids.append(run.ids[valid])
        values.append(weights[name] * normalise(run, "zmuv")[valid])
    flat = accumulate(*map(np.concatenate, (rows, ids, values)), fused.qids, DOCIDS, 25)
    assert fused.ids.tobytes() == flat.ids.tobytes() and fused.scores.tobytes() == flat.scores.tobytes()
    assert (fused.ids[:, :1] >= 0).any() and (fused.ids == -1).any()  # rows with and without room left
