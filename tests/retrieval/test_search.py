"""`WorkspaceSearch`: the retrieve stage's final ranking for one query, built once from a workspace."""

from __future__ import annotations

import pytest
from search_support import TITLED, build_workspace, documents

from ragtune.models import encoders
from ragtune.query import chitchat
from ragtune.query.plan import plan_routed
from ragtune.retrieval.pipeline import RetrievalSettings, retrieve
from ragtune.retrieval.search import SNIPPET_CHARS, Result, WorkspaceMissing, WorkspaceSearch, format_results
from ragtune.retrieval.searchers import Searchers

QUERIES = ["뉴턴의 운동 법칙에서 관성이 뭐야?", "세포는 에너지를 어떻게 만들어?", "빛의 속도는 얼마나 빨라?"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def searcher(workspace):
    return WorkspaceSearch(workspace)


def stage_ranking(root, p, query: str):
    """What stages/retrieve.py ranks for an eval question without an LLM (every dense index searched)."""
    rows = documents()
    docids = [d["docid"] for d in rows]
    detector = chitchat.calibrated_detector(p.retrieval.chitchat_threshold, p.seed)
    (plan,) = plan_routed([("q", [{"role": "user", "content": query}])], detector)
    built = Searchers(root, p, docids)
    (lexical, weights), dense = built.lexical(), built.dense()
    fusion = RetrievalSettings.from_fusion(p.fusion, candidates=p.retrieval.candidates, rerank_top=0)
    runs = retrieve(
        {plan.qid: plan.variants}, [plan.qid], docids,
        {n: make() for n, (_, make) in lexical.items()}, {n: make() for n, (_, make) in dense.items()},
        fusion, sparse_weights=weights,
    )  # fmt: skip
    final = runs["hybrid"]
    return [(docids[i], float(s)) for i, s in zip(final.ids[0], final.scores[0]) if i >= 0]


@pytest.mark.parametrize("query", [QUERIES[0], *(pytest.param(q, marks=pytest.mark.slow) for q in QUERIES[1:])])
def test_the_ranking_is_the_retrieve_stages(workspace, searcher, query):
    expected = stage_ranking(workspace, searcher.p, query)[:10]
    found = searcher.search(query, top=10)
    assert [r.docid for r in found] == [d for d, _ in expected]
    assert [r.score for r in found] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_chitchat_gets_no_results_and_loads_no_model(workspace, monkeypatch):
    fresh = WorkspaceSearch(workspace)
    line = chitchat.shipped_calibration()[0][0]
    assert fresh.plan(line).chitchat
    assert fresh.search(line) == [] and fresh.search("   ") == []
    assert fresh._searchers is None


@pytest.mark.slow  # loads the models again
def test_models_load_once_for_many_searches(workspace, monkeypatch):
    loads = []
    original = encoders.load_encoder
    monkeypatch.setattr(encoders, "load_encoder", lambda *a, **k: loads.append(a) or original(*a, **k))
    fresh = WorkspaceSearch(workspace)
    for query in QUERIES:
        assert len(fresh.search(query, top=3)) == 3
    assert len(loads) == 1 and loads[0][0] == workspace / "models/embedder"  # the base model is not loaded


def test_results_carry_source_title_headings_and_the_corpus_text(searcher):
    rows = {d["docid"]: d for d in documents()}
    found = searcher.search(QUERIES[0], top=searcher.depth + 50)
    assert len(found) == searcher.depth  # at most retrieval.candidates
    for result in found:
        row = rows[result.docid]
        assert (result.source, result.text) == (row["src"], row["content"])
        assert result.title == row.get("title", "")
        assert set(result.as_json()) == {"docid", "source", "title", "score", "text"}
    titled = {r.docid: r for r in found if r.title}
    first = documents()[0]["docid"]
    assert titled[first].heading == "Physics notes > Mechanics > Newton's laws"
    assert titled[first].source == "notes/physics.md"
    assert len(titled) == len(TITLED)


def test_snippets_and_lines():
    result = Result("d", "notes/a.md", "Guide", 1.5, "Guide > Setup\n\n" + "word " * 100, ("Setup",))
    snippet = result.snippet()
    assert len(snippet) == SNIPPET_CHARS and snippet.startswith("word word") and snippet.endswith("…")
    assert Result("d", "s", "", 0.0, "short\ntext").snippet() == "short text"
    line = format_results([result])
    assert line.startswith(" 1.   1.5000  notes/a.md | Guide > Setup  word")
    assert "no results" in format_results([])


def test_a_workspace_without_indexes_is_refused(tmp_path):
    with pytest.raises(WorkspaceMissing, match=r"run `dvc repro` first \(indexes/ is missing\)"):
        WorkspaceSearch(tmp_path)


@pytest.mark.slow  # loads the models again
def test_the_tuned_cross_encoder_reorders_the_fused_head(workspace, searcher, monkeypatch):
    """reranker configured: only models/reranker is loaded (finetune's rerank_base is what the stage reports)."""
    from ragtune.retrieval import searchers as module
    from ragtune.retrieval.pipeline import BatchRescorer

    asked = []

    def cross_encoders(config, documents, locate):
        asked.append(config)
        reverse = BatchRescorer(lambda queries, heads: [[(d, float(i)) for i, d in enumerate(h)] for h in heads])
        return {"rerank": reverse}

    monkeypatch.setattr(module, "cross_encoders", cross_encoders)
    fused = [r.docid for r in searcher.search(QUERIES[0], top=8)]
    tuned = WorkspaceSearch(workspace)
    tuned.p = tuned.p.model_copy(
        update={
            "reranker": tuned.p.reranker.model_copy(update={"name": "bge-reranker-v2-m3", "finetune": True}),
            "retrieval": tuned.p.retrieval.model_copy(update={"rerank_top": 5}),
        }
    )
    assert [r.docid for r in tuned.search(QUERIES[0], top=8)] == fused[:5][::-1] + fused[5:]
    assert [config.finetune for config in asked] == [False]
