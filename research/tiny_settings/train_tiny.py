"""Does fine-tuning the tiny BGE-M3 through FlagEmbedding teach it retrieval? (issue 5)

On the competition corpus: build the tiny embedder, measure dense recall@10 of the untrained base
on a fixed sample of dev questions (evaluation only, never trained on), fine-tune on synthetic
questions made offline from the documents' own sentences, measure again. Prints base and
fine-tuned recall@10, training wall time, encoding throughput and peak RSS.

    .venv/bin/python research/tiny_settings/train_tiny.py [--train-file data/negatives/train.jsonl --max-steps 60 ...]

Defaults are conf/model/tiny.yaml's settings.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ragtune.io import read_jsonl, write_jsonl
from ragtune.models.encoders import M3Encoder
from ragtune.models.tiny import build_tiny_embedder
from ragtune.retrieval.dense import build_faiss, search
from ragtune.training.runner import children_cpu_seconds, finetune_m3
from ragtune.training.settings import RunnerSettings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "competition"
SENTENCE_END = re.compile(r"(?<=[.?!다])\s+")


def synthetic_questions(docid: str, content: str, per_doc: int, rng: random.Random) -> list[str]:
    """Offline stand-in for the LLM generator: key phrases (word windows) from the document's sentences."""
    sentences = [s for s in SENTENCE_END.split(content) if len(s.split()) >= 3] or [content]
    questions = []
    for sentence in rng.sample(sentences, min(per_doc, len(sentences))) + [content] * max(0, per_doc - len(sentences)):
        words = sentence.split()
        width = min(len(words), rng.randint(4, 8))
        start = rng.randint(0, len(words) - width)
        questions.append(" ".join(words[start : start + width]).rstrip(".") + "?")
    return questions


def training_rows(documents: list[dict], per_doc: int, negatives: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    contents = [doc["content"] for doc in documents]
    rows = []
    for number, doc in enumerate(documents):
        for question in synthetic_questions(doc["docid"], doc["content"], per_doc, rng):
            picks = rng.sample(range(len(contents) - 1), negatives)
            rows.append(
                {
                    "query": question,
                    "pos": [doc["content"]],
                    "neg": [contents[p if p < number else p + 1] for p in picks],
                }
            )
    return rows


def recall_at_10(model_dir: Path, documents: list[dict], questions: list[dict], args) -> tuple[float, float]:
    encoder = M3Encoder(
        model_dir,
        device="cpu",
        batch_size=64,
        query_max_length=args.query_max_len,
        passage_max_length=args.passage_max_len,
    )
    started = time.perf_counter()
    docs = encoder.encode([doc["content"] for doc in documents], "passage")
    throughput = len(documents) / (time.perf_counter() - started)
    queries = encoder.encode([q["query"] for q in questions], "query")
    _, ids = search(build_faiss(docs.dense, "flat"), queries.dense, 10)
    index_of = {doc["docid"]: number for number, doc in enumerate(documents)}
    hits = [index_of[q["docid"]] in row for q, row in zip(questions, ids.tolist())]
    return float(np.mean(hits)), throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate-size", type=int, default=512)
    parser.add_argument("--initializer-range", type=float, default=0.02)
    parser.add_argument(
        "--attention-value-init-range",
        type=float,
        default=0.25,
        help="std of the attention value/output projections at init (see build_tiny_embedder)",
    )
    parser.add_argument("--query-max-len", type=int, default=32)
    parser.add_argument("--passage-max-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--group-size", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--questions-per-doc", type=int, default=3)
    parser.add_argument("--eval-questions", type=int, default=2000)
    parser.add_argument(
        "--unified",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="M3 unified fine-tuning (dense + sparse + ColBERT losses)",
    )
    parser.add_argument("--self-distill", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-file",
        type=Path,
        default=None,
        help="train on this FlagEmbedding file (e.g. the pipeline's data/negatives/train.jsonl) "
        "instead of the benchmark's own offline questions",
    )
    parser.add_argument("--base", type=Path, default=None, help="use this built base model instead of building one")
    parser.add_argument(
        "--base-eval",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the base model (skip when a sweep reuses one --base)",
    )
    parser.add_argument("--work", type=Path, default=None, help="keep models here (default: a temporary folder)")
    args = parser.parse_args()
    if not (DATA / "documents.jsonl").exists():
        sys.exit(f"competition data not found under {DATA}")

    documents = read_jsonl(DATA / "documents.jsonl")
    dev = read_jsonl(DATA / "dev_queries.jsonl")
    questions = random.Random(12345).sample(dev, args.eval_questions)
    work = args.work or Path(tempfile.mkdtemp(prefix="ragtune-train-tiny-"))

    started = time.perf_counter()
    base = args.base or build_tiny_embedder(
        [doc["content"] for doc in documents],
        work / "base",
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=args.heads,
        intermediate_size=args.intermediate_size,
        initializer_range=args.initializer_range,
        attention_value_init_range=args.attention_value_init_range,
        seed=args.seed,
    )
    build_seconds = time.perf_counter() - started
    base_recall, base_throughput = (
        recall_at_10(base, documents, questions, args) if args.base_eval else (float("nan"), float("nan"))
    )
    print(f"base recall@10 {base_recall:.4f}  (build {build_seconds:.1f}s)", flush=True)

    if args.train_file:
        train_file, rows = args.train_file, read_jsonl(args.train_file)
    else:
        rows = training_rows(documents, args.questions_per_doc, max(1, args.group_size - 1), args.seed)
        train_file = work / "train.jsonl"
        write_jsonl(train_file, rows)
    settings = RunnerSettings(
        learning_rate=args.lr,
        temperature=args.temperature,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        train_group_size=args.group_size,
        query_max_len=args.query_max_len,
        passage_max_len=args.passage_max_len,
        unified_finetuning=args.unified,
        use_self_distill=args.self_distill and args.unified,
        warmup_ratio=0.1,
        seed=args.seed,
        logging_steps=10,
    )
    started, cpu_before = time.perf_counter(), children_cpu_seconds()
    curve = finetune_m3(base, train_file, work / "tuned", settings)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = children_cpu_seconds() - cpu_before
    tuned_recall, tuned_throughput = recall_at_10(work / "tuned", documents, questions, args)

    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "settings": {
                    key: str(value) if isinstance(value, Path) else value
                    for key, value in vars(args).items()
                    if key != "work"
                },
                "training_rows": len(rows),
                "base_recall@10": round(base_recall, 4),
                "finetuned_recall@10": round(tuned_recall, 4),
                "gain": round(tuned_recall - base_recall, 4),
                "training_wall_s": round(train_seconds, 1),
                # CPU seconds of the runner (all its threads): less sensitive to other jobs than wall time.
                "training_cpu_s": round(train_cpu_seconds, 1),
                "loss_first_last": [curve[0]["loss"], curve[-1]["loss"]] if curve else None,
                "encode_passages_per_s": [round(base_throughput, 1), round(tuned_throughput, 1)],
                "peak_rss_mb": {"benchmark": round(peak_self), "trainer": round(peak_child)},
                "work": str(work),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
