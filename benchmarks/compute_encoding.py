"""Passage encoding per engine: compute=local against compute=ray with 1 and 2 workers (docs/s, same bytes?).

Prints figures, asserts nothing. Texts: the shipped sample's passages, `--repeat` times. A Ray figure is one
`encode` call as a stage makes it: length order, actor start-up and model loads, the batches, the results back
(Ray itself is started before the clock).

  nice -n 10 python benchmarks/compute_encoding.py --model models/base --repeat 4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "models/base"), help="a model directory (the base stage's)")
    parser.add_argument("--repeat", type=int, default=4, help="copies of the sample's 120 passages")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64, help="the encoder's (index.batch_size)")
    parser.add_argument("--rows-per-call", type=int, default=128, help="compute.batch_size")
    args = parser.parse_args()

    import ray

    from ragtune.compute.engine import LocalEngine, RayEngine

    with (ROOT / "ragtune/resources/sample/documents.jsonl").open(encoding="utf-8") as handle:
        texts = [json.loads(line)["content"] for line in handle] * args.repeat
    options = {"batch_size": args.batch_size}

    start = time.perf_counter()
    reference = LocalEngine().load_encoder(args.model, **options).encode(texts, "passage").dense
    seconds = time.perf_counter() - start
    print(f"{len(texts)} passages, {args.model}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"compute=local           {seconds:7.1f} s  {len(texts) / seconds:7.1f} docs/s  (model load included)")
    ray.init(address="local", num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})  # fmt: skip
    for workers in args.workers:
        engine = RayEngine(workers=workers, batch_size=args.rows_per_call)
        start = time.perf_counter()
        vectors = engine.load_encoder(args.model, **options).encode(texts, "passage").dense
        seconds = time.perf_counter() - start
        same = vectors.tobytes() == reference.tobytes()
        label = f"compute=ray, {workers} worker{'s' if workers > 1 else ' '}"
        figures = f"{seconds:7.1f} s  {len(texts) / seconds:7.1f} docs/s"
        print(f"{label} {figures}  ({'identical bytes' if same else f'max |Δ| {abs(vectors - reference).max():.2e}'})")
    ray.shutdown()


if __name__ == "__main__":
    main()
