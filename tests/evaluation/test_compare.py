"""compare: per-question wins and losses between two runs, runs read from files or git revisions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragtune.cli import EXIT_ERROR, EXIT_OK, main
from ragtune.evaluation.compare import compare_runs, load_labels, load_run
from ragtune.io import DataError, write_json, write_jsonl
from ragtune.runs import RankedRun

LABELS = [
    {"qid": "q1", "msg": [{"role": "user", "content": "광합성은 어디서 일어나나?"}], "relevant": ["d1"]},
    {"qid": "q2", "msg": [{"role": "user", "content": "What is entropy?"}], "relevant": ["d2", "d3"]},
    {"qid": 3, "msg": [{"role": "user", "content": "hi there"}], "relevant": []},  # chit-chat
    {"qid": "q4", "msg": [{"role": "user", "content": "Unchanged question"}], "relevant": ["d4"]},
]
RUN_A = {"q1": {"d9": 2.0, "d1": 1.0}, "q2": {"d2": 3.0, "d3": 2.0}, "3": {"d5": 1.0}, "q4": {"d4": 1.0}}
RUN_B = {"q1": {"d1": 2.0, "d9": 1.0}, "q2": {"d9": 3.0, "d2": 2.0}, "3": {}, "q4": {"d4": 1.0}, "extra": {"d1": 1.0}}


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def labels(tmp_path) -> Path:
    path = tmp_path / "validation.jsonl"
    write_jsonl(path, LABELS)
    return path


def test_wins_and_losses_use_the_competition_ap(labels):
    qrels, questions = load_labels(labels)
    result = compare_runs(RUN_A, RUN_B, qrels, questions)
    # q1: A hits at rank 2 (AP 0.5), B at rank 1 (1.0); q2: A 1.0, B hit at rank 2 only (0.5);
    # chit-chat 3: A answered (0), B answered nothing (1); q4 tied
    assert [(d.qid, d.a, d.b) for d in result.b_wins] == [("3", 0.0, 1.0), ("q1", 0.5, 1.0)]
    assert [(d.qid, d.a, d.b) for d in result.a_wins] == [("q2", 1.0, 0.5)]
    assert result.ties == 1 and result.questions == 4
    assert result.mean_a == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert result.mean_b == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert result.unlabelled_in_b == 1 and result.unlabelled_in_a == 0
    assert result.unanswered_in_a == result.unanswered_in_b == 0
    assert compare_runs({}, RUN_B, qrels).unanswered_in_a == 4
    assert result.b_wins[1].question == "광합성은 어디서 일어나나?" and result.b_wins[1].top_b == ["d1", "d9"]


def test_other_metrics_come_from_ragtune_metrics(labels):
    qrels, _ = load_labels(labels)
    result = compare_runs(RUN_A, RUN_B, qrels, metric="recall@1")
    # recall is defined for judged questions only: q1 gains (0 -> 1), q2 loses (0.5 -> 0)
    assert [d.qid for d in result.b_wins] == ["q1"] and [d.qid for d in result.a_wins] == ["q2"]
    assert result.questions == 3


def test_cli_prints_summary_and_per_question_lines(labels, tmp_path, capsys):
    write_json(tmp_path / "a.json", RUN_A)
    write_json(tmp_path / "b.json", RUN_B)
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--qrels", str(labels)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "map@3 over 4 questions" in out
    assert "B wins 2, A wins 1, ties 1" in out
    assert "광합성은" in out and "hi there" in out
    assert "1 questions of B have no labels" in out


def test_cli_shows_every_turn_and_a_snippet_of_each_document(labels, tmp_path, capsys, monkeypatch):
    rows = [*LABELS]
    rows[0] = {
        "qid": "q1",
        "msg": [
            {"role": "user", "content": "식물 세포에 대해 알려줘"},
            {"role": "assistant", "content": "무엇이 궁금한가요?"},
            {"role": "user", "content": "광합성은 어디서 일어나나?"},
        ],
        "relevant": ["d1"],
    }
    write_jsonl(labels, rows)
    documents = [
        {"docid": "d1", "content": "엽록체는 식물 세포에서 광합성이 일어나는 장소이다. " * 5},
        {"docid": "d2", "content": "Entropy   measures\nmicroscopic configurations."},
    ]
    write_jsonl(tmp_path / "data/prepared/documents.jsonl", documents)
    write_json(tmp_path / "a.json", RUN_A)
    write_json(tmp_path / "b.json", RUN_B)
    monkeypatch.chdir(tmp_path)  # the workspace's documents by default
    assert main(["compare", "a.json", "b.json", "--qrels", str(labels)]) == EXIT_OK
    out = capsys.readouterr().out
    q1 = out.split("  q1  ", 1)[1].split("\n\n", 1)[0]
    assert "user: 식물 세포에 대해 알려줘\n" in q1 and "user: 광합성은 어디서 일어나나?\n" in q1
    assert "무엇이" not in q1  # the assistant's turns are not the question
    snippet = q1.split("  d1  ", 1)[1].splitlines()[0]
    assert snippet.startswith("엽록체는 식물 세포에서") and snippet.endswith("…") and len(snippet) == 80
    assert "  d9  (not in the documents)" in q1
    assert "  d2  Entropy measures microscopic configurations." in out
    (tmp_path / "data/prepared/documents.jsonl").unlink()
    assert main(["compare", "a.json", "b.json", "--qrels", str(labels)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "(not in the documents)" not in out and "documents shown by id only" in out


def test_bad_run_file_is_a_located_error(labels, tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps({"q1": {"d1": "high"}}))
    assert (
        main(["compare", str(tmp_path / "bad.json"), str(tmp_path / "bad.json"), "--qrels", str(labels)]) == EXIT_ERROR
    )
    err = capsys.readouterr().err
    assert "bad.json" in err and "q1" in err and "must be a number" in err
    with pytest.raises(DataError, match="file not found"):
        load_run(str(tmp_path / "missing.json"))


def test_run_at_a_git_revision_from_git_and_from_dvc(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site-cache"))
    if shutil.which("dvc") is None:
        pytest.skip("dvc is not installed")
    repo = tmp_path / "repo"
    (repo / "runs").mkdir(parents=True)
    sh(repo, "git", "init", "-q")
    sh(repo, "git", "config", "user.email", "test@example.com")
    sh(repo, "git", "config", "user.name", "Test")
    sh(repo, "dvc", "init", "-q")
    write_json(repo / "runs" / "in_git.json", RUN_A)
    # the pipeline's own format: a run directory, DVC-tracked
    qids = sorted(RUN_B)
    docids = sorted({d for ranked in RUN_B.values() for d in ranked})
    RankedRun.from_run(RUN_B, qids, docids, k=3).save(repo / "runs" / "hybrid")
    sh(repo, "dvc", "add", "-q", "runs/hybrid")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "runs")
    write_json(repo / "runs" / "in_git.json", {"q1": {}})  # the workspace moves on
    monkeypatch.chdir(repo)

    assert load_run("HEAD:runs/in_git.json", repo) == RUN_A
    assert load_run("runs/in_git.json", repo) == {"q1": {}}
    assert load_run("runs/hybrid", repo) == RUN_B
    assert load_run("HEAD:runs/hybrid", repo) == RUN_B  # read through dvc.api
    with pytest.raises(DataError, match="HEAD:runs/nothing.json"):
        load_run("HEAD:runs/nothing.json", repo)
    with pytest.raises(DataError, match="not a run directory"):
        load_run("runs", repo)
