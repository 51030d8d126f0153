"""Two models that share a frozen bottom: encoded apart (each its own encoder) against as a pair (one pass).

Prints seconds for passages and questions each way, the speed-up, and whether each model's vectors are the same
bytes both ways; asserts nothing. Texts: the first `--docs` documents of a workspace's collection and up to
`--questions` of its validation questions (data/prepared, data/queries; never the eval questions). Models: the
workspace's base and fine-tuned embedder (train keeps the base's bottom with `train.train_top_layers`).

  nice -n 10 python benchmarks/shared_bottom.py --workspace . --docs 400 --questions 2000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", type=Path, default=Path("."), help="a workspace after `dvc repro`")
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32, help="the encoder's (index.batch_size)")
    parser.add_argument("--passage-max-length", type=int, default=256)
    args = parser.parse_args()

    import numpy as np

    from ragtune.models.encoders import load_encoder
    from ragtune.models.shared_bottom import load_pair

    ws = args.workspace
    models = [ws / "models/embedder", ws / "models/base"]
    lines = lambda path: [json.loads(line) for line in open(path, encoding="utf-8")]  # noqa: E731
    texts = {
        "passage": [d["content"] for d in lines(ws / "data/prepared/documents.jsonl")[: args.docs]],
        "query": [q["msg"][-1]["content"] for q in lines(ws / "data/queries/validation.jsonl")[: args.questions]],
    }
    options = dict(batch_size=args.batch_size, passage_max_length=args.passage_max_length)
    pair = load_pair(*models, **options)
    if pair is None:
        raise SystemExit(f"{models[0]} and {models[1]} share no bottom: nothing to compare")
    apart = [load_encoder(model, **options) for model in models]
    print(f"models: {models[0]} and {models[1]}, {pair.layers} shared layers; batch size {args.batch_size}")
    for kind, batch in texts.items():
        started = time.perf_counter()
        alone = [encoder.encode(batch, kind=kind).dense for encoder in apart]
        seconds_apart = time.perf_counter() - started
        started = time.perf_counter()
        together = pair.dense(batch, kind)
        seconds_pair = time.perf_counter() - started
        same = all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
        what = "questions" if kind == "query" else "passages"
        print(
            f"{len(batch):>6} {what}: apart {seconds_apart:7.1f} s, as a pair {seconds_pair:7.1f} s, "
            f"×{seconds_apart / seconds_pair:.2f}; each model's bytes identical: {same}"
        )


if __name__ == "__main__":
    main()
