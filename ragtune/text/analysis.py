"""Korean text analysis for lexical retrieval: Kiwi morphemes filtered to content tags.

The filter decides what BM25 sees. Particles, endings and copulas carry no topic; neither does
the scaffolding people wrap questions in ("설명해줘", "무엇인가", "알려줘"), which would otherwise
match every explanatory passage. Tags and scaffolding are configurable so they can be measured.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence

from kiwipiepy import Kiwi

# Nouns, numerals, foreign words, Chinese characters, verb/adjective stems, roots, adverbs.
CONTENT_TAGS: tuple[str, ...] = ("NNG", "NNP", "NNB", "NR", "NP", "SL", "SH", "SN", "VV", "VA", "XR", "MAG")

# Lemmas of question scaffolding: they say "this is a question", not what it is about.
QUESTION_SCAFFOLDING: frozenset[str] = frozenset(
    {
        "설명",
        "무엇",
        "뭐",
        "알리",
        "알려주",
        "주",
        "어떻",
        "어떠",
        "어떤",
        "왜",
        "대하",
        "관하",
        "궁금",
        "말하",
        "무슨",
        "어디",
        "언제",
        "누구",
        "있",
        "되",
        "하",
        "것",
        "수",
        "등",
        "때문",
        "경우",
        "이",
        "그",
        "저",
        "좀",
        "알",
        "싶",
        "가지",
        "방법",
        "이유",
        "나",
        "너",
        "우리",
        "제",
        "내",
    }
)


def normalize(text: str) -> str:
    """NFC with collapsed whitespace: the same characters always look the same to every stage."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class KoreanAnalyzer:
    """Text → list of content morphemes (lemma forms), via Kiwi."""

    def __init__(
        self,
        tags: Sequence[str] = CONTENT_TAGS,
        stopwords: Iterable[str] = QUESTION_SCAFFOLDING,
        lowercase: bool = True,
        tag_suffix: bool = False,
        num_workers: int = 0,
    ):
        self.tags = frozenset(tags)
        self.stopwords = frozenset(stopwords)
        self.lowercase = lowercase
        self.tag_suffix = tag_suffix
        self.num_workers = num_workers
        self._loaded: Kiwi | None = None

    @property
    def _kiwi(self) -> Kiwi:
        """Kiwi, loaded at the first analysis (about a second): selecting terms from stored morphemes needs none.
        num_workers=-1 keeps it single-threaded and deterministic; >0 uses that many threads."""
        if self._loaded is None:
            self._loaded = Kiwi(num_workers=self.num_workers if self.num_workers > 0 else -1)
        return self._loaded

    def config(self) -> dict:
        return {
            "kind": "morpheme",
            "tags": sorted(self.tags),
            "stopwords": sorted(self.stopwords),
            "lowercase": self.lowercase,
            "tag_suffix": self.tag_suffix,
        }

    @classmethod
    def from_config(cls, config: dict, num_workers: int = 0) -> KoreanAnalyzer:
        """From a saved `config()` or from parameters: tags, lowercase, and either an explicit
        `stopwords` list or `drop_scaffolding: true` for the built-in question scaffolding."""
        stopwords = config.get("stopwords", QUESTION_SCAFFOLDING if config.get("drop_scaffolding", True) else ())
        return cls(
            tags=config.get("tags", CONTENT_TAGS),
            stopwords=stopwords,
            lowercase=config.get("lowercase", True),
            tag_suffix=config.get("tag_suffix", False),
            num_workers=num_workers,
        )

    def morphemes(self, texts: Sequence[str]) -> list[list[tuple[str, str]]]:
        """Full Kiwi analysis as (form, tag) pairs: the expensive step, done once per text."""
        return [
            [(t.form, t.tag.split("-")[0]) for t in tokens]  # VV-R / VA-I: irregular stems
            for tokens in self._kiwi.tokenize([normalize(t) for t in texts])
        ]

    def select(self, morphemes: Sequence[tuple[str, str]]) -> list[str]:
        """Content morphemes as BM25 terms: the cheap, configurable step."""
        kept = []
        for form, tag in morphemes:
            if tag not in self.tags:
                continue
            form = form.lower() if self.lowercase else form
            if form in self.stopwords:
                continue
            kept.append(f"{form}/{tag}" if self.tag_suffix else form)
        return kept

    def tokens(self, text: str) -> list[str]:
        return self.batch([text])[0]

    def batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.select(m) for m in self.morphemes(texts)]

    def sentences(self, text: str) -> list[str]:
        return [s.text.strip() for s in self._kiwi.split_into_sents(normalize(text)) if s.text.strip()]


class CharNgramAnalyzer:
    """Text → overlapping character n-grams (spaces removed): a second lexical view.

    Morphemes miss what Kiwi splits or tags differently in question and passage (compounds,
    transliterations, typos); character bigrams still match them. Fused with morpheme BM25 it
    measurably helps (benchmarks/sparse_analysis.py)."""

    def __init__(self, n: int = 2):
        self.n = n

    def config(self) -> dict:
        return {"kind": "char_ngram", "n": self.n}

    def tokens(self, text: str) -> list[str]:
        compact = "".join(normalize(text).lower().split())
        return [compact[i : i + self.n] for i in range(max(len(compact) - self.n + 1, 0))]

    def batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.tokens(text) for text in texts]


def check_indexable(
    path: str | os.PathLike,
    docids: Sequence[str],
    terms: Sequence[Sequence[str] | bool],
    log: logging.Logger | None = None,
) -> list[str]:
    """The documents that yield no lexical term (emoji or punctuation only): BM25 can never find them. `terms`:
    each document's analysed terms, or only whether it has any (prepare streams the terms themselves to disk).

    All of them: DataError (BM25 over an empty vocabulary fails much later, naming nothing). Some: a warning
    listing them (at most 20 named), and their docids returned.
    """
    from ragtune.io import DataError

    empty = [docid for docid, kept in zip(docids, terms) if not kept]
    if empty and len(empty) == len(docids):
        raise DataError(
            path,
            f"none of the {len(docids)} documents has an indexable lexical token (after the "
            f"analysis keeps content morphemes {', '.join(CONTENT_TAGS)}); lexical retrieval "
            f"and hard-negative mining need text",
            field="content",
        )
    if empty:
        shown = ", ".join(empty[:20]) + (f" … ({len(empty) - 20} more)" if len(empty) > 20 else "")
        (log or logging.getLogger(__name__)).warning(
            "%s: %d of %d documents have no indexable lexical token (BM25 cannot find them): %s",
            path,
            len(empty),
            len(docids),
            shown,
        )
    return empty


def analyzer_from_config(config: dict, num_workers: int = 0) -> KoreanAnalyzer | CharNgramAnalyzer:
    """The analyzer a saved index or a parameter block describes."""
    if config.get("kind") == "char_ngram":
        return CharNgramAnalyzer(config["n"])
    if config.get("kind") in ("english", "mixed"):  # a folder collection's languages (ragtune.text.english)
        from ragtune.text.english import load_analyzer

        return load_analyzer(config, num_workers=num_workers)
    return KoreanAnalyzer.from_config(config, num_workers=num_workers)


class StoredMorphemes:
    """prepare's `morphemes.jsonl` as a collection of each document's morphemes, read from disk again at every pass:
    a corpus's morphemes are about 37 KB a passage in memory (docs/scale.md), so index, negatives and queries never
    hold them all. Iterable any number of times, in document order; `len` counts the documents."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._count: int | None = None

    def __iter__(self) -> Iterator[list]:
        from ragtune.io import iter_jsonl

        return (row["morphemes"] for _, row in iter_jsonl(self.path))

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count
