"""Ranking documents: lexical backends (`sparse`), dense encoders and FAISS, fusion, reranking, the retrieval pass.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["dense", "fusion", "m3", "pipeline", "rerank", "search", "searchers", "sparse"],
    submod_attrs={
        "dense": ["build_faiss", "load_faiss", "save_faiss", "search"],
        "fusion": ["fuse_variants", "hybrid", "normalise", "reciprocal_rank_fusion", "weighted_sum"],
        "m3": ["colbert_score", "load_sparse_matrix", "save_sparse_matrix", "sparse_matrix", "sparse_scores"],
        "pipeline": [
            "BatchRescorer",
            "ColbertRescorer",
            "LexicalWeightSearcher",
            "RetrievalSettings",
            "hits_searcher",
            "rerank_heads",
            "retrieve",
        ],
        "rerank": ["CrossEncoderReranker", "rank_by_score", "rerank_subset"],
        "search": ["Result", "WorkspaceMissing", "WorkspaceSearch", "format_results"],
        "searchers": ["LIBRARIES", "Searchers", "cross_encoders", "installed"],
        "sparse": ["SparseRetriever", "embedded_bm25", "load_retriever", "sparse_retriever"],
    },
)
