"""E5 passage/query encoding on CPU: fp32 against int8 dynamic quantisation and bf16 autocast (`index.quantize`,
`index.precision`): speed, cosine to fp32, top-10 neighbours, dev MRR@10 over the encoded documents.

Prints figures, asserts nothing. Uses the competition documents and dev questions (never eval.jsonl): the first
`--docs` documents by docid order, and the dev questions whose document is among them. Each mode runs in its own
process with the CPU kernels the stages give it (stages/common.py): fp32 and int8 under the AVX2 ceiling, bf16
without it; `--no-ceiling` runs every mode without it (what fp32 alone would gain from AVX-512 or AMX kernels).

  python benchmarks/encode_quantized.py --model models/base --docs 300 --threads 2 --passage-max-length 256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ragtune.kernels import CEILING  # what stages/common.py sets

MODES = {"fp32": ("none", "fp32"), "int8": ("int8", "fp32"), "bf16": ("none", "bf16")}  # (quantize, precision)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a model directory with ragtune_encoder.json")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/competition"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passage-max-length", type=int, default=None)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--no-ceiling", action="store_true", help="no AVX2 ceiling for fp32 and int8 either")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # MODE=OUT.npz: one mode, in this process
    args = parser.parse_args()
    if args.child:
        mode, _, out = args.child.partition("=")
        return encode(args, mode, Path(out))

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("fp32", *(m for m in args.modes if m != "fp32")):  # fp32 is what the others are held to
            out = Path(scratch) / f"{mode}.npz"
            ceiling = mode != "bf16" and not args.no_ceiling
            env = {k: v for k, v in os.environ.items() if k not in CEILING} | (CEILING if ceiling else {})
            argv = [arg for arg in sys.argv[1:] if not arg.startswith("--child")]
            subprocess.run([sys.executable, __file__, *argv, "--child", f"{mode}={out}"], env=env, check=True)
            with np.load(out) as stored:
                results[mode] = {key: stored[key] for key in stored.files}
            figures = results[mode]
            print(
                f"{mode:>5} ({'AVX2 ceiling' if ceiling else 'no ceiling'}): {len(figures['passages'])} passages "
                f"{float(figures['docs_per_s']):6.1f} docs/s, {len(figures['queries'])} queries "
                f"{float(figures['queries_per_s']):6.1f} q/s, dev MRR@10 over these docs {float(figures['mrr10']):.4f}"
            )
    fp32 = results["fp32"]
    for mode in (m for m in results if m != "fp32"):
        other = results[mode]
        cos_p = (fp32["passages"] * other["passages"]).sum(1)
        cos_q = (fp32["queries"] * other["queries"]).sum(1)
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fp32["top10"], other["top10"])])
        same_top1 = float(np.mean(fp32["top10"][:, 0] == other["top10"][:, 0]))
        print(
            f"{mode} vs fp32: speed-up passages x{float(other['docs_per_s'] / fp32['docs_per_s']):.2f}, "
            f"queries x{float(other['queries_per_s'] / fp32['queries_per_s']):.2f}; cosine passages mean "
            f"{cos_p.mean():.5f} min {cos_p.min():.5f}, queries mean {cos_q.mean():.5f} min {cos_q.min():.5f}; "
            f"top-10 overlap {overlap:.3f}, same top-1 {same_top1:.3f}"
        )


def encode(args: argparse.Namespace, mode: str, out: Path) -> None:
    import torch

    from ragtune.models.encoders import load_encoder

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    with open(data / "documents.jsonl", encoding="utf-8") as handle:
        documents = sorted((json.loads(line) for line in handle), key=lambda d: d["docid"])[: args.docs]
    wanted = {d["docid"]: n for n, d in enumerate(documents)}
    with open(data / "dev_queries.jsonl", encoding="utf-8") as handle:
        questions = [q for q in map(json.loads, handle) if q["docid"] in wanted]
    texts = [d["content"] for d in documents]
    quantize, precision = MODES[mode]
    encoder = load_encoder(
        args.model,
        device="cpu",
        batch_size=args.batch_size,
        quantize=quantize,
        precision=precision,
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
    ranking = np.argsort(-scores, axis=1, kind="stable")
    gold = np.asarray([wanted[q["docid"]] for q in questions])
    ranks = (ranking == gold[:, None]).argmax(axis=1)
    np.savez(
        out,
        passages=passages,
        queries=queries,
        top10=ranking[:, :10],
        mrr10=np.mean(np.where(ranks < 10, 1.0 / (ranks + 1), 0.0)),
        docs_per_s=len(texts) / passage_s,
        queries_per_s=len(questions) / query_s,
    )


if __name__ == "__main__":
    main()
