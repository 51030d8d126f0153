"""Documents → passages that fit the embedder: cut at headings first, then paragraphs, then sentences.

    passages = split_documents(corpus.documents, max_tokens=200, overlap=32, count_tokens=approx_tokens)

A passage never crosses a heading: each belongs to one section and carries its heading trail (the
headings above it, outermost first). Within a section, consecutive passages share `overlap` tokens of
text (whole trailing sentences where they fit, else trailing words), so a sentence cut at a boundary is
still whole in one of them. Paragraphs are kept whole where the passage stays at least half full;
a paragraph longer than the limit is cut between sentences, a sentence longer than it between words,
and a "word" longer than it (a run without spaces) between characters.

`text` is exactly `document.text[start:end]`, so offsets always point at what the passage quotes.
What gets indexed and embedded is `context`: the title and heading trail, then the text. Sections
often omit their topic ("Hold the button for ten seconds" under "Resetting the hub"), so without the
trail neither BM25 nor the embedder would know what the passage is about; keeping the trail out of
`text` keeps offsets exact and lets a caller show the passage as written. `max_tokens` bounds the
`context` (trail included), counted with `count_tokens`: pass the embedder's own tokenizer through
`tokenizer_counter` for an exact limit; the default `approx_tokens` is a cheap estimate that errs high.

Ids are `<document key>#<n>` (n from 0 in document order): the same file with the same limits always
gives the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ragtune.data.documents import HEADING, Document
from ragtune.text.sentences import sentence_spans

DEFAULT_MAX_TOKENS = 200  # e5's passage_max_len (256) less the "passage: " prefix, special tokens and slack
DEFAULT_OVERLAP = 32
TRAIL_SEPARATOR = " > "

CountTokens = Callable[[str], int]

_LATIN = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")
_OTHER = re.compile(r"[^\sA-Za-z0-9\uac00-\ud7a3]")


def approx_tokens(text: str) -> int:
    """A cheap count that errs high for multilingual sentencepiece vocabularies (XLM-R, e5, bge-m3): a
    Latin word is 1 token per 6 letters (at least 1), digits 1 per 3, Hangul 1 per 2 syllables (at least
    1 per word), any other character 1; whitespace is free."""
    return (
        sum(1 + (len(w) - 1) // 6 for w in _LATIN.findall(text))
        + sum(1 + (len(w) - 1) // 3 for w in _DIGITS.findall(text))
        + sum(1 + (len(w) - 1) // 2 for w in _HANGUL.findall(text))
        + len(_OTHER.findall(text))
    )


def tokenizer_counter(tokenizer) -> CountTokens:
    """`count_tokens` from a Hugging Face tokenizer: its tokens without special tokens."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class Passage:
    id: str
    path: str  # the source file, relative to the folder read
    record: str | None  # the row of a record file (CSV/TSV/JSONL), None for a whole file
    title: str
    headings: tuple[str, ...]
    start: int  # character offsets into the document's text
    end: int
    text: str

    @property
    def context(self) -> str:
        """What to index and embed: title and heading trail, a blank line, the text."""
        prefix = context_prefix(self.title, self.headings)
        return f"{prefix}\n\n{self.text}" if prefix else self.text


def context_prefix(title: str, headings: Iterable[str]) -> str:
    """Title > heading > subheading, with a heading that repeats the title (a Markdown h1) said once."""
    trail = [t for t in dict.fromkeys([title, *headings]) if t]
    return TRAIL_SEPARATOR.join(trail)


def _sections(document: Document) -> list[tuple[tuple[str, ...], list[tuple[int, int]]]]:
    """(heading trail, spans of its text blocks) for each section with text, in order."""
    sections, trail, spans = [], [], []
    for block in document.blocks:
        if block.kind == HEADING:
            if spans:
                sections.append((tuple(text for _, text in trail), spans))
                spans = []
            trail = [(level, text) for level, text in trail if level < block.level] + [(block.level, block.text)]
        else:
            spans.append((block.start, block.end))
    if spans:
        sections.append((tuple(text for _, text in trail), spans))
    return sections


class _Splitter:
    def __init__(self, text: str, count: CountTokens, overlap: int):
        self.text, self.count, self.overlap = text, count, overlap

    def cost(self, start: int, end: int) -> int:
        return self.count(self.text[start:end])

    def _cuts(self, start: int, ends: Sequence[int], budget: int) -> list[tuple[int, int, int]]:
        """Greedy units ending at cut points `ends` (ascending, the last = the span's end), each the longest
        within budget: an exponential then a binary search, so a count never reads much more than the
        unit it finds. A unit over budget (one gap between cut points too long) is left to the caller."""
        units, first = [], 0
        while first < len(ends):
            reach = 1  # ends[first + reach - 1] is the next probe
            while first + reach - 1 < len(ends) and self.cost(start, ends[first + reach - 1]) <= budget:
                reach *= 2
            low, high = first + reach // 2 - 1, min(first + reach - 1, len(ends)) - 1  # last fitting in [low, high]
            while low < high:
                middle = (low + high + 1) // 2
                if self.cost(start, ends[middle]) <= budget:
                    low = middle
                else:
                    high = middle - 1
            low = max(low, first)
            end = ends[low]
            units.append((start, end, self.cost(start, end)))
            first = low + 1
            if first < len(ends):
                start = next((i for i in range(end, ends[first]) if not self.text[i].isspace()), end)
        return units

    def pieces(self, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
        """(start, end, tokens) units within budget covering text[start:end]: the span itself, else its
        sentences, else runs of its words, else runs of characters."""
        tokens = self.cost(start, end)
        if tokens <= budget:
            return [(start, end, tokens)]
        sentences = [(start + s, start + e) for s, e in sentence_spans(self.text[start:end])]
        if len(sentences) > 1:
            return [unit for s, e in sentences for unit in self.pieces(s, e, budget)]
        words = [start + m.end() for m in re.finditer(r"\S+", self.text[start:end])]
        if len(words) > 1:
            units = self._cuts(start, words, budget)
            return [piece for s, e, t in units for piece in ([(s, e, t)] if t <= budget else self.pieces(s, e, budget))]
        return self._cuts(start, range(start + 1, end + 1), budget)

    def tail(self, start: int, end: int, units: list[tuple[int, int, int]]) -> int:
        """Where the overlap carried into the next passage starts: whole trailing units within `overlap`
        tokens, else the trailing words of the last unit within it; `end` for none."""
        begin, total = end, 0
        for s, _, tokens in reversed(units):
            if total + tokens > self.overlap or s < start:
                break
            begin, total = s, total + tokens
        if begin == end and self.overlap > 0 and units:
            s = max(units[-1][0], start)
            starts = [s + m.start() for m in re.finditer(r"\S+", self.text[s:end])]
            low, high = 0, len(starts)  # the first word whose suffix fits (suffix cost falls as the start moves on)
            while low < high:
                middle = (low + high) // 2
                if self.cost(starts[middle], end) <= self.overlap:
                    high = middle
                else:
                    low = middle + 1
            return starts[low] if low < len(starts) else end
        return begin


def split_document(
    document: Document,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    count_tokens: CountTokens = approx_tokens,
) -> list[Passage]:
    """The document's passages, each with `count_tokens(passage.context) <= max_tokens`."""
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
    if not 0 <= overlap <= max_tokens // 2:
        raise ValueError(f"overlap must be between 0 and max_tokens/2 ({max_tokens // 2}), got {overlap}")
    splitter = _Splitter(document.text, count_tokens, overlap)
    spans: list[tuple[tuple[str, ...], int, int]] = []
    for trail, blocks in _sections(document):
        prefix = context_prefix(document.title, trail)
        if prefix and count_tokens(prefix + "\n\n") > max_tokens // 2:  # an absurd trail: keep its last heading
            prefix = context_prefix("", trail[-1:])
            if count_tokens(prefix + "\n\n") > max_tokens // 2:
                prefix = ""
        budget = max_tokens - (count_tokens(prefix + "\n\n") if prefix else 0)
        spans.extend((trail, s, e) for s, e in _pack(splitter, blocks, budget, prefix, max_tokens))
    return [
        Passage(f"{document.key}#{n}", document.path, document.record, document.title, trail, s, e, document.text[s:e])
        for n, (trail, s, e) in enumerate(spans)
    ]


def _pack(splitter: _Splitter, blocks, budget: int, prefix: str, max_tokens: int) -> list[tuple[int, int]]:
    """Greedy packing of a section's units into (start, end) spans; a cut moves back to a paragraph
    boundary when the passage stays at least half full."""
    units, paragraph_starts = [], set()
    for s, e in blocks:
        paragraph_starts.add(len(units))
        units.extend(splitter.pieces(s, e, budget))
    spans, i, carried = [], 0, None  # carried: start offset of the overlap taken from the previous passage
    while i < len(units):
        start = carried if carried is not None else units[i][0]
        total = splitter.cost(start, units[i][0]) if carried is not None else 0
        j = i
        while j < len(units) and total + units[j][2] <= budget:
            total += units[j][2]
            j += 1
        if j == i:  # the overlap leaves no room for the next unit: drop it
            carried, start, j = None, units[i][0], i + 1
        if j < len(units):
            boundary = max((k for k in range(i + 1, j + 1) if k in paragraph_starts), default=None)
            if boundary is not None and sum(u[2] for u in units[i:boundary]) >= budget // 2:
                j = boundary
        while j > i + 1 and _too_long(splitter, prefix, start, units[j - 1][1], max_tokens):
            j -= 1  # a real tokenizer is not quite additive
        end = units[j - 1][1]
        if _too_long(splitter, prefix, start, end, max_tokens):
            if carried is not None:
                carried = None
                continue
            excess = splitter.cost(start, end) - budget
            units[i:j] = splitter.pieces(start, end, max(budget - excess - 1, 1))
            continue
        spans.append((start, end))
        carried = splitter.tail(start, end, units[i:j]) if j < len(units) else None
        carried = carried if carried is not None and carried < end and carried > start else None
        i = j
    return spans


def _too_long(splitter: _Splitter, prefix: str, start: int, end: int, max_tokens: int) -> bool:
    body = splitter.text[start:end]
    return splitter.count(f"{prefix}\n\n{body}" if prefix else body) > max_tokens


def split_documents(
    documents: Iterable[Document],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    count_tokens: CountTokens = approx_tokens,
) -> list[Passage]:
    """Every document's passages, in document order."""
    return [p for document in documents for p in split_document(document, max_tokens, overlap, count_tokens)]
