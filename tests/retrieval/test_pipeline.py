"""retrieve(): searchers → per-retriever runs → fusion → reranking, on fake searchers."""

import numpy as np
import pytest

from ragtune.retrieval.fusion import hybrid, reciprocal_rank_fusion, weighted_sum
from ragtune.retrieval.pipeline import RetrievalSettings, hits_searcher, rerank_heads, retrieve
from ragtune.runs import RankedRun

DOCIDS = ["d3", "d1", "d2", "d0", "d4"]  # table order is not docid order on purpose


def table_searcher(scores_by_text):
    """A searcher over fixed {text: {docid: score}}; returns unsorted rows like a search library."""
    position = {d: i for i, d in enumerate(DOCIDS)}

    def search(texts, k):
        ids, scores = np.full((len(texts), k), -1), np.zeros((len(texts), k))
        for row, text in enumerate(texts):
            hits = list(scores_by_text.get(text, {}).items())[::-1][:k]  # deliberately not ranked
            for col, (docid, score) in enumerate(hits):
                ids[row, col], scores[row, col] = position[docid], score
        return ids, scores

    return search


SPARSE = {"a": {"d1": 3.0, "d2": 1.0}, "b": {"d0": 2.0, "d4": 2.0, "d3": 1.0}, "a2": {"d2": 5.0, "d3": 1.0}}
DENSE = {"a": {"d2": 0.9, "d3": 0.5, "d1": 0.1}, "b": {"d4": 0.8}, "a2": {"d1": 0.7, "d3": 0.6}}


def test_runs_per_retriever_and_chitchat_rows_are_empty():
    runs = retrieve(
        {"q1": ["a"], "q2": ["b"]},
        ["q1", "q2", "chat"],
        DOCIDS,
        {"bm25": table_searcher(SPARSE)},
        {"dense": table_searcher(DENSE)},
        RetrievalSettings(candidates=4, alpha=0.5),
    )
    assert set(runs) == {"bm25", "dense", "hybrid"}
    assert runs["bm25"].ranking(0) == ["d1", "d2"]
    assert runs["bm25"].ranking(1) == ["d0", "d4", "d3"]  # tie by docid
    assert all(run.ranking(2) == [] for run in runs.values())
    expected = hybrid(runs["bm25"], runs["dense"], 0.5, depth=4)
    assert runs["hybrid"].ranking(0) == expected.ranking(0)
    assert runs["hybrid"].to_run() == expected.to_run()


def test_weighted_lexical_side_and_rrf():
    settings = RetrievalSettings(candidates=5, fusion="rrf", rrf_k=60)
    runs = retrieve(
        {"q1": ["a"]},
        ["q1"],
        DOCIDS,
        {"bm25": table_searcher(SPARSE), "char": table_searcher(DENSE)},
        {"dense": table_searcher(DENSE)},
        settings,
        sparse_weights={"bm25": 0.6, "char": 0.4},
    )
    lexical = weighted_sum({"bm25": runs["bm25"], "char": runs["char"]}, {"bm25": 0.6, "char": 0.4}, depth=5)
    assert runs["lexical"].to_run() == lexical.to_run()
    fused = reciprocal_rank_fusion({"s": lexical, "d": runs["dense"]}, k=60, depth=5)
    assert runs["hybrid"].to_run() == fused.to_run()


def test_query_variants_are_fused_by_rrf():
    runs = retrieve(
        {"q1": ["a", "a2"]}, ["q1"], DOCIDS, {"bm25": table_searcher(SPARSE)}, {}, RetrievalSettings(candidates=5)
    )
    # a: d1, d2 ; a2: d2, d3 → d2 = 1/62 + 1/61 is first, then d1 (1/61), then d3 (1/62)
    assert runs["bm25"].ranking(0) == ["d2", "d1", "d3"]


def test_rerank_reorders_only_the_head():
    run = RankedRun.from_run({"q": {"d0": 4.0, "d1": 3.0, "d2": 2.0, "d3": 1.0}}, ["q"], DOCIDS)
    reranked = rerank_heads(run, lambda row, docids: [(d, float(d[1:])) for d in docids], 3)
    assert reranked.ranking(0) == ["d2", "d1", "d0", "d3"]
    assert reranked.scores[0].tolist()[:4] == [4.0, 3.0, 2.0, 1.0]


def test_hits_searcher_adapts_docid_lists():
    search = hits_searcher(lambda texts, k: [[("d2", 2.0), ("d4", 1.0)] for _ in texts], DOCIDS)
    ids, scores = search(["x"], 3)
    assert ids.tolist() == [[2, 4, -1]] and scores.tolist() == [[2.0, 1.0, 0.0]]


def test_unknown_fusion_is_rejected():
    with pytest.raises(ValueError, match="unknown fusion"):
        retrieve(
            {"q1": ["a"]},
            ["q1"],
            DOCIDS,
            {"bm25": table_searcher(SPARSE)},
            {"dense": table_searcher(DENSE)},
            RetrievalSettings(fusion="max"),
        )


def test_rerankers_each_report_a_run_and_the_last_is_final():
    by_name = lambda query, docids: [(d, float(d[1:])) for d in docids]  # noqa: E731
    reverse = lambda query, docids: [(d, -float(d[1:])) for d in docids]  # noqa: E731
    runs = retrieve(
        {"q1": ["b"]},
        ["q1"],
        DOCIDS,
        {"bm25": table_searcher(SPARSE)},
        {},
        RetrievalSettings(candidates=4, rerank_top=2),
        rerankers={"rerank_base": reverse, "rerank": by_name},
    )
    assert runs["fused"].ranking(0) == ["d0", "d4", "d3"]
    assert runs["rerank_base"].ranking(0) == ["d0", "d4", "d3"]
    assert runs["rerank"].ranking(0) == ["d4", "d0", "d3"]
    assert runs["hybrid"] is runs["rerank"]


def test_reported_rescorers_do_not_change_the_final_ranking():
    by_name = lambda query, docids: [(d, float(d[1:])) for d in docids]  # noqa: E731
    reverse = lambda query, docids: [(d, -float(d[1:])) for d in docids]  # noqa: E731
    settings = RetrievalSettings(candidates=4, rerank_top=2)
    # retrieval.colbert with reranker=none: a `colbert` run beside the fused one, which stays final
    alone = retrieve(
        {"q1": ["b"]},
        ["q1"],
        DOCIDS,
        {"bm25": table_searcher(SPARSE)},
        {},
        settings,
        reported_rescorers={"colbert": by_name},
    )
    assert alone["colbert"].ranking(0) == ["d4", "d0", "d3"]
    assert alone["hybrid"] is alone["fused"] and alone["hybrid"].ranking(0) == ["d0", "d4", "d3"]
    # with a cross-encoder: each rescores the fusion, the cross-encoder's run is final
    both = retrieve(
        {"q1": ["b"]},
        ["q1"],
        DOCIDS,
        {"bm25": table_searcher(SPARSE)},
        {},
        settings,
        rerankers={"rerank": reverse},
        reported_rescorers={"colbert": by_name},
    )
    assert both["colbert"].ranking(0) == ["d4", "d0", "d3"]
    assert both["hybrid"] is both["rerank"] and both["rerank"].ranking(0) == ["d0", "d4", "d3"]


def test_learned_sparse_searcher_scores_shared_tokens_only():
    from ragtune.models.encoders import Encoded
    from ragtune.retrieval.m3 import sparse_matrix
    from ragtune.retrieval.pipeline import LexicalWeightSearcher

    class FakeEncoder:
        def encode(self, texts, kind, lexical=True):
            table = {"x": {"1": 1.0, "2": 0.5}, "none": {"9": 1.0}}
            return Encoded(np.zeros((len(texts), 2), np.float32), [table[t] for t in texts])

    corpus = sparse_matrix([{"1": 0.2}, {"2": 1.0}, {"3": 1.0}, {"1": 0.1, "2": 0.1}], vocab_size=10)
    ids, scores = LexicalWeightSearcher(FakeEncoder(), corpus, chunk=1)(["x", "none"], 3)
    found = RankedRun.ranked(["x", "none"], ["a", "b", "c", "d"], ids, scores)
    assert found.ranking(0) == ["b", "a", "d"] and found.ranking(1) == []
    assert found.scores[0, :3].tolist() == pytest.approx([0.5, 0.2, 0.15])


def test_colbert_score_matches_flagembedding():
    from FlagEmbedding.inference.embedder.encoder_only.m3 import M3Embedder

    from ragtune.retrieval.m3 import colbert_score

    rng = np.random.default_rng(0)
    query, passage = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(11, 8)).astype(np.float32)
    theirs = float(M3Embedder.colbert_score(None, query, passage))  # uses no instance state
    assert colbert_score(query, passage) == pytest.approx(theirs, rel=1e-5)


def test_colbert_rescorer_encodes_passages_once_and_ranks_by_late_interaction():
    from ragtune.models.encoders import Encoded
    from ragtune.retrieval.pipeline import ColbertRescorer

    vectors = {"q": [[1.0, 0.0]], "a": [[0.0, 1.0]], "b": [[0.6, 0.8], [1.0, 0.0]], "c": [[0.8, 0.6]]}
    calls = []

    class FakeEncoder:
        def encode(self, texts, kind, lexical=True, colbert=False):
            calls.append((kind, list(texts)))
            return Encoded(
                np.zeros((len(texts), 2), np.float32), [], [np.asarray(vectors[t], np.float16) for t in texts]
            )

    rescorer = ColbertRescorer(FakeEncoder(), {"a": "a", "b": "b", "c": "c"})
    rescore = rescorer.for_queries(["q", "q"])
    assert [d for d, _ in sorted(rescore("q", ["a", "b", "c"]), key=lambda x: -x[1])] == ["b", "c", "a"]
    assert calls == [("passage", ["a", "b", "c"]), ("query", ["q"])]
