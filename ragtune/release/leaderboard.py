"""Releases that teach: every `lb/*` tag's leaderboard score beside the local metrics it was released with,
and how well each local figure ranks the releases (Spearman), so a team sees which local number tracks
the leaderboard.

Local figures come from the tagged commit's `metrics/retrieval.json` (`git show <tag>:<path>`), flattened
to `source.retriever.metric` (e.g. `conversational.hybrid.map@3`); the score from the tag's release record.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ragtune.release.tag import TAG_PREFIX, flat_numbers, read_record
from ragtune.release.vcs import ReleaseError, git

METRICS_FILE = "metrics/retrieval.json"
MIN_RELEASES = 3  # fewer points say nothing about a ranking


@dataclass
class Released:
    tag: str
    score: float
    metrics: dict[str, float]  # flattened local figures; empty when the tag has no metrics file


def list_releases(dvc_root: Path, metrics_file: str = METRICS_FILE) -> list[Released]:
    """Every `lb/*` annotated tag, oldest tag name first, with its score and local metrics."""
    listed = git(dvc_root, "tag", "--list", f"{TAG_PREFIX}*", check=False)
    if listed.returncode != 0:
        raise ReleaseError(f"cannot list tags in {dvc_root}: {listed.stderr.strip()}")
    releases = []
    for tag in sorted(listed.stdout.split()):
        record = read_record(dvc_root, tag)
        shown = git(
            dvc_root, "show", f"{tag}:./{metrics_file}", check=False
        )  # ./: relative to the DVC root inside the repo
        try:
            values = flat_numbers(json.loads(shown.stdout)) if shown.returncode == 0 else {}
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"{tag}:{metrics_file} is not valid JSON: {exc}") from exc
        releases.append(Released(tag, float(record["leaderboard_score"]), values))
    return releases


def rank_correlations(releases: list[Released]) -> dict[str, tuple[float, int]]:
    """figure -> (Spearman rho with the leaderboard score, releases it is measured on), for every local figure
    present in at least MIN_RELEASES releases and not constant there; best-tracking first."""
    from scipy.stats import spearmanr

    figures = sorted({name for r in releases for name in r.metrics})
    result = {}
    for name in figures:
        pairs = [(r.metrics[name], r.score) for r in releases if name in r.metrics]
        if len(pairs) < MIN_RELEASES or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
            continue
        rho = spearmanr([x for x, _ in pairs], [y for _, y in pairs]).statistic
        if not math.isnan(rho):
            result[name] = (round(float(rho), 6), len(pairs))
    return dict(sorted(result.items(), key=lambda item: (-item[1][0], item[0])))


def headline_figures(releases: list[Released]) -> list[str]:
    """`<source>.hybrid.map@3` and `.mrr@10` of every source, the columns people read first (not the per-kind
    `<source>.kinds.<kind>.hybrid.*`, which stay among the correlated figures)."""
    names = sorted({name for r in releases for name in r.metrics if ".kinds." not in name})
    return [n for n in names if n.endswith((".hybrid.map@3", ".hybrid.mrr@10"))] or names[:4]


def describe(releases: list[Released], correlations: dict[str, tuple[float, int]], top: int = 15) -> str:
    if not releases:
        return f"no {TAG_PREFIX}* releases yet (make one with `ragtune release --score …`)"
    columns = headline_figures(releases)
    lines = ["\t".join(["tag", "leaderboard"] + columns)]
    for r in releases:
        lines.append(
            "\t".join([r.tag, f"{r.score:.4f}"] + [f"{r.metrics[c]:.4f}" if c in r.metrics else "-" for c in columns])
        )
    if len(releases) < MIN_RELEASES:
        lines += ["", f"{len(releases)} release(s): Spearman correlations need at least {MIN_RELEASES}."]
    elif correlations:
        lines += ["", "Spearman rho of each local figure with the leaderboard score (which local number to trust):"]
        lines += [f"  {rho:+.3f}  {name}  (n={n})" for name, (rho, n) in list(correlations.items())[:top]]
        if len(correlations) > top:
            lines.append(f"  ... {len(correlations) - top} more")
    return "\n".join(lines)


def plot_local_vs_leaderboard(
    releases: list[Released], path: str | os.PathLike, figures: list[str] | None = None
) -> None:
    """One scatter series per local figure (default the headline ones): local value against leaderboard score."""
    from matplotlib.figure import Figure

    from ragtune.io import atomic_write

    figures = figures or headline_figures(releases)
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.add_subplot()
    for name in figures:
        points = sorted((r.metrics[name], r.score) for r in releases if name in r.metrics)
        if points:
            axes.plot([x for x, _ in points], [y for _, y in points], marker="o", linestyle=":", label=name)
    axes.set(xlabel="local figure", ylabel="leaderboard score", title="Local metrics vs leaderboard, per release")
    axes.grid(True, alpha=0.3)
    if figures:
        axes.legend(loc="best", fontsize="small")
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100, metadata={"Software": None})
