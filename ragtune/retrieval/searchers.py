"""The searchers and rescorers the retrieve stage uses, built from a workspace's indexes and models.

Every searcher comes as (memo key, factory): the key is the sha256 of everything its results depend on
(the code that shapes candidates, `CANDIDATE_CODE`, and the libraries' versions; its index and model; the
query settings), and the factory builds it at most once, only when `ragtune.cache.searches.SearchMemo` cannot
answer: a sweep over alpha or the fusion loads no model and searches nothing again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ragtune.cache.searches import fingerprint
from ragtune.config.schema import ParamsError
from ragtune.io import DataError, read_json
from ragtune.models import encoders, shared_bottom
from ragtune.ranking import rank_rows, tie_ranks
from ragtune.retrieval import dense, m3
from ragtune.retrieval.pipeline import (
    BatchRescorer,
    ColbertRescorer,
    DenseSearcher,
    LexicalWeightSearcher,
    Searcher,
    hits_searcher,
)
from ragtune.retrieval.sparse import load_retriever

PACKAGE = Path(__file__).resolve().parents[1]  # the ragtune package that runs (the stages put the workspace's first)
# The code a remembered candidate search depends on, relative to PACKAGE: the modules that run between query
# texts and the (ids, scores) arrays the memo stores. What consumes those arrays afterwards (the runs'
# ranking and tie-breaks in ragtune.runs, fusion, cross-encoder and ColBERT rescoring in ragtune.retrieval's
# fusion and rerank modules, evaluation) runs again on every hit, so it stays outside: editing it re-fuses, it
# never re-searches. tests/retrieval/test_searchers.py checks that every ragtune module these import is here or named
# there as running after the memo.
CANDIDATE_CODE = (
    "cache/searches.py",  # the memo itself: its key and the arrays it stores and reads back
    "io.py",  # reads the index manifests that pick the backend and analyzer; writes the memo's files
    "models/encoders.py",  # query encoding: the encoder family, pooling, prefixes, truncation, devices
    "models/hub.py",  # which model a pointer directory loads
    "models/shared_bottom.py",  # both dense models' queries encoded in one pass where they share a frozen bottom
    "ranking.py",  # the order of a backend's (docid, score) hits, ties by docid (sparse/base.py)
    "retrieval/dense.py",  # the FAISS index read and searched
    "retrieval/m3.py",  # BGE-M3's learned sparse matrix and scores (m3_sparse)
    "retrieval/pipeline.py",  # DenseSearcher, LexicalWeightSearcher, hits_searcher (and, after the memo, the pass)
    "retrieval/searchers.py",  # how each searcher is built from the workspace and the parameters
    "retrieval/sparse",  # the lexical backends: bm25s, Elasticsearch and its analysis settings
    "text",  # the analysis that turns a query into the terms BM25 sees
)
LIBRARIES = ("bm25s", "kiwipiepy", "faiss-cpu", "torch", "transformers", "FlagEmbedding", "numpy")
DENSE_MODELS = {"dense": "models/embedder", "dense_base": "models/base"}  # index name → model directory

Lazy = tuple[str, Callable[[], Searcher]]  # (memo key, factory)


def code_fingerprint(package: Path | None = None) -> str:
    """sha256 of the `CANDIDATE_CODE` under `package` (default: PACKAGE), each named then its bytes, and the
    `LIBRARIES`' versions."""
    package = PACKAGE if package is None else Path(package)
    missing = [name for name in CANDIDATE_CODE if not (package / name).exists()]
    if missing:  # a moved module would otherwise drop out of the key unnoticed
        raise FileNotFoundError(f"CANDIDATE_CODE names {', '.join(missing)}, absent from {package}")
    return fingerprint(
        *(part for name in CANDIDATE_CODE for part in (name, package / name)), *(installed(m) for m in LIBRARIES)
    )


def installed(package: str) -> str:
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:  # e.g. faiss-gpu instead of faiss-cpu
        return f"{package} absent"


class Searchers:
    """The searchers of the workspace at `root` for the parameters `p`, over the corpus `docids` (in order)."""

    def __init__(
        self,
        root: Path,
        p,
        docids: list[str],
        workers: int = 1,
        language: str = "ko",
        engine=None,
        fingerprints=None,
        remembered: Callable[[str, list[str], int], bool] | None = None,
    ):
        """`p`: the typed configuration (ragtune.config.schema.Params); `language`: the corpus's (prepare's);
        `engine`: where query encoding runs (ragtune.compute; None: here). It changes no result, so no key holds it.
        `fingerprints`: a directory remembering the keys' file digests (`fingerprint(remembered=)`: a sweep reads
        no model's bytes again); None: read every time. `remembered(key, texts, k)`: whether a search is remembered
        (`SearchMemo.remembers`): two dense models that share a frozen bottom encode their questions in one pass
        only when both will search (None: whenever one does)."""
        from ragtune.text.language import uses_char_ngrams

        self.root, self.p, self.docids, self.workers, self.engine = Path(root), p, docids, workers, engine
        self.fingerprints, self.remembered = fingerprints, remembered
        self.char_ngrams = bool(p.index.char_ngram) and uses_char_ngrams(language)
        self.config = p.retrieval
        self.code = code_fingerprint()

    def lexical(self) -> tuple[dict[str, Lazy], dict[str, float]]:
        """name → (key, factory) of the lexical runs, and their weights in the lexical side of the fusion."""
        searchers = {"bm25": self._bm25("indexes/sparse")}
        weights = {"bm25": 1.0 - self.config.char_weight}
        if self.char_ngrams:
            searchers["bm25_char"] = self._bm25("indexes/sparse_char")
            weights["bm25_char"] = self.config.char_weight
        if self.p.index.m3_sparse:
            searchers["m3_sparse"] = (
                self._encoder_key("dense", DENSE_MODELS["dense"]),
                functools.cache(lambda: self.in_ranking_order(self.learned_sparse_searcher())),
            )
            weights["m3_sparse"] = self.config.m3_sparse_weight
            weights["bm25"] -= self.config.m3_sparse_weight
        return searchers, weights

    def dense(self) -> dict[str, Lazy]:
        """name → (key, factory): the fine-tuned embedder first (it takes part in fusion), then the base model."""
        return {
            name: (
                self._encoder_key(name, model_dir),
                functools.cache(lambda name=name: self.in_ranking_order(self.dense_searcher(name))),
            )
            for name, model_dir in DENSE_MODELS.items()
        }

    def _bm25(self, index: str) -> Lazy:
        backend = self.config.bm25_search  # results do not depend on it; kept in the key all the same
        return (
            fingerprint(self.code, self.root / index, backend, remembered=self.fingerprints),
            functools.cache(lambda: self.in_ranking_order(self.lexical_searcher(self.root / index))),
        )

    def in_ranking_order(self, search: Searcher) -> Searcher:
        """`search` with each row put in ragtune's ranking order (`ragtune.ranking.rank_rows`, scores as the runs
        store them, float32) before the memo keeps it: a backend's top-k is ordered by score but not its ties (bm25s:
        9 of 10 competition rows), and a rerun's ranking then finds each row in order instead of sorting it again.
        The runs are the same: ranking a ranked row changes nothing."""
        ties = tie_ranks(self.docids)

        def searcher(texts, k: int) -> tuple[np.ndarray, np.ndarray]:
            ids, scores = search(texts, k)
            return rank_rows(ids, np.asarray(scores, np.float32) + np.float32(0.0), ties)

        return searcher

    def _encoder_key(self, index: str, model_dir: str) -> str:
        return fingerprint(
            self.code,
            self.root / "indexes" / index,
            self.root / model_dir,
            self.p.model.query_max_len,
            self.config.query_batch_size,
            encoders.devices_key(self.p.index.devices),
            self.p.index.precision,
            remembered=self.fingerprints,
        )

    def lexical_searcher(self, directory: Path) -> Searcher:
        """Array search over the corpus table (bm25s: native; other backends: adapted from their hits)."""
        retriever = load_retriever(directory, num_workers=self.workers, search_backend=self.config.bm25_search)
        if not hasattr(retriever, "search_arrays"):
            return hits_searcher(retriever.search, self.docids)
        if retriever.docids != self.docids:
            raise DataError("indexes/", "the lexical index lists other documents than data/prepared (rerun index)")
        return retriever.search_arrays

    def embedder(self, name: str):
        """The embedder of indexes/<name>'s model, after checking that the index lists the corpus in order."""
        self._check_index(name)
        load = encoders.load_encoder if self.engine is None else self.engine.load_encoder
        return load(self.root / DENSE_MODELS[name], **self._encoding())

    def _encoding(self) -> dict:
        return dict(
            device=self.p.index.devices,
            precision=self.p.index.precision,
            batch_size=self.config.query_batch_size,
            query_max_length=self.p.model.query_max_len,
            passage_max_length=self.p.model.passage_max_len,
        )

    def _check_index(self, name: str) -> None:
        if read_json(self.root / "indexes" / name / "docids.json") != self.docids:
            raise DataError(f"indexes/{name}", "the index lists other documents than data/prepared (rerun index)")

    def dense_searcher(self, name: str) -> DenseSearcher:
        faiss_index = dense.load_faiss(self.root / "indexes" / name / "faiss.index")
        if self._paired is None:
            return DenseSearcher(self.embedder(name), faiss_index)
        self._check_index(name)
        return DenseSearcher(self._paired.half(list(DENSE_MODELS).index(name)), faiss_index)

    @functools.cached_property
    def _paired(self) -> shared_bottom.PairedHalves | None:
        """The dense models' query encoders as halves of a shared-bottom pair (ragtune.models.shared_bottom): the
        questions both will search for are encoded in one pass, on the engine; a model whose partner searches for
        nothing (remembered) is loaded alone. None where BGE-M3's lexical weights are searched too."""
        if self.p.index.m3_sparse:
            return None
        names = list(DENSE_MODELS)
        load = shared_bottom.load_pair if self.engine is None else self.engine.load_pair
        keys = [self._encoder_key(name, model_dir) for name, model_dir in DENSE_MODELS.items()]
        k = self.config.candidates  # what retrieve searches for: the memo's key holds it

        def wanted(partner: int, texts: list[str]) -> bool:
            return self.remembered is None or not self.remembered(keys[partner], texts, k)

        return shared_bottom.PairedHalves(
            lambda: load(*(self.root / d for d in DENSE_MODELS.values()), **self._encoding()),
            lambda index: self.embedder(names[index]),
            wanted,
        )

    def learned_sparse_searcher(self) -> LexicalWeightSearcher:
        return LexicalWeightSearcher(
            self.embedder("dense"), m3.load_sparse_matrix(self.root / "indexes/dense/lexical.npz")
        )

    def colbert(self, documents: list[dict]) -> ColbertRescorer | None:
        """BGE-M3's multi-vector rescorer of the fused top rerank_top (retrieval.colbert), or None when off."""
        if not self.config.colbert:
            return None
        if self.config.rerank_top <= 0:
            raise ParamsError(
                "params.yaml", "retrieval.colbert", "needs retrieval.rerank_top > 0 (how many to rescore)"
            )
        return ColbertRescorer(self.embedder("dense"), {d["docid"]: d["content"] for d in documents})


def cross_encoders(
    config, documents: list[dict], locate: Callable[[str], str], engine=None
) -> dict[str, BatchRescorer]:
    """name → rescorer: `rerank` (models/reranker), preceded by `rerank_base` when the cross-encoder was
    fine-tuned, so evaluate shows what fine-tuning it changed; {} for reranker=none.
    `config`: the reranker parameters; `locate(directory)`: the model's path or hub id; `engine`: where pairs are
    scored (ragtune.compute; None: here)."""
    if config.name == "none":
        return {}
    from ragtune.retrieval.rerank import CrossEncoderReranker

    texts = {d["docid"]: d["content"] for d in documents}
    names = {"rerank_base": "models/reranker_base"} if config.finetune else {}
    rescorers = {}
    for name, directory in {**names, "rerank": "models/reranker"}.items():
        scorer = CrossEncoderReranker if engine is None else engine.load_reranker
        model = scorer(locate(directory), batch_size=config.batch_size, max_length=config.max_length)
        # every question's pairs scored together (FlagReranker probes memory on each call)
        rescorers[name] = BatchRescorer(
            lambda queries, heads, m=model: m.rerank_lists(queries, [[(d, texts[d]) for d in head] for head in heads])
        )
    return rescorers
