"""Embedded BM25: bm25s over Kiwi morphemes, in process, saved to a directory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from ragtune.io import read_json, write_json
from ragtune.retrieval.sparse.base import Hits, ordered
from ragtune.text.analysis import CharNgramAnalyzer, KoreanAnalyzer, analyzer_from_config

logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25Retriever:
    """`SparseRetriever` on bm25s; the analyzer's settings travel with the saved index."""

    name = "bm25"  # the morpheme view; the character n-gram view is named bm25_char by its caller

    def __init__(
        self,
        analyzer: KoreanAnalyzer | CharNgramAnalyzer,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        threads: int = 1,
        backend: str = "numpy",
    ):
        self.analyzer = analyzer
        self.k1, self.b, self.method = k1, b, method
        # Speed only, never results: numba is ~4x faster per query but compiles for ~10 s per process.
        self.threads, self.backend = threads, backend
        self.docids: list[str] = []
        self._bm25: bm25s.BM25 | None = None

    def index(self, docids: Sequence[str], texts: Sequence[str]) -> None:
        self.index_tokens(docids, self.analyzer.batch(texts))

    def index_tokens(self, docids: Sequence[str], tokens: Iterable[Sequence[str]]) -> None:
        """Index each document's analysed terms, in `docids` order. `tokens` is read once, so it may be a generator
        (index and negatives stream the corpus's analysis from disk): what stays in memory is each document's term
        ids as an int32 array, never the terms themselves."""
        self.docids = list(docids)
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method=self.method, backend=self.backend)
        seen: dict[str, int] = {}  # term → number in first-seen order
        numbered = [np.fromiter((seen.setdefault(t, len(seen)) for t in doc), np.int32, len(doc)) for doc in tokens]
        if len(numbered) != len(self.docids):
            raise ValueError(f"{len(numbered)} analysed documents for {len(self.docids)} docids")
        # Our own sorted vocabulary: bm25s numbers tokens in set order, which changes with Python's
        # per-process hash seed, so the saved index bytes (and DVC's hash of them) would too.
        vocab = {token: i for i, token in enumerate(sorted(seen))}
        renumber = np.empty(len(seen), np.int32)
        renumber[list(seen.values())] = [vocab[token] for token in seen]
        ids = _AsLists([renumber[doc] for doc in numbered])
        self._bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> list[Hits]:
        return self.search_tokens(self.analyzer.batch(queries), k)

    def search_tokens(self, query_tokens: list[list[str]], k: int) -> list[Hits]:
        ids, scores = self.search_ids(query_tokens, k)
        return [
            ordered([(self.docids[d], float(s)) for d, s in zip(row_ids, row_scores) if d >= 0])
            for row_ids, row_scores in zip(ids, scores)
        ]

    def search_arrays(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each (n_queries, k): positions in `docids`, -1 where fewer than k documents match."""
        return self.search_ids(self.analyzer.batch(queries), k)

    def search_ids(self, query_tokens: list[list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Search pre-analysed queries; a query with no known token gets no hits (not k arbitrary ones)."""
        if self._bm25 is None:
            raise RuntimeError("BM25Retriever: index() or load() first")
        k = min(k, len(self.docids))
        ids = np.full((len(query_tokens), k), -1, dtype=np.int64)
        scores = np.zeros((len(query_tokens), k), dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [[t for t in tokens if t in vocab] for tokens in query_tokens]
        todo = [i for i, tokens in enumerate(known) if tokens]
        if todo and k > 0:
            found, found_scores = self._bm25.retrieve(
                [known[i] for i in todo],
                k=k,
                show_progress=False,
                n_threads=self.threads,
                backend_selection=self.backend,
            )
            matched = found_scores > 0
            ids[todo] = np.where(matched, found, -1)
            scores[todo] = np.where(matched, found_scores, 0)
        return ids, scores

    def score_matrix(self, query_tokens: list[list[str]]) -> np.ndarray:
        """Scores of every document for each query (queries × docs); used for mining and analysis."""
        scores = np.zeros((len(query_tokens), len(self.docids)), dtype=np.float32)
        for row, tokens in enumerate(query_tokens):
            known = [t for t in tokens if t in self._bm25.vocab_dict]
            if known:  # bm25s fails on a query with no word of the corpus: such a query scores 0 everywhere
                scores[row] = self._bm25.get_scores(known)
        return scores

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self._bm25.save(str(directory / "bm25s"))
        write_json(
            directory / "manifest.json",
            {
                "backend": "bm25s",
                "k1": self.k1,
                "b": self.b,
                "method": self.method,
                "analyzer": self.analyzer.config(),
                "docids": self.docids,
            },
        )

    @classmethod
    def load(cls, directory: Path, num_workers: int = 0, backend: str = "numpy") -> BM25Retriever:
        manifest = read_json(Path(directory) / "manifest.json")
        retriever = cls(
            analyzer_from_config(manifest["analyzer"], num_workers=num_workers),
            k1=manifest["k1"],
            b=manifest["b"],
            method=manifest["method"],
            threads=max(num_workers, 1),
            backend=backend,
        )
        retriever.docids = manifest["docids"]
        # memory-mapped: the score matrix stays in the page cache, shared by processes, read as searches need it
        retriever._bm25 = bm25s.BM25.load(str(Path(directory) / "bm25s"), mmap=True)
        return retriever


class _AsLists(Sequence):
    """Int32 arrays that bm25s reads as lists of ints, one at a time (it iterates the corpus a few times):
    the lists exist only while it reads them."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [array.tolist() for array in self.arrays[index]]
        return self.arrays[index].tolist()
