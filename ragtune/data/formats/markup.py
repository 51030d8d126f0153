"""Text formats: Markdown (markdown-it-py), HTML (BeautifulSoup over lxml) and plain text.

Markdown and HTML keep their headings with levels; paragraphs, list items, table rows and code blocks
become text blocks. HTML page furniture (navigation, headers, footers, sidebars, scripts, forms) is
dropped before extraction: it repeats on every page and would make every page match every query.
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString
from markdown_it import MarkdownIt

from ragtune.data.documents import HEADING, TEXT, Document, Unreadable, make_document

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


def decode(path: Path) -> str:
    """The file's text as UTF-8 (a BOM is not content); Unreadable naming the first bad byte otherwise."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8") from None


def paragraphs(text: str) -> list[str]:
    """Paragraphs: text split on blank lines."""
    return [p for p in PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")) if p.strip()]


def stem_title(name: str) -> str:
    return Path(name).stem.replace("_", " ").replace("-", " ").strip()


# ---- plain text


def read_text_file(path: Path, name: str) -> list[Document]:
    """Paragraphs split on blank lines. The title is the first line when it reads like one (a short line
    without a final full stop, followed by more text), else the file name; that line stays in the text."""
    parts = paragraphs(decode(path))
    first = parts[0].strip().splitlines()[0].strip() if parts else ""
    looks_like_title = len(first) <= 80 and not first.endswith((".", "!", "?", ":", ";", ",")) and len(parts) > 1
    title = first if looks_like_title else stem_title(name)
    return [make_document(name, title, [(TEXT, p, 0) for p in parts])]


# ---- Markdown

_MARKDOWN = MarkdownIt("commonmark").enable("table")
_LEAF_INLINE = {"text": "content", "code_inline": "content"}


def _inline_text(token) -> str:
    """Plain text of an inline token: text and code spans, line breaks as spaces, images by their alt text."""
    out = []
    for child in token.children or ():
        if child.type in _LEAF_INLINE:
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(child.content or "")
    return "".join(out)


def _front_matter(source: str) -> tuple[str, str]:
    """(title from a leading YAML front matter block, the source without it)."""
    match = re.match(r"---[ \t]*\n(.*?)\n---[ \t]*\n", source, re.DOTALL)
    if not match:
        return "", source
    title = re.search(r"^title:\s*[\"']?(.*?)[\"']?\s*$", match.group(1), re.MULTILINE)
    return (title.group(1) if title else ""), source[match.end() :]


def read_markdown(path: Path, name: str) -> list[Document]:
    """Headings (ATX and setext) with their levels; paragraphs, list items, table rows, code and HTML blocks
    as text. The title: front matter `title:`, else the first level-1 heading, else the file name."""
    title, source = _front_matter(decode(path))
    pieces, row = [], None
    for token in _MARKDOWN.parse(source):
        if token.type == "heading_open":
            pieces.append([HEADING, "", int(token.tag[1])])
        elif token.type == "paragraph_open":
            pieces.append([TEXT, "", 0])
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            pieces.append([TEXT, " | ".join(row), 0])
            row = None
        elif token.type == "inline":
            if row is not None:
                row.append(_inline_text(token))
            elif pieces:
                pieces[-1][1] += _inline_text(token)
        elif token.type in ("fence", "code_block"):
            pieces.append([TEXT, token.content, 0])
        elif token.type == "html_block":
            pieces.append([TEXT, BeautifulSoup(token.content, "lxml").get_text(" "), 0])
    if not title:
        title = next((text for kind, text, level in pieces if kind == HEADING and level == 1), "") or stem_title(name)
    return [make_document(name, title, [tuple(p) for p in pieces])]


# ---- HTML

BOILERPLATE_TAGS = ("nav", "header", "footer", "aside", "script", "style", "noscript", "form", "template", "iframe")
HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
BLOCK_TAGS = frozenset(
    "p li tr pre blockquote dt dd figcaption caption div section article main address table ul ol dl "
    "details summary body center".split()
)


def _drop_boilerplate(soup: BeautifulSoup) -> None:
    """Remove page furniture. A <header> inside <article>/<main> is the article's own (its h1): kept."""
    for tag in soup.find_all(BOILERPLATE_TAGS):
        if tag.decomposed:
            continue
        if tag.name == "header" and tag.find_parent(["article", "main"]):
            continue
        tag.decompose()
    for tag in soup.find_all(attrs={"role": "navigation"}):
        if not tag.decomposed:
            tag.decompose()


def _html_blocks(root) -> list[tuple[str, str, int]]:
    pieces: list[tuple[str, str, int]] = []
    buffer: list[str] = []

    def flush() -> None:
        if "".join(buffer).strip():
            pieces.append((TEXT, "".join(buffer), 0))
        buffer.clear()

    def walk(element) -> None:
        for child in element.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, CDATA or doctype
                    buffer.append(str(child))
            elif child.name in HEADING_TAGS:
                flush()
                pieces.append((HEADING, child.get_text(" "), HEADING_TAGS[child.name]))
            elif child.name in BLOCK_TAGS:
                flush()
                walk(child)
                flush()
            elif child.name == "br":
                buffer.append(" ")
            elif child.name in ("td", "th"):
                buffer.append(" ")
                walk(child)
                buffer.append(" ")
            else:
                walk(child)

    walk(root)
    flush()
    return pieces


def read_html(path: Path, name: str) -> list[Document]:
    """Content of <main> (or the body) without page furniture; h1-h6 as headings. Title: <title>, else
    the first h1, else the file name. The encoding comes from the file (BOM, <meta charset>), as browsers do."""
    soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = soup.title.get_text(" ") if soup.title else ""
    _drop_boilerplate(soup)
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    pieces = _html_blocks(root)
    if not title:
        title = next((text for kind, text, level in pieces if kind == HEADING and level == 1), "") or stem_title(name)
    return [make_document(name, title, pieces)]
