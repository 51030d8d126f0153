"""The settings of one fine-tuning run, apart from the code that runs it (ragtune.training.runner), as FlagEmbedding
keeps its arguments apart from its runners."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ragtune.config.launch import launch_problem


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters (peft) instead of training the weights themselves (ragtune.training.lora); rank 0: off."""

    rank: int = 0
    alpha: float = 16.0  # the update is scaled by alpha / rank
    dropout: float = 0.05
    targets: tuple[str, ...] = ("query", "key", "value", "dense")  # last names of the layers' linear modules

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))  # from a list in params.yaml
        if self.rank < 0 or self.alpha <= 0 or not 0 <= self.dropout < 1 or not self.targets:
            raise ValueError("lora: rank >= 0, alpha > 0, 0 <= dropout < 1 and at least one target")

    @property
    def enabled(self) -> bool:
        return self.rank > 0

    def record(self) -> dict:
        """What metrics/train.json keeps about the adapters."""
        return {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout, "targets": list(self.targets)}


@dataclass(frozen=True)
class RunnerSettings:
    """Arguments of one FlagEmbedding runner run — the embedder (BGE-M3 or E5) or the cross-encoder; field names
    follow FlagEmbedding's where they exist. Built from the `train` group (or `reranker.train`) by the stage."""

    learning_rate: float = 1e-5
    temperature: float = 0.02
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4  # per device
    gradient_accumulation_steps: int = 1
    train_group_size: int = 8  # 1 positive + (n - 1) negatives per query
    query_max_len: int = 64
    passage_max_len: int = 512
    unified_finetuning: bool = True  # dense + sparse + ColBERT heads
    use_self_distill: bool = True
    self_distill_start_step: int = 0
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    num_gpus: int = 1  # > 1: torchrun --nproc_per_node num_gpus
    negatives_cross_device: bool = False
    knowledge_distillation: bool = False  # needs pos_scores / neg_scores in the training file
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    freeze_word_embeddings: bool = False  # keep the vocabulary matrix fixed (ragtune.training.partial_finetune)
    train_top_layers: int = 0  # > 0: train only the top N layers, embeddings frozen (with LoRA: adapters there only)
    lora: LoraSettings = LoraSettings()
    # Across machines (torchrun's own arguments): nnodes × num_gpus is the world size, which sets the global batch
    # like num_gpus does; node_rank, master_addr and master_port say only where this node's processes join.
    nnodes: int = 1
    node_rank: int = 0  # 0 writes the model; the other nodes only lend their processes
    master_addr: str | None = None  # node 0's address, reachable from every node (required when nnodes > 1)
    master_port: int = 29500

    def __post_init__(self):
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        if self.batch_size < 1 or self.train_group_size < 1 or self.num_gpus < 1 or self.nnodes < 1:
            raise ValueError("batch_size, train_group_size, num_gpus and nnodes must be positive")
        problem = launch_problem(self.nnodes, self.node_rank, self.master_addr, self.master_port)
        if problem is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")

    @property
    def world_size(self) -> int:
        """Training processes in all: one per GPU (or one on CPU) on each node."""
        return self.nnodes * self.num_gpus

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def writes_model(self) -> bool:
        """Only node 0 holds the trained model (the trainer saves on the world's first process)."""
        return self.node_rank == 0


def settings_from_mapping(values: dict) -> RunnerSettings:
    """Settings from a plain mapping (e.g. a resolved config group), rejecting unknown keys."""
    known = {field.name for field in dataclasses.fields(RunnerSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(unknown)}")
    if isinstance(values.get("lora"), dict):
        values = {**values, "lora": LoraSettings(**values["lora"])}
    return RunnerSettings(**values)
