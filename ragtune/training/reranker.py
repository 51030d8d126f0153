"""The cross-encoder pair retrieval rescores with: `reranker_base` (where fine-tuning starts) and `reranker` (fine-tuned
on the mined training file when `reranker.finetune`, else the base unchanged)."""

from __future__ import annotations

from pathlib import Path

from ragtune.models.hub import resolve_model
from ragtune.models.sources import base_reranker, copy_model
from ragtune.training.runner import LossCurve, finetune_reranker
from ragtune.training.settings import settings_from_mapping


def reranker_pair(
    settings,
    train_file: Path,
    base_dir: Path,
    embedder_dir: Path,
    out_base: Path,
    out_tuned: Path,
    seed: int,
    lengths: dict[str, int],
) -> LossCurve | None:
    """Make `out_base` and `out_tuned` from the reranker group (ragtune.config.schema.Reranker); the tuned model's
    loss curve (with its LoRA record where `reranker.train.lora` trained), or None when it is the base. Built after
    the embedder is trained: the tiny cross-encoder can start from its encoder (`init_from_embedder`) and reuses the
    tiny base model's tokenizer."""
    local_base = base_dir if (base_dir / "tokenizer.json").is_file() else None
    architecture = settings.architecture.model_dump(exclude_unset=True) if settings.architecture else None
    made = base_reranker(
        settings.name,
        settings.path,
        architecture,
        local_base,
        out_base,
        seed,
        encoder_dir=embedder_dir if settings.init_from_embedder else None,
        revision=settings.revision,
    )
    if not (settings.finetune and made is not None):
        copy_model(str(out_base), out_tuned)
        return None
    runner_settings = settings_from_mapping({**settings.train.model_dump(), "seed": seed, **lengths})
    start = resolve_model(out_base, "reranker.path")  # a pinned hub id: its snapshot
    curve = finetune_reranker(start, train_file, out_tuned, runner_settings)
    print(f"train: reranker {curve.describe()}")
    return curve
