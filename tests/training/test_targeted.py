"""The targeted round: only the questions the fine-tuned embedder misses are trained on again."""

from __future__ import annotations

import pytest
from tiny_support import SENTENCES, build_embedder, digests

from ragtune.training.negatives import NegativeFilter
from ragtune.training.settings import RunnerSettings
from ragtune.training.targeted import targeted_round

TEXTS = {f"d{n:02d}": sentence for n, sentence in enumerate(SENTENCES)}
ROWS = [{"query": " ".join(text.split()[:3]), "pos_id": docid} for docid, text in TEXTS.items()]
SETTINGS = RunnerSettings(
    learning_rate=1e-3,
    temperature=0.05,
    batch_size=4,
    train_group_size=2,
    query_max_len=16,
    passage_max_len=48,
    seed=0,
    precision="fp32",
    knowledge_distillation=True,
)


def test_nothing_missed_means_no_round(tmp_path):
    embedder = build_embedder(tmp_path / "embedder")
    before = digests(embedder)
    summary, curve = targeted_round(
        embedder,
        ROWS,
        TEXTS,
        NegativeFilter(k=2, skip_top=0),
        SETTINGS,
        top_k=len(TEXTS),
        pool=len(TEXTS),
        max_steps=2,
        seed=0,
    )
    assert summary == {"missed": 0, "steps": 0} and curve is None
    assert digests(embedder) == before


@pytest.mark.slow  # one runner process
def test_missed_questions_train_the_embedder_in_place(tmp_path):
    embedder = build_embedder(tmp_path / "embedder")
    before = digests(embedder)
    summary, curve = targeted_round(
        embedder, ROWS, TEXTS, NegativeFilter(k=1, skip_top=0), SETTINGS, top_k=1, pool=5, max_steps=2, seed=0
    )  # distillation off: no teacher scores
    assert summary["missed"] >= SETTINGS.batch_size and summary["steps"] == curve.steps == 2
    assert summary["final_loss"] == curve[-1]["loss"]
    assert digests(embedder)["model.safetensors"] != before["model.safetensors"]
