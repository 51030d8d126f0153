"""`ragtune releases`: lb/* tags listed with their local metrics per source, Spearman once three exist."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ragtune.cli import EXIT_OK, main
from ragtune.release.leaderboard import Released, headline_figures, list_releases, rank_correlations
from ragtune.release.tag import RECORD_FORMAT, flat_numbers, format_message

# (leaderboard score, conversational hybrid map@3, dev hybrid map@3):
# conversational tracks the leaderboard, dev inverts it
RELEASES = [(0.80, 0.60, 0.95), (0.85, 0.65, 0.93), (0.90, 0.70, 0.91), (0.92, 0.72, 0.90)]


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, input=stdin).stdout


def tag_release(repo: Path, tag: str, score: float) -> None:
    record = {
        "format": RECORD_FORMAT,
        "leaderboard_score": score,
        "note": "",
        "metrics": {},
        "submission": {
            "path": "submissions/submission.csv",
            "sha256": "0" * 64,
            "bytes": 1,
            "lines": 1,
            "dvc_lock_md5": "0" * 32,
            "dvc_stage": "submit",
        },
        "git_commit": git(repo, "rev-parse", "HEAD").strip(),
        "tag": tag,
    }
    git(repo, "tag", "--annotate", "--cleanup=verbatim", "--file", "-", tag, stdin=format_message(tag, record))


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "project"
    (repo / "metrics").mkdir(parents=True)
    (repo / ".dvc").mkdir()  # find_dvc_root looks for it
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    for i, (score, conversational, dev) in enumerate(RELEASES):
        metrics = {
            "conversational": {
                "hybrid": {"map@3": conversational, "mrr@10": conversational + 0.05},
                "chitchat": {"recall": 0.9 + i / 100},
            },
            "dev": {"hybrid": {"map@3": dev, "mrr@10": dev}},
        }
        (repo / "metrics" / "retrieval.json").write_text(json.dumps(metrics))
        git(repo, "add", "metrics/retrieval.json")
        git(repo, "commit", "-q", "-m", f"release {i}")
        tag_release(repo, f"lb/2026120{i + 1}-{score:.4f}", score)
    return repo


def test_releases_with_local_metrics_per_source(repo):
    releases = list_releases(repo)
    assert [r.score for r in releases] == [s for s, _, _ in RELEASES]
    assert releases[0].metrics["conversational.hybrid.map@3"] == 0.60
    assert releases[-1].metrics["dev.hybrid.map@3"] == 0.90


def test_spearman_shows_which_local_figure_tracks_the_leaderboard(repo):
    correlations = rank_correlations(list_releases(repo))
    assert correlations["conversational.hybrid.map@3"] == (1.0, 4)
    assert correlations["dev.hybrid.map@3"] == (-1.0, 4)
    assert list(correlations)[-1] in {"dev.hybrid.map@3", "dev.hybrid.mrr@10"}  # worst-tracking last


def test_cli_prints_table_correlations_and_plot(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["releases", "--plot", "plots/releases.png"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "lb/20261201-0.8000\t0.8000\t0.6000" in out
    assert "+1.000  conversational.hybrid.map@3  (n=4)" in out and "-1.000  dev.hybrid.map@3" in out
    assert (repo / "plots" / "releases.png").read_bytes().startswith(b"\x89PNG")


def test_the_default_plot_leaves_the_work_tree_clean(repo, monkeypatch, capsys):
    (repo / ".dvc" / ".gitignore").write_text("/tmp\n")  # as `dvc init` writes it
    git(repo, "add", ".dvc/.gitignore")
    git(repo, "commit", "-q", "-m", "dvc init")
    (repo / "metrics" / "nested").mkdir()
    monkeypatch.chdir(repo / "metrics" / "nested")  # found from below the root too
    assert main(["releases"]) == EXIT_OK
    plot = repo / ".dvc" / "tmp" / "releases.png"
    assert plot.read_bytes().startswith(b"\x89PNG") and f"plot: {plot}" in capsys.readouterr().out
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""  # the next `ragtune release` may run


def test_fewer_than_three_releases_say_so(repo, monkeypatch, capsys):
    for tag in git(repo, "tag", "--list", "lb/*").split()[2:]:
        git(repo, "tag", "-d", tag)
    monkeypatch.chdir(repo)
    assert main(["releases", "--plot", ""]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Spearman correlations need at least 3" in out and not (repo / "plots").exists()


def test_per_kind_figures_are_correlated_but_not_headline_columns():
    kinds = {"multi-turn": {"hybrid": {"map@3": 0.5, "mrr@10": 0.5}, "questions": 42}}
    releases = [
        Released(f"lb/{i}", score, flat_numbers({"conversational": {"hybrid": {"map@3": m}, "kinds": kinds}}))
        for i, (score, m) in enumerate([(0.8, 0.6), (0.9, 0.7)])
    ]
    assert headline_figures(releases) == ["conversational.hybrid.map@3"]
    assert releases[0].metrics["conversational.kinds.multi-turn.hybrid.map@3"] == 0.5
