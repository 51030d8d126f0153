"""The targeted second training round (`train.targeted_round`): the synthetic training questions (never the
validation set) the fine-tuned embedder still misses, given hard negatives from its own ranking, trained on again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from ragtune.models import encoders
from ragtune.training import negatives
from ragtune.training import runner as training

KEYS = ("targeted_round", "targeted_top_k", "targeted_pool", "targeted_max_steps")  # of the train group


def targeted_round(
    embedder_dir: Path,
    training_rows: Sequence[Mapping],
    texts: Mapping[str, str],
    rule: negatives.NegativeFilter,
    settings: training.RunnerSettings,
    top_k: int,
    pool: int,
    max_steps: int,
    seed: int,
    engine=None,
) -> tuple[dict, training.LossCurve | None]:
    """Fine-tune `embedder_dir` in place on the questions of `training_rows` (the negatives stage's file) whose
    document it ranks below `top_k`, with negatives mined from its top `pool` by `rule`, for `max_steps`; skipped
    when fewer than a batch are missed. Returns the round's summary and its loss curve (None when skipped)."""
    pairs = [{"query": row["query"], "docid": row["pos_id"]} for row in training_rows]
    load = encoders.load_encoder if engine is None else engine.load_encoder  # ragtune.compute: where it encodes
    encoder = load(embedder_dir, query_max_length=settings.query_max_len, passage_max_length=settings.passage_max_len)
    docids = list(texts)
    rows = negatives.targeted_rows(encoder, pairs, texts, docids, rule, pool, top_k, negatives.MiningStats(), seed)
    if len(rows) < settings.batch_size:
        return {"missed": len(rows), "steps": 0}, None
    round_settings = dataclasses.replace(
        settings, max_steps=max_steps, knowledge_distillation=False
    )  # new negatives have no teacher scores
    curve = training.finetune_embedder_rows(embedder_dir, rows, embedder_dir, round_settings)
    return {"missed": len(rows), "steps": curve.steps, "final_loss": curve.final_loss}, curve
