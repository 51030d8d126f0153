"""The three inputs — documents, questions, labelled questions — validated and normalised.

Normalised shapes (what every later stage reads):
  document:  {"docid", "src", "content"}
  question:  {"eval_id", "msg": [{"role", "content"}, ...]}
  labelled:  {"qid", "msg": [...], "relevant": [docid, ...]}   (empty relevant: no retrieval needed)
             (+ "kind": single | multi-turn | chitchat when the file gives it)
  validation: a labelled question + "source" (the name of the validation set it came from)
Labelled files may also use the competition's dev format {"query", "docid"}.
"""

from __future__ import annotations

from pathlib import Path

from ragtune.io import DataError, iter_jsonl, require
from ragtune.text.analysis import normalize

ROLES = ("user", "assistant", "system")
KINDS = ("single", "multi-turn", "chitchat")


def _text(path, line, obj, field) -> str:
    value = normalize(require(path, line, obj, field, str))
    if not value:
        raise DataError(path, "is empty", line=line, field=field)
    return value


def load_documents(path: Path) -> list[dict]:
    documents, seen = [], {}
    for line, obj in iter_jsonl(path):
        docid = require(path, line, obj, "docid", str, lambda v: v.strip() != "", "is empty")
        if docid in seen:
            raise DataError(path, f"duplicate docid {docid!r} (first on line {seen[docid]})", line=line, field="docid")
        seen[docid] = line
        src = obj.get("src", "")
        if not isinstance(src, str):
            raise DataError(path, f"must be str, got {type(src).__name__}", line=line, field="src")
        documents.append({"docid": docid, "src": src, "content": _text(path, line, obj, "content")})
    if not documents:
        raise DataError(path, "no documents")
    return documents


def _messages(path, line, obj) -> list[dict]:
    msg = require(path, line, obj, "msg", list, lambda v: len(v) > 0, "is empty")
    turns = []
    for i, turn in enumerate(msg):
        field = f"msg[{i}]"
        if not isinstance(turn, dict):
            raise DataError(path, "must be an object with role and content", line=line, field=field)
        role = require(path, line, turn, "role", str)
        if role not in ROLES:
            raise DataError(path, f"role must be one of {ROLES}, got {role!r}", line=line, field=f"{field}.role")
        content = normalize(require(path, line, turn, "content", str))
        turns.append({"role": role, "content": content})
    if not any(t["role"] == "user" and t["content"] for t in turns):
        raise DataError(path, "has no user turn with content", line=line, field="msg")
    return turns


def load_questions(path: Path) -> list[dict]:
    questions, seen = [], {}
    for line, obj in iter_jsonl(path):
        eval_id = require(path, line, obj, "eval_id", int)
        if eval_id in seen:
            raise DataError(
                path, f"duplicate eval_id {eval_id} (first on line {seen[eval_id]})", line=line, field="eval_id"
            )
        seen[eval_id] = line
        questions.append({"eval_id": eval_id, "msg": _messages(path, line, obj)})
    if not questions:
        raise DataError(path, "no questions")
    return questions


def load_labelled(path: Path, docids: set[str]) -> list[dict]:
    """Labelled questions in either format; every relevant docid must be a known document."""
    labelled, seen = [], set()
    for line, obj in iter_jsonl(path):
        if "msg" in obj or "qid" in obj:
            qid = require(path, line, obj, "qid", (str, int))
            msg = _messages(path, line, obj)
            relevant = require(path, line, obj, "relevant", list)
            for i, docid in enumerate(relevant):
                if not isinstance(docid, str):
                    raise DataError(
                        path, f"must be a docid string, got {type(docid).__name__}", line=line, field=f"relevant[{i}]"
                    )
        else:  # competition dev format: one question written about one document
            qid = f"dev-{line:06d}"
            msg = [{"role": "user", "content": _text(path, line, obj, "query")}]
            relevant = [require(path, line, obj, "docid", str)]
        qid = str(qid)
        if qid in seen:
            raise DataError(path, f"duplicate qid {qid!r}", line=line, field="qid")
        seen.add(qid)
        for docid in relevant:
            if docid not in docids:
                raise DataError(
                    path, f"names unknown docid {docid!r}", line=line, field="docid" if "docid" in obj else "relevant"
                )
        row = {"qid": qid, "msg": msg, "relevant": sorted(set(relevant))}
        if "kind" in obj:
            row["kind"] = _kind(path, line, obj, msg, relevant)
        labelled.append(row)
    return labelled


def _kind(path, line, obj, msg, relevant) -> str:
    """The declared kind, checked against the row: chit-chat has no relevant docid, a multi-turn has earlier turns."""
    kind = require(path, line, obj, "kind", str)
    if kind not in KINDS:
        raise DataError(path, f"must be one of {KINDS}, got {kind!r}", line=line, field="kind")
    if (kind == "chitchat") != (not relevant):
        raise DataError(
            path,
            "chit-chat must have an empty 'relevant'"
            if kind == "chitchat"
            else f"a {kind} question needs at least one relevant docid",
            line=line,
            field="relevant",
        )
    if kind == "multi-turn" and sum(t["role"] == "user" for t in msg) < 2:
        raise DataError(path, "a multi-turn question needs at least two user turns", line=line, field="msg")
    return kind


def load_validation(sources: dict[str, Path], docids: set[str]) -> list[dict]:
    """Labelled questions of every source (name -> file), each row tagged with its "source".

    Sources are read in name order; a qid must be unique across all of them (metrics are split by
    source but runs are keyed by qid)."""
    rows, first = [], {}
    for name in sorted(sources):
        for row in load_labelled(sources[name], docids):
            if row["qid"] in first:
                raise DataError(
                    sources[name], f"qid {row['qid']!r} is also in source {first[row['qid']]!r}", field="qid"
                )
            first[row["qid"]] = name
            rows.append({**row, "source": name})
    return rows


def user_text(msg: list[dict]) -> str:
    """The last user turn: what a single-turn question asks."""
    return next(t["content"] for t in reversed(msg) if t["role"] == "user")
