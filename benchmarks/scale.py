"""ragtune at 10k–1M passages: per step time and peak memory, encoding docs/s, FAISS build/search/recall per index.

Synthetic collections are built from the shipped sample documents (ragtune/resources/sample*/): each passage
is 3–6 of their sentences drawn by a seeded generator, so passages differ while reading like the corpus.
Steps, per size:
  analysis  the corpus's lexical index: Kiwi analysis + bm25s indexing (sizes up to --analysis-max; above it,
            extrapolated from the largest measured size's docs/s)
  encoding  the real e5-small (--model) on an --encode-docs subset: docs/s with --workers threads, per worker;
            extrapolated to each size (it is tens of docs/s on 2 CPU cores)
  faiss     per --index-types: build time, search time per query and recall@100 against flat, over deterministic
            vectors of the real dimension (--dim: 384 for e5-small, 1024 for BGE-M3): unit vectors near
            low-dimensional patches around √n centres (a low intrinsic dimension, as real encodings have);
            stored on disk and added by chunk as the index stage does
Peak memory is the process's resident set sampled every 20 ms during the step (psutil), as the rise over the
step's start and the absolute peak; memory-mapped pages count in it while resident.

  nice -n 10 python benchmarks/scale.py --sizes 10000,100000,1000000 --compute local --workers 2 \\
      --model models/base --encode-docs 2000

Prints a Markdown table; docs/scale.md holds the measured one and the extrapolation to 10M passages.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "ragtune/resources").glob("sample*/**/*.jsonl"))


def sentences() -> list[str]:
    """The shipped sample documents' sentences (Korean and English), deduplicated, in a stable order."""
    found: dict[str, None] = {}
    for path in SAMPLES:
        for line in path.read_text(encoding="utf-8").splitlines():
            content = json.loads(line).get("content") if line.strip() else None
            for sentence in re.split(r"(?<=[.!?])\s+", content or ""):
                if len(sentence) >= 10:
                    found.setdefault(sentence.strip())
    return list(found)


def collection(size: int, seed: int = 0) -> list[str]:
    """`size` passages, each 3–6 sample sentences drawn by a seeded generator."""
    pool = sentences()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 7, size)
    picks = rng.integers(0, len(pool), lengths.sum())
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [" ".join(pool[i] for i in picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


class Peak:
    """Resident set size sampled every 20 ms while the block runs: `rise` over the start and `peak`, in MB."""

    def __enter__(self) -> Peak:
        self.process, self.start = psutil.Process(), psutil.Process().memory_info().rss
        self.peak, self.running = self.start, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.began = time.perf_counter()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *_) -> None:
        self.seconds = time.perf_counter() - self.began
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.rise_mb, self.peak_mb = (self.peak - self.start) / 1e6, self.peak / 1e6


# --- the compute-dependent steps -------------------------------------------------------------------------------


def run_step(compute: str, workers: int, step: Callable, *args, batch_size: int = 1024):
    """`step(*args, engine=…)` on ragtune's compute engine: local (this process, `workers` threads for the
    analyzer and torch) or ray (a local Ray cluster, `workers` actors of one CPU each, `batch_size` rows a remote
    batch, as `-S compute=ray -S compute.workers=N -S compute.batch_size=B` runs the stages). With ray the peak
    memory is this driver's; the actors' is their own. A pool has at most one busy actor per batch: fewer rows
    than workers × batch_size leave workers idle."""
    from ragtune.compute.engine import LocalEngine, RayEngine

    if compute == "local":
        import torch

        torch.set_num_threads(workers)
        return step(*args, engine=LocalEngine(workers))
    return step(*args, engine=RayEngine(None, workers, batch_size=batch_size))


def analyse(texts: list[str], *, engine) -> int:
    """Kiwi analysis and bm25s indexing of `texts` (the prepare and index stages' lexical side, the analysis on
    `engine`); returns the vocabulary size."""
    import yaml

    from ragtune.compute.analysis import iter_morphemes
    from ragtune.config.schema import load
    from ragtune.retrieval.sparse import embedded_bm25

    shipped = load(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))).sparse  # bm25s, Kiwi
    retriever = embedded_bm25(shipped, "ko")
    analysed = iter_morphemes(engine, "ko", texts)  # chunk by chunk, as prepare writes them and index reads them back
    retriever.index_tokens([str(i) for i in range(len(texts))], (retriever.analyzer.select(m) for m in analysed))
    return len(retriever._bm25.vocab_dict)


def encode(texts: list[str], model: str, *, engine) -> float:
    """Seconds `engine`'s encoder at `model` takes to encode `texts` as passages on CPU (the model loaded and
    warmed on one batch first: the rate is the encoding's, not the start-up's; on ray, the warm-up starts the
    actors it needs and the timed call those it adds, each loading the model once)."""
    encoder = engine.load_encoder(model, device="cpu", batch_size=32, passage_max_length=256)
    encoder.encode(texts[:8], kind="passage", lexical=False)
    began = time.perf_counter()
    encoder.encode(texts, kind="passage", lexical=False)
    return time.perf_counter() - began


# --- FAISS ----------------------------------------------------------------------------------------------------


def synthetic_vectors(path: Path, size: int, dim: int, seed: int = 0, chunk: int = 65_536) -> np.ndarray:
    """`size` unit vectors (float32 .npy at `path`, written by chunk) near 16-dimensional patches around √size
    centres; the queries come from `queries()` with the same centres."""
    rng = np.random.default_rng(seed)
    centres = max(8, round(size**0.5))
    model = rng.standard_normal((centres, dim)), rng.standard_normal((centres, 16, dim)) / 4
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, dim))
    for start in range(0, size, chunk):
        out[start : start + chunk] = _near(model, min(chunk, size - start), rng)
    out.flush()
    return out, model


def _near(model, n: int, rng) -> np.ndarray:
    centres, patches = model
    near = rng.integers(0, len(centres), n)
    points = centres[near] + np.einsum("nk,nkd->nd", rng.standard_normal((n, 16)), patches[near])
    points += 0.05 * rng.standard_normal(points.shape)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def faiss_rows(size: int, dim: int, kinds: list[str], queries: int, work: Path, threads: int) -> list[dict]:
    import faiss

    from ragtune.retrieval import dense

    faiss.omp_set_num_threads(threads)
    vectors, model = synthetic_vectors(work / f"vectors-{size}.npy", size, dim)
    asked = _near(model, queries, np.random.default_rng(1))
    rows, exact = [], None
    for kind in ["flat", *[k for k in kinds if k != "flat"]]:
        with Peak() as build:
            index = dense.build_faiss(vectors, kind)
        began = time.perf_counter()
        ids = dense.search(index, asked, 100)[1]
        per_query = (time.perf_counter() - began) / queries
        exact = ids if kind == "flat" else exact
        recall = np.mean([len(set(a) & set(b)) / 100 for a, b in zip(ids, exact)])
        rows.append(
            {
                "step": f"faiss {kind}",
                "detail": dense.describe(index),
                "seconds": build.seconds,
                "rise_mb": build.rise_mb,
                "peak_mb": build.peak_mb,
                "ms_per_query": 1000 * per_query,
                "recall@100": recall,
            }
        )
        del index
    return rows


# --- the table ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--compute", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="models/base", help="an e5-small model directory (the base stage's)")
    parser.add_argument("--encode-docs", type=int, default=2000, help="passages the real encoder measures on")
    parser.add_argument("--analysis-max", type=int, default=100_000, help="largest size analysed for real")
    parser.add_argument("--index-types", default="flat,hnsw,ivfpq", help="none: no FAISS rows (a worker comparison)")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest size HNSW is built for")
    parser.add_argument("--batch-size", type=int, default=1024, help="compute.batch_size: rows per remote batch (ray)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--faiss-threads", type=int, default=2, help="OpenMP threads (1 on a shared machine: spinning threads crawl)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [] if args.index_types == "none" else args.index_types.split(",")
    print(
        f"# compute={args.compute}, {args.workers} workers, {psutil.cpu_count()} CPUs, load average "
        f"{psutil.getloadavg()[0]:.1f}; FAISS on {args.faiss_threads} threads; vectors of dimension {args.dim}"
    )

    rows: list[dict] = []
    rate = None
    if args.encode_docs:
        texts = collection(args.encode_docs, seed=7)
        with Peak() as step:
            seconds = run_step(args.compute, args.workers, encode, texts, args.model, batch_size=args.batch_size)
        rate = len(texts) / seconds
        print(
            f"# encoding ({args.model}): {len(texts)} passages in {seconds:.1f} s = {rate:.2f} docs/s "
            f"({rate / args.workers:.2f} per worker), peak RSS {step.peak_mb:.0f} MB"
        )
    analysis_rate = None
    with tempfile.TemporaryDirectory(prefix="ragtune-scale-") as work:
        for size in sizes:
            first = len(rows)
            if size <= args.analysis_max:
                texts = collection(size)
                with Peak() as step:
                    vocabulary = run_step(args.compute, args.workers, analyse, texts, batch_size=args.batch_size)
                analysis_rate = size / step.seconds
                rows.append(_row(size, "analysis (Kiwi + bm25s)", f"{vocabulary} terms", step))
                del texts
            elif analysis_rate:
                rows.append(_estimate(size, "analysis (Kiwi + bm25s)", size / analysis_rate))
            if rate:
                rows.append(_estimate(size, f"encoding ({args.workers} workers, e5-small)", size / rate))
            wanted = [k for k in kinds if k != "hnsw" or size <= args.hnsw_max]
            for row in (
                faiss_rows(size, args.dim, wanted, args.queries, Path(work), args.faiss_threads) if wanted else ()
            ):
                rows.append({"size": size, **row})
            _print(rows[first:], header=size == sizes[0])
            for leftover in Path(work).glob("*.npy"):
                leftover.unlink()


def _row(size: int, step: str, detail: str, peak: Peak) -> dict:
    return {"size": size, "step": step, "detail": detail, "seconds": peak.seconds, "rise_mb": peak.rise_mb,
            "peak_mb": peak.peak_mb}  # fmt: skip


def _estimate(size: int, step: str, seconds: float) -> dict:
    return {"size": size, "step": step, "detail": "extrapolated", "seconds": seconds}


def _print(rows: list[dict], header: bool) -> None:
    if header:
        print("| passages | step | detail | time (s) | RSS rise / peak (MB) | search (ms/query) | recall@100 |")
        print("|---:|---|---|---:|---:|---:|---:|")
    for row in rows:
        memory = f"{row['rise_mb']:.0f} / {row['peak_mb']:.0f}" if "peak_mb" in row else "—"
        search = f"{row['ms_per_query']:.2f}" if "ms_per_query" in row else "—"
        recall = f"{row['recall@100']:.3f}" if "recall@100" in row else "—"
        estimated = "~" if row["detail"] == "extrapolated" else ""
        print(
            f"| {row['size']:,} | {row['step']} | {row['detail']} | {estimated}{row['seconds']:.1f} | {memory} "
            f"| {search} | {recall} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
