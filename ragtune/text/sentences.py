"""Sentence boundaries for Korean and English (and CJK) text, by punctuation: no model, offsets kept.

A sentence ends at ., !, ?, … or their full-width forms (。！？) followed by space (closing quotes and
brackets stay with it), or at a line break after a Korean final ending (다/요/죠/까, as in lists without
full stops). A full stop between digits or inside an abbreviation without a following space ("3.5",
"e.g.x") does not end one; common English abbreviations ("e.g. ", "Mr. ") do not either.
"""

from __future__ import annotations

import re

_END = re.compile(
    r"""(?:[.!?…]+|[。！？]+)["'”’)\]」』]*(?=\s|$)\s*  # punctuation, closers, then space
      |(?<=[다요죠까])[ \t]*\n\s*                      # a Korean ending at the end of a line
      |[。！？]+\s*                                   # CJK full stops need no space
    """,
    re.VERBOSE,
)
ABBREVIATIONS = frozenset("e.g i.e etc vs mr mrs ms dr prof st no fig approx cf inc ltd jr sr".split())


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trailing space excluded; together they cover every non-space character."""
    spans, start = [], 0
    for match in _END.finditer(text):
        word = text[: match.start()].rsplit(None, 1)[-1].lower().rstrip(".") if match.start() else ""
        if text[match.start()] == "." and word in ABBREVIATIONS:
            continue
        end = match.end()
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = end
    piece = text[start:]
    if piece.strip():
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + len(piece.rstrip())))
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]
