"""What a person reads first: the per-kind breakdown of a validation source, and metrics/summary.json.

metrics/retrieval.json holds every figure (six metrics per retriever per source, the chit-chat counts);
metrics/summary.json holds the few a person compares between experiments, arranged figure first so that one
short regex picks them in `dvc exp show` (`--keep 'final\\.|dense\\.|kind\\.|chitchat\\.'`, README):

    {"final":    {source: {"map@3", "mrr@10"}},    the submission's retriever (submission.retriever)
     "dense":    {source: {"base", "tuned"}},      dense map@3 before and after training
     "kind":     {source: {kind: map@3}},          the final retriever's, where the questions declare kinds
     "chitchat": {source: {"precision", "recall"}}} the chit-chat detector's, where defined

The objective stays in metrics/objective.json alone (one column, `dvc exp show --sort-by
metrics/objective.json:objective`); `ragtune summary` prints it last. A figure the metrics lack (no dense_base
run, no chit-chat in the labels) is left out, never made up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ragtune.evaluation.metrics import QrelsDict, RunDict, evaluate
from ragtune.io import DataError
from ragtune.runs import RankedRun

KIND_METRICS = ("map@3", "mrr@10")
KIND_ORDER = ("single", "multi-turn", "chitchat")  # ragtune.data.inputs.KINDS; others after, by name
SUMMARY_FILE = "metrics/summary.json"
OBJECTIVE_FILE = "metrics/objective.json"  # tune.objective's value, written beside it by evaluate


def by_kind(
    runs: Mapping[str, RankedRun | RunDict],
    qrels: QrelsDict,
    kinds: Mapping[str, str],
    metrics: Sequence[str] = KIND_METRICS,
) -> dict[str, dict[str, Any]]:
    """kind -> {retriever: {metric: value}, "questions": n} over the questions of `qrels` that declare a kind
    (`kinds`: qid -> kind); {} when none does. A kind without relevant documents (chit-chat) gets map@3 only:
    the rank metrics are undefined there (`metrics.evaluate` would say 0.0)."""
    groups: dict[str, list[str]] = {}
    for qid in qrels:
        if qid in kinds:
            groups.setdefault(kinds[qid], []).append(qid)
    result = {}
    for kind in sorted(groups, key=_kind_key):
        subset = {qid: qrels[qid] for qid in groups[kind]}
        shown = [m for m in metrics if m.startswith("map@")] if not any(subset.values()) else list(metrics)
        section: dict[str, Any] = {name: evaluate(run, subset, shown) for name, run in sorted(runs.items())}
        section["questions"] = len(subset)
        result[kind] = section
    return result


def _kind_key(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def summarize(scores: Mapping[str, Mapping[str, Any]], final: str) -> dict[str, Any]:
    """metrics/summary.json (module docstring) from metrics/retrieval.json's `scores`, `final` being the
    submission's retriever."""
    summary: dict[str, Any] = {}
    for source, section in scores.items():
        figures = {
            "final": _pick(section.get(final, {}), KIND_METRICS),
            "dense": {
                label: section[name]["map@3"]
                for label, name in (("base", "dense_base"), ("tuned", "dense"))
                if "map@3" in section.get(name, {})
            },
            "kind": {
                kind: values[final]["map@3"]
                for kind, values in section.get("kinds", {}).items()
                if "map@3" in values.get(final, {})
            },
            "chitchat": _pick(section.get("chitchat", {}), ("precision", "recall")),
        }
        for figure, values in figures.items():
            if values:
                summary.setdefault(figure, {})[source] = values
    return summary


def _pick(values: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: values[key] for key in keys if key in values}


# How each figure reads in the table; {key} is the metric, kind or detector figure, {final} the retriever.
LABELS = {  # in the table's order
    "final": "{final} {key}",
    "dense": "dense map@3, {key}",
    "kind": "{final} map@3, {key} questions",
    "chitchat": "chit-chat {key}",
}


def summary_rows(summary: Mapping[str, Any], final: str = "final") -> list[tuple[str, str, str]]:
    """(source, figure, value) rows: per source its final, dense, kind and chit-chat figures; the objective last."""
    sources = sorted({source for value in summary.values() if isinstance(value, Mapping) for source in value})
    rows = []
    for source in sources:
        for figure in sorted(
            summary, key=lambda name: (list(LABELS).index(name) if name in LABELS else len(LABELS), name)
        ):
            per_source = summary[figure]
            if isinstance(per_source, Mapping) and source in per_source:
                label = LABELS.get(figure, figure + " {key}")
                values = per_source[source]
                keys = sorted(values, key=_kind_key) if figure == "kind" else list(values)  # JSON sorts them by name
                for key in keys:
                    value = values[key]
                    rows.append((source, label.format(final=final, key=key), _number(value)))
    if "objective" in summary:
        rows.append(("", "objective", _number(summary["objective"])))
    return rows


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def summary_table(summary: Mapping[str, Any], final: str = "final", objective: str | None = None) -> str:
    """The summary as an aligned text table; `final` names the submission's retriever, `objective` the spec."""
    rows = [
        (s, f"objective ({objective})" if objective and f == "objective" else f, v)
        for s, f, v in summary_rows(summary, final)
    ]
    header = ("source", "figure", "value")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    return "\n".join(f"{s:<{widths[0]}}  {f:<{widths[1]}}  {v:>{widths[2]}}" for s, f, v in [header, *rows])


def load(root: Path, rev: str | None = None) -> tuple[dict[str, Any], str, str | None]:
    """(summary with the objective's value added, final retriever, objective spec) of the workspace at `root`, or
    as they were at `rev` (a git revision or an experiment's name; the metrics and params.yaml are git-tracked)."""
    if rev is None and not (root / SUMMARY_FILE).exists():
        raise DataError(SUMMARY_FILE, "not found: run `dvc repro` (its evaluate stage writes it)")

    def read(path: str) -> bytes:
        if rev is None:
            return (root / path).read_bytes()
        from ragtune.evaluation.compare import read_at_revision  # git show, else dvc.api (experiment names)

        return read_at_revision(rev, path, root)

    where = SUMMARY_FILE if rev is None else f"{rev}:{SUMMARY_FILE}"
    try:
        summary = json.loads(read(SUMMARY_FILE).decode("utf-8"))
    except DataError:
        raise DataError(
            where, "not found: an unknown revision or experiment, or one evaluated before the summary existed"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(where, f"invalid JSON: {exc}") from None
    if not isinstance(summary, dict):
        raise DataError(where, "must be a JSON object")
    try:
        summary["objective"] = json.loads(read(OBJECTIVE_FILE).decode("utf-8"))["objective"]
    except (OSError, DataError, ValueError, KeyError, TypeError):
        pass  # the figures stand without it
    try:
        params = yaml.safe_load(read("params.yaml")) or {}
    except (OSError, DataError, yaml.YAMLError):
        params = {}  # the labels only: the figures stand without them
    final = (params.get("submission") or {}).get("retriever") or "final"
    return summary, final, (params.get("tune") or {}).get("objective")
