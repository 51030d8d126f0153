"""One reader per file format, each on the library that format's ecosystem keeps: `read_*(path, name)`
returns the file's documents (one, or one per record), raises `Unreadable` for a file with no usable
text and `DataError` for a record file that breaks its schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ragtune.data.documents import Document
from ragtune.data.formats.markup import read_html, read_markdown, read_text_file
from ragtune.data.formats.office import read_docx, read_pdf
from ragtune.data.formats.records import read_csv, read_jsonl

Reader = Callable[[Path, str], list[Document]]

READERS: dict[str, Reader] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text_file,
    ".text": read_text_file,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".csv": read_csv,
    ".tsv": read_csv,
    ".jsonl": read_jsonl,
}

__all__ = [
    "READERS",
    "Reader",
    "read_csv",
    "read_docx",
    "read_html",
    "read_jsonl",
    "read_markdown",
    "read_pdf",
    "read_text_file",
]
