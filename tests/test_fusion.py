"""Fusion cross-checked against ranx.fusion on random runs."""

import random

import pytest
from ranx import Run, fuse

from ragtune.fusion import hybrid, reciprocal_rank_fusion, top


def random_run(rng, queries=20, docs=40, depth=15):
    return {f"q{q}": {f"d{d}": round(rng.random() * 10, 4) for d in rng.sample(range(docs), depth)}
            for q in range(queries)}


def as_ranx(run):
    return Run(run)


def ranked(run):
    return {q: [d for d, _ in sorted(s.items(), key=lambda x: (-x[1], x[0]))] for q, s in run.items()}


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6, 1.0])
def test_hybrid_matches_ranx_weighted_sum(alpha):
    rng = random.Random(1)
    sparse, dense = random_run(rng), random_run(rng)
    ours = hybrid(sparse, dense, alpha)
    theirs = fuse([as_ranx(sparse), as_ranx(dense)], norm="min-max", method="wsum",
                  params={"weights": [1 - alpha, alpha]}).to_dict()
    for qid in ours:
        for docid, score in ours[qid].items():
            assert score == pytest.approx(theirs[qid].get(docid, 0.0), abs=1e-6)


def test_rrf_matches_ranx():
    rng = random.Random(2)
    a, b = random_run(rng), random_run(rng)
    ours = reciprocal_rank_fusion({"a": a, "b": b}, k=60)
    theirs = fuse([as_ranx(a), as_ranx(b)], method="rrf", params={"k": 60}).to_dict()
    for qid in ours:
        assert ours[qid] == pytest.approx(theirs[qid], abs=1e-9)


def test_ties_and_top_are_deterministic():
    run = {"q": {"b": 1.0, "a": 1.0, "c": 2.0}}
    assert list(top(run, 2)["q"]) == ["c", "a"]
    assert ranked(reciprocal_rank_fusion({"x": run}))["q"] == ["c", "a", "b"]
