"""A folder of files in any supported format → structured documents, in a deterministic order.

    corpus = read_folder("docs/")
    corpus.documents          # every document, sorted by path (then by position within a record file)
    corpus.unreadable         # (path, one-line reason) for each file that could not be read
    corpus.warnings()         # one line each: unreadable files, "ignored 3 files with unknown extensions: …"

Formats (one reader each, see `ragtune.data.formats`): Markdown, plain text, HTML, PDF, DOCX, CSV/TSV,
JSONL. Hidden files and folders (a name starting with ".") are skipped silently: they are tool state
(.git, .DS_Store), not documents.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ragtune.data.documents import Document, Unreadable
from ragtune.data.formats import READERS
from ragtune.io import DataError, UserError

NO_EXTENSION = "(no extension)"


@dataclass(frozen=True)
class Corpus:
    root: str
    documents: tuple[Document, ...]
    files: tuple[str, ...]  # relative paths of the files read, sorted
    unreadable: tuple[tuple[str, str], ...] = ()  # (relative path, reason), sorted by path
    ignored: dict[str, int] = field(default_factory=dict)  # unknown extension -> number of files

    def formats(self) -> Counter:
        """Files read per extension (`md`, `pdf`, …)."""
        return Counter(_extension(path).lstrip(".") for path in self.files)

    def ignored_warning(self) -> str | None:
        if not self.ignored:
            return None
        total = sum(self.ignored.values())
        by_count = sorted(self.ignored.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{ext} ({n})" for ext, n in by_count)
        return f"ignored {total} file{'s' if total != 1 else ''} with unknown extensions: {shown}"

    def warnings(self) -> list[str]:
        """One line per unreadable file, then the unknown extensions in one line."""
        lines = [f"{self.root}/{path}: unreadable: {reason}" for path, reason in self.unreadable]
        ignored = self.ignored_warning()
        return lines + ([f"{self.root}: {ignored}"] if ignored else [])


def _extension(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix else NO_EXTENSION


def supported_extensions() -> tuple[str, ...]:
    return tuple(sorted(READERS))


def _reason(exc: Exception, path: Path) -> str:
    """One line, without the path (the report names it) and without a traceback."""
    if isinstance(exc, DataError):
        rest = str(exc)[len(exc.path) :] if str(exc).startswith(exc.path) else str(exc)
        return f"line {rest[1:].strip()}" if exc.line is not None else rest.lstrip(": ")
    if isinstance(exc, Unreadable):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = type(exc).__name__ + (f": {message}" if message else "")
    return f"cannot parse as {_extension(path.name).lstrip('.')} ({detail})"


def read_file(path: str | os.PathLike, name: str | None = None) -> list[Document]:
    """The documents of one file (`name`: the path recorded in them, default the file name). Raises
    Unreadable, DataError, or UserError for an unknown extension."""
    path = Path(path)
    reader = READERS.get(_extension(path.name))
    if reader is None:
        raise UserError(f"{path}: unknown extension (supported: {', '.join(supported_extensions())})")
    documents = reader(path, name or path.name)
    if not any(document.text for document in documents):
        raise Unreadable("no text")
    return [document for document in documents if document.text]


def _walk(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every non-hidden file under root, sorted by relative path."""
    found = []
    for directory, subdirs, files in os.walk(root, followlinks=True):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for file in files:
            if not file.startswith("."):
                full = Path(directory) / file
                found.append((full.relative_to(root).as_posix(), full))
    return sorted(found)


def read_folder(root: str | os.PathLike, *, strict: bool = False) -> Corpus:
    """Every file under `root` (or the one file `root` names) read into documents.

    A file that cannot be read is reported in `unreadable` with a one-line reason (strict=True: raised
    as DataError instead); files with an unknown extension are counted in `ignored`. Raises UserError
    for a missing path and DataError when nothing could be read."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: no such file or folder")
    entries = [(root.name, root)] if root.is_file() else _walk(root)
    documents, files, unreadable, ignored = [], [], [], Counter()
    for name, path in entries:
        extension = _extension(name)
        if extension not in READERS:
            ignored[extension] += 1
            continue
        try:
            documents.extend(read_file(path, name))
            files.append(name)
        except Exception as exc:  # noqa: BLE001 - any parser failure on a user's file is reported, not raised
            if strict:
                if isinstance(exc, UserError):
                    raise
                raise DataError(path, _reason(exc, path)) from exc
            unreadable.append((name, _reason(exc, path)))
    corpus = Corpus(str(root), tuple(documents), tuple(files), tuple(unreadable), dict(ignored))
    if not documents:
        if unreadable:
            path, reason = unreadable[0]
            count = len(unreadable)
            raise DataError(root, f"none of its {count} files with a known extension could be read ({path}: {reason})")
        supported = ", ".join(supported_extensions())
        detail = f"; {corpus.ignored_warning()}" if ignored else ""
        raise DataError(root, f"holds no files to read (supported extensions: {supported}){detail}")
    return corpus
