"""Page formats: PDF (pypdf's text layer) and DOCX (python-docx).

A PDF is read page by page from its text layer; pypdf does no OCR, so a scanned PDF (images only) is
reported unreadable with that reason rather than indexed as empty. DOCX paragraphs keep Word's
`Heading N` styles as headings; tables are read row by row, in document order.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragtune.data.documents import HEADING, TEXT, Document, Unreadable, make_document
from ragtune.data.formats.markup import paragraphs, stem_title


def read_pdf(path: Path, name: str) -> list[Document]:
    """One or more text blocks per page (split where the text layer has a blank line), each with its page
    number. Title: the PDF's metadata title, else the file name."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (needs a password)")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except PdfReadError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unreadable(f"not a readable PDF ({detail})") from None
    if not pages:
        raise Unreadable("PDF has no pages")
    if not any(page.strip() for page in pages):
        raise Unreadable(f"PDF has no text layer on any of its {len(pages)} pages (scanned? run OCR first)")
    pieces = [(TEXT, part, 0, number) for number, page in enumerate(pages, 1) for part in paragraphs(page)]
    return [make_document(name, str(metadata_title) or stem_title(name), pieces)]


HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _style_name(paragraph) -> str:
    try:
        return paragraph.style.name if paragraph.style is not None else ""
    except (KeyError, ValueError):  # a style the package does not define
        return ""


def read_docx(path: Path, name: str) -> list[Document]:
    """Paragraphs in order; `Heading 1`-`Heading 6` styles as headings of that level, `Title` as the title
    (and a level-1 heading); table rows as text (cells joined by " | "). Title: the `Title` paragraph, else
    the document properties' title, else the file name."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise Unreadable(f"not a readable DOCX ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    pieces, title = [], ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = list(dict.fromkeys(cell.text for cell in row.cells))  # merged cells repeat
                pieces.append((TEXT, " | ".join(cells), 0))
            continue
        style = _style_name(item)
        heading = HEADING_STYLE.match(style)
        if style.lower() == "title":
            title = title or item.text
            pieces.append((HEADING, item.text, 1))
        elif heading:
            pieces.append((HEADING, item.text, min(int(heading.group(1)), 6)))
        else:
            pieces.append((TEXT, item.text, 0))
    title = title or document.core_properties.title or stem_title(name)
    return [make_document(name, title, pieces)]
