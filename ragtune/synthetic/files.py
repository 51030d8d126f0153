"""Pre-generated (question, docid) pairs read from a file, e.g. written earlier by any LLM, and how they join the
generated questions (`queries.from_file`, `queries.file_mode`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ragtune.io import iter_jsonl, require
from ragtune.synthetic.roundtrip import round_trip_filter


def read_question_file(path: str | Path, docids: set[str]) -> list[dict]:
    """(query, docid) pairs from a JSONL file, e.g. questions a team generated earlier with any LLM.
    Each line needs a non-empty string `query` and a `docid` of the corpus; exact duplicates are dropped."""
    pairs: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for line, obj in iter_jsonl(path):
        query = require(path, line, obj, "query", str, lambda q: bool(q.strip()), "is empty").strip()
        docid = require(path, line, obj, "docid", str, lambda d: d in docids, "is not a document of the corpus")
        if (query, docid) not in seen:
            seen.add((query, docid))
            pairs.append({"query": query, "docid": docid, "source": "file"})
    return pairs


def combine_file_questions(
    generated: Sequence[dict], from_file: Sequence[dict], mode: str, document_order: Sequence[str]
) -> list[dict]:
    """`add`: file questions beside the generated ones; `replace`: the file's questions only.
    Sorted by document (stable), so each document's questions stay together and in order."""
    if mode not in ("add", "replace"):
        raise ValueError(f"queries.file_mode must be 'add' or 'replace', got {mode!r}")
    order = {docid: i for i, docid in enumerate(document_order)}
    pairs = list(from_file) if mode == "replace" else list(generated) + list(from_file)
    return sorted(pairs, key=lambda pair: order[pair["docid"]])


def with_file_questions(
    pairs: Sequence[dict],
    from_file: Sequence[dict],
    mode: str,
    document_order: Sequence[str],
    search,
    round_trip_top_k: int,
) -> tuple[list[dict], dict]:
    """`combine_file_questions` after the BM25 round trip (`round_trip_filter`, when `round_trip_top_k` > 0;
    `search(texts, k)` → hits), and the counts of kept and dropped file questions."""
    kept, dropped = list(from_file), []
    if round_trip_top_k > 0:
        hits = search([pair["query"] for pair in from_file], round_trip_top_k)
        kept, dropped = round_trip_filter(from_file, [[docid for docid, _ in h] for h in hits], round_trip_top_k)
    stats = {
        "file_questions": len(from_file),
        "file_round_trip_kept": len(kept),
        "file_round_trip_dropped": len(dropped),
        "file_mode": mode,
    }
    return combine_file_questions(pairs, kept, mode, document_order), stats
