"""Never ship a worse model: the selection rule, its question source, the capped corpus; submission from any run."""

from __future__ import annotations

import numpy as np
import pytest

from ragtune.cache.encodings import EncodingMemo
from ragtune.data import submission
from ragtune.runs import RankedRun, save_runs
from ragtune.training import selection


def test_base_is_kept_unless_the_finetuned_model_wins():
    assert selection.choose("auto", 0.50, 0.49) == "base"
    assert selection.choose("auto", 0.50, 0.50) == "base"  # a tie keeps the base
    assert selection.choose("auto", 0.50, 0.51) == "finetuned"
    assert selection.choose("finetuned", 0.50, 0.10) == "finetuned"
    assert selection.choose("base", 0.10, 0.50) == "base"
    assert selection.choose("auto", None, None) == "base"
    with pytest.raises(ValueError, match="train.select"):
        selection.choose("best", 0.1, 0.2)


def test_selection_source_falls_back_to_all_answerable_rows():
    rows = [
        {"qid": "a", "relevant": ["d1"], "source": "dev"},
        {"qid": "b", "relevant": ["d2"], "source": "conversational"},
        {"qid": "c", "relevant": [], "source": "conversational"},
    ]  # chit-chat: nothing to find
    assert selection.selection_questions(rows, "conversational") == ([rows[1]], "conversational")
    assert selection.selection_questions(rows, "sample") == (rows[:2], "all")
    assert selection.selection_questions([{"qid": "x", "relevant": ["d"]}], "conversational")[1] == "all"


def test_capped_corpus_keeps_relevant_documents_and_is_seeded():
    docids = [f"d{n:03d}" for n in range(100)]
    capped = selection.capped_corpus(docids, {"d050", "d099"}, 10, seed=1)
    assert len(capped) == 10 and {"d050", "d099"} <= set(capped) and capped == sorted(capped)
    assert capped == selection.capped_corpus(docids, {"d050", "d099"}, 10, seed=1)
    assert selection.capped_corpus(docids, set(), 0, seed=1) == docids


def test_dense_map_scores_exact_search():
    passages = np.eye(3, dtype=np.float32)
    docids = ["d0", "d1", "d2"]
    questions = [
        {"qid": "q0", "msg": "x", "relevant": ["d0"]},
        {"qid": "q1", "msg": [{"role": "user", "content": "y"}], "relevant": ["d2"]},
    ]
    perfect = np.asarray([[1, 0, 0], [0, 0, 1]], np.float32)
    wrong = np.asarray([[0, 1, 0], [0, 1, 0]], np.float32)
    assert selection.dense_map(perfect, passages, docids, questions) == 1.0
    assert selection.dense_map(wrong, passages, docids, questions) < 1.0


def test_compare_models_scores_each_model_on_the_same_corpus(tiny_embedder, tmp_path):
    from tiny_support import SENTENCES

    embedder = tiny_embedder
    documents = [{"docid": f"d{n:02d}", "content": text} for n, text in enumerate(SENTENCES)]
    rows = [
        {
            "qid": f"q{n}",
            "msg": " ".join(d["content"].split()[:3]),
            "relevant": [d["docid"]],
            "source": "conversational" if n % 2 else "dev",
        }
        for n, d in enumerate(documents)
    ]
    scores = selection.compare_models(
        rows,
        documents,
        {"base": embedder, "finetuned": embedder},
        "conversational",
        20,
        0,
        16,
        48,
        tmp_path / "encodings",
    )
    assert scores["source"] == "conversational" and scores["questions"] == len(rows) // 2
    assert scores["documents"] == 20 and 0 <= scores["base_map@3"] <= 1
    assert scores["base_map@3"] == scores["finetuned_map@3"]  # one model, one corpus: one score
    assert list((tmp_path / "encodings").rglob("*.vectors.npy"))  # passage vectors remembered for the index stage
    none = selection.compare_models([], documents, {"base": embedder}, "dev", 0, 0, 16, 48, tmp_path / "encodings")
    assert none == {"source": "all", "questions": 0, "documents": len(documents), "base_map@3": None}


def test_models_sharing_a_bottom_are_compared_as_a_pair_loaded_once_with_the_figures_apart(
    tiny_e5, tmp_path, monkeypatch
):
    from tiny_support import SENTENCES, retrained_copy

    from ragtune.models import encoders, shared_bottom

    tuned = retrained_copy(tiny_e5, tmp_path / "tuned", layer=-1)
    documents = [{"docid": f"d{n:02d}", "content": text} for n, text in enumerate(SENTENCES)]
    rows = [{"qid": f"q{n}", "msg": d["content"][:12], "relevant": [d["docid"]]} for n, d in enumerate(documents)]
    loads = []
    real_load = encoders.load_encoder
    monkeypatch.setattr(encoders, "load_encoder", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    monkeypatch.setattr(shared_bottom, "load_encoder", encoders.load_encoder)

    def compare(encodings):
        models = {"base": tiny_e5, "finetuned": tuned}
        return selection.compare_models(rows, documents, models, None, 0, 0, 16, 48, tmp_path / encodings)

    paired = compare("paired")
    assert sorted(map(str, loads)) == sorted(map(str, (tiny_e5, tuned)))  # each model once, for both sides
    monkeypatch.setattr(shared_bottom, "load_pair", lambda *a, **k: None)  # as when they share nothing
    assert compare("apart") == paired and paired["base_map@3"] != paired["finetuned_map@3"]
    key = ("passage", 48, "none", encoders.default_device())  # the passage vectors remembered: the same bytes
    texts = [d["content"] for d in documents]
    for model in (tiny_e5, tuned):
        kept = [EncodingMemo(tmp_path / d, model, *key).encode(texts, pytest.fail) for d in ("paired", "apart")]
        assert kept[0].tobytes() == kept[1].tobytes()


def test_submission_can_use_any_run_and_names_the_available_ones(tmp_path):
    run = RankedRun(["1"], ["d0", "d1"], np.asarray([[1, 0]]), np.asarray([[0.9, 0.1]], np.float32))
    save_runs(tmp_path, {"hybrid": run, "dense": run, "dense_base": run}, k=10)
    assert submission.load_run(tmp_path, "dense_base").qids == ["1"]
    with pytest.raises(submission.SubmissionError, match="available: hybrid, dense, dense_base"):
        submission.load_run(tmp_path, "colbert")


def test_question_text_is_the_question_or_the_conversations_standalone_query():
    assert selection.question_text({"msg": "광합성이란?"}) == "광합성이란?"
    conversation = [
        {"role": "user", "content": "광합성 알려줘"},
        {"role": "assistant", "content": "네"},
        {"role": "user", "content": "왜 빛이 필요해?"},
    ]
    assert selection.question_text({"msg": conversation}) == "광합성 알려줘 왜 빛이 필요해?"
