"""The retrieve stage's searchers: memo keys over exactly what their results depend on, lazy factories,
the lexical weights, and the rescorer factories' guards."""

from __future__ import annotations

import copy

import pytest

from ragtune.cache.searches import fingerprint
from ragtune.config.schema import ParamsError
from ragtune.io import DataError
from ragtune.retrieval import searchers as module
from ragtune.retrieval.searchers import LIBRARIES, Searchers, cross_encoders, installed

DOCIDS = ["d1", "d2"]
PARAMS = {
    "alpha": 0.5,
    "rrf_k": 60,
    "retrieval": {
        "char_weight": 0.4,
        "m3_sparse_weight": 0.1,
        "bm25_search": "numpy",
        "query_batch_size": 256,
        "colbert": False,
        "rerank_top": 0,
        "fusion": "hybrid",
        "candidates": 200,
    },
    "index": {"char_ngram": True, "m3_sparse": True, "devices": None},
    "model": {"query_max_len": 64, "passage_max_len": 512},
}


@pytest.fixture
def root(tmp_path):
    for index in ("sparse", "sparse_char", "dense", "dense_base"):
        (tmp_path / "indexes" / index).mkdir(parents=True)
        (tmp_path / "indexes" / index / "data.bin").write_bytes(index.encode())
    for model in ("embedder", "base"):
        (tmp_path / "models" / model).mkdir(parents=True)
        (tmp_path / "models" / model / "weights.bin").write_bytes(model.encode())
    (tmp_path / "ragtune").mkdir()
    (tmp_path / "ragtune" / "code.py").write_text("x = 1\n")
    return tmp_path


def with_params(**changes) -> dict:
    p = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        group, key = dotted.split("__") if "__" in dotted else (None, dotted)
        (p[group] if group else p)[key] = value
    return p


def keys(root, p) -> dict[str, str]:
    found = Searchers(root, p, DOCIDS)
    lexical, _ = found.lexical()
    return {name: key for name, (key, _) in {**lexical, **found.dense()}.items()}


def test_memo_keys_are_the_stages_fingerprints(root):
    """The keys runs/candidates was written with: a change here re-searches every remembered run."""
    from ragtune.retrieval.dense import default_device

    code = fingerprint(root / "ragtune", *(installed(m) for m in LIBRARIES))
    encoder = (64, 256, default_device())
    assert keys(root, PARAMS) == {
        "bm25": fingerprint(code, root / "indexes/sparse", "numpy"),
        "bm25_char": fingerprint(code, root / "indexes/sparse_char", "numpy"),
        "m3_sparse": fingerprint(code, root / "indexes/dense", root / "models/embedder", *encoder),
        "dense": fingerprint(code, root / "indexes/dense", root / "models/embedder", *encoder),
        "dense_base": fingerprint(code, root / "indexes/dense_base", root / "models/base", *encoder),
    }


def test_keys_ignore_fusion_settings_and_follow_their_inputs(root):
    before = keys(root, PARAMS)
    assert (
        keys(
            root,
            with_params(
                alpha=0.9,
                rrf_k=10,
                retrieval__fusion="rrf",
                retrieval__rerank_top=20,
                retrieval__char_weight=0.1,
                retrieval__candidates=200,
            ),
        )
        == before
    )
    changed = keys(root, with_params(model__query_max_len=32))
    assert [n for n in before if changed[n] != before[n]] == ["m3_sparse", "dense", "dense_base"]
    (root / "indexes/sparse_char/data.bin").write_bytes(b"rebuilt")
    assert [n for n, k in keys(root, PARAMS).items() if k != before[n]] == ["bm25_char"]
    (root / "ragtune/code.py").write_text("x = 2\n")
    assert all(k != before[n] for n, k in keys(root, PARAMS).items())


@pytest.mark.parametrize(
    "char_ngram, m3_sparse, weights",
    [
        (False, False, {"bm25": 0.6}),
        (True, False, {"bm25": 0.6, "bm25_char": 0.4}),
        (True, True, {"bm25": 0.6 - 0.1, "bm25_char": 0.4, "m3_sparse": 0.1}),
    ],
)
def test_lexical_runs_and_weights(root, char_ngram, m3_sparse, weights):
    lexical, found = Searchers(
        root, with_params(index__char_ngram=char_ngram, index__m3_sparse=m3_sparse), DOCIDS
    ).lexical()
    assert list(lexical) == list(weights) and found == weights


def test_factories_load_once_and_only_when_called(root, monkeypatch):
    loaded = []

    class Retriever:
        docids = DOCIDS

        def search_arrays(self, texts, k):
            return "arrays"

    monkeypatch.setattr(module, "load_retriever", lambda directory, **kw: loaded.append(directory) or Retriever())
    lexical, _ = Searchers(root, PARAMS, DOCIDS).lexical()
    assert loaded == []
    make = lexical["bm25"][1]
    assert make()([], 1) == make()([], 1) == "arrays"
    assert loaded == [root / "indexes/sparse"]


def test_an_index_of_other_documents_is_refused(root, monkeypatch):
    class Retriever:
        docids = ["d2", "d1"]
        search_arrays = None

    monkeypatch.setattr(module, "load_retriever", lambda directory, **kw: Retriever())
    with pytest.raises(DataError, match="other documents"):
        Searchers(root, PARAMS, DOCIDS).lexical_searcher(root / "indexes/sparse")
    (root / "indexes/dense/docids.json").write_text('["d2", "d1"]')
    with pytest.raises(DataError, match="other documents"):
        Searchers(root, PARAMS, DOCIDS).embedder("dense")


def test_colbert_is_off_by_default_and_needs_a_head_to_rescore(root):
    assert Searchers(root, PARAMS, DOCIDS).colbert([]) is None
    with pytest.raises(ParamsError, match="rerank_top"):
        Searchers(root, with_params(retrieval__colbert=True), DOCIDS).colbert([])


def test_no_cross_encoder_for_reranker_none():
    assert cross_encoders({"name": "none"}, [], locate=lambda directory: directory) == {}


def test_encoding_devices_are_part_of_the_dense_keys_only(root):
    """index.devices: several devices give the same vectors up to floating point, so their searches are keyed
    apart; the lexical keys do not change."""
    one, several = keys(root, PARAMS), keys(root, with_params(index__devices=["cpu", "cpu"]))
    assert {name for name in one if one[name] != several[name]} == {"dense", "dense_base", "m3_sparse"}
