"""Fine-tuning adapters for FlagEmbedding's runners: BGE-M3 (unified dense/sparse/ColBERT), E5 (the
encoder-only embedder: mean pooling, prefixes) and cross-encoders. `finetune_embedder` picks the runner
from the base model's `ragtune_encoder.json` (family m3 or e5).

The runners are used as their authors ship them (`python -m FlagEmbedding.finetune...`, or
`torchrun` for several GPUs); this module prepares their inputs, picks arguments, collects the
fine-tuned files and the loss curve.

The rows go to the runner arranged into conflict-free batches, one arrangement per epoch
(ragtune.training.batches.arrange_epochs), and the runner reads them in order (`--train_sampling_strategy
sequential`). Base models and pointers: ragtune.models.sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragtune.io import honour_umask, staged_directory, verbose, write_jsonl
from ragtune.models.encoders import SPEC_FILE, read_spec
from ragtune.training.batches import arrange_epochs, read_training_file
from ragtune.training.settings import RunnerSettings

M3_MODULE = "FlagEmbedding.finetune.embedder.encoder_only.m3"
ENCODER_ONLY_MODULE = "FlagEmbedding.finetune.embedder.encoder_only.base"
RERANKER_MODULE = "FlagEmbedding.finetune.reranker.encoder_only.base"
# Files that make up a fine-tuned model directory (BGE-M3 layout); everything else the runner
# writes (training_args.bin, checkpoints, optimizer state) is left behind.
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "colbert_linear.pt",
    "sparse_linear.pt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    SPEC_FILE,
    "conversion.json",
)


class LossCurve(list):
    """`[{"step", "loss"}]` logged points (the first step and every `logging_steps`-th), plus the run's
    optimiser steps (`steps`, not the number of points) and its wall and runner CPU seconds."""

    def __init__(self, points=(), steps: int = 0, seconds: float = 0.0, cpu_seconds: float = 0.0):
        super().__init__(points)
        self.steps, self.seconds, self.cpu_seconds = steps, seconds, cpu_seconds
        self.run: dict = {}  # partial_finetune's report: parameter counts, peak memory
        self.lora: dict | None = None  # LoRA's settings and parameter counts, when it trained

    @property
    def first_loss(self) -> float | None:
        return self[0]["loss"] if self else None

    @property
    def final_loss(self) -> float | None:
        return self[-1]["loss"] if self else None

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)

    def record_run(self, run_dir: Path, settings: RunnerSettings) -> None:
        """What partial_finetune's wrapper reports (parameter counts, peak memory), and the LoRA settings."""
        report = run_dir / "ragtune_run.json"
        self.run = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
        self.lora = {**settings.lora.record(), **self.run} if settings.lora.enabled else None
        if self.lora is not None:
            self.lora.pop("peak_rss_mb", None)
            self.lora["layers"] = settings.train_top_layers or "all"

    def summary(self) -> dict:
        """The figures metrics/train.json keeps: deterministic ones only (no timings: they vary with the machine's
        load, and a tracked file that changes on every rerun dirties the workspace and leads `dvc metrics diff`);
        with LoRA its settings and the trainable and total parameter counts."""
        lora = {"lora": self.lora} if self.lora else {}
        return {"steps": self.steps, "first_loss": self.first_loss, "final_loss": self.final_loss, **lora}

    def reranker_summary(self) -> dict:
        """This curve's figures as metrics/train.json keeps them for the reranker run, beside the embedder's."""
        lora = {"reranker_lora": self.lora} if self.lora else {}
        return {"reranker_final_loss": self.final_loss, **lora}

    def timing(self) -> dict:
        """The run's wall and runner CPU seconds, for the log and an untracked file (`describe`, logs/)."""
        return {
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "seconds_per_step": round(self.seconds_per_step, 3),
            **self.run,  # parameter counts and peak memory, when the wrapper ran
        }

    def draw(self, path: str | os.PathLike, title: str = "Fine-tuning loss") -> None:
        """The loss by optimiser step as a PNG (the points plots/train_loss.json holds); no point logged (fewer steps
        than logging_steps): the picture says so."""
        from matplotlib.figure import Figure

        from ragtune.charts import save_png

        figure = Figure(figsize=(6.4, 4.2), layout="constrained")
        axes = figure.add_subplot()
        if self:
            axes.plot([p["step"] for p in self], [p["loss"] for p in self], marker="o" if len(self) < 30 else None)
        else:
            axes.text(0.5, 0.5, "no loss logged\n(fewer steps than train.logging_steps)", ha="center", va="center")
        axes.set(xlabel="optimiser step", ylabel="training loss", title=title)
        axes.grid(True, alpha=0.3)
        save_png(figure, path)

    def describe(self) -> str:
        """One log line: steps, wall and CPU time (CPU is less sensitive to other jobs), the loss change."""
        loss = f", loss {self.first_loss:.3f} → {self.final_loss:.3f}" if self else " (fewer steps than logging_steps)"
        return (
            f"{self.steps} optimiser steps in {self.seconds:.0f} s ({self.cpu_seconds:.0f} CPU s, "
            f"{self.seconds_per_step:.1f} s/step){loss}"
        )


def resolve_precision(precision: str) -> str:
    """'auto' means bf16 on GPUs that support it, else fp16 on CUDA, fp32 on CPU."""
    if precision != "auto":
        return precision
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


# `python -m module`, after ragtune's console policy: the runner's own logging.basicConfig(INFO) then leaves
# FlagEmbedding's loggers at WARNING (no TrainingArguments, model config, data notices); the loss lines stay.
_QUIET_LAUNCH = (
    "import runpy, sys; from ragtune.io import quiet_third_party_logs; quiet_third_party_logs(); "
    "del sys.argv[0]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


def _launcher(module: str, settings: RunnerSettings) -> list[str]:
    if settings.distributed:  # torchrun: each worker inherits the quiet environment (transformers, datasets)
        nodes = (
            ["--nnodes", str(settings.nnodes), "--node_rank", str(settings.node_rank)] if settings.nnodes > 1 else []
        )
        address = ["--master_addr", settings.master_addr] if settings.master_addr else []
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            *nodes,
            "--nproc_per_node",
            str(settings.num_gpus),
            *address,
            "--master_port",
            str(settings.master_port),
            "-m",
            module,
        ]
    return [sys.executable, "-m", module] if verbose() else [sys.executable, "-c", _QUIET_LAUNCH, module]


def _common_arguments(settings: RunnerSettings, max_steps: int, work: Path) -> list[str]:
    from transformers import TrainingArguments

    precision = resolve_precision(settings.precision)
    fields = TrainingArguments.__dataclass_fields__
    # transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio).
    warmup = (
        ["--warmup_ratio", str(settings.warmup_ratio)]
        if "warmup_ratio" in fields
        else ["--warmup_steps", str(settings.warmup_ratio)]
    )
    arguments = [
        "--output_dir",
        str(work / "run"),
        "--cache_path",
        str(work / "datasets-cache"),
        "--learning_rate",
        str(settings.learning_rate),
        "--max_steps",
        str(max_steps),
        "--per_device_train_batch_size",
        str(settings.batch_size),
        "--gradient_accumulation_steps",
        str(settings.gradient_accumulation_steps),
        "--train_group_size",
        str(settings.train_group_size),
        "--query_max_len",
        str(settings.query_max_len),
        "--passage_max_len",
        str(settings.passage_max_len),
        "--weight_decay",
        str(settings.weight_decay),
        *warmup,
        "--seed",
        str(settings.seed),
        "--data_seed",
        str(settings.seed),
        "--train_sampling_strategy",
        "sequential",
        "--dataloader_num_workers",
        "0",
        "--logging_steps",
        str(settings.logging_steps),
        "--logging_first_step",
        "True",  # the curve starts at step 1, so even a short run shows a change
        # One checkpoint at the last step, only for its trainer_state.json (the loss curve).
        "--save_strategy",
        "steps",
        "--save_steps",
        str(max_steps),
        "--save_only_model",
        "True",
        "--save_total_limit",
        "1",
        "--report_to",
        "none",
        "--disable_tqdm",
        "False",
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


def loss_curve(run_dir: Path) -> LossCurve:
    """`[{"step", "loss"}]` from the last checkpoint's trainer_state.json log history."""
    states = sorted(run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not states:
        raise RuntimeError(f"the runner left no trainer_state.json under {run_dir}")
    state = json.loads(states[-1].read_text(encoding="utf-8"))
    return LossCurve(
        [
            {"step": int(entry["step"]), "loss": float(entry["loss"])}
            for entry in state["log_history"]
            if "loss" in entry
        ],
        steps=int(state.get("global_step", 0)),
    )


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


def _partial_runner(module: str, base_model, settings: RunnerSettings, extra: list[str]) -> tuple[str, list[str]]:
    """FlagEmbedding's runner as it is, or ragtune.training.partial_finetune's wrapper around it when part of the
    model is frozen or LoRA adapters train (checked here first: a target matching nothing ends in one line)."""
    if not (settings.freeze_word_embeddings or settings.train_top_layers > 0 or settings.lora.enabled):
        return module, extra
    reranker = module == RERANKER_MODULE
    if reranker and (settings.freeze_word_embeddings or settings.train_top_layers > 0):
        raise ValueError("train.freeze_word_embeddings / train.train_top_layers apply to embedders only")
    from ragtune.training import lora, partial_finetune  # imported, not only named: their files are stage code too

    arguments = ["--ragtune_runner", {M3_MODULE: "m3", RERANKER_MODULE: "reranker"}.get(module, "encoder_only")]
    arguments += ["--ragtune_train_top_layers", str(settings.train_top_layers)]
    arguments += ["--ragtune_freeze_word_embeddings"] if settings.freeze_word_embeddings else []
    if settings.lora.enabled:
        key = "reranker.train.lora.targets" if reranker else "train.lora.targets"
        lora.check_targets(base_model, settings.lora, settings.train_top_layers, key, classifier=reranker)
        arguments += ["--ragtune_lora", json.dumps(settings.lora.record())]
    return partial_finetune.__name__, [*extra, *arguments]


def _train(
    module: str,
    base_model: str | Path,
    rows: list[dict],
    out_dir: Path,
    settings: RunnerSettings,
    extra: list[str],
    unchanged_from: Path | None = None,
) -> LossCurve:
    started, cpu = time.perf_counter(), children_cpu_seconds()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    ordered, max_steps = arrange_epochs(rows, settings)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.train.", dir=out_dir.parent) as work_name:
        work = Path(work_name)
        train_file = work / "train.jsonl"
        write_jsonl(train_file, ordered)
        module, extra = _partial_runner(module, base_model, settings, extra)
        command = [
            *_launcher(module, settings),
            "--model_name_or_path",
            str(base_model),
            "--train_data",
            str(train_file),
            *_common_arguments(settings, max_steps, work),
            *extra,
        ]
        # PYTHONPATH: the wrapper module is this checkout's, whichever ragtune is installed.
        library = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (library, os.environ.get("PYTHONPATH", "")) if p)
        _run(
            command,
            {"TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": str(settings.seed), "PYTHONPATH": python_path},
        )
        if not settings.writes_model:  # this node lent its processes; node 0 holds the model and the curve
            curve = LossCurve()
        else:
            curve = loss_curve(work / "run")
            curve.record_run(work / "run", settings)
            _publish(work / "run", out_dir, unchanged_from)
    curve.seconds, curve.cpu_seconds = time.perf_counter() - started, children_cpu_seconds() - cpu
    return curve


def finetune_embedder(base_model: str | Path, train_file: Path, out_dir: Path, settings: RunnerSettings) -> LossCurve:
    """Fine-tune the base embedder with its family's FlagEmbedding runner (spec in the base directory; none: M3)."""
    return finetune_embedder_rows(base_model, read_training_file(Path(train_file)), out_dir, settings)


def finetune_embedder_rows(
    base_model: str | Path, rows: list[dict], out_dir: Path, settings: RunnerSettings
) -> LossCurve:
    local = Path(base_model) if Path(base_model).is_dir() else None
    if local is not None and read_spec(local).family == "e5":
        return finetune_e5_rows(base_model, rows, out_dir, settings)
    return finetune_m3_rows(base_model, rows, out_dir, settings)


def finetune_e5_rows(base_model: str | Path, rows: list[dict], out_dir: Path, settings: RunnerSettings) -> LossCurve:
    """Fine-tune an E5-layout model (a local directory with its spec) with FlagEmbedding's encoder-only runner:
    the spec's pooling and prefixes, normalised embeddings, InfoNCE at `settings.temperature` (E5 used 0.01),
    KL distillation toward `pos_scores`/`neg_scores` with `knowledge_distillation`. The spec, unchanged,
    is copied into `out_dir`."""
    local = Path(base_model)
    spec = read_spec(local)
    extra = [
        "--temperature",
        str(settings.temperature),
        "--negatives_cross_device",
        str(settings.negatives_cross_device),
        "--normalize_embeddings",
        "True",
        "--sentence_pooling_method",
        spec.pooling,
        "--query_instruction_for_retrieval",
        spec.query_prefix,
        "--query_instruction_format",
        "{}{}",
        "--passage_instruction_for_retrieval",
        spec.passage_prefix,
        "--passage_instruction_format",
        "{}{}",
        "--kd_loss_type",
        "kl_div",
    ]
    return _train(ENCODER_ONLY_MODULE, base_model, rows, out_dir, settings, extra, unchanged_from=local)


def finetune_m3(base_model: str | Path, train_file: Path, out_dir: Path, settings: RunnerSettings) -> LossCurve:
    """Fine-tune a BGE-M3-layout model with FlagEmbedding's M3 runner; return the loss curve.

    `out_dir` receives the HF model and tokenizer files plus colbert_linear.pt and sparse_linear.pt.
    """
    return finetune_m3_rows(base_model, read_training_file(Path(train_file)), out_dir, settings)


def finetune_m3_rows(base_model: str | Path, rows: list[dict], out_dir: Path, settings: RunnerSettings) -> LossCurve:
    """`finetune_m3` on rows already in memory (FlagEmbedding's `{query, pos, neg}` dicts)."""
    extra = [
        "--temperature",
        str(settings.temperature),
        "--unified_finetuning",
        str(settings.unified_finetuning),
        "--use_self_distill",
        str(settings.use_self_distill),
        "--self_distill_start_step",
        str(settings.self_distill_start_step),
        "--negatives_cross_device",
        str(settings.negatives_cross_device),
        "--normalize_embeddings",
        "True",
        "--sentence_pooling_method",
        "cls",
        "--kd_loss_type",
        "m3_kd_loss",
    ]
    # Dense-only training saves no colbert/sparse heads; they are the base's, unchanged, so the
    # output keeps BGE-M3's layout (else FlagEmbedding would initialise them at random on loading).
    # Unified training writes the heads itself; from the base then comes only its spec.
    local_base = Path(base_model) if Path(base_model).is_dir() else None
    return _train(M3_MODULE, base_model, rows, out_dir, settings, extra, unchanged_from=local_base)


def finetune_reranker(base_model: str | Path, train_file: Path, out_dir: Path, settings: RunnerSettings) -> LossCurve:
    """Fine-tune a cross-encoder (bge-reranker-v2-m3 layout) with FlagEmbedding's encoder-only runner.

    Uses the same training file and settings (temperature, unified/self-distill fields do not apply).
    FlagEmbedding 1.4's encoder-only reranker runner has no LoRA option (LoRA exists only for its
    decoder-only rerankers): `settings.lora` goes through ragtune.training.partial_finetune's wrapper.
    """
    rows = read_training_file(Path(train_file))
    extra = ["--max_len", str(settings.query_max_len + settings.passage_max_len)]
    return _train(RERANKER_MODULE, base_model, rows, out_dir, settings, extra)
