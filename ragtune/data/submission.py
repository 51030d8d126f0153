"""The competition's submission file: one JSON object per line, validated before it is written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ragtune.io import atomic_write, dumps, read_json
from ragtune.runs import RankedRun, as_ranked

TOPK = 3


class SubmissionError(ValueError):
    pass


def load_run(runs_dir: Path, retriever: str) -> RankedRun:
    """The run `retriever` of `runs_dir` (the eval-question runs); a clear error listing the runs that exist."""
    index = Path(runs_dir) / "retrievers.json"
    available = list(read_json(index)) if index.is_file() else []
    if retriever not in available:
        raise SubmissionError(
            f"params.yaml: submission.retriever {retriever!r} is not a run of {runs_dir}; "
            f"available: {', '.join(available) or 'none (run the retrieve stage)'}"
        )
    return RankedRun.load(Path(runs_dir) / retriever)


def build_rows(
    questions: Sequence[dict],
    standalone: Mapping[str, str],
    run: RankedRun | Mapping[str, Mapping[str, float]],
    contents: Mapping[str, str],
    reference_chars: int = 0,
) -> list[dict]:
    """One row per eval question, in eval_id order; `topk` holds the best TOPK docids (empty for chit-chat)."""
    run = as_ranked(run)
    row_of = {qid: row for row, qid in enumerate(run.qids)}
    rows = []
    for question in sorted(questions, key=lambda q: q["eval_id"]):
        qid = str(question["eval_id"])
        row = row_of.get(qid)
        ranked = (
            []
            if row is None
            else [(run.docids[i], s) for i, s in zip(run.ids[row, :TOPK], run.scores[row, :TOPK]) if i >= 0]
        )
        rows.append(
            {
                "eval_id": question["eval_id"],
                "standalone_query": standalone.get(qid, ""),
                "topk": [docid for docid, _ in ranked],
                "answer": "",
                "references": [
                    {
                        "score": round(float(score), 6),
                        "content": contents[docid][:reference_chars] if reference_chars else contents[docid],
                    }
                    for docid, score in ranked
                ],
            }
        )
    return rows


def validate(rows: Sequence[dict], questions: Sequence[dict], docids: set[str]) -> None:
    """Every eval question exactly once; topk: at most TOPK distinct known docids."""
    expected = sorted(q["eval_id"] for q in questions)
    got = [row["eval_id"] for row in rows]
    if sorted(got) != expected:
        missing = sorted(set(expected) - set(got))[:5]
        extra = sorted(set(got) - set(expected))[:5]
        raise SubmissionError(
            f"eval ids differ from the questions: missing {missing}, unexpected {extra}, "
            f"{len(got)} rows for {len(expected)} questions"
        )
    for row in rows:
        topk = row["topk"]
        if len(topk) > TOPK or len(set(topk)) != len(topk):
            raise SubmissionError(f"eval_id {row['eval_id']}: topk must hold at most {TOPK} distinct docids: {topk}")
        unknown = [d for d in topk if d not in docids]
        if unknown:
            raise SubmissionError(f"eval_id {row['eval_id']}: unknown docids {unknown}")
        for field in ("standalone_query", "answer", "references"):
            if field not in row:
                raise SubmissionError(f"eval_id {row['eval_id']}: missing field {field!r}")


def write_submission(path: Path, rows: Sequence[dict]) -> None:
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(dumps(row) + "\n")
