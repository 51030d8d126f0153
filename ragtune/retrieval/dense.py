"""Dense search: FAISS indexes (flat, IVF, HNSW) over L2-normalised vectors, searched by inner product (= cosine).

FAISS is an optional dependency (the `cpu` or `gpu` extra): `_faiss()` turns its absence into one line naming
the extra that installs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ragtune.io import atomic_write

IndexKind = Literal["flat", "ivf", "hnsw"]


def _faiss():
    """The faiss module; without it, an ImportError naming the extra that installs it (an optional dependency)."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            'FAISS is not installed: `make setup` installs it, or pip install -e ".[cpu]" '
            '(".[gpu]" for faiss-gpu on a CUDA machine, instead of ".[cpu]")'
        ) from error
    return faiss


def gpu_available() -> bool:
    faiss = _faiss()

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_faiss(
    vectors: np.ndarray,
    kind: IndexKind = "flat",
    *,
    nlist: int = 256,
    m: int = 32,
    ef_construction: int = 200,
    ef_search: int = 128,
    use_gpu: bool = False,
    seed: int = 1234,
):
    """An inner-product FAISS index over `vectors` (flat exact, IVF-flat, or HNSW-flat).

    On a machine with faiss-gpu and a GPU, `use_gpu` moves flat and IVF indexes to GPU 0 (faiss has
    no GPU HNSW); elsewhere it is ignored.
    """
    faiss = _faiss()

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError("build_faiss needs a non-empty (n, dim) array")
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        lists = max(1, min(nlist, len(vectors) // 39 or 1))  # faiss wants ~39 training points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.nprobe = min(lists, max(1, lists // 8))
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    else:
        raise ValueError(f"unknown FAISS index kind {kind!r} (flat, ivf, hnsw)")
    if use_gpu and kind != "hnsw" and gpu_available():
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(vectors)
    return index


def save_faiss(index, path: str | Path) -> None:
    faiss = _faiss()

    if hasattr(faiss, "index_gpu_to_cpu") and type(index).__name__.startswith("Gpu"):
        index = faiss.index_gpu_to_cpu(index)
    with atomic_write(path, "wb") as handle:
        handle.write(faiss.serialize_index(index).tobytes())


def load_faiss(path: str | Path, *, use_gpu: bool = False):
    faiss = _faiss()

    index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
    if use_gpu and gpu_available() and not isinstance(index, faiss.IndexHNSW):
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (n_queries, min(k, index size)); ids are row numbers of the indexed vectors."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, index.ntotal)
    if k <= 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    scores, ids = index.search(queries, k)
    return scores, ids
