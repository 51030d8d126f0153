"""Offline questions in the corpus's language: Korean, English, per document for a mixed corpus, and
keyword-only questions for Chinese and Japanese.

`offline_pairs(..., language=...)` (ragtune.synthetic.offline) sends every language but `ko` here; `ko`
never comes here, so a Korean corpus's questions are exactly what they were before languages existed.

- `en`: `ragtune.synthetic.english` on every document (raw text + IDF of the analyzer's words).
- `mixed`: each document by the language of its own letters (`detect_language`; a document with no
  dominant language goes by its largest script): Korean documents get the Korean varied (or legacy
  inverse-cloze) generator on the analyzer's morphemes (`MixedAnalyzer`: Kiwi on Hangul, English words
  tagged SL), English documents the English generator, Chinese/Japanese ones keyword questions.
- `zh`, `ja`: keyword-only questions of one to three character bigrams of Han/Kana text, ranked by
  TF·IDF: a fallback (no templates, no word segmentation), so they teach the retriever which terms belong
  to a document, not how people phrase questions in those languages.
A document without letters (`und`) gets no questions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from ragtune.seeding import keyed_rng
from ragtune.synthetic import english
from ragtune.synthetic.offline import (
    _weighted_pick,
    inverse_document_frequency,
    key_phrases,
    longest_copied_span,
    offline_questions,
    varied_questions,
)
from ragtune.text.language import HAN, HANGUL, KANA, LATIN, detect_language, letter_counts, script_runs

LANGUAGES = ("ko", "en", "mixed", "zh", "ja")
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def document_language(text: str) -> str:
    """ko, en, zh, ja for one document (its dominant language, else its largest script), or und."""
    language = detect_language(text)
    if language != "mixed":
        return language
    counts = letter_counts(text)
    by_language = {
        "ko": counts[HANGUL],
        "en": counts[LATIN],
        "ja" if counts[KANA] else "zh": counts[HAN] + counts[KANA],
    }
    return max(by_language.items(), key=lambda item: item[1])[0]


def cjk_bigrams(text: str) -> list[str]:
    """Character bigrams of the Han and Kana runs of `text` (never across punctuation or spaces)."""
    grams = []
    for run in script_runs(text):
        if run.script in (HAN, KANA):
            for piece in _NOT_LETTERS.split(run.text):
                grams += [piece[i : i + 2] for i in range(len(piece) - 1)]
    return grams


def bigram_questions(
    docid: str, text: str, idf: dict[str, float], n: int, seed: int, max_copied_chars: int = 16
) -> list[str]:
    """n distinct keyword queries of one to three of the document's bigrams, drawn by TF·IDF (the zh/ja
    fallback); none longer than `max_copied_chars` copied characters."""
    rng = keyed_rng(docid, seed)
    counts = Counter(cjk_bigrams(text))
    pool = sorted(counts, key=lambda g: (-counts[g] * idf.get(g, 0.0), g))[:12]
    weights = [counts[g] * max(idf.get(g, 0.0), 0.1) for g in pool]
    made: list[str] = []
    for _ in range(n * 6):
        if len(made) == n or not pool:
            break
        picked = _weighted_pick(rng, pool, weights, rng.choice((1, 2, 2, 3)))
        rng.shuffle(picked)
        question = " ".join(picked)
        if question not in made and longest_copied_span(question, text) <= max_copied_chars:
            made.append(question)
    return made


def bigram_idf(texts: Sequence[str]) -> dict[str, float]:
    df = Counter()
    for text in texts:
        df.update(set(cjk_bigrams(text)))
    return {gram: math.log((len(texts) + 1) / (count + 0.5)) for gram, count in df.items()}


def language_pairs(
    documents: Sequence[dict],
    morphemes: Sequence[Sequence[tuple[str, str]]],
    analyzer,
    generator: str,
    per_document: int,
    seed: int,
    max_copied_chars: int = 16,
    language: str = "en",
) -> list[dict]:
    """`{query, docid, source: "offline"}` pairs in corpus order for a corpus in `language` (en, mixed, zh,
    ja; see the module docstring). `generator` is `varied`, or `inverse_cloze` for Korean documents only."""
    if language not in LANGUAGES or language == "ko":
        raise ValueError(f"language must be one of {', '.join(LANGUAGES[1:])} here, got {language!r}")
    if generator not in ("varied", "inverse_cloze"):
        raise ValueError(f"queries.generator must be 'varied' or 'inverse_cloze', got {generator!r}")
    texts = [d["content"] for d in documents]
    if language == "mixed":
        languages = [document_language(t) for t in texts]
    else:
        languages = [language] * len(documents)
    korean_idf = inverse_document_frequency(morphemes) if "ko" in languages else {}
    english_idf = english.english_idf(morphemes) if "en" in languages else {}
    pairs_df = english.phrase_pairs(t for t, lang in zip(texts, languages) if lang == "en")
    cjk_idf = bigram_idf([t for t, lang in zip(texts, languages) if lang in ("zh", "ja")])
    pairs = []
    for document, morphs, lang in zip(documents, morphemes, languages):
        docid, text = document["docid"], document["content"]
        if generator == "inverse_cloze" and lang != "ko":
            raise ValueError(f"queries.generator 'inverse_cloze' is Korean only; {docid!r} is {lang}: use 'varied'")
        if lang == "ko":
            phrases = key_phrases(morphs, korean_idf)
            sentences = analyzer.sentences(text)
            if generator == "varied":
                made = varied_questions(
                    docid, text, analyzer.morphemes(sentences), phrases, korean_idf, per_document, seed,
                    max_copied_chars,
                )  # fmt: skip
            else:
                made = offline_questions(docid, sentences, phrases, per_document, seed)
        elif lang == "en":
            phrases = english.english_key_phrases(text, english_idf, pairs_df)
            made = english.english_questions(docid, text, phrases, english_idf, per_document, seed, max_copied_chars)
        elif lang in ("zh", "ja"):
            made = bigram_questions(docid, text, cjk_idf, per_document, seed, max_copied_chars)
        else:
            made = []  # no letters: nothing to ask about
        pairs.extend({"query": question, "docid": docid, "source": "offline"} for question in made)
    return pairs
