"""Cross-encoder reranking through FlagReranker on the tiny reranker."""

from __future__ import annotations

import pytest
from tiny_support import SENTENCES

from ragtune.retrieval.rerank import CrossEncoderReranker, rank_by_score


@pytest.fixture(scope="module")
def reranker(tiny_reranker):
    return CrossEncoderReranker(tiny_reranker, device="cpu", batch_size=4, max_length=64)


CANDIDATES = [(f"d{number:02d}", sentence) for number, sentence in enumerate(SENTENCES[:8])]


def test_rerank_orders_best_first_with_scores_from_flagreranker(reranker):
    ranked = reranker.rerank("광합성은 무엇인가", CANDIDATES)
    assert sorted(docid for docid, _ in ranked) == [docid for docid, _ in CANDIDATES]
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)
    direct = reranker.model.compute_score([("광합성은 무엇인가", CANDIDATES[0][1])])
    assert dict(ranked)["d00"] == pytest.approx(direct[0], rel=1e-5)


def test_equal_scores_are_ordered_by_docid(reranker):
    same = [("b", SENTENCES[0]), ("c", SENTENCES[0]), ("a", SENTENCES[0])]
    assert [docid for docid, _ in reranker.rerank("질문", same)] == ["a", "b", "c"]
    assert rank_by_score(["y", "x", "z"], [1.0, 1.0, 2.0]) == [("z", 2.0), ("x", 1.0), ("y", 1.0)]


def test_rerank_many_matches_one_query_at_a_time(reranker):
    queries = {"q2": "태양의 에너지", "q1": "세포의 구조"}
    candidates = {"q1": CANDIDATES[:5], "q2": CANDIDATES[3:]}
    batched = reranker.rerank_many(queries, candidates)
    assert list(batched) == ["q1", "q2"]
    for key in queries:
        single = reranker.rerank(queries[key], candidates[key])
        assert [d for d, _ in batched[key]] == [d for d, _ in single]
        assert [s for _, s in batched[key]] == pytest.approx([s for _, s in single], rel=1e-5)
    assert reranker.rerank("질문", []) == []
    with pytest.raises(KeyError):
        reranker.rerank_many({"q3": "x"}, {})
