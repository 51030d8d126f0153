"""Hard-negative mining: pools merged from several rankings, the false-negative filter, teacher scores,
the questions a model misses (targeted round)."""

from __future__ import annotations

import pytest
from tiny_support import SENTENCES

from ragtune.training.negatives import (
    MiningStats,
    NegativeFilter,
    dense_pools,
    mine_negatives,
    missed_questions,
    targeted_rows,
    teacher_scores,
    training_rows,
)

TEXTS = {f"d{number:02d}": sentence for number, sentence in enumerate(SENTENCES)}
DOCIDS = sorted(TEXTS)


def test_pools_are_merged_and_deduplicated_at_their_best_rank():
    bm25 = [("d00", 9.0), ("d01", 5.0), ("d02", 4.0), ("d03", 3.0)]
    dense = [("d00", 0.9), ("d04", 0.8), ("d03", 0.7), ("d05", 0.1)]
    stats = MiningStats()
    chosen = mine_negatives(
        "d00", [bm25, dense], TEXTS, DOCIDS, NegativeFilter(k=3, skip_top=2, margin=0.0), stats, "q", 0
    )
    # d01 (BM25 rank 1) and d04 (dense rank 1) are in the rank window; d03 counts once, at dense rank 2
    assert chosen == ["d02", "d03", "d05"]
    assert stats.rejected["rank_window"] == 2 and stats.random_fill == 0


def test_margin_is_checked_against_the_positive_in_each_pool():
    bm25 = [("d01", 9.8), ("d00", 10.0), ("d02", 5.0)]
    dense = [("d03", 0.95), ("d00", 0.5), ("d02", 0.4)]
    stats = MiningStats()
    chosen = mine_negatives(
        "d00",
        [bm25, dense],
        TEXTS,
        DOCIDS,
        NegativeFilter(k=2, skip_top=0, margin=0.05, fill_random=False),
        stats,
        "q",
        0,
    )
    assert chosen == ["d02"] and stats.rejected["score_margin"] == 2


def test_training_rows_are_flagembedding_rows_and_seeded():
    pairs = [{"query": "광합성", "docid": "d00"}, {"query": "세포막", "docid": "d01"}]
    pools = [[[("d00", 3.0), ("d05", 2.0)]], [[("d07", 1.0)]]]
    rule = NegativeFilter(k=3, skip_top=0, margin=0.0)
    rows = training_rows(pairs, pools, TEXTS, DOCIDS, rule, MiningStats(), seed=1)
    assert [row["pos_id"] for row in rows] == ["d00", "d01"] and rows[0]["neg_ids"][0] == "d05"
    assert all(
        row["pos"] == [TEXTS[row["pos_id"]]]
        and row["neg"] == [TEXTS[d] for d in row["neg_ids"]]
        and len(row["neg"]) == 3
        for row in rows
    )
    assert rows == training_rows(pairs, pools, TEXTS, DOCIDS, rule, MiningStats(), seed=1)


def test_missed_questions():
    pairs = [{"query": "a", "docid": "d00"}, {"query": "b", "docid": "d01"}, {"query": "c", "docid": "d02"}]
    pools = [[("d00", 1.0), ("d09", 0.5)], [("d09", 1.0), ("d01", 0.5)], [("d09", 1.0)]]
    assert missed_questions(pairs, pools, top_k=1) == [1, 2]
    assert missed_questions(pairs, pools, top_k=2) == [2]


@pytest.fixture(scope="module")
def models(tiny_embedder, tiny_reranker):
    return tiny_embedder, tiny_reranker


def test_dense_pools_rank_by_the_model(models):
    from ragtune.models.encoders import M3Encoder

    encoder = M3Encoder(models[0], device="cpu", query_max_length=32, passage_max_length=64)
    passages = [TEXTS[d] for d in DOCIDS]
    pools = dense_pools(encoder, [TEXTS["d03"], "달의 공전 주기"], DOCIDS, passages, 5)
    assert [len(pool) for pool in pools] == [5, 5]
    assert pools[0][0][0] == "d03"  # a passage is its own nearest neighbour
    assert all(a[1] >= b[1] for pool in pools for a, b in zip(pool, pool[1:]))
    assert dense_pools(encoder, ["x"], DOCIDS, passages, 0) == [[]]


def test_targeted_rows_cover_only_missed_questions(models):
    from ragtune.models.encoders import M3Encoder

    encoder = M3Encoder(models[0], device="cpu", query_max_length=32, passage_max_length=64)
    pairs = [{"query": TEXTS[d], "docid": d} for d in DOCIDS[:6]] + [{"query": "전혀 관계없는 말", "docid": "d10"}]
    rule = NegativeFilter(k=3, skip_top=0, margin=0.0)
    rows = targeted_rows(encoder, pairs, TEXTS, DOCIDS, rule, pool_size=10, top_k=1, stats=MiningStats(), seed=0)
    ids = [row["pos_id"] for row in rows]
    assert not set(ids) & set(DOCIDS[:6])  # passages used as questions find themselves first
    assert all(row["pos_id"] not in row["neg_ids"] and len(row["neg_ids"]) == 3 for row in rows)


def test_teacher_scores_are_the_cross_encoders(models):
    from ragtune.retrieval.rerank import CrossEncoderReranker

    reranker = CrossEncoderReranker(models[1], device="cpu", max_length=96)
    rows = [
        {"query": "광합성", "pos": [TEXTS["d00"]], "neg": [TEXTS["d01"], TEXTS["d02"]]},
        {"query": "달", "pos": [TEXTS["d04"]], "neg": [TEXTS["d05"]]},
    ]
    scored = teacher_scores(reranker, rows)
    assert [len(row["neg_scores"]) for row in scored] == [2, 1] and all(len(row["pos_scores"]) == 1 for row in scored)
    expected = dict(reranker.rerank("광합성", [("p", TEXTS["d00"]), ("n1", TEXTS["d02"])]))
    assert scored[0]["pos_scores"][0] == pytest.approx(expected["p"], abs=1e-5)
    assert scored[0]["neg_scores"][1] == pytest.approx(expected["n1"], abs=1e-5)
    assert [{key: row[key] for key in ("query", "pos", "neg")} for row in scored] == rows


def test_negatives_filter_false_negatives():
    texts = {
        "pos": "가나다라마바사아자차",
        "dup": "가나다라마바사아자차",
        "top": "x",
        "close": "y",
        "ok1": "z1",
        "ok2": "z2",
        "ok3": "z3",
    }
    pool = [("top", 10.0), ("pos", 9.0), ("close", 8.8), ("dup", 5.0), ("ok1", 4.0), ("ok2", 3.0), ("ok3", 2.0)]
    stats = MiningStats()
    rule = NegativeFilter(k=2, skip_top=1, margin=0.05, near_duplicate=0.8, fill_random=False)
    negatives = mine_negatives("pos", [pool], texts, list(texts), rule, stats, "q", 0)
    assert negatives == ["ok1", "ok2"]
    assert stats.as_dict()["rejected"] == {"near_duplicate": 1, "rank_window": 1, "score_margin": 1}
