"""`ragtune plot-sweep`: experiments read from `dvc exp show --json`, one metric against the swept parameter."""

from __future__ import annotations

import json

import pytest

from ragtune.cli import EXIT_ERROR, EXIT_OK, main
from ragtune.evaluation import sweep
from ragtune.evaluation.sweep import Point, SweepError, collect, default_path, describe, plot


def state(rev: str, name: str | None, alpha, objective, fusion: str = "hybrid", map3: float = 0.5) -> dict:
    """One ExpState as `dvc exp show --json` writes it (dvc.repo.experiments.serialize), params and metrics cut."""
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "timestamp": "2026-12-05T06:21:26",
            "params": {"params.yaml": {"data": {"alpha": alpha, "seed": 42, "retrieval": {"fusion": fusion}}}},
            "metrics": {
                "metrics/objective.json": {"data": {"objective": objective}},
                "metrics/retrieval.json": {
                    "data": {"sample": {"hybrid": {"map@3": map3}, "chitchat": {"questions": 40}}}
                },
            },
            "deps": {"stages/common.py": {"hash": "dd55", "size": 4527, "nfiles": None}},
            "outs": {},
            "meta": {"has_checkpoints": False},
        },
        "error": None,
        "experiments": None,
    }


def shown() -> list[dict]:
    """Written by hand in the shape DVC 3.67 prints: the workspace, then the baseline commit with its experiments
    (two finished, one queued, one failed)."""
    experiment = lambda rev, name, alpha, objective, status: {  # noqa: E731
        "revs": [state(rev, name, alpha, objective)],
        "executor": {"state": status, "name": "dvc-task", "local": None},
        "name": name,
    }
    baseline = state("7befde22907c7cc4cac811ec4f813467a6456551", "main", 0.6, 0.80)
    baseline["experiments"] = [
        experiment("a" * 40, "alpha-0.2", 0.2, 0.71, "success"),
        experiment("b" * 40, "alpha-0.4", 0.4, 0.77, "success"),
        {
            "revs": [{"rev": "c" * 40, "name": None, "data": None, "error": None, "experiments": None}],
            "executor": {"state": "queued", "name": None, "local": None},
            "name": None,
        },  # fmt: skip
        experiment("d" * 40, "alpha-0.9", 0.9, None, "failed"),
    ]
    return json.loads(json.dumps([state("workspace", None, 0.4, 0.77), baseline]))  # JSON's own types


def test_every_finished_experiment_and_the_baseline_is_a_point():
    found = collect(shown(), "alpha")
    assert found.points == [
        Point("main", 0.6, 0.80, baseline=True),
        Point("alpha-0.2", 0.2, 0.71, baseline=False),
        Point("alpha-0.4", 0.4, 0.77, baseline=False),
    ]  # the workspace is no point of its own: it holds the last run
    assert found.skipped == ["ccccccc (queued)", "alpha-0.9 (failed)"]
    text = describe(found, "alpha", sweep.DEFAULT_METRIC)
    assert text.splitlines()[0].startswith("alpha-0.2") and "(baseline)" in text.splitlines()[2]
    assert text.endswith("not plotted: ccccccc (queued), alpha-0.9 (failed)")


def test_keys_are_dvc_exp_show_columns_or_their_unique_key():
    by_key = collect(shown(), "retrieval.fusion", "sample.hybrid.map@3")
    assert collect(shown(), "params.yaml:retrieval.fusion", "metrics/retrieval.json:sample.hybrid.map@3") == by_key
    assert {point.value for point in by_key.points} == {"hybrid"} and {p.score for p in by_key.points} == {0.5}


def test_an_absent_parameter_or_metric_names_what_exists():
    with pytest.raises(SweepError, match=r"parameter 'rrf_k' is in no experiment; .* differ .*: params.yaml:alpha$"):
        collect(shown(), "rrf_k")
    with pytest.raises(SweepError, match=r"metric 'mrr@10' .* metrics/objective.json:objective, .*sample.hybrid.map@3"):
        collect(shown(), "alpha", "mrr@10")


def test_no_finished_experiment_is_one_line():
    only_baseline = shown()[:1] + [{**shown()[1], "experiments": shown()[1]["experiments"][2:]}]
    with pytest.raises(SweepError, match=r"^no finished experiment in `dvc exp show` \(ccccccc \(queued\), .*failed\)"):
        collect(only_baseline, "alpha")
    with pytest.raises(SweepError, match="no finished experiment"):
        collect([], "alpha")


def test_plot_is_written_for_numbers_and_for_text_values(tmp_path):
    plot(collect(shown(), "alpha"), "alpha", sweep.DEFAULT_METRIC, tmp_path / "alpha.png")
    plot(collect(shown(), "retrieval.fusion"), "retrieval.fusion", sweep.DEFAULT_METRIC, tmp_path / "fusion.png")
    assert all((tmp_path / name).read_bytes()[:4] == b"\x89PNG" for name in ("alpha.png", "fusion.png"))
    assert default_path(tmp_path, "alpha", sweep.DEFAULT_METRIC) == tmp_path / ".dvc/tmp/sweep-alpha.png"
    assert default_path(tmp_path, "alpha", "m.json:a b").name == "sweep-alpha-m.json_a_b.png"


def test_cli_prints_the_points_and_writes_under_dvc_tmp(tmp_path, monkeypatch, capsys):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found from below the DVC root
    monkeypatch.setattr(sweep, "read_experiments", lambda root: shown())
    assert main(["plot-sweep", "alpha"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "alpha-0.4" in out and f"plot: {tmp_path / '.dvc/tmp/sweep-alpha.png'}" in out
    assert (tmp_path / ".dvc/tmp/sweep-alpha.png").is_file()
    monkeypatch.setattr(sweep, "read_experiments", lambda root: shown()[:1])
    assert main(["plot-sweep", "alpha", "--out", str(tmp_path / "none.png")]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert error.startswith("ragtune plot-sweep: no finished experiment") and len(error.splitlines()) == 1
    assert not (tmp_path / "none.png").exists()
