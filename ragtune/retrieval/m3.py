"""BGE-M3's other two heads scored: learned sparse weights and ColBERT multi-vectors.

Sparse weights are BGE-M3's `{token id (str): weight}` output; the score of a query and a document is
Σ over shared tokens of q_w · d_w, computed for all documents at once as a sparse matrix product
(`sparse_matrix` for the corpus, `sparse_scores` for queries). Not to be confused with BM25 (ragtune.retrieval.sparse):
these weights are a model's, not a term statistic's.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragtune.io import atomic_write

if TYPE_CHECKING:
    import scipy.sparse


def sparse_matrix(weights: Sequence[Mapping[str, float]], vocab_size: int) -> scipy.sparse.csr_matrix:
    """(n_texts, vocab_size) CSR matrix of lexical weights; built once for the corpus."""
    indptr, indices, data = [0], [], []
    for row in weights:
        items = sorted((int(token), float(weight)) for token, weight in row.items())
        if items and items[-1][0] >= vocab_size:
            raise ValueError(f"token id {items[-1][0]} is outside the vocabulary of {vocab_size}")
        indices.extend(token for token, _ in items)
        data.extend(weight for _, weight in items)
        indptr.append(len(indices))
    import scipy.sparse  # here: a stage that never scores BGE-M3's weights (E5, remembered searches) skips 0.13 s

    return scipy.sparse.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr, np.int64)),
        shape=(len(weights), vocab_size),
    )


def sparse_scores(
    query_weights: Mapping[str, float] | Sequence[Mapping[str, float]], doc_matrix: scipy.sparse.csr_matrix
) -> np.ndarray:
    """BGE-M3 lexical score of one query (→ (n_docs,)) or several (→ (n_queries, n_docs)) against every document."""
    single = isinstance(query_weights, Mapping)
    queries = sparse_matrix([query_weights] if single else query_weights, doc_matrix.shape[1])
    scores = np.asarray((queries @ doc_matrix.T).todense(), dtype=np.float32)
    return scores[0] if single else scores


def colbert_score(query: np.ndarray, passage: np.ndarray) -> float:
    """BGE-M3's late-interaction score: each query token's best match in the passage, averaged."""
    if len(query) == 0 or len(passage) == 0:
        return 0.0
    return float((query.astype(np.float32) @ passage.astype(np.float32).T).max(axis=1).mean())


def save_sparse_matrix(matrix: scipy.sparse.csr_matrix, path: str | Path) -> None:
    """An .npz archive with fixed timestamps (numpy's own stamps the current time, so bytes vary)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    arrays = {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "shape": np.asarray(matrix.shape, np.int64),
        "format": np.asarray(b"csr"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def load_sparse_matrix(path: str | Path) -> scipy.sparse.csr_matrix:
    import scipy.sparse

    return scipy.sparse.load_npz(path).tocsr()
