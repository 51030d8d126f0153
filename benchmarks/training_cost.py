"""The cost of one short embedder fine-tuning per training mode, at the workspace's recipe (params.yaml's `train`
and `model` lengths) on its training file: top layers as configured (`topk`), LoRA rank 8 in those layers
(`lora`, what `-S train.lora.rank=8` trains), LoRA rank 8 in every layer (`lora-all`).

Run in a workspace where the pipeline has made models/base and data/negatives/train.jsonl (docs/training.md):

    nice -n 10 /usr/bin/time -v python benchmarks/training_cost.py --mode lora --steps 2

Prints one JSON line: optimiser steps, wall and runner CPU seconds, trainable and total parameters, the runner's
peak resident memory (MB) and the loss curve. Wall seconds follow the machine's load; CPU seconds less so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragtune.training.runner import finetune_embedder  # noqa: E402
from ragtune.training.settings import settings_from_mapping  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("."))
    parser.add_argument("--mode", choices=("topk", "lora", "lora-all"), default="lora")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    params = yaml.safe_load((args.workspace / "params.yaml").read_text(encoding="utf-8"))
    train = {key: value for key, value in params["train"].items() if not key.startswith(("select", "targeted"))}
    train.update(
        max_steps=args.steps,
        logging_steps=1,
        seed=params["seed"],
        query_max_len=params["model"]["query_max_len"],
        passage_max_len=params["model"]["passage_max_len"],
        lora={**train["lora"], "rank": 0 if args.mode == "topk" else 8},
    )
    if args.mode == "lora-all":
        train["train_top_layers"] = 0
    settings = settings_from_mapping(train)
    with tempfile.TemporaryDirectory() as out:
        curve = finetune_embedder(
            args.workspace / "models/base", args.workspace / "data/negatives/train.jsonl", Path(out) / "model", settings
        )
    print(json.dumps({"mode": args.mode, **curve.timing(), "loss": list(curve)}))


if __name__ == "__main__":
    main()
