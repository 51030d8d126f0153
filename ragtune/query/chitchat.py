"""Chit-chat recognised offline: a small classifier (character n-grams, logistic regression) calibrated on
shipped examples and on questions that need documents — never on eval questions.

Its threshold and calibration are chosen by benchmarks/chitchat.py (precision / recall on the committed
conversational set, cross-validated on halves; false-positive rate on dev questions and on the samples).

Calibration is per language (`calibrated_detector(..., language=)`): `ko` (chitchat_ko.txt, questions_ko.txt:
the detector the Korean competition runs, unchanged), `en` (chitchat_en.txt, questions_en.txt), `mixed`
(both). No calibration ships for `zh` or `ja`: `calibrated_detector` raises `UncalibratedLanguage` there and
the caller turns chit-chat detection off (every question is retrieved for). A user adds examples of their own
(`user_calibration(folder)`: chitchat.txt, questions.txt) to the shipped ones: docs/validation.md.

Either mistake costs a whole question (MAP@3: documents for chit-chat score 0, so does a real question answered
with nothing), and the threshold sits in a narrow window (issue #23). `judge` is therefore conservative where
the classifier is unsure: a probability in [threshold, threshold + margin) flags chit-chat only when the text
has no content term — an analysed term that the corpus vocabulary knows and that no chit-chat example of the
calibration uses (a question about the collection names something in it; "thanks", "you", "오늘" do not count).
At threshold + margin and above, the classifier decides alone. Borderline probabilities move by 0.07-0.10 (one
standard deviation) over bootstrap resamples of the calibration (benchmarks/chitchat.py --bootstrap): the 0.55
threshold's window (0.554-0.561) lies well inside that noise. Margins per language (`MARGINS`) are the ones
benchmarks/chitchat.py --language measured best on the sources it has (in-sample: few rows, see
docs/validation.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RESOURCES = Path(__file__).parents[1] / "resources"
CALIBRATED_LANGUAGES = ("ko", "en", "mixed")
UNCALIBRATED_LANGUAGES = ("zh", "ja")
# The unsure band above the threshold, per calibration (benchmarks/chitchat.py --language): ko 0.03 (conversational
# precision 0.933 → 1.0, recall 1.0 → 0.964; wider margins lose more chit-chat that names everyday things), en 0.2
# (sample_en: "E4" at 0.72 is the one real question the English calibration flags).
MARGINS = {"ko": 0.03, "en": 0.2, "mixed": 0.2}
MARGIN = MARGINS["ko"]
# A user's example counts this many times: a handful of lines must move the decision among hundreds shipped.
USER_WEIGHT = 3.0
USER_FILES = ("chitchat.txt", "questions.txt")

Analyze = Callable[[Sequence[str]], list[list[str]]]  # texts → analysed terms per text (an analyzer's `batch`)


class UncalibratedLanguage(ValueError):
    """No chit-chat calibration ships for this language: turn chit-chat detection off (retrieve for all)."""


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class ChitchatDetector:
    """P(chit-chat | text) from character n-grams; `threshold` turns it into a decision (`is_chitchat`), and
    `judge` adds the margin and the corpus vocabulary."""

    threshold: float = 0.55  # benchmarks/chitchat.py, shipped calibration: precision 0.933, recall 1.0
    seed: int = 0
    margin: float = MARGIN
    language: str = "ko"  # the analyzer `judge` uses by default (ragtune.text.english.analyzer_for_language)
    _analyze: Analyze | None = field(default=None, init=False, repr=False, compare=False)
    _chat_terms: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def fit(
        self, chitchat: Sequence[str], questions: Sequence[str], weights: Sequence[float] | None = None
    ) -> ChitchatDetector:
        """`weights`: one per example (chit-chat first, then questions); None: every example counts once."""
        # scikit-learn loads here (two seconds): a retrieve that answers from remembered plans fits no detector
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self._chitchat_examples = list(chitchat)
        texts = list(chitchat) + list(questions)
        labels = np.array([1] * len(chitchat) + [0] * len(questions))
        # Balanced classes: a few hundred chit-chat lines against thousands of questions.
        self._model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
            LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=self.seed),
        )
        if weights is None:
            self._model.fit(texts, labels)
        else:
            self._model.fit(texts, labels, logisticregression__sample_weight=np.asarray(weights, dtype=float))
        return self

    def probability(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.predict_proba(list(texts))[:, 1] if texts else np.zeros(0)

    def rule(self) -> dict:
        """What turns a probability into a decision (the retrieve stage records it beside its plans, for evaluate's
        picture of the scores): threshold, margin (the unsure band `judge` uses) and the calibration's language."""
        return {"threshold": self.threshold, "margin": self.margin, "language": self.language}

    def is_chitchat(self, texts: Sequence[str]) -> list[bool]:
        """The classifier alone: probability ≥ threshold (what the planner has always used)."""
        return [bool(p >= self.threshold) for p in self.probability(texts)]

    def analyzer(self) -> Analyze:
        """The language's lexical analyzer (Kiwi for ko, English stems for en, both for mixed), loaded once."""
        if self._analyze is None:
            from ragtune.text.english import analyzer_for_language

            self._analyze = analyzer_for_language(self.language).batch
        return self._analyze

    def judge(
        self, texts: Sequence[str], vocabulary: Collection[str] | None = None, analyze: Analyze | None = None
    ) -> list[bool]:
        """Chit-chat decisions: p ≥ threshold + margin, or p ≥ threshold and no analysed term of the text in
        `vocabulary` (the corpus's terms, from the analyzer `analyze`, default `self.analyzer()`). Without a
        vocabulary: `is_chitchat` (the threshold alone)."""
        texts = list(texts)
        return self.judge_probabilities(texts, self.probability(texts), vocabulary, analyze)

    def judge_probabilities(
        self,
        texts: Sequence[str],
        probability: Sequence[float],
        vocabulary: Collection[str] | None = None,
        analyze: Analyze | None = None,
    ) -> list[bool]:
        """`judge` on probabilities already computed for `texts`."""
        if vocabulary is None:
            return [bool(p >= self.threshold) for p in probability]
        analyze = analyze or self.analyzer()
        unsure = [i for i, p in enumerate(probability) if self.threshold <= p < self.threshold + self.margin]
        terms = dict(zip(unsure, analyze([texts[i] for i in unsure]))) if unsure else {}
        terms_of = [terms.get(i, []) for i in range(len(texts))]
        return decide(probability, terms_of, vocabulary, self.threshold, self.margin, self.chat_terms(analyze))

    def chat_terms(self, analyze: Analyze) -> frozenset[str]:
        """The analysed terms of the calibration's chit-chat examples: words chit-chat uses, never content."""
        if id(analyze) not in self._chat_terms:
            terms = frozenset(t for ts in analyze(self._chitchat_examples) for t in ts)
            self._chat_terms[id(analyze)] = (analyze, terms)  # the function kept: its id stays its own
        return self._chat_terms[id(analyze)][1]


def decide(
    probability: Sequence[float],
    terms: Sequence[Sequence[str]],
    vocabulary: Collection[str] | None,
    threshold: float,
    margin: float = MARGIN,
    chat_terms: Collection[str] = frozenset(),
) -> list[bool]:
    """`ChitchatDetector.judge` on probabilities already computed (e.g. `QueryPlan.chitchat_probability`) and
    each text's analysed terms (needed for those in [threshold, threshold + margin) only); vocabulary None:
    the threshold alone."""
    if vocabulary is None:
        return [bool(p >= threshold) for p in probability]

    def names_corpus(text_terms: Sequence[str]) -> bool:
        return any(term in vocabulary and term not in chat_terms for term in text_terms)

    return [
        bool(p >= threshold + margin or (p >= threshold and not names_corpus(text_terms)))
        for p, text_terms in zip(probability, terms)
    ]


def corpus_vocabulary(texts: Iterable[str], analyze: Analyze, batch: int = 256) -> set[str]:
    """Every analysed term of the corpus (`analyze` must be the one `judge` is given)."""
    vocabulary: set[str] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            vocabulary.update(term for terms in analyze(chunk) for term in terms)
            chunk = []
    if chunk:
        vocabulary.update(term for terms in analyze(chunk) for term in terms)
    return vocabulary


def shipped_calibration(language: str = "ko") -> tuple[list[str], list[str]]:
    """(chit-chat messages, knowledge questions) written for the project, for `language` (ko, en or mixed)."""
    if language in UNCALIBRATED_LANGUAGES:
        raise UncalibratedLanguage(
            f"no chit-chat calibration ships for {language!r} (only {', '.join(CALIBRATED_LANGUAGES)}): turn "
            "chit-chat detection off for this collection, or calibrate on your own examples (docs/validation.md)"
        )
    if language not in CALIBRATED_LANGUAGES:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(CALIBRATED_LANGUAGES)}")
    parts = ("ko", "en") if language == "mixed" else (language,)
    chitchat = [line for part in parts for line in read_lines(RESOURCES / f"chitchat_{part}.txt")]
    questions = [line for part in parts for line in read_lines(RESOURCES / f"questions_{part}.txt")]
    return chitchat, questions


def user_calibration(folder: Path | None) -> tuple[list[str], list[str]]:
    """A user's own examples: `folder`/chitchat.txt and `folder`/questions.txt, each read when present (one
    example a line); ([], []) without a folder."""
    if folder is None:
        return [], []
    chitchat, questions = (Path(folder) / name for name in USER_FILES)
    return (read_lines(chitchat) if chitchat.is_file() else []), (read_lines(questions) if questions.is_file() else [])


def calibrated_detector(
    threshold: float,
    seed: int,
    synthetic: Sequence[str] = (),
    stride: int = 0,
    language: str = "ko",
    extra_chitchat: Sequence[str] = (),
    extra_questions: Sequence[str] = (),
    margin: float | None = None,
) -> ChitchatDetector:
    """The shipped calibration of `language`, plus every `stride`-th synthetic question as a knowledge example (0:
    none; the offline generator's formal questions cost precision on conversational ones: benchmarks/chitchat.py),
    plus a user's examples (`user_calibration`), each weighing `USER_WEIGHT`. Raises `UncalibratedLanguage` for
    zh / ja: the caller turns chit-chat off. language ko without extras: the detector the Korean runs have used.
    margin None: `MARGINS[language]` (used by `judge` only)."""
    chitchat, knowledge = shipped_calibration(language)
    knowledge = knowledge + list(synthetic[::stride] if stride else [])
    margin = MARGINS[language] if margin is None else margin
    detector = ChitchatDetector(threshold=threshold, seed=seed, margin=margin, language=language)
    if not extra_chitchat and not extra_questions:
        return detector.fit(chitchat, knowledge)
    weights = [1.0] * len(chitchat) + [USER_WEIGHT] * len(extra_chitchat)
    weights += [1.0] * len(knowledge) + [USER_WEIGHT] * len(extra_questions)
    return detector.fit(chitchat + list(extra_chitchat), knowledge + list(extra_questions), weights)


def detector_for(
    setting: str,
    language: str,
    threshold: float,
    seed: int,
    synthetic: Sequence[str] = (),
    stride: int = 0,
    user_folder: Path | None = None,
) -> ChitchatDetector | None:
    """`retrieval.chitchat`: off → None (every question is searched); on → the language's detector (an error where
    none ships); auto → the detector where a calibration ships for the corpus language, else None (said in the log).
    A user's own examples in `user_folder` (chitchat.txt, questions.txt) are added to the calibration."""
    if setting == "off":
        return None
    if language not in CALIBRATED_LANGUAGES:
        if setting == "on":
            from ragtune.config.schema import ParamsError

            raise ParamsError(
                "params.yaml", "retrieval.chitchat", f"= 'on' needs a calibration for {language!r}; ships for "
                f"{', '.join(CALIBRATED_LANGUAGES)} (add data/chitchat/*.txt examples, or set auto / off)",
            )  # fmt: skip
        logging.getLogger("ragtune").info("chit-chat detection off: no calibration for language %s", language)
        return None
    extra_chitchat, extra_questions = user_calibration(user_folder)
    return calibrated_detector(threshold, seed, synthetic, stride, language, extra_chitchat, extra_questions)


def vocabulary_from_morphemes(morphemes: Iterable[Sequence], language: str) -> set[str]:
    """The corpus's terms from prepare's analysis (data/prepared/morphemes.jsonl), as the detector's analyzer
    selects them: what `judge` checks a question near the threshold against, without analysing the corpus again."""
    from ragtune.text.english import analyzer_for_language

    analyzer = analyzer_for_language(language)
    return {term for analysed in morphemes for term in analyzer.select([tuple(m) for m in analysed])}


def workspace_detector(
    settings, seed: int, language: str, workspace
) -> tuple[ChitchatDetector | None, set[str] | None]:
    """The retrieve stage's chit-chat decision for a built workspace (ragtune.config.paths.Workspace): the detector
    `retrieval.chitchat` asks for (`settings`: the retrieval group) and the corpus vocabulary it judges near-threshold
    questions against; (None, None) when chit-chat is off. `ragtune search` calls it too, so both decide alike."""
    from ragtune.io import read_jsonl

    stride, queries = settings.calibration_stride, workspace.train_questions
    synthetic = [row["query"] for row in read_jsonl(queries)] if stride and queries.is_file() else []
    detector = detector_for(
        settings.chitchat, language, settings.chitchat_threshold, seed, synthetic, stride, workspace.chitchat_examples
    )
    if detector is None:
        return None, None
    analysed = (row["morphemes"] for row in read_jsonl(workspace.morphemes))
    return detector, vocabulary_from_morphemes(analysed, language)
