"""Ranking documents: lexical backends (`sparse`), dense encoders and FAISS, fusion, reranking, the retrieval pass."""
