"""One retrieval pass over many questions: sparse and dense candidates, fusion, optional reranking.

Returns one run per retriever, keyed by name (`bm25`, `dense`, `dense_base`, …, and `hybrid`,
the final ranking), so one evaluation shows what each part adds. Questions in `skip`
(chit-chat) get an empty ranking from every retriever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ragtune.fusion import Run, hybrid, reciprocal_rank_fusion, top, weighted_sum
from ragtune.sparse.base import Hits, ordered

Searcher = Callable[[Sequence[str], int], list[Hits]]


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 200     # per retriever, before fusion
    fusion: str = "hybrid"    # hybrid: alpha-weighted normalised scores; rrf: reciprocal rank fusion
    alpha: float = 0.5        # weight of the dense run in hybrid fusion
    rrf_k: int = 60
    norm: str = "min-max"
    rerank_top: int = 0       # cross-encoder rescoring of the fused top-N (0: off)
    keep: int = 100           # documents kept per question in the written runs (save_runs cuts)


class DenseSearcher:
    """Encoder + FAISS index + the docid table, searched like a sparse retriever."""

    def __init__(self, encoder, index, docids: Sequence[str]):
        from ragtune import dense
        self._dense, self.encoder, self.index, self.docids = dense, encoder, index, list(docids)

    def __call__(self, texts: Sequence[str], k: int) -> list[Hits]:
        vectors = self.encoder.encode(list(texts), kind="query").dense
        scores, ids = self._dense.search(self.index, vectors, min(k, len(self.docids)))
        return [ordered([(self.docids[i], float(s)) for i, s in zip(row_ids, row_scores) if i >= 0])
                for row_ids, row_scores in zip(ids, scores)]


def _search_variants(search: Searcher, variants: Mapping[str, Sequence[str]], k: int, rrf_k: int) -> Run:
    """Search every variant of every question at once; several variants of a question are fused by RRF."""
    flat = [(qid, text) for qid, texts in variants.items() for text in texts]
    hits = search([text for _, text in flat], k) if flat else []
    per_variant: dict[str, list[dict[str, float]]] = {}
    for (qid, _), found in zip(flat, hits):
        per_variant.setdefault(qid, []).append(dict(found))
    run: Run = {}
    for qid, runs in per_variant.items():
        if len(runs) == 1:
            run[qid] = runs[0]
        else:
            run[qid] = reciprocal_rank_fusion({str(i): {qid: r} for i, r in enumerate(runs)}, k=rrf_k)[qid]
    return run


def retrieve(variants: Mapping[str, Sequence[str]], sparse: Mapping[str, Searcher], dense: Mapping[str, Searcher],
             settings: RetrievalSettings, skip: set[str] = frozenset(),
             rerank: Callable[[str, list[str]], list[tuple[str, float]]] | None = None,
             sparse_weights: Mapping[str, float] | None = None) -> dict[str, Run]:
    """Runs for each retriever and the fused final ranking under the name `hybrid`.

    `variants`: qid → query texts (the standalone question first; multi-query or HyDE texts after).
    `sparse`: name → searcher; with `sparse_weights`, the weighted sum of their normalised runs is
    the lexical side of the fusion (reported as `lexical`), else the first one is.
    `dense`: name → searcher; the first takes part in fusion, the others (e.g. `dense_base`, the
    model before fine-tuning) are reported beside it.
    """
    active = {qid: texts for qid, texts in variants.items() if qid not in skip}
    runs: dict[str, Run] = {}
    for name, search in {**sparse, **dense}.items():
        runs[name] = _search_variants(search, active, settings.candidates, settings.rrf_k)
    if sparse_weights and len(sparse) > 1:
        runs["lexical"] = top(weighted_sum({name: runs[name] for name in sparse}, sparse_weights, settings.norm),
                              settings.candidates)
        lexical = runs["lexical"]
    else:
        lexical = runs[next(iter(sparse))]
    dense_name = next(iter(dense), None)
    if dense_name is None:
        fused = lexical
    elif settings.fusion == "hybrid":
        fused = hybrid(lexical, runs[dense_name], settings.alpha, settings.norm)
    elif settings.fusion == "rrf":
        fused = reciprocal_rank_fusion({"sparse": lexical, "dense": runs[dense_name]}, k=settings.rrf_k)
    else:
        raise ValueError(f"unknown fusion {settings.fusion!r} (hybrid, rrf)")
    if rerank is not None and settings.rerank_top > 0:
        fused = {qid: rerank_head(scores, lambda ds, q=qid: rerank(active[q][0], ds), settings.rerank_top)
                 for qid, scores in fused.items()}
    runs["hybrid"] = fused
    for qid in variants:
        if qid in skip:
            for run in runs.values():
                run[qid] = {}
    return runs  # cut to `settings.keep` when written (RankedRun sorts once, there)


def rerank_head(scores: Mapping[str, float], rescore: Callable[[list[str]], list[tuple[str, float]]], n: int) -> dict[str, float]:
    """Reorder the best n documents by `rescore`; the rest keep their order below them."""
    ranked = [d for d, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]
    head, tail = ranked[:n], ranked[n:]
    reordered = [d for d, _ in ordered(rescore(head))] + tail
    # Scores by position: the cross-encoder's scale and the fusion's scale must not mix.
    return {docid: float(len(reordered) - i) for i, docid in enumerate(reordered)}
