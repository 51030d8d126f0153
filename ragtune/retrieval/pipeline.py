"""One retrieval pass over many questions: sparse and dense candidates, fusion, optional reranking.

Returns one `RankedRun` per retriever, keyed by name (`bm25`, `dense`, `dense_base`, …, and
`hybrid`, the final ranking), so one evaluation shows what each part adds. Questions without
query variants (chit-chat) get an empty ranking from every retriever.

A searcher takes query texts and a depth and returns `(ids, scores)` arrays: row = query,
ids = positions in the shared docid table (-1 pads), in any order (rows are ranked here).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ragtune.retrieval import dense, m3
from ragtune.retrieval.fusion import fuse_variants, hybrid, reciprocal_rank_fusion, weighted_sum
from ragtune.retrieval.sparse.base import Hits, ordered
from ragtune.runs import RankedRun, tie_ranks

Searcher = Callable[[Sequence[str], int], tuple[np.ndarray, np.ndarray]]
Rescorer = Callable[[str, list[str]], list[tuple[str, float]]]  # (query, docids) -> [(docid, score)]
# (queries, docid lists) -> one [(docid, score)] list per query: every question's head in one call
ManyRescorer = Callable[[Sequence[str], Sequence[list[str]]], list[list[tuple[str, float]]]]


@dataclass(frozen=True)
class BatchRescorer:
    """A rescorer that scores all questions' heads together (a cross-encoder batches the pairs of every
    question: one model call per few thousand pairs, not one per question)."""

    many: ManyRescorer

    def __call__(self, query: str, docids: list[str]) -> list[tuple[str, float]]:
        return self.many([query], [docids])[0]


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 200  # per retriever, before fusion; also the depth of the fused runs
    fusion: str = "hybrid"  # hybrid: alpha-weighted normalised scores; rrf: reciprocal rank fusion
    alpha: float = 0.5  # weight of the dense run in hybrid fusion
    rrf_k: int = 60
    norm: str = "min-max"
    rerank_top: int = 0  # cross-encoder rescoring of the fused top-N (0: off)

    @classmethod
    def from_fusion(cls, fusion, candidates: int, rerank_top: int) -> RetrievalSettings:
        """From the configuration's fusion object (ragtune.config.schema.Fusion) and the retrieval depths."""
        return cls(candidates, fusion.method, fusion.alpha, fusion.rrf_k, fusion.norm, rerank_top)


class DenseSearcher:
    """Encoder + FAISS index (rows in docid-table order), searched like a sparse retriever."""

    def __init__(self, encoder, index):
        self.encoder, self.index = encoder, index

    def __call__(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.encoder.encode(list(texts), kind="query", lexical=False).dense
        scores, ids = dense.search(self.index, vectors, k)
        return ids, scores


class LexicalWeightSearcher:
    """BGE-M3's learned sparse score (Σ q_w · d_w over shared tokens) against the corpus matrix
    (rows in docid-table order; see `ragtune.retrieval.m3.sparse_matrix`)."""

    def __init__(self, encoder, doc_matrix, chunk: int = 2048):
        self.encoder, self.doc_matrix, self.chunk = encoder, doc_matrix, chunk

    def __call__(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        weights = self.encoder.encode(list(texts), kind="query", lexical=True).lexical
        k = min(k, self.doc_matrix.shape[0])
        ids, scores = np.full((len(texts), k), -1, np.int64), np.zeros((len(texts), k), np.float32)
        for start in range(0, len(texts), self.chunk):
            block = m3.sparse_scores(weights[start : start + self.chunk], self.doc_matrix)
            top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else np.argsort(-block, axis=1)
            top_scores = np.take_along_axis(block, top, axis=1)
            matched = top_scores > 0  # no shared token: not a candidate
            ids[start : start + len(block)] = np.where(matched, top, -1)
            scores[start : start + len(block)] = np.where(matched, top_scores, 0)
        return ids, scores


class ColbertRescorer:
    """BGE-M3's multi-vector (ColBERT) score of candidates: every passage encoded once, up front.

    Memory: tokens × dim × 2 bytes per passage (tiny: ~35 MB for 4k passages; bge-m3 at 512 tokens:
    ~1 MB per passage), so it rescores a fused top-N rather than searching the corpus.
    """

    def __init__(self, encoder, passages: Mapping[str, str]):
        self.encoder = encoder
        docids = list(passages)
        self.passages = dict(
            zip(
                docids,
                encoder.encode([passages[d] for d in docids], kind="passage", lexical=False, colbert=True).colbert,
            )
        )

    def for_queries(self, queries: Sequence[str]) -> Rescorer:
        """A rescorer for these query texts, encoded in one batch."""
        unique = list(dict.fromkeys(queries))
        vectors = dict(zip(unique, self.encoder.encode(unique, kind="query", lexical=False, colbert=True).colbert))
        return lambda query, docids: [(d, m3.colbert_score(vectors[query], self.passages[d])) for d in docids]


def hits_searcher(search: Callable[[Sequence[str], int], list[Hits]], docids: Sequence[str]) -> Searcher:
    """Adapt a backend that answers with (docid, score) lists (e.g. Elasticsearch) to arrays."""
    position = {d: i for i, d in enumerate(docids)}

    def searcher(texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = np.full((len(texts), k), -1, np.int64), np.zeros((len(texts), k))
        for row, hits in enumerate(search(texts, k)):
            for col, (docid, score) in enumerate(hits[:k]):
                ids[row, col], scores[row, col] = position[docid], score
        return ids, scores

    return searcher


def _search_variants(
    search: Searcher,
    variants: Mapping[str, Sequence[str]],
    qids: Sequence[str],
    docids: Sequence[str],
    ties: np.ndarray,
    k: int,
    rrf_k: int,
) -> RankedRun:
    """Search every variant of every question at once; several variants of a question are fused by RRF."""
    row_of = {qid: row for row, qid in enumerate(qids)}
    owners = np.asarray([row_of[qid] for qid, texts in variants.items() for _ in texts], np.int64)
    texts = [text for group in variants.values() for text in group]
    run = RankedRun.empty(qids, docids, k)
    if not texts:
        return run
    ids, scores = search(texts, k)
    found = RankedRun.ranked([str(i) for i in range(len(texts))], docids, ids[:, :k], scores[:, :k], ties)
    if len(np.unique(owners)) == len(owners):  # one variant per question
        run.ids[owners, : found.depth], run.scores[owners, : found.depth] = found.ids, found.scores
        return run
    return fuse_variants(found, owners, qids, k=rrf_k, depth=k)


def retrieve(
    variants: Mapping[str, Sequence[str]],
    qids: Sequence[str],
    docids: Sequence[str],
    sparse: Mapping[str, Searcher],
    dense: Mapping[str, Searcher],
    settings: RetrievalSettings,
    rerankers: Mapping[str, Rescorer] | None = None,
    sparse_weights: Mapping[str, float] | None = None,
    rerank_qids: Collection[str] | None = None,
    reported_rescorers: Mapping[str, Rescorer] | None = None,
    lexical_fusion: Callable[..., RankedRun] = weighted_sum,
) -> dict[str, RankedRun]:
    """Runs for each retriever and the final ranking under the name `hybrid`.

    `variants`: qid → query texts (the standalone question first; multi-query or HyDE texts after);
    questions of `qids` without variants get empty rankings.
    `sparse`: name → searcher; with `sparse_weights`, the weighted sum of their normalised runs is
    the lexical side of the fusion (reported as `lexical`), else the first one is.
    `dense`: name → searcher; the first takes part in fusion, the others (e.g. `dense_base`, the
    model before fine-tuning) are reported beside it.
    `rerankers`: name → cross-encoder; each rescores the fused top `settings.rerank_top` into a run of
    its name (e.g. `rerank_base`, `rerank`); the fusion is then reported as `fused`, and the last
    reranker's run is the final one. A `BatchRescorer` gets every question's head in one call.
    `rerank_qids`: only these questions are reranked (None: all); the others keep the fused ranking
    in the reranked runs, so a capped reranking's metrics mix reranked and fused questions.
    `reported_rescorers`: name → rescorer (e.g. `colbert`) run like `rerankers` but only reported: the
    final ranking stays the fusion's, or the last reranker's.
    `lexical_fusion`: how the sparse runs are weighted together (`weighted_sum`'s signature); the stage passes a
    `ragtune.cache.FusionMemo`'s, since that side does not change with alpha.
    """
    ties = tie_ranks(docids)
    depth = settings.candidates
    runs = {
        name: _search_variants(search, variants, qids, docids, ties, depth, settings.rrf_k)
        for name, search in {**sparse, **dense}.items()
    }
    if sparse_weights and len(sparse) > 1:
        runs["lexical"] = lexical_fusion({name: runs[name] for name in sparse}, sparse_weights, settings.norm, depth)
        lexical = runs["lexical"]
    else:
        lexical = runs[next(iter(sparse))]
    dense_name = next(iter(dense), None)
    if dense_name is None:
        fused = lexical
    elif settings.fusion == "hybrid":
        fused = hybrid(lexical, runs[dense_name], settings.alpha, settings.norm, depth)
    elif settings.fusion == "rrf":
        fused = reciprocal_rank_fusion({"sparse": lexical, "dense": runs[dense_name]}, k=settings.rrf_k, depth=depth)
    else:
        raise ValueError(f"unknown fusion {settings.fusion!r} (hybrid, rrf)")
    rescorers = {**(reported_rescorers or {}), **(rerankers or {})}
    if rescorers and settings.rerank_top > 0:
        runs["fused"] = fused
        rows = [row for row, qid in enumerate(qids) if qid in variants and (rerank_qids is None or qid in rerank_qids)]
        for name, rescore in rescorers.items():
            many = (
                rescore.many
                if isinstance(rescore, BatchRescorer)
                else (lambda queries, heads, r=rescore: [r(query, head) for query, head in zip(queries, heads)])
            )
            runs[name] = rerank_heads_many(
                runs["fused"],
                lambda rows_, heads, m=many: m([variants[qids[row]][0] for row in rows_], heads),
                settings.rerank_top,
                rows,
            )
            if name in (rerankers or {}):
                fused = runs[name]
    runs["hybrid"] = fused
    return runs


def rerank_heads(run: RankedRun, rescore: Callable[[int, list[str]], list[tuple[str, float]]], n: int) -> RankedRun:
    """Reorder each question's best n documents by `rescore(row, docids)`; the rest keep their order below."""
    return rerank_heads_many(
        run, lambda rows, heads: [rescore(row, head) for row, head in zip(rows, heads)], n, range(len(run.qids))
    )


def rerank_heads_many(
    run: RankedRun,
    rescore: Callable[[list[int], list[list[str]]], list[list[tuple[str, float]]]],
    n: int,
    rows: Sequence[int],
) -> RankedRun:
    """Reorder the best n documents of the questions in `rows` by one `rescore(rows, heads)` call; the rest
    of each ranking, and the questions not in `rows`, keep the fused order.

    Scores become positions (depth - rank): the cross-encoder's scale and the fusion's must not mix.
    """
    position = {d: i for i, d in enumerate(run.docids)}
    result = RankedRun(run.qids, run.docids, run.ids.copy(), np.zeros_like(run.scores))
    heads = {row: run.ranking(row, n) for row in rows}
    scored = [row for row in rows if heads[row]]
    for row, ranked in zip(scored, rescore(scored, [heads[row] for row in scored]) if scored else []):
        result.ids[row, : len(heads[row])] = [position[d] for d, _ in ordered(ranked)]
    for row in range(len(run.qids)):
        filled = int((result.ids[row] >= 0).sum())
        result.scores[row, :filled] = np.arange(filled, 0, -1)
    return result
