"""Compare two retrieval runs question by question: where does B win or lose against A?

A run is a JSON file `qid -> {docid: score}` or a run directory as the pipeline saves it
(`runs/validation/hybrid`, see ragtune.runs), named either by its path or by `rev:path` (as it was
at a git revision or experiment commit: `git show` for git-tracked files, `dvc.api` for DVC outputs).
Labels are JSONL rows `{"qid", "msg": [...], "relevant": [docids]}`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ragtune.evaluation.metrics import competition_ap, per_query, ranking
from ragtune.io import DataError, iter_jsonl, require
from ragtune.runs import RankedRun

_MAP = re.compile(r"^map@([1-9][0-9]*)$")


def _validate_run(run, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(run, dict):
        raise DataError(where, f"a run must be a JSON object qid -> {{docid: score}}, got {type(run).__name__}")
    checked = {}
    for qid, ranked in run.items():
        if not isinstance(ranked, dict):
            raise DataError(where, f"must map docids to scores, got {type(ranked).__name__}", field=str(qid))
        for docid, score in ranked.items():
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise DataError(where, f"score of {docid!r} must be a number, got {score!r}", field=str(qid))
        checked[str(qid)] = {str(docid): float(score) for docid, score in ranked.items()}
    return checked


def read_at_revision(rev: str, path: str, repo: Path) -> bytes:
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True)
    if shown.returncode == 0:
        return shown.stdout
    # Not in git at that revision: a DVC output, whose bytes dvc.api finds from the dvc.lock of `rev`.
    import dvc.api  # heavy import, only needed here

    try:
        return dvc.api.read(path, repo=str(repo), rev=rev, mode="rb")
    except Exception as exc:  # dvc raises many types (unknown rev, untracked path, missing cache object)
        git_error = shown.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise DataError(f"{rev}:{path}", f"cannot read it from git ({git_error[0]}) nor DVC ({exc})") from exc


def _json(data: bytes, where: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(where, f"invalid JSON: {exc}") from None


def _ranked_run(read: Callable[[str], bytes], where: str) -> dict[str, dict[str, float]]:
    """A run saved by `ragtune.runs.RankedRun.save` (qids.json, docids.json, ids.npy, scores.npy)."""
    try:
        ranked = RankedRun(
            _json(read("qids.json"), f"{where}/qids.json"),
            _json(read("docids.json"), f"{where}/docids.json"),
            np.load(io.BytesIO(read("ids.npy"))),
            np.load(io.BytesIO(read("scores.npy"))),
        )
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(where, f"unreadable run array: {exc}") from None
    return _validate_run(ranked.to_run(), where)


def load_run(spec: str, repo: Path = Path(".")) -> dict[str, dict[str, float]]:
    """A run from a path (relative to the current directory) or from `rev:path` (relative to `repo`).

    The path is either a JSON file qid -> {docid: score} or a run directory as the pipeline writes
    it (`runs/validation/hybrid`: qids.json, docids.json, ids.npy, scores.npy).
    """
    local = Path(spec)
    if local.exists() or ":" not in spec:
        if local.is_dir():

            def read(name: str) -> bytes:
                try:
                    return (local / name).read_bytes()
                except FileNotFoundError:
                    raise DataError(
                        local / name,
                        "file not found: not a run directory (qids.json, docids.json, "
                        "ids.npy, scores.npy) nor a JSON run file",
                    ) from None

            return _ranked_run(read, spec)
        try:
            data = local.read_bytes()
        except FileNotFoundError:
            raise DataError(spec, "file not found (for a file at a git revision write rev:path)") from None
        return _validate_run(_json(data, spec), spec)
    rev, path = spec.split(":", 1)
    path = path.rstrip("/")
    if path.endswith(".json"):
        return _validate_run(_json(read_at_revision(rev, path, Path(repo)), spec), spec)
    return _ranked_run(lambda name: read_at_revision(rev, f"{path}/{name}", Path(repo)), spec)


def load_labels(path: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(qid -> relevant docids, qid -> question text) from a labelled JSONL file. The text holds every user turn
    of a conversation, one per line (a follow-up question alone often does not say what it asks about)."""
    qrels, questions = {}, {}
    for line, obj in iter_jsonl(path):
        qid = str(require(path, line, obj, "qid", (str, int)))
        if qid in qrels:
            raise DataError(path, f"duplicate qid {qid!r}", line=line, field="qid")
        relevant = require(path, line, obj, "relevant", list)
        if not all(isinstance(docid, str) for docid in relevant):
            raise DataError(path, "must be a list of docid strings", line=line, field="relevant")
        qrels[qid] = relevant
        turns = [t.get("content", "") for t in obj.get("msg") or [] if isinstance(t, dict) and t.get("role") == "user"]
        questions[qid] = "\n".join(" ".join(str(turn).split()) for turn in turns)
    return qrels, questions


def load_documents(path: Path) -> dict[str, str]:
    """docid -> content from a documents JSONL file (the workspace's `data/prepared/documents.jsonl`)."""
    documents = {}
    for line, obj in iter_jsonl(path):
        documents[str(require(path, line, obj, "docid", (str, int)))] = str(obj.get("content", ""))
    return documents


@dataclasses.dataclass(frozen=True)
class QuestionDelta:
    qid: str
    a: float
    b: float
    question: str
    relevant: list[str]
    top_a: list[str]
    top_b: list[str]

    @property
    def delta(self) -> float:
        return self.b - self.a


@dataclasses.dataclass
class Comparison:
    metric: str
    mean_a: float
    mean_b: float
    questions: int
    b_wins: list[QuestionDelta]  # B scores higher, largest gain first
    a_wins: list[QuestionDelta]  # A scores higher, largest loss first
    ties: int
    unlabelled_in_a: int  # qids the run has but the labels do not (ignored)
    unlabelled_in_b: int
    unanswered_in_a: int = 0  # labelled qids the run lacks (scored as an empty answer)
    unanswered_in_b: int = 0


def per_question(run: dict[str, dict[str, float]], qrels: dict[str, list[str]], metric: str) -> dict[str, float]:
    """qid -> score; `map@k` is the competition AP over each run's top k (see ragtune.evaluation.metrics)."""
    match = _MAP.match(metric)
    if match:
        k = int(match.group(1))
        return {qid: competition_ap(ranking(run.get(qid, {}), k), relevant, k) for qid, relevant in qrels.items()}
    return per_query(run, qrels, metric)


def compare_runs(
    run_a: dict,
    run_b: dict,
    qrels: dict[str, list[str]],
    questions: dict[str, str] | None = None,
    metric: str = "map@3",
    shown_k: int = 3,
) -> Comparison:
    """Score both runs per question and split the questions into B wins, A wins and ties."""
    scores_a, scores_b = per_question(run_a, qrels, metric), per_question(run_b, qrels, metric)
    qids = sorted(scores_a)
    questions = questions or {}
    b_wins, a_wins, ties = [], [], 0
    for qid in qids:
        item = QuestionDelta(
            qid,
            scores_a[qid],
            scores_b.get(qid, 0.0),
            questions.get(qid, ""),
            qrels[qid],
            ranking(run_a.get(qid, {}), shown_k),
            ranking(run_b.get(qid, {}), shown_k),
        )
        if abs(item.delta) < 1e-12:
            ties += 1
        else:
            (b_wins if item.delta > 0 else a_wins).append(item)
    b_wins.sort(key=lambda d: (-d.delta, d.qid))
    a_wins.sort(key=lambda d: (d.delta, d.qid))
    n = len(qids)
    return Comparison(
        metric=metric,
        mean_a=sum(scores_a.values()) / n if n else 0.0,
        mean_b=sum(scores_b[q] for q in qids) / n if n else 0.0,
        questions=n,
        b_wins=b_wins,
        a_wins=a_wins,
        ties=ties,
        unlabelled_in_a=len(set(run_a) - set(qrels)),
        unlabelled_in_b=len(set(run_b) - set(qrels)),
        unanswered_in_a=len(set(qrels) - set(run_a)),
        unanswered_in_b=len(set(qrels) - set(run_b)),
    )


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _question_lines(d: QuestionDelta, documents: dict[str, str] | None, indent: str) -> list[str]:
    """Each user turn, the rankings, and a snippet of every document named (relevant first, then as ranked)."""
    turns = d.question.splitlines()
    lines = [f"{indent}{'user: ' if len(turns) > 1 else ''}{_short(turn, 100)}" for turn in turns]
    lines.append(f"{indent}relevant {d.relevant}  A top {d.top_a}  B top {d.top_b}")
    if documents is not None:
        named = list(dict.fromkeys([*d.relevant, *d.top_a, *d.top_b]))
        width = max((len(docid) for docid in named), default=0)
        for docid in named:
            text = documents.get(docid)
            lines.append(
                f"{indent}  {docid:<{width}}  " + ("(not in the documents)" if text is None else _short(text, 80))
            )
    return lines


def describe_comparison(
    result: Comparison,
    name_a: str = "A",
    name_b: str = "B",
    limit: int = 20,
    documents: dict[str, str] | None = None,
) -> str:
    """The summary, then B's and A's wins question by question: the turns, both top lists and, given `documents`
    (docid -> text), an ~80-character snippet of each document named."""
    m = result.metric
    lines = [
        f"{m} over {result.questions} questions",
        f"  A = {result.mean_a:.4f}  {name_a}",
        f"  B = {result.mean_b:.4f}  {name_b}",
        f"  B - A = {result.mean_b - result.mean_a:+.4f}; B wins {len(result.b_wins)}, "
        f"A wins {len(result.a_wins)}, ties {result.ties}",
    ]
    for side, unlabelled, unanswered in (
        ("A", result.unlabelled_in_a, result.unanswered_in_a),
        ("B", result.unlabelled_in_b, result.unanswered_in_b),
    ):
        if unlabelled:
            lines.append(f"  ({unlabelled} questions of {side} have no labels and are ignored)")
        if unanswered:
            lines.append(
                f"  warning: {side} has no ranking for {unanswered} of the {result.questions} labelled "
                "questions; they count as empty answers (wrong labels file?)"
            )
    for title, items in ((f"B wins (B beats A on {m})", result.b_wins), (f"A wins (A beats B on {m})", result.a_wins)):
        if not items:
            continue
        lines += ["", f"{title}: {len(items)}" + (f", largest {limit} shown" if len(items) > limit else "")]
        for d in items[:limit]:
            lines.append(f"  {d.qid:>12}  A {d.a:.3f}  B {d.b:.3f}  ({d.delta:+.3f})")
            lines += _question_lines(d, documents, " " * 16)
    return "\n".join(lines)
