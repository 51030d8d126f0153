"""A folder of a team's own files as the pipeline's inputs: its passages become the documents, its language is
detected, and optional labelled questions name the files (or passages) that answer them.

Document rows keep the competition's `{docid, src, content}` and add where a passage came from — `title`,
`headings` (the trail above it), `start`/`end` (character offsets into the file's text) — so failure reports,
comparisons, search results and submissions can show it. `content` is the heading trail, a blank line and the
text: what is indexed and embedded (a section's body often leaves out its topic).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

from ragtune.data.passages import Passage, split_documents
from ragtune.data.readers import read_folder
from ragtune.io import DataError, iter_jsonl, require

log = logging.getLogger("ragtune")


def folder_documents(
    root: Path, max_tokens: int, overlap: int, count_tokens: Callable[[str], int]
) -> tuple[list[dict], list[Passage]]:
    """Every readable file under `root` split into passages of at most `max_tokens` (by `count_tokens`); files it
    cannot read and unknown extensions are logged, one line each, never skipped silently."""
    corpus = read_folder(root)
    for line in corpus.warnings():
        log.warning("%s", line)
    passages = split_documents(corpus.documents, max_tokens=max_tokens, overlap=overlap, count_tokens=count_tokens)
    if not passages:
        raise DataError(root, "no passage with text in any file")
    rows = [
        {
            "docid": p.id,
            "src": p.path,
            "content": p.context,
            "title": p.title,
            "headings": list(p.headings),
            "start": p.start,
            "end": p.end,
        }
        for p in passages
    ]
    per_file = len(passages) / max(len(corpus.documents), 1)
    log.info("prepare: %d files, %d passages (%.1f per file)", len(corpus.files), len(passages), per_file)
    return rows, passages


def folder_questions(path: Path, passages: list[Passage], source: str = "questions") -> list[dict]:
    """Labelled questions for a folder: JSONL rows `{"question", "relevant": [...]}` or a CSV with `question` and
    `relevant` columns (several separated by `|`). A relevant entry is a file path relative to the folder (any of its
    passages counts) or a passage id; `[]` marks a question that needs no documents (chit-chat)."""
    by_file: dict[str, list[str]] = {}
    for p in passages:
        by_file.setdefault(p.path, []).append(p.id)
    ids = {p.id for p in passages}
    rows = []
    if not Path(path).read_bytes().strip():  # the shipped empty default (one newline): no labels
        return rows
    for line, question, relevant in _question_rows(path):
        docids: list[str] = []
        for entry in relevant:
            if entry in ids:
                docids.append(entry)
            elif entry.strip("/") in by_file:
                docids.extend(by_file[entry.strip("/")])
            else:
                raise DataError(path, f"relevant {entry!r} is neither a file of the collection nor a passage id",
                                line=line, field="relevant")  # fmt: skip
        msg = [{"role": "user", "content": question}]
        rows.append({"qid": f"{source}-{line}", "msg": msg, "relevant": sorted(set(docids)), "source": source})
    return rows


def _question_rows(path: Path):
    """(line, question, relevant entries) of a JSONL or CSV questions file."""
    if Path(path).suffix.lower() in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
            reader = csv.DictReader(handle, delimiter=delimiter)
            fields = {name.strip().lower(): name for name in reader.fieldnames or ()}
            if "question" not in fields or "relevant" not in fields:
                raise DataError(path, f"needs columns question and relevant, has {', '.join(fields) or 'none'}")
            for number, row in enumerate(reader, start=2):
                relevant = [r.strip() for r in (row[fields["relevant"]] or "").split("|") if r.strip()]
                yield number, _question(path, number, row[fields["question"]]), relevant
        return
    for number, row in iter_jsonl(path):
        question = require(path, number, row, "question", str)
        relevant = require(path, number, row, "relevant", list)
        if not all(isinstance(r, str) for r in relevant):
            raise DataError(path, "relevant must be a list of strings", line=number, field="relevant")
        yield number, _question(path, number, question), relevant


def _question(path: Path, line: int, text: str | None) -> str:
    if not (text or "").strip():
        raise DataError(path, "empty question", line=line, field="question")
    return text.strip()


def resolve_language(setting: str, texts: list[str]) -> dict:
    """`data.language` as set, or detected from the texts (auto): {"language", "detected": shares of each script}."""
    from ragtune.text.language import corpus_language

    profile = corpus_language(texts)
    language = profile.language if setting == "auto" else setting
    if setting == "auto" and language == "ko" and profile.shares.get("latin"):
        # Korean with English terms: the mixed analyzer is Kiwi's on Hangul and stems the English words (Kiwi alone
        # keeps them whole or cuts them at sentence ends)
        language = "mixed"
    log.info("prepare: language %s (%s; data.language=%s)", language, profile.summary(), setting)
    return {"language": language, "setting": setting, "detected": profile.language}
