"""E5 passage/query encoding on CPU: fp32 vs int8 dynamic quantisation (speed, cosine, top-10 neighbours).

Prints figures, asserts nothing. Uses the competition documents and dev questions (never eval.jsonl):
the first `--docs` documents by docid order, and the dev questions whose document is among them.

  nice -n 10 python benchmarks/encode_quantized.py --model models/base --docs 300 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a model directory with ragtune_encoder.json")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/competition"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passage-max-length", type=int, default=None)
    args = parser.parse_args()

    import torch

    from ragtune.models.encoders import load_encoder

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    documents = sorted(
        (json.loads(line) for line in open(data / "documents.jsonl", encoding="utf-8")), key=lambda d: d["docid"]
    )[: args.docs]
    wanted = {d["docid"]: n for n, d in enumerate(documents)}
    dev = [json.loads(line) for line in open(data / "dev_queries.jsonl", encoding="utf-8")]
    questions = [q for q in dev if q["docid"] in wanted]
    texts = [d["content"] for d in documents]

    results = {}
    for mode in ("none", "int8"):
        encoder = load_encoder(
            args.model,
            device="cpu",
            batch_size=args.batch_size,
            quantize=mode,
            passage_max_length=args.passage_max_length,
        )
        encoder.encode(texts[:8], kind="passage")  # warm-up
        started = time.perf_counter()
        passages = encoder.encode(texts, kind="passage").dense
        passage_s = time.perf_counter() - started
        started = time.perf_counter()
        queries = encoder.encode([q["query"] for q in questions], kind="query").dense
        query_s = time.perf_counter() - started
        scores = queries @ passages.T
        top10 = np.argsort(-scores, axis=1)[:, :10]
        gold = np.asarray([wanted[q["docid"]] for q in questions])
        ranks = (np.argsort(-scores, axis=1) == gold[:, None]).argmax(axis=1)
        results[mode] = dict(
            passages=passages,
            queries=queries,
            top10=top10,
            mrr10=float(np.mean(np.where(ranks < 10, 1.0 / (ranks + 1), 0.0))),
            docs_per_s=len(texts) / passage_s,
            queries_per_s=len(questions) / query_s,
        )
        print(
            f"{mode:>5}: {len(texts)} passages {len(texts) / passage_s:6.1f} docs/s, {len(questions)} queries "
            f"{len(questions) / query_s:6.1f} q/s, dev MRR@10 over these docs {results[mode]['mrr10']:.4f}"
        )
    fp32, int8 = results["none"], results["int8"]
    cos_p = (fp32["passages"] * int8["passages"]).sum(1)
    cos_q = (fp32["queries"] * int8["queries"]).sum(1)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fp32["top10"], int8["top10"])])
    same_top1 = float(np.mean(fp32["top10"][:, 0] == int8["top10"][:, 0]))
    print(
        f"int8 vs fp32: speed-up passages x{int8['docs_per_s'] / fp32['docs_per_s']:.2f}, "
        f"queries x{int8['queries_per_s'] / fp32['queries_per_s']:.2f}; cosine passages mean {cos_p.mean():.4f} "
        f"min {cos_p.min():.4f}, queries mean {cos_q.mean():.4f} min {cos_q.min():.4f}; "
        f"top-10 overlap {overlap:.3f}, same top-1 {same_top1:.3f}"
    )


if __name__ == "__main__":
    main()
