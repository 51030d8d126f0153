"""English and mixed-script analyzers, with the interface of `KoreanAnalyzer` (config/from_config,
morphemes → select, tokens, batch, sentences, num_workers) so either can stand behind `analyzer_from_config`.

`EnglishAnalyzer` is bm25s's own tokenizer (lowercase, `\\w\\w+` words) with PyStemmer's Snowball English
stemmer and bm25s's English stopwords: exactly `bm25s.tokenize(texts, stopwords="en", stemmer=...)`, split
into an expensive step (`morphemes`: surface words, kept for question generation) and a cheap one
(`select`: stopwords dropped, words stemmed).

`MixedAnalyzer` cuts a text into runs of one script (`ragtune.text.language.script_runs`) and sends each
where it is understood: Hangul to Kiwi (`KoreanAnalyzer`), Latin (and other alphabets) to the English
analyzer, Han and Kana to character bigrams. English terms inside Korean text are then stemmed words
("breakers" → "breaker") instead of Kiwi's guesses at foreign strings; a text in Hangul only is analysed
exactly as `KoreanAnalyzer` analyses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import bm25s
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from ragtune.text.analysis import CharNgramAnalyzer, KoreanAnalyzer, analyzer_from_config, normalize
from ragtune.text.language import HAN, HANGUL, KANA, script_runs
from ragtune.text.sentences import split_sentences

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's default: words of two characters or more
WORD_TAGS = ("SL", "SN")  # Kiwi's tags for foreign words and numbers, used for English words too
BIGRAM_TAGS = {HAN: "SH", KANA: "SK"}  # SH is Kiwi's tag for Chinese characters; SK: kana (not a Kiwi tag)


def _stopwords(stopwords: str | Iterable[str] | None) -> frozenset[str]:
    if stopwords in ("en", "english"):
        return frozenset(STOPWORDS_EN)
    return frozenset(stopwords or ())


class EnglishAnalyzer:
    """Text → stemmed content words: bm25s's tokenizer, bm25s's English stopwords, PyStemmer's stemmer."""

    def __init__(
        self,
        stemmer: str | None = "english",
        stopwords: str | Iterable[str] | None = "en",
        lowercase: bool = True,
        num_workers: int = 0,
    ):
        self.stemmer_name = stemmer
        self.stopwords = _stopwords(stopwords)
        self.lowercase = lowercase
        self.num_workers = num_workers  # accepted for the shared interface: regex and C stemming need no threads
        self._stemmer = Stemmer.Stemmer(stemmer) if stemmer else None

    def config(self) -> dict:
        return {
            "kind": "english",
            "stemmer": self.stemmer_name,
            "stopwords": sorted(self.stopwords),
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_config(cls, config: dict, num_workers: int = 0) -> EnglishAnalyzer:
        return cls(
            stemmer=config.get("stemmer", "english"),
            stopwords=config.get("stopwords", "en"),
            lowercase=config.get("lowercase", True),
            num_workers=num_workers,
        )

    def morphemes(self, texts: Sequence[str]) -> list[list[tuple[str, str]]]:
        """Surface words (lowercased) tagged SN (digits) or SL (anything else), stopwords still in."""
        if not texts:
            return []
        words = bm25s.tokenize(
            [normalize(t) for t in texts],
            lower=self.lowercase,
            token_pattern=TOKEN_PATTERN,
            stopwords=[],
            return_ids=False,
            show_progress=False,
        )
        return [[(w, "SN" if w.isdigit() else "SL") for w in text_words] for text_words in words]

    def terms(self, words: Sequence[str]) -> list[str]:
        """Stopwords dropped (before stemming, as bm25s does), the rest stemmed."""
        kept = [w for w in words if w not in self.stopwords]
        return self._stemmer.stemWords(kept) if self._stemmer and kept else kept

    def select(self, morphemes: Sequence[tuple[str, str]]) -> list[str]:
        return self.terms([form.lower() if self.lowercase else form for form, _ in morphemes])

    def tokens(self, text: str) -> list[str]:
        return self.batch([text])[0]

    def batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.select(m) for m in self.morphemes(texts)]

    def sentences(self, text: str) -> list[str]:
        return split_sentences(normalize(text))


class MixedAnalyzer:
    """Hangul runs → Kiwi, Latin and other alphabets → English analyzer, Han/Kana runs → character n-grams."""

    def __init__(
        self,
        korean: KoreanAnalyzer | None = None,
        english: EnglishAnalyzer | None = None,
        n: int = 2,
        num_workers: int = 0,
    ):
        self.korean = korean or KoreanAnalyzer(num_workers=num_workers)
        self.english = english or EnglishAnalyzer()
        self.ngrams = CharNgramAnalyzer(n)

    def config(self) -> dict:
        return {"kind": "mixed", "korean": self.korean.config(), "english": self.english.config(), "n": self.ngrams.n}

    @classmethod
    def from_config(cls, config: dict, num_workers: int = 0) -> MixedAnalyzer:
        return cls(
            KoreanAnalyzer.from_config(config.get("korean", {}), num_workers=num_workers),
            EnglishAnalyzer.from_config(config.get("english", {})),
            n=config.get("n", 2),
            num_workers=num_workers,
        )

    def _grams(self, text: str, script: str) -> list[tuple[str, str]]:
        grams = self.ngrams.tokens(text)
        compact = "".join(text.split())
        if not grams and compact:  # a run shorter than n is its own term
            grams = [compact.lower()]
        return [(g, BIGRAM_TAGS[script]) for g in grams]

    def morphemes(self, texts: Sequence[str]) -> list[list[tuple[str, str]]]:
        """Per text, its runs' analyses in text order; all Hangul runs go to Kiwi as one batch."""
        runs = [script_runs(normalize(text)) for text in texts]
        hangul = [run.text for text_runs in runs for run in text_runs if run.script == HANGUL]
        words = [run.text for text_runs in runs for run in text_runs if run.script not in (HANGUL, HAN, KANA)]
        korean = iter(self.korean.morphemes(hangul) if hangul else [])
        english = iter(self.english.morphemes(words))
        analysed = []
        for text_runs in runs:
            morphemes: list[tuple[str, str]] = []
            for run in text_runs:
                if run.script == HANGUL:
                    morphemes.extend(next(korean))
                elif run.script in BIGRAM_TAGS:
                    morphemes.extend(self._grams(run.text, run.script))
                else:
                    morphemes.extend(next(english))
            analysed.append(morphemes)
        return analysed

    def select(self, morphemes: Sequence[tuple[str, str]]) -> list[str]:
        """English rules for words and numbers, Kiwi's content filter for Korean morphemes, n-grams kept."""
        kept, words = [], []
        for form, tag in morphemes:
            if tag in WORD_TAGS:
                words.append((form, tag))
                continue
            if words:
                kept.extend(self.english.select(words))
                words = []
            if tag in BIGRAM_TAGS.values():
                kept.append(form)
            else:
                kept.extend(self.korean.select([(form, tag)]))
        if words:
            kept.extend(self.english.select(words))
        return kept

    def tokens(self, text: str) -> list[str]:
        return self.batch([text])[0]

    def batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.select(m) for m in self.morphemes(texts)]

    def sentences(self, text: str) -> list[str]:
        """Kiwi's sentence splitter where there is Hangul, punctuation rules elsewhere."""
        if any(run.script == HANGUL for run in script_runs(text)):
            return self.korean.sentences(text)
        return self.english.sentences(text)


ANALYZER_FOR_LANGUAGE = {"ko": "morpheme", "en": "english", "zh": "mixed", "ja": "mixed", "mixed": "mixed"}


def analyzer_for_language(language: str, korean: dict | None = None, num_workers: int = 0):
    """The analyzer for a corpus language (`data.language`, or what `ragtune.text.language` detects): ko → Kiwi
    morphemes (as before), en → English, zh/ja/mixed/und → mixed (Han and Kana as character bigrams). `korean`:
    the Kiwi analysis settings (the sparse group's `analyzer`), used wherever Hangul is analysed."""
    kind = ANALYZER_FOR_LANGUAGE.get(language, "mixed")
    if kind == "english":
        return EnglishAnalyzer(num_workers=num_workers)
    kiwi = KoreanAnalyzer.from_config(korean or {}, num_workers=num_workers)
    return kiwi if kind == "morpheme" else MixedAnalyzer(korean=kiwi, num_workers=num_workers)


def load_analyzer(config: dict, num_workers: int = 0):
    """`analyzer_from_config` that also knows `english` and `mixed`: what a saved index's manifest or a
    parameter block names."""
    if config.get("kind") == "english":
        return EnglishAnalyzer.from_config(config, num_workers=num_workers)
    if config.get("kind") == "mixed":
        return MixedAnalyzer.from_config(config, num_workers=num_workers)
    return analyzer_from_config(config, num_workers=num_workers)
