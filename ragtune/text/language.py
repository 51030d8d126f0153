"""Which language a text is in, by the scripts its letters are written in, and mixed text cut into runs.

Scripts are told apart by code point ranges (no model, no dictionary): Hangul → Korean, Kana (with or
without Han) → Japanese, Han alone → Chinese, Latin → English (the one Latin-script language ragtune
analyses). Letters are counted one per character; a text is in a language when that language holds at
least `DOMINANT_SHARE` of its letters, else it is `mixed`; a text without letters is `und`
(undetermined). Digits, spaces, punctuation and symbols belong to no script.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

HANGUL, LATIN, HAN, KANA, OTHER = "hangul", "latin", "han", "kana", "other"
SCRIPTS = (HANGUL, LATIN, HAN, KANA, OTHER)
LANGUAGES = ("ko", "en", "zh", "ja", "mixed", "und")
DOMINANT_SHARE = 0.8
# Kana marks Japanese even where kanji outnumber it; a few kana in Chinese text (quoted names) do not.
KANA_FOR_JAPANESE = 0.05

_RANGES = {
    HANGUL: "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff\uffa0-\uffdc",
    KANA: "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u32d0-\u32fe\uff66-\uff9f",
    HAN: "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f",
    LATIN: "A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
    "\u2c60-\u2c7f\ua720-\ua7ff\uff21-\uff3a\uff41-\uff5a",
}
_KNOWN = "".join(_RANGES.values())
# Runs of letters of one script; "other" is any remaining letter ([^\W\d_] is a letter in Python's re).
_RUN = re.compile(
    "|".join(f"(?P<{script}>[{chars}]+)" for script, chars in _RANGES.items())
    + f"|(?P<{OTHER}>(?:(?![{_KNOWN}])[^\\W\\d_])+)"
)


@dataclass(frozen=True)
class ScriptRun:
    script: str
    start: int
    end: int
    text: str


def letter_counts(text: str) -> Counter:
    """Letters per script."""
    counts: Counter = Counter()
    for match in _RUN.finditer(text):
        counts[match.lastgroup] += match.end() - match.start()
    return counts


def language_of_counts(counts: Counter, dominant: float = DOMINANT_SHARE) -> str:
    """The language letters per script point to: ko, en, zh, ja, mixed or und."""
    total = sum(counts.values())
    if not total:
        return "und"
    cjk = counts[HAN] + counts[KANA]
    japanese = counts[KANA] > 0 and counts[KANA] >= KANA_FOR_JAPANESE * cjk
    by_language = {
        "ko": counts[HANGUL] + (counts[HAN] if counts[HANGUL] and not japanese else 0),
        "en": counts[LATIN],
        "ja": cjk if japanese else 0,
        "zh": counts[HAN] if not japanese and not counts[HANGUL] else 0,
    }
    language, letters = max(by_language.items(), key=lambda item: item[1])
    return language if letters >= dominant * total else "mixed"


def detect_language(text: str, dominant: float = DOMINANT_SHARE) -> str:
    """ko, en, zh, ja, mixed, or und for a text without letters."""
    return language_of_counts(letter_counts(text), dominant)


@dataclass(frozen=True)
class LanguageProfile:
    language: str  # what the corpus is in as a whole (letters of all texts pooled)
    shares: dict[str, float]  # script -> share of all letters
    texts: dict[str, int]  # per-text language -> number of texts

    def summary(self) -> str:
        scripts = ", ".join(f"{s} {share:.0%}" for s, share in sorted(self.shares.items(), key=lambda i: -i[1]))
        counts = ", ".join(f"{lang} {n}" for lang, n in sorted(self.texts.items(), key=lambda i: -i[1]))
        return f"{self.language} (letters: {scripts or 'none'}; texts: {counts or 'none'})"


def corpus_language(texts: Iterable[str], dominant: float = DOMINANT_SHARE) -> LanguageProfile:
    """The language of a corpus: its letters pooled (long documents weigh more than short ones), plus the
    shares per script and the per-text languages, for a log line that shows why."""
    pooled: Counter = Counter()
    per_text: Counter = Counter()
    for text in texts:
        counts = letter_counts(text)
        pooled.update(counts)
        per_text[language_of_counts(counts, dominant)] += 1
    total = sum(pooled.values())
    shares = {script: pooled[script] / total for script in SCRIPTS if pooled[script]} if total else {}
    return LanguageProfile(language_of_counts(pooled, dominant), shares, dict(per_text))


def script_runs(text: str) -> list[ScriptRun]:
    """`text` cut into maximal runs of one script that together cover it exactly.

    Characters of no script (spaces, digits, punctuation) join the run before them, or the first run when
    they come before any letter, so "전원 220V를" is [hangul "전원 220", latin "V", hangul "를"]. A text
    without letters is one `other` run (an empty text: no run)."""
    letters = [(m.lastgroup, m.start(), m.end()) for m in _RUN.finditer(text)]
    if not letters:
        return [ScriptRun(OTHER, 0, len(text), text)] if text else []
    merged: list[list] = []
    for script, start, end in letters:
        if merged and merged[-1][0] == script:
            merged[-1][2] = end
        else:
            merged.append([script, start, end])
    merged[0][1] = 0
    for before, after in zip(merged, merged[1:]):
        before[2] = after[1]
    merged[-1][2] = len(text)
    return [ScriptRun(script, start, end, text[start:end]) for script, start, end in merged]


# Where the character-bigram BM25 view (index.char_ngram) is built and fused: where it measured better. Korean:
# +1 point MRR@10 on the competition's dev questions (benchmarks/sparse_analysis.py); English: the sample_en help
# centre's bm25_char map@3 0.49 against bm25's 0.67, and their fusion below bm25 alone (benchmarks/any_collection.py).
CHAR_NGRAM_LANGUAGES = ("ko", "mixed", "zh", "ja")


def uses_char_ngrams(language: str) -> bool:
    return language in CHAR_NGRAM_LANGUAGES
