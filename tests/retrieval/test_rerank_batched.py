"""Cross-encoder reranking batched across questions (one FlagReranker call per few thousand pairs),
checked against the per-question path on the tiny reranker; the seeded validation cap."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_support import SENTENCES

from ragtune.retrieval.pipeline import BatchRescorer, RetrievalSettings, retrieve
from ragtune.retrieval.rerank import CrossEncoderReranker, rerank_subset

DOCIDS = [f"d{number:02d}" for number in range(len(SENTENCES))]
TEXTS = dict(zip(DOCIDS, SENTENCES))
QUESTIONS = {"q1": "광합성은 무엇인가", "q2": "세포의 구조", "q3": "태양의 에너지", "q4": "물이 끓는 온도"}


@pytest.fixture(scope="module")
def reranker(tiny_reranker):
    return CrossEncoderReranker(tiny_reranker, device="cpu", batch_size=4, max_length=64)


def counting(reranker):
    """Count FlagReranker calls made through the reranker."""
    calls = []
    original = reranker.model.compute_score_single_gpu

    def wrapped(pairs, **kwargs):
        calls.append(len(pairs))
        return original(pairs, **kwargs)

    reranker.model.compute_score_single_gpu = wrapped
    return calls, lambda: setattr(reranker.model, "compute_score_single_gpu", original)


def searcher(texts, k):
    """Every question gets every document, in a question-dependent order (rows are ranked by retrieve)."""
    ids = np.asarray([np.roll(np.arange(len(DOCIDS)), len(text)) for text in texts])[:, :k]
    return ids, np.tile(np.linspace(1.0, 0.1, ids.shape[1]), (len(texts), 1))


def run_both(reranker, rerank_qids=None):
    variants = {qid: [text] for qid, text in QUESTIONS.items()}
    qids = ["chat", *QUESTIONS]  # a chit-chat row (no variants) among them

    def per_question(query, docids):
        return reranker.rerank(query, [(d, TEXTS[d]) for d in docids])

    batched = BatchRescorer(
        lambda queries, heads: reranker.rerank_lists(queries, [[(d, TEXTS[d]) for d in head] for head in heads])
    )
    settings = RetrievalSettings(candidates=len(DOCIDS), rerank_top=6)
    return [
        retrieve(
            variants,
            qids,
            DOCIDS,
            {"bm25": searcher},
            {},
            settings,
            rerankers={"rerank": rescorer},
            rerank_qids=rerank_qids,
        )
        for rescorer in (per_question, batched)
    ]


def test_batched_reranking_gives_the_per_question_ranking_in_one_call(reranker):
    calls, restore = counting(reranker)
    try:
        slow, fast = run_both(reranker)
    finally:
        restore()
    assert calls == [6, 6, 6, 6, 24]  # four calls per question, then one for all 24 pairs
    assert fast["rerank"].to_run() == slow["rerank"].to_run()
    assert fast["hybrid"].to_run() == slow["hybrid"].to_run()
    assert fast["rerank"].ranking(0) == []  # chit-chat stays empty


def test_rerank_lists_scores_match_single_queries_and_chunking(reranker):
    queries = list(QUESTIONS.values())
    candidates = [[(d, TEXTS[d]) for d in DOCIDS[i : i + 5]] for i in range(len(queries))]
    calls, restore = counting(reranker)
    try:
        chunked = reranker.rerank_lists(queries, candidates, pairs_per_call=7)
    finally:
        restore()
    assert calls == [7, 7, 6]  # 20 pairs in calls of at most 7
    for query, group, ranked in zip(queries, candidates, chunked):
        single = reranker.rerank(query, group)
        assert [d for d, _ in ranked] == [d for d, _ in single]
        assert [s for _, s in ranked] == pytest.approx([s for _, s in single], rel=1e-5, abs=1e-6)
    assert reranker.rerank_lists([], []) == []
    with pytest.raises(ValueError, match="2 queries but 1"):
        reranker.rerank_lists(["a", "b"], [[]])


def test_validation_limit_reranks_a_seeded_subset_and_keeps_the_fused_ranking_elsewhere(reranker):
    chosen = rerank_subset(QUESTIONS, 2, seed=0)
    calls, restore = counting(reranker)
    try:
        capped, _ = run_both(reranker, rerank_qids=chosen)
    finally:
        restore()
    assert calls[:2] == [6, 6]  # the per-question path scored only the two chosen questions
    for row, qid in enumerate(capped["rerank"].qids):
        if qid in chosen or qid == "chat":
            continue
        assert capped["rerank"].ranking(row) == capped["fused"].ranking(row)


def test_rerank_subset_is_seeded_order_free_and_stable_under_additions():
    qids = [f"q{i:03d}" for i in range(200)]
    subset = rerank_subset(qids, 20, seed=1)
    assert len(subset) == 20
    assert rerank_subset(reversed(qids), 20, seed=1) == subset
    assert rerank_subset(qids, 20, seed=2) != subset
    grown = rerank_subset(qids + ["q999"], 20, seed=1)
    assert len(grown - subset) <= 1
    assert rerank_subset(qids, None, seed=1) == set(qids) == rerank_subset(qids, 500, seed=1)
    assert rerank_subset(qids, 0, seed=1) == set()
