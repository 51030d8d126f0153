"""The one ranking order (ragtune.ranking) against Python's sorted with the rule spelled out as a key."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragtune.ranking import best_first, rank_rows, tie_ranks
from ragtune.runs import RankedRun


def reference_key(pair: tuple[str, float]) -> tuple:
    """Score descending (NaN below every number, NaNs equal), then docid ascending."""
    docid, score = pair
    return (math.isnan(score), 0.0 if math.isnan(score) else -score, docid)


SCORES = [2.0, 1.0, 1.0, 0.0, -0.0, -1.0, math.inf, -math.inf, math.nan, 0.5]


@pytest.mark.parametrize("seed", range(20))
def test_best_first_is_sorted_with_the_explicit_key(seed):
    rng = np.random.default_rng(seed)
    pairs = [(f"d{rng.integers(0, 12):02d}", float(rng.choice(SCORES))) for _ in range(rng.integers(0, 40))]
    # repr: NaN != NaN, and -0.0 must come back as -0.0 (each pair as given)
    assert repr(best_first(pairs)) == repr(sorted(pairs, key=reference_key))


def test_ties_go_by_docid_whatever_the_input_order():
    assert best_first([("y", 1.0), ("x", 1.0), ("z", 2.0)]) == [("z", 2.0), ("x", 1.0), ("y", 1.0)]
    assert best_first([("b", 0.0), ("a", -0.0)]) == [("a", -0.0), ("b", 0.0)]  # -0.0 equals 0.0
    assert [d for d, _ in best_first([("a", math.nan), ("c", -math.inf), ("b", math.nan)])] == ["c", "a", "b"]
    assert best_first([]) == []


def test_a_repeated_docid_keeps_its_input_order_like_sorted():
    pairs = [("a", 1.0), ("b", 3.0), ("a", 1.0 + 0.0), ("a", 2.0)]
    assert [id(p) for p in best_first(pairs)] == [id(p) for p in sorted(pairs, key=reference_key)]


def test_scores_compare_in_their_own_precision():
    # Equal as float32, different as float64: a dict run ranks by its float64 values.
    assert best_first([("a", 1.0), ("b", 1.0 + 1e-12)]) == [("b", 1.0 + 1e-12), ("a", 1.0)]
    ids, _ = rank_rows(np.array([[0, 1]]), np.array([[1.0, 1.0 + 1e-12]], np.float32), tie_ranks(["a", "b"]))
    assert ids.tolist() == [[0, 1]]


def random_rows(seed: int) -> tuple[np.random.Generator, list[str], np.ndarray]:
    """8 rows of 12 distinct ids out of 30 shuffled docids, a quarter of them padding (-1)."""
    rng = np.random.default_rng(seed)
    docids = [f"doc{i}" for i in rng.permutation(30)]
    ids = np.stack([rng.permutation(30)[:12] for _ in range(8)])
    ids[rng.random(ids.shape) < 0.25] = -1
    return rng, docids, ids


@pytest.mark.parametrize("seed", range(5))
def test_rank_rows_matches_sorted_row_by_row_and_pads_last(seed):
    rng, docids, ids = random_rows(seed)
    scores = rng.choice(np.array(SCORES, np.float32), ids.shape)
    ranked_ids, ranked_scores = rank_rows(ids, scores, tie_ranks(docids))
    assert ranked_ids.dtype == np.int32 and ranked_scores.dtype == np.float32
    for row in range(len(ids)):
        expected = sorted(((docids[i], float(s)) for i, s in zip(ids[row], scores[row]) if i >= 0), key=reference_key)
        got = [(docids[i], float(s)) for i, s in zip(ranked_ids[row], ranked_scores[row]) if i >= 0]
        assert repr(got) == repr(expected)
        assert (ranked_ids[row, len(expected) :] == -1).all() and (ranked_scores[row, len(expected) :] == 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_rows_already_in_ranking_order_come_back_as_the_sort_gives_them(seed):
    # the order check that spares the sort: ranked rows (ties, -0.0, padding) pass it unchanged, and a row one swap
    # away from ranked is sorted, not passed
    rng, docids, ids = random_rows(seed)
    finite = np.array([s for s in SCORES if not math.isnan(s)], np.float32)
    ranked_ids, ranked_scores = rank_rows(ids, rng.choice(finite, ids.shape), tie_ranks(docids))
    again_ids, again_scores = rank_rows(ranked_ids, ranked_scores, tie_ranks(docids))
    assert np.array_equal(again_ids, ranked_ids) and repr(again_scores.tolist()) == repr(ranked_scores.tolist())
    swapped_ids, swapped_scores = ranked_ids.copy(), ranked_scores.copy()
    swapped_ids[:, [0, 1]], swapped_scores[:, [0, 1]] = ranked_ids[:, [1, 0]], ranked_scores[:, [1, 0]]
    resorted_ids, _ = rank_rows(swapped_ids, swapped_scores, tie_ranks(docids))
    assert np.array_equal(resorted_ids, ranked_ids)


def test_tie_ranks_are_positions_in_sorted_order():
    assert tie_ranks(["c", "a", "b"]).tolist() == [2, 0, 1]
    assert tie_ranks([]).tolist() == []


def test_a_run_from_a_dict_keeps_the_k_best_in_ranking_order():
    run = {"q1": {"b": 1.0, "a": 1.0, "c": 3.0, "d": math.nan}, "q2": {}}
    ranked = RankedRun.from_run(run, ["q1", "q2", "q3"], ["d", "c", "b", "a"], k=3)
    assert [ranked.ranking(row) for row in range(3)] == [["c", "a", "b"], [], []]
    assert ranked.ids.shape == (3, 3) and ranked.scores[0].tolist() == [3.0, 1.0, 1.0]
    assert RankedRun.from_run(run, ["q1"], ["d", "c", "b", "a"]).ranking(0) == ["c", "a", "b", "d"]
