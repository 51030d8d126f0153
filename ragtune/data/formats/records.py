"""Record formats: CSV/TSV (the csv module) and JSONL, one document per row.

CSV/TSV need a `text` or `content` column (optional `id` and `title`; header names are matched without
regard to case or surrounding spaces); other columns are kept as metadata. JSONL rows are either the
competition's `{docid, src, content}` or `{id, text, title}` (id optional: the line number then).
Errors name the file, the line and the field; rows whose text is empty are skipped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ragtune.data.documents import TEXT, Document, make_document
from ragtune.data.formats.markup import decode, paragraphs
from ragtune.io import DataError, iter_jsonl, require

TEXT_COLUMNS = ("text", "content")


def _record(path: Path, line: int, value: str, seen: dict[str, int], field: str) -> str:
    if value in seen:
        raise DataError(path, f"duplicate id {value!r} (first on line {seen[value]})", line=line, field=field)
    seen[value] = line
    return value


def read_csv(path: Path, name: str) -> list[Document]:
    """One document per row; `.tsv` files are tab-separated. The record id is the `id` column, else the
    row's line number."""
    text = decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if name.lower().endswith(".tsv") else ",")
    header = next(reader, None)
    if not header:
        raise DataError(path, "is empty: expected a header row with a 'text' or 'content' column")
    columns = {column.strip().lower(): i for i, column in reversed(list(enumerate(header)))}
    text_column = next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    if text_column is None:
        shown = ", ".join(repr(c) for c in header)
        raise DataError(path, f"needs a 'text' or 'content' column; its header is {shown}", line=1)
    id_column, title_column = columns.get("id"), columns.get("title")
    documents, seen = [], {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise DataError(path, f"has {len(row)} fields, the header has {len(header)}", line=line)
        row += [""] * (len(header) - len(row))
        if not row[text_column].strip():
            continue
        record = row[id_column].strip() if id_column is not None and row[id_column].strip() else str(line)
        record = _record(path, line, record, seen, "id")
        meta = {
            header[i].strip(): cell
            for i, cell in enumerate(row)
            if i not in (text_column, id_column, title_column) and cell.strip()
        }
        title = row[title_column] if title_column is not None else ""
        blocks = [(TEXT, p, 0) for p in paragraphs(row[text_column])]
        documents.append(make_document(name, title, blocks, record=record, meta=meta))
    if not documents:
        raise DataError(path, "has no row with text")
    return documents


def read_jsonl(path: Path, name: str) -> list[Document]:
    """One document per line, in either schema; `src` (competition) is kept as metadata."""
    documents, seen = [], {}
    for line, obj in iter_jsonl(path):
        if "content" in obj or "docid" in obj:
            record = require(path, line, obj, "docid", str, lambda v: v.strip() != "", "is empty")
            text = require(path, line, obj, "content", str)
            src = obj.get("src", "")
            if not isinstance(src, str):
                raise DataError(path, f"must be str, got {type(src).__name__}", line=line, field="src")
            meta, title = ({"src": src} if src else {}), ""
            field = "docid"
        elif "text" in obj:
            text = require(path, line, obj, "text", str)
            record = require(path, line, obj, "id", (str, int)) if "id" in obj else line
            title = require(path, line, obj, "title", str) if "title" in obj else ""
            meta, field = {}, "id"
        else:
            raise DataError(path, "needs 'docid' and 'content', or 'text' (with optional 'id' and 'title')", line=line)
        if not text.strip():
            continue
        _record(path, line, str(record), seen, field)
        documents.append(make_document(name, title, [(TEXT, p, 0) for p in paragraphs(text)], str(record), meta))
    if not documents:
        raise DataError(path, "has no document with text")
    return documents
