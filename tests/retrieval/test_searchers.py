"""The retrieve stage's searchers: memo keys over exactly what their results depend on, lazy factories,
the lexical weights, and the rescorer factories' guards."""

from __future__ import annotations

import ast
import copy
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ragtune.cache.searches import fingerprint
from ragtune.config.schema import ParamsError
from ragtune.io import DataError
from ragtune.retrieval import searchers as module
from ragtune.retrieval.searchers import (
    CANDIDATE_CODE,
    LIBRARIES,
    Searchers,
    code_fingerprint,
    cross_encoders,
    installed,
)

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
    "index": {"char_ngram": True, "m3_sparse": True, "devices": None, "precision": "fp32"},
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
    return tmp_path


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of the ragtune package that the code key reads instead of the real one."""
    copied = tmp_path / "package" / "ragtune"
    shutil.copytree(module.PACKAGE, copied, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(module, "PACKAGE", copied)
    return copied


def typed(values):
    """The parts of the typed configuration (ragtune.config.schema.Params) the searchers read, as attributes."""
    if isinstance(values, dict):
        return SimpleNamespace(**{key: typed(value) for key, value in values.items()})
    return values


def with_params(**changes):
    p = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        group, key = dotted.split("__") if "__" in dotted else (None, dotted)
        (p[group] if group else p)[key] = value
    return typed(p)


def keys(root, p) -> dict[str, str]:
    found = Searchers(root, p, DOCIDS)
    lexical, _ = found.lexical()
    return {name: key for name, (key, _) in {**lexical, **found.dense()}.items()}


def test_memo_keys_are_the_stages_fingerprints(root):
    """The keys runs/candidates was written with: a change here re-searches every remembered run."""
    from ragtune.models.encoders import default_device

    code = code_fingerprint()
    encoder = (64, 256, default_device(), "fp32")
    assert keys(root, typed(PARAMS)) == {
        "bm25": fingerprint(code, root / "indexes/sparse", "numpy"),
        "bm25_char": fingerprint(code, root / "indexes/sparse_char", "numpy"),
        "m3_sparse": fingerprint(code, root / "indexes/dense", root / "models/embedder", *encoder),
        "dense": fingerprint(code, root / "indexes/dense", root / "models/embedder", *encoder),
        "dense_base": fingerprint(code, root / "indexes/dense_base", root / "models/base", *encoder),
    }


def test_keys_ignore_fusion_settings_and_follow_their_inputs(root, package):
    before = keys(root, typed(PARAMS))
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
    assert [n for n, k in keys(root, typed(PARAMS)).items() if k != before[n]] == ["bm25_char"]
    (package / "retrieval/sparse/bm25.py").write_text("x = 2\n")
    assert all(k != before[n] for n, k in keys(root, typed(PARAMS)).items())


def test_the_code_key_is_the_candidate_code_and_the_library_versions(package):
    parts = [part for name in CANDIDATE_CODE for part in (name, package / name)]
    assert code_fingerprint() == fingerprint(*parts, *(installed(m) for m in LIBRARIES))
    assert code_fingerprint(package) == code_fingerprint()


# Files outside the code key: editing one re-fuses from the memo, it never re-searches.
OUTSIDE = [
    "release/tag.py",
    "retrieval/fusion.py",  # combines remembered runs
    "retrieval/rerank.py",  # rescores the fused head
    "runs.py",  # ranks the remembered arrays into runs
    "evaluation/metrics.py",
    "synthetic/offline.py",
    "resources/chitchat_ko.txt",
    "training/new_module.py",
]
INSIDE = [
    "retrieval/sparse/bm25.py",
    "retrieval/sparse/new_backend.py",
    "text/analysis.py",
    "models/encoders.py",
    "models/hub.py",
    "retrieval/dense.py",
    "retrieval/m3.py",
    "retrieval/pipeline.py",
    "retrieval/searchers.py",
    "cache/searches.py",
    "ranking.py",
    "io.py",
]


@pytest.mark.parametrize("edited, shapes", [(f, False) for f in OUTSIDE] + [(f, True) for f in INSIDE])
def test_only_code_that_shapes_candidates_changes_the_keys(root, package, edited, shapes):
    before = keys(root, typed(PARAMS))
    file = package / edited
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a", encoding="utf-8") as handle:
        handle.write("\n# edited\n")
    after = keys(root, typed(PARAMS))
    assert {name for name in before if after[name] != before[name]} == (set(before) if shapes else set())


def test_a_candidate_module_that_moved_away_is_an_error(package):
    (package / "retrieval/m3.py").unlink()
    with pytest.raises(FileNotFoundError, match="retrieval/m3.py"):
        code_fingerprint()


# ragtune modules the candidate code imports that run only after the memo (or only to report an error):
# outside the key on purpose. Anything else it imports belongs in CANDIDATE_CODE.
AFTER_THE_MEMO = {
    "retrieval/fusion.py": "fuses the remembered runs",
    "retrieval/rerank.py": "cross-encoders rescore the fused head",
    "runs.py": "RankedRun: the remembered arrays ranked into runs",
    "config/schema.py": "ParamsError, raised by the colbert guard",
    "cache/stores.py": "records when a store entry answered (`ragtune cache --prune-unused-days`), not what it holds",
}


def _imported_files(file: Path, package: Path) -> set[str]:
    """Files of `package` that `file` imports, at module level or inside a function."""
    found = set()

    def module_file(dotted: str) -> str | None:
        base = package.parent / Path(*dotted.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.exists():
                return candidate.relative_to(package).as_posix()
        return None

    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{file}: relative import"
            if not (node.module or "").startswith("ragtune"):
                continue
            for alias in node.names:  # a submodule if there is one, else an attribute of the module
                found.add(module_file(f"{node.module}.{alias.name}") or module_file(node.module))
        elif isinstance(node, ast.Import):
            found.update(module_file(a.name) for a in node.names if a.name.startswith("ragtune"))
    return found - {None}


def test_every_module_the_candidate_code_imports_is_in_the_key_or_runs_after_the_memo():
    package = module.PACKAGE
    covered = {
        path.relative_to(package).as_posix()
        for name in CANDIDATE_CODE
        for path in ([package / name] if (package / name).is_file() else (package / name).rglob("*.py"))
    }
    imported = set().union(*(_imported_files(package / name, package) for name in covered if name.endswith(".py")))
    unexplained = sorted(imported - covered - set(AFTER_THE_MEMO))
    assert not unexplained, f"add to CANDIDATE_CODE (or to AFTER_THE_MEMO, saying why): {unexplained}"
    assert set(AFTER_THE_MEMO) <= imported, "AFTER_THE_MEMO names a module the candidate code no longer imports"


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

        def search_arrays(self, texts, k):  # a backend's top-k: by score, its tie in table order
            return np.array([[1, 0, -1]]), np.array([[2.0, 2.0, 0.0]])

    monkeypatch.setattr(module, "load_retriever", lambda directory, **kw: loaded.append(directory) or Retriever())
    lexical, _ = Searchers(root, typed(PARAMS), DOCIDS).lexical()
    assert loaded == []
    make = lexical["bm25"][1]
    ids, scores = make()(["q"], 3)
    assert make() is make() and loaded == [root / "indexes/sparse"]
    # kept by the memo in ranking order (the tie by docid), float32 as the runs store it: a rerun sorts nothing
    assert [DOCIDS[i] for i in ids[0][:2]] == sorted(DOCIDS[i] for i in (0, 1)) and ids[0][2] == -1
    assert scores.dtype == np.float32 and scores.tolist() == [[2.0, 2.0, 0.0]]


def test_an_index_of_other_documents_is_refused(root, monkeypatch):
    class Retriever:
        docids = ["d2", "d1"]
        search_arrays = None

    monkeypatch.setattr(module, "load_retriever", lambda directory, **kw: Retriever())
    with pytest.raises(DataError, match="other documents"):
        Searchers(root, typed(PARAMS), DOCIDS).lexical_searcher(root / "indexes/sparse")
    (root / "indexes/dense/docids.json").write_text('["d2", "d1"]')
    with pytest.raises(DataError, match="other documents"):
        Searchers(root, typed(PARAMS), DOCIDS).embedder("dense")


def test_colbert_is_off_by_default_and_needs_a_head_to_rescore(root):
    assert Searchers(root, typed(PARAMS), DOCIDS).colbert([]) is None
    with pytest.raises(ParamsError, match="rerank_top"):
        Searchers(root, with_params(retrieval__colbert=True), DOCIDS).colbert([])


def test_no_cross_encoder_for_reranker_none():
    assert cross_encoders(SimpleNamespace(name="none"), [], locate=lambda directory: directory) == {}


def test_encoding_devices_and_precision_are_part_of_the_dense_keys_only(root):
    """index.devices: several devices give the same vectors up to floating point, so their searches are keyed
    apart; the lexical keys do not change."""
    one, several = keys(root, typed(PARAMS)), keys(root, with_params(index__devices=["cpu", "cpu"]))
    assert {name for name in one if one[name] != several[name]} == {"dense", "dense_base", "m3_sparse"}
    bf16 = keys(root, with_params(index__precision="bf16"))  # the questions' arithmetic: the dense keys only
    assert {name for name in one if one[name] != bf16[name]} == {"dense", "dense_base", "m3_sparse"}


def paired_models(tiny_e5, root: Path) -> None:
    """models/base and a models/embedder fine-tuned in its top layer (a shared bottom), indexes of two docids."""
    from tiny_support import retrained_copy

    shutil.copytree(tiny_e5, root / "models/base")
    retrained_copy(tiny_e5, root / "models/embedder", layer=-1)
    for index in ("dense", "dense_base"):
        (root / "indexes" / index).mkdir(parents=True)
        (root / "indexes" / index / "docids.json").write_text('["d1", "d2"]')


def remember(memo, place: str, key: str, texts: list[str]) -> None:
    """The memo made to remember a search of `texts` at `place` (one that found nothing)."""

    def found_nothing(texts, k):
        return np.full((len(texts), k), -1), np.zeros((len(texts), k), np.float32)

    memo.wrap(place, key, lambda: found_nothing)(texts, 200)


def test_dense_models_sharing_a_bottom_encode_questions_together_only_when_both_will_search(
    tiny_e5, tmp_path, monkeypatch
):
    from ragtune.cache.searches import SearchMemo
    from ragtune.models import shared_bottom
    from ragtune.models.encoders import load_encoder

    paired_models(tiny_e5, tmp_path)
    passes, seen = [], []
    joint = shared_bottom.SharedBottomPair.encode
    monkeypatch.setattr(
        shared_bottom.SharedBottomPair, "encode", lambda self, t, kind: passes.append(t) or joint(self, t, kind)
    )
    monkeypatch.setattr(module.dense, "load_faiss", lambda path: path)

    def search(index, vectors, k):  # FAISS's (scores, ids): none found; the query vectors are what is checked
        seen.append(vectors)
        return np.zeros((len(vectors), k), np.float32), np.full((len(vectors), k), -1)

    monkeypatch.setattr(module.dense, "search", search)
    memo = SearchMemo(tmp_path / "candidates")
    found = Searchers(
        tmp_path, with_params(index__m3_sparse=False, retrieval__query_batch_size=4), DOCIDS, remembered=memo.remembers
    )
    made = found.dense()
    searches = {name: memo.wrap(f"val/{name}", key, make) for name, (key, make) in made.items()}
    questions = ["첫 질문", "a second question", "셋"]
    alone = [
        load_encoder(tmp_path / model, batch_size=4).encode(questions, "query").dense
        for model in module.DENSE_MODELS.values()
    ]
    searches["dense"](questions, 200)
    searches["dense_base"](questions, 200)
    assert passes == [questions] and all(np.array_equal(a, b) for a, b in zip(seen, alone, strict=True))
    remember(memo, "val/dense_base", made["dense_base"][0], ["third"])  # the fine-tuned model encodes it alone
    searches["dense"](["third"], 200)
    assert passes == [questions]
    assert np.array_equal(
        seen[-1], load_encoder(tmp_path / "models/embedder", batch_size=4).encode(["third"], "query").dense
    )


def test_a_retrained_model_whose_base_searches_are_remembered_is_loaded_alone(tiny_e5, tmp_path, monkeypatch):
    from ragtune.cache.searches import SearchMemo
    from ragtune.models import shared_bottom

    paired_models(tiny_e5, tmp_path)
    monkeypatch.setattr(shared_bottom, "load_pair", lambda *a, **k: pytest.fail("the pair (and the base) loaded"))
    loaded = []
    real = module.encoders.load_encoder
    monkeypatch.setattr(module.encoders, "load_encoder", lambda path, **k: loaded.append(path.name) or real(path, **k))
    monkeypatch.setattr(module.dense, "load_faiss", lambda path: path)
    monkeypatch.setattr(module.dense, "search", lambda index, v, k: (np.zeros((len(v), k)), np.full((len(v), k), -1)))
    memo = SearchMemo(tmp_path / "candidates")
    params = with_params(index__m3_sparse=False, retrieval__query_batch_size=4)
    made = Searchers(tmp_path, params, DOCIDS, remembered=memo.remembers).dense()
    questions = ["첫 질문", "a second question"]
    remember(memo, "val/dense_base", made["dense_base"][0], questions)
    memo.wrap("val/dense", *made["dense"])(questions, 200)
    assert loaded == ["embedder"]
