"""A sweep at a glance (`ragtune plot-sweep`): one metric of every finished DVC experiment against the parameter
that was swept, each point named by its experiment, the baseline commit marked.

Read from `dvc exp show --json`: a list of baselines (the workspace first, then commits), each
{"rev", "name", "data": {"params": {file: {"data": {...}}}, "metrics": {file: {"data": {...}}}},
"experiments": [{"revs": [experiment, ...], "executor": {"state"}, "name"}]} (dvc.repo.experiments.serialize:
ExpState, ExpRange; the first of `revs` is the experiment's tip). Keys are named as `dvc exp show` names its
columns: `file:dotted.key` (metrics/objective.json:objective), or the dotted key alone when one file has it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ragtune.io import UserError

DEFAULT_METRIC = "metrics/objective.json:objective"  # what `ragtune tune` maximises (tune.objective)
PLOT_DIR = ".dvc/tmp"  # under the DVC root, ignored by .dvc/.gitignore: a tracked-clean work tree for `ragtune release`
LISTED = 12  # names shown when a key is absent


class SweepError(UserError):
    """No experiment to plot, or a parameter / metric none of them has: the message says what exists."""


@dataclass(frozen=True)
class Point:
    name: str  # the experiment's name, or the baseline's branch / short commit
    value: Any  # the parameter's value
    score: float  # the metric's value
    baseline: bool


@dataclass(frozen=True)
class Sweep:
    points: list[Point]
    skipped: list[str]  # "name (why)": experiments not plotted


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}: the dotted keys `dvc exp show` shows as columns (lists stay values)."""
    if not isinstance(data, Mapping):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def columns(data: Mapping | None, kind: str) -> dict[str, Any]:
    """Every `file:dotted.key` → value of one experiment's `kind` (params or metrics); a file that failed to load
    ({"error": ...}) has none."""
    files = (data or {}).get(kind) or {}
    return {
        f"{file}:{key}": value for file, loaded in files.items() for key, value in flatten(loaded.get("data")).items()
    }


def resolve(key: str, found: Mapping[str, Any]) -> str | None:
    """The `file:dotted.key` column `key` names among `found`: itself, or the one column whose key part it is
    (`alpha` → params.yaml:alpha). None where no column matches; SweepError where several do."""
    if key in found:
        return key
    matches = sorted(column for column in found if column.partition(":")[2] == key)
    if len(matches) > 1:
        raise SweepError(f"{key!r} names several columns: {', '.join(matches)}; pass one of them")
    return matches[0] if matches else None


class Row(NamedTuple):
    name: str
    data: Mapping | None  # params and metrics; None for a queued experiment
    baseline: bool
    state: str | None  # the executor's: success, queued, running, failed (None for a baseline)


def experiments(shown: list[Mapping]) -> Iterator[Row]:
    """A Row for each baseline commit of `dvc exp show --json` and each experiment on it; the workspace row is left
    out (it holds whichever run was last, not a point of the sweep)."""
    for baseline in shown:
        if baseline.get("rev") == "workspace":
            continue
        yield Row(baseline.get("name") or str(baseline.get("rev", ""))[:7], baseline.get("data"), True, None)
        for group in baseline.get("experiments") or []:
            tip = (group.get("revs") or [{}])[0]
            name = tip.get("name") or group.get("name") or str(tip.get("rev", ""))[:7]
            yield Row(name, tip.get("data"), False, (group.get("executor") or {}).get("state"))


def _listing(names: list[str]) -> str:
    more = f", … ({len(names) - LISTED} more)" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more if names else "none"


def collect(shown: list[Mapping], param: str, metric: str = DEFAULT_METRIC) -> Sweep:
    """The points of `param` and `metric` (each a column name or its key) in `dvc exp show --json`'s output."""
    rows = list(experiments(shown))
    finished = [row for row in rows if row.data and row.state in (None, "success")]
    skipped = [f"{row.name} ({row.state or 'no data'})" for row in rows if not row.baseline and row not in finished]
    if all(row.baseline for row in finished):
        unfinished = f" ({', '.join(skipped)})" if skipped else ""
        raise SweepError(
            f"no finished experiment in `dvc exp show`{unfinished}: run a sweep first, e.g. "
            "`dvc exp run --queue -S 'alpha=range(0.2,0.9,0.1)'` and `dvc queue start`"
        )
    params = [columns(row.data, "params") for row in finished]
    metrics = [columns(row.data, "metrics") for row in finished]
    param_column = resolve(param, {k: v for found in params for k, v in found.items()})
    if param_column is None:
        every = sorted(set().union(*params))
        varying = [k for k in every if len({json.dumps(p.get(k), default=str) for p in params}) > 1]
        known = f"the ones that differ between them: {_listing(varying)}" if varying else f"params: {_listing(every)}"
        raise SweepError(f"parameter {param!r} is in no experiment; {known}")
    numeric = {k: v for found in metrics for k, v in found.items() if _is_number(v)}
    metric_column = resolve(metric, numeric)
    if metric_column is None:
        raise SweepError(f"metric {metric!r} is in no experiment; metrics: {_listing(sorted(numeric))}")
    points = []
    for row, found_params, found_metrics in zip(finished, params, metrics):
        if param_column not in found_params or not _is_number(found_metrics.get(metric_column)):
            skipped.append(f"{row.name} (no {param_column if param_column not in found_params else metric_column})")
            continue
        points.append(Point(row.name, found_params[param_column], float(found_metrics[metric_column]), row.baseline))
    return Sweep(points, skipped)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_experiments(root: Path) -> list[Mapping]:
    """`dvc exp show --json` in `root`, parsed."""
    from ragtune.release.vcs import dvc_command, explain_failure

    args = [*dvc_command(), "exp", "show", "--json"]
    done = subprocess.run(args, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise SweepError(explain_failure(args, root, done.stdout + done.stderr))
    return json.loads(done.stdout)


def default_path(root: Path, param: str, metric: str) -> Path:
    """<root>/.dvc/tmp/sweep-<param>.png (the metric added when it is not the default)."""
    name = param if metric == DEFAULT_METRIC else f"{param}-{metric}"
    return root / PLOT_DIR / f"sweep-{re.sub(r'[^A-Za-z0-9._@-]+', '_', name)}.png"


def describe(sweep: Sweep, param: str, metric: str) -> str:
    """A line per point, in the parameter's order, then the experiments left out."""
    lines = [
        f"{point.name:<24} {param}={point.value!s:<10} {metric}={point.score:.4f}" + ("  (baseline)" * point.baseline)
        for point in sorted(sweep.points, key=lambda p: (_is_number(p.value), _order(p.value)))
    ]
    if sweep.skipped:
        lines.append("not plotted: " + ", ".join(sweep.skipped))
    return "\n".join(lines)


def _order(value: Any) -> Any:
    return value if _is_number(value) else str(value)


def plot(sweep: Sweep, param: str, metric: str, path: str | os.PathLike) -> None:
    """The metric per experiment against the parameter; a text parameter (fusion=rrf) gets one position per value."""
    from matplotlib.figure import Figure

    from ragtune.charts import save_png

    numeric = all(_is_number(point.value) for point in sweep.points)
    categories = sorted({str(point.value) for point in sweep.points})

    def x(point: Point) -> float:
        return float(point.value) if numeric else float(categories.index(str(point.value)))

    figure = Figure(figsize=(7.2, 4.8), layout="constrained")
    axes = figure.add_subplot()
    for baseline, style in (
        (False, {"marker": "o", "color": "tab:blue"}),
        (True, {"marker": "*", "s": 160, "color": "tab:red"}),
    ):
        group = [point for point in sweep.points if point.baseline == baseline]
        if group:
            label = "baseline commit" if baseline else "experiment"
            axes.scatter([x(p) for p in group], [p.score for p in group], label=label, zorder=3, **style)
    for point in sweep.points:
        axes.annotate(point.name, (x(point), point.score), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if not numeric:
        axes.set_xticks(range(len(categories)), categories)
    axes.set(xlabel=param, ylabel=metric, title=f"{metric} by {param} ({len(sweep.points)} runs)")
    axes.margins(0.1)  # room for the names beside the outermost points
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    save_png(figure, path)
