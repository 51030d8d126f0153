"""Dense search: FAISS indexes (flat, HNSW, IVF, IVF-PQ) over L2-normalised vectors, searched by inner product.

FAISS is an optional dependency (the `cpu` or `gpu` extra): `_faiss()` turns its absence into one line naming
the extra that installs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ragtune.config.schema import ParamsError
from ragtune.io import atomic_write

IndexKind = Literal["flat", "hnsw", "ivf", "ivfpq"]
ADD_CHUNK = 65_536  # vectors handed to FAISS per call: the float32 copy it may need is one chunk, never the corpus
SOURCE = "params.yaml"  # where a setting FAISS cannot honour comes from


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
    hnsw_m: int = 32,
    ef_construction: int = 200,
    ef_search: int = 128,
    nlist: int = 0,
    nprobe: int = 32,
    train_sample: int = 100_000,
    pq_m: int = 0,
    pq_nbits: int = 8,
    use_gpu: bool = False,
    seed: int = 1234,
    chunk: int = ADD_CHUNK,
):
    """An inner-product FAISS index over `vectors` (an array or a memory-mapped .npy), added `chunk` rows at a time.

    flat: exact. hnsw: HNSW graph over the full vectors (`hnsw_m` links a node, `ef_*` beam widths). ivf / ivfpq:
    k-means lists (`nlist`, 0: about 4·√n) trained with PQ codes (`pq_m` sub-quantizers of `pq_nbits` bits, 0:
    dimension / 8) on a seeded sample of `train_sample` rows; `nprobe` lists searched per query. The search
    settings are saved with the index. On a machine with faiss-gpu and a GPU, `use_gpu` builds flat and IVF
    indexes on GPU 0 (faiss has no GPU HNSW); elsewhere it is ignored. A setting the corpus cannot support
    (more lists than training vectors, PQ sub-quantizers that do not divide the dimension) raises ParamsError.
    """
    faiss = _faiss()

    vectors = np.asarray(vectors)  # a memory-mapped file stays on disk: only chunks and the sample are read
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError("build_faiss needs a non-empty (n, dim) array")
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif kind in ("ivf", "ivfpq"):
        sample = training_sample(vectors, train_sample, seed)
        lists = ivf_lists(nlist, len(vectors), len(sample))
        codes = "Flat" if kind == "ivf" else f"PQ{pq_layout(pq_m, pq_nbits, dim, len(sample))}"
        index = faiss.index_factory(dim, f"IVF{lists},{codes}", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.downcast_index(index)  # the factory's IndexIVFFlat or IndexIVFPQ
        ivf.cp.seed = seed
        if kind == "ivfpq":
            ivf.pq.cp.seed = seed
            ivf.do_polysemous_training = False  # the factory's default; costly, and only polysemous search uses it
        index.train(sample)
        ivf.nprobe = min(nprobe, lists)
    else:
        raise ValueError(f"unknown FAISS index kind {kind!r} (flat, hnsw, ivf, ivfpq)")
    if use_gpu and kind != "hnsw" and gpu_available():
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    for start in range(0, len(vectors), chunk):
        index.add(np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32))
    return index


def build_options(settings) -> dict:
    """build_faiss's keyword arguments from the `index` parameter group (ragtune.config.schema.Index)."""
    hnsw, ivf, pq = settings.hnsw, settings.ivf, settings.pq
    return {
        "hnsw_m": hnsw.m,
        "ef_construction": hnsw.ef_construction,
        "ef_search": hnsw.ef_search,
        "nlist": ivf.nlist,
        "nprobe": ivf.nprobe,
        "train_sample": ivf.train_sample,
        "pq_m": pq.m,
        "pq_nbits": pq.nbits,
        "use_gpu": settings.gpu,
    }


def describe(index) -> str:
    """What was built, for the log: the kind and the settings the corpus decided (lists, PQ layout)."""
    faiss = _faiss()

    if isinstance(index, faiss.IndexHNSW):
        return f"hnsw (M {index.hnsw.nb_neighbors(1)}, efSearch {index.hnsw.efSearch})"
    if not isinstance(index, faiss.IndexIVF):
        return "flat"
    ivf = faiss.downcast_index(index)
    codes = f", PQ {ivf.pq.M}x{ivf.pq.nbits}" if isinstance(ivf, faiss.IndexIVFPQ) else ""
    return f"ivf ({ivf.nlist} lists, nprobe {ivf.nprobe}{codes})"


def training_sample(vectors: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` rows of `vectors` drawn without replacement by a seeded generator (all of them when fewer), in
    corpus order: only the sample is read into memory, not a memory-mapped corpus."""
    if size >= len(vectors):
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), size, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def ivf_lists(nlist: int, corpus: int, trained_on: int) -> int:
    """The inverted lists: `nlist`, or for 0 about 4·√corpus, at most one per 39 training vectors (faiss's
    minimum for a stable k-means), at least 1. An explicit nlist above the training vectors cannot be trained."""
    if nlist == 0:
        return max(1, min(round(4 * corpus**0.5), trained_on // 39))
    if nlist > trained_on:
        raise ParamsError(
            SOURCE,
            "index.ivf.nlist",
            f"{nlist} lists need at least {nlist} training vectors and the corpus gives "
            f"{trained_on} (index.ivf.train_sample, the passages): lower it, or 0 (about 4·√n)",
        )
    return nlist


def pq_layout(m: int, nbits: int, dim: int, trained_on: int) -> str:
    """faiss's `MxNBITS` PQ layout: `m` sub-quantizers (0: the largest divisor of `dim` up to dim / 8)."""
    m = m or max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
    if dim % m:
        raise ParamsError(SOURCE, "index.pq.m", f"{m} does not divide the vectors' dimension {dim}")
    if trained_on < 2**nbits:
        raise ParamsError(
            SOURCE,
            "index.pq.nbits",
            f"{nbits} bits train {2**nbits} centroids per sub-quantizer from at least as "
            f"many vectors, and the corpus gives {trained_on} (index.ivf.train_sample, the passages): lower it",
        )
    return f"{m}x{nbits}"


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
