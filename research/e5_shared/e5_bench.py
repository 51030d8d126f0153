"""What the e5-small fine-tuning benchmarks share (train_e5, query_tower, passage_side, kept_workspace).

The model group's lengths (read from conf/model/e5-small.yaml, so a benchmark encodes as the pipeline does), a
timestamped log line, and dense map@3 / mrr@10 of query vectors against document vectors.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ragtune.evaluation.metrics import evaluate  # noqa: E402

_MODEL_GROUP = yaml.safe_load((ROOT / "conf" / "model" / "e5-small.yaml").read_text())["model"]
QUERY_LEN, PASSAGE_LEN = _MODEL_GROUP["query_max_len"], _MODEL_GROUP["passage_max_len"]


def mean_pooled(hidden, attention_mask):
    """E5's sentence embedding of a batch: the mean of the non-pad token states, L2-normalised (torch tensors).
    (Was ragtune.models.e5.mean_pooled; the library never used it, so it left with these studies.)"""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def dense_metrics(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    qids: list[str],
    docids: list[str],
    qrels: dict[str, list[str]],
    depth: int = 10,
) -> dict[str, float]:
    """map@3 and mrr@10 of exact inner-product search (ties by document order)."""
    scores = query_vectors @ doc_vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    run = {qid: {docids[j]: float(scores[i, j]) for j in top[i]} for i, qid in enumerate(qids)}
    return evaluate(run, qrels, ("map@3", "mrr@10"))
