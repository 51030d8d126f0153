"""Chit-chat recognised offline: a small classifier (character n-grams, logistic regression) calibrated on
shipped examples and on questions that need documents — never on eval questions.

Its threshold and calibration are chosen by benchmarks/chitchat.py (precision / recall on the committed
conversational set, cross-validated on halves; false-positive rate on dev questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

RESOURCES = Path(__file__).parents[1] / "resources"


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class ChitchatDetector:
    """P(chit-chat | text) from character n-grams; `threshold` turns it into a decision."""

    threshold: float = 0.55  # benchmarks/chitchat.py, shipped calibration: precision 0.933, recall 1.0
    seed: int = 0

    def fit(self, chitchat: Sequence[str], questions: Sequence[str]) -> ChitchatDetector:
        texts = list(chitchat) + list(questions)
        labels = np.array([1] * len(chitchat) + [0] * len(questions))
        # Balanced classes: a few hundred chit-chat lines against thousands of questions.
        self._model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
            LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=self.seed),
        )
        self._model.fit(texts, labels)
        return self

    def probability(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.predict_proba(list(texts))[:, 1] if texts else np.zeros(0)

    def is_chitchat(self, texts: Sequence[str]) -> list[bool]:
        return [bool(p >= self.threshold) for p in self.probability(texts)]


def shipped_calibration() -> tuple[list[str], list[str]]:
    """(chit-chat messages, knowledge questions) written for the project."""
    return read_lines(RESOURCES / "chitchat_ko.txt"), read_lines(RESOURCES / "questions_ko.txt")


def calibrated_detector(
    threshold: float, seed: int, synthetic: Sequence[str] = (), stride: int = 0
) -> ChitchatDetector:
    """The shipped calibration, plus every `stride`-th synthetic question as a knowledge example (0: none; the
    offline generator's formal questions cost precision on conversational ones: benchmarks/chitchat.py)."""
    chitchat, knowledge = shipped_calibration()
    return ChitchatDetector(threshold=threshold, seed=seed).fit(
        chitchat, knowledge + list(synthetic[::stride] if stride else [])
    )
