"""`ragtune use`: the workspace's standing choices, composed under later `dvc exp run -S …` overrides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ragtune.cli import EXIT_ERROR, EXIT_OK, main
from ragtune.config import workspace
from ragtune.config.schema import ParamsError
from ragtune.io import DataError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("workspace"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dvc_compose(repo: Path, overrides: list[str]) -> dict:
    """What `dvc exp run -S …` writes into params.yaml (DVC's own Hydra composition)."""
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(repo / "params.yaml", str(repo / "conf"), None, "config", str(repo), overrides)
    return yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))


def test_choices_stick_and_overrides_compose_on_top(repo, capsys):
    assert main(["use", "data=competition", "alpha=0.6", "retrieval.fusion=rrf"]) == EXIT_OK
    plain = dvc_compose(repo, [])
    assert (plain["data"]["name"], plain["alpha"], plain["retrieval"]["fusion"]) == ("competition", 0.6, "rrf")
    later = dvc_compose(repo, ["alpha=0.7"])  # the case of the issue: a later experiment keeps data=competition
    assert (later["data"]["name"], later["alpha"], later["retrieval"]["fusion"]) == ("competition", 0.7, "rrf")
    assert dvc_compose(repo, ["data=sample"])["data"]["name"] == "sample"  # the command line still wins


def test_choices_accumulate_and_a_group_set_key_can_be_overridden(repo):
    workspace.use(repo / "conf", ["reranker=tiny"])
    workspace.use(repo / "conf", ["retrieval.rerank_top=5"])  # a key the reranker group sets
    params = workspace.compose(repo / "conf")
    assert params["reranker"]["name"] == "tiny" and params["retrieval"]["rerank_top"] == 5
    assert workspace.read_choices(repo / "conf") == ({"reranker": "tiny"}, {"retrieval.rerank_top": 5})


def test_show_and_reset(repo, capsys):
    main(["use", "--show"])
    assert "no workspace choices" in capsys.readouterr().out
    main(["use", "llm=local", "negatives.k=5"])
    capsys.readouterr()
    main(["use", "--show"])
    assert capsys.readouterr().out.splitlines()[1:] == ["  llm=local", "  negatives.k=5"]
    assert main(["use", "--reset"]) == EXIT_OK
    assert "cleared" in capsys.readouterr().out
    assert workspace.compose(repo / "conf")["llm"]["provider"] == "offline"
    assert dvc_compose(repo, [])["negatives"]["k"] == 7


@pytest.mark.parametrize(
    "words, problem",
    [
        (["alpha=abc"], "field 'alpha' = 'abc' is not allowed: must be a number in [0, 1]"),
        (["negatives.k=0"], "field 'negatives.k' = 0 is not allowed: must be an integer >= 1"),
        (["retrieval.alpah=1"], "field 'retrieval.alpah' is not a known parameter"),
        (["data=nope"], "no such option; one of competition, folder, sample, sample_en"),
        (["alpha"], "expected KEY=VALUE"),
    ],
)
def test_a_bad_choice_is_refused_and_nothing_is_written(repo, capsys, words, problem):
    main(["use", "alpha=0.5"])
    before = (repo / "conf" / workspace.CHOICES).read_bytes()
    capsys.readouterr()
    assert main(["use", *words]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1
    assert (repo / "conf" / workspace.CHOICES).read_bytes() == before


def test_errors_are_typed(repo):
    with pytest.raises(ParamsError):
        workspace.use(repo / "conf", ["alpha=2"])
    with pytest.raises(DataError):
        workspace.use(repo / "conf", ["model=nope"])


def test_the_last_data_group_is_remembered_and_a_switch_reported(tmp_path):
    assert workspace.record_data_group(tmp_path, "competition") is None  # first run: nothing to compare
    assert workspace.record_data_group(tmp_path, "competition") is None
    assert workspace.record_data_group(tmp_path, "sample") == "competition"
    assert workspace.record_data_group(tmp_path, "sample") is None


def test_a_stage_warns_loudly_when_the_data_group_changes(tmp_path, caplog):
    workspace.warn_on_data_switch(tmp_path, "competition")
    workspace.warn_on_data_switch(tmp_path, "sample")
    warning = "\n".join(r.getMessage() for r in caplog.records)
    assert "this run uses data=sample, but the last run in this workspace used data=competition" in warning
    assert "ragtune use data=competition" in warning


def test_a_collection_folder_that_does_not_exist_is_refused(repo):
    with pytest.raises(DataError, match=r"field 'data.path' /nonexistent/folder does not exist"):
        workspace.use(repo / "conf", ["data=folder", "data.path=/nonexistent/folder"])
    assert not (repo / "conf" / "workspace" / "choices.yaml").exists()
