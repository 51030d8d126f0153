"""From a conversation to what retrieval needs: one standalone query, or no retrieval at all.

Offline, without an LLM:
- the standalone query of a multi-turn conversation joins the user turns (assistant turns add
  nothing searchable); `standalone_query(msg, is_content)` can drop bare reactions like "응",
  "고마워", but `plan_queries` keeps every user turn (dropping them is not measured yet);
- chit-chat is recognised by a small classifier (character n-grams, logistic regression)
  calibrated on shipped examples and on questions that need documents — never on eval questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

RESOURCES = Path(__file__).parent / "resources"


def user_turns(msg: list[dict]) -> list[str]:
    return [t["content"] for t in msg if t["role"] == "user" and t["content"].strip()]


def standalone_query(msg: list[dict], is_content: Callable[[str], bool] | None = None) -> str:
    """The last user turn, preceded by earlier user turns that carry content (oldest first)."""
    turns = user_turns(msg)
    last, earlier = turns[-1], turns[:-1]
    if is_content is not None:
        earlier = [t for t in earlier if is_content(t)]
    return " ".join(earlier + [last])


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class ChitchatDetector:
    """P(chit-chat | text) from character n-grams; `threshold` turns it into a decision."""

    threshold: float = 0.5
    seed: int = 0

    def fit(self, chitchat: Sequence[str], questions: Sequence[str]) -> "ChitchatDetector":
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


@dataclass
class QueryPlan:
    """What retrieval does for one question: no retrieval (chit-chat) or these query texts."""

    qid: str
    standalone: str
    chitchat: bool
    chitchat_probability: float
    variants: list[str]          # the standalone query first, then multi-query / HyDE texts
    source: str = "offline"      # offline | llm: who wrote the standalone query and the judgement

    def as_dict(self) -> dict:
        return {"qid": self.qid, "standalone": self.standalone, "chitchat": self.chitchat,
                "chitchat_probability": round(self.chitchat_probability, 6), "variants": self.variants,
                "source": self.source}


def plan_queries(conversations: Sequence[tuple[str, list[dict]]], detector: ChitchatDetector, client=None,
                 multi_query: int = 0, hyde: bool = False) -> list[QueryPlan]:
    """Offline plans for every conversation; with an LLM client, its rewrite and judgement replace them
    where it answered, and its query variants are added. A failed LLM answer keeps the offline plan."""
    standalone = [standalone_query(msg) for _, msg in conversations]
    probability = detector.probability(standalone)
    plans = [QueryPlan(qid, text, bool(p >= detector.threshold), float(p), [text])
             for (qid, _), text, p in zip(conversations, standalone, probability)]
    if client is None:
        return plans
    from ragtune.llm import expand_queries, judge_conversations

    for plan, judgement in zip(plans, judge_conversations(client, [msg for _, msg in conversations])):
        if judgement is not None:
            plan.standalone, plan.chitchat, plan.source = judgement.standalone, judgement.chitchat, "llm"
            plan.variants = [judgement.standalone]
    active = [plan for plan in plans if not plan.chitchat]
    if multi_query > 0 or hyde:
        for plan, expansion in zip(active, expand_queries(client, [p.standalone for p in active], multi_query, hyde)):
            if expansion is not None:
                plan.variants += expansion.variants + ([expansion.hyde] if expansion.hyde else [])
    return plans
