"""Structured documents: what every format reader produces and what passage splitting reads.

A document is a title and a list of blocks (headings with a level, text paragraphs). Its `text` is the
blocks' normalised text joined by a blank line; every block knows its character offsets into that text,
so passages cut from it can point back at exactly what they quote. Offsets are into this extracted text,
not into the file (HTML, PDF and DOCX have no meaningful character positions of their own).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ragtune.text.analysis import normalize

BLOCK_SEPARATOR = "\n\n"
HEADING, TEXT = "heading", "text"


class Unreadable(Exception):
    """A file that holds no usable text (a scanned PDF, an encrypted one, bytes that are not text); the
    message is the one-line reason reported for it."""


@dataclass(frozen=True)
class Block:
    kind: str  # "heading" or "text"
    text: str
    level: int  # 1-6 for headings, 0 for text
    start: int  # character offsets into Document.text
    end: int
    page: int | None = None  # 1-based page of a PDF


@dataclass(frozen=True)
class Document:
    """One document: a whole file, or one record (row) of a CSV/TSV/JSONL file.

    `path` is the file's posix path relative to the folder read; `record` is the row's id (its `id`/`docid`
    column, else its line number) for record formats and None for whole files; `key` names the document
    uniquely within a folder (the path, or `path:record`)."""

    path: str
    title: str
    blocks: tuple[Block, ...]
    text: str
    record: str | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.path if self.record is None else f"{self.path}:{self.record}"

    @property
    def format(self) -> str:
        return self.path.rsplit(".", 1)[-1].lower() if "." in self.path.rsplit("/", 1)[-1] else ""


def make_document(
    path: str,
    title: str,
    pieces: Iterable[tuple[str, str, int] | tuple[str, str, int, int | None]],
    record: str | None = None,
    meta: dict[str, str] | None = None,
) -> Document:
    """A Document from (kind, text, level[, page]) pieces: texts normalised (NFC, one line), empty ones
    dropped, offsets computed. The title defaults to the first heading."""
    blocks, parts, offset = [], [], 0
    for kind, raw, level, *page in pieces:
        if kind not in (HEADING, TEXT):
            raise ValueError(f"block kind must be {HEADING!r} or {TEXT!r}, got {kind!r}")
        text = normalize(raw)
        if not text:
            continue
        if parts:
            offset += len(BLOCK_SEPARATOR)
        blocks.append(
            Block(kind, text, level if kind == HEADING else 0, offset, offset + len(text), page[0] if page else None)
        )
        parts.append(text)
        offset += len(text)
    title = normalize(title) or next((b.text for b in blocks if b.kind == HEADING), "")
    return Document(path, title, tuple(blocks), BLOCK_SEPARATOR.join(parts), record, dict(meta or {}))
