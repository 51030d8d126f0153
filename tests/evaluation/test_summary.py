"""Per-kind metrics and metrics/summary.json: the figures a person reads first."""

from __future__ import annotations

import json
import subprocess

import pytest

from ragtune.evaluation.metrics import evaluate
from ragtune.evaluation.objective import objective
from ragtune.evaluation.report import summary_lines
from ragtune.evaluation.summary import by_kind, load, summarize, summary_table
from ragtune.io import DataError

QRELS = {"s1": ["a"], "s2": ["b"], "m1": ["c"], "c1": []}
KINDS = {"s1": "single", "s2": "single", "m1": "multi-turn", "c1": "chitchat"}
RUNS = {
    "hybrid": {"s1": {"a": 1.0}, "s2": {"x": 1.0, "b": 0.5}, "m1": {"x": 1.0}, "c1": {}},
    "dense": {"s1": {"x": 1.0}, "s2": {"b": 1.0}, "m1": {"c": 1.0}, "c1": {"a": 1.0}},
}


def test_by_kind_scores_each_kind_on_its_own_questions_in_the_declared_order():
    kinds = by_kind(RUNS, QRELS, KINDS)
    assert list(kinds) == ["single", "multi-turn", "chitchat"]
    assert kinds["single"]["questions"] == 2 and kinds["multi-turn"]["questions"] == 1
    singles = {qid: QRELS[qid] for qid in ("s1", "s2")}
    assert kinds["single"]["hybrid"] == evaluate(RUNS["hybrid"], singles, ["map@3", "mrr@10"])
    assert kinds["multi-turn"]["dense"] == {"map@3": 1.0, "mrr@10": 1.0}
    # chit-chat has no relevant document: its rank metrics are undefined, not 0
    assert kinds["chitchat"] == {"dense": {"map@3": 0.0}, "hybrid": {"map@3": 1.0}, "questions": 1}


def test_by_kind_is_empty_without_kinds_and_skips_questions_without_one():
    assert by_kind(RUNS, QRELS, {}) == {}
    assert list(by_kind(RUNS, QRELS, {"m1": "multi-turn"})) == ["multi-turn"]


def scores_with_kinds() -> dict:
    section = {name: evaluate(run, QRELS) for name, run in RUNS.items()}
    section["dense_base"] = {"map@3": 0.25, "mrr@10": 0.3}
    section["chitchat"] = {"questions": 4, "precision": 0.5, "recall": 1.0}
    section["kinds"] = by_kind(RUNS, QRELS, KINDS)
    return {"conversational": section, "dev": {"hybrid": {"map@3": 0.9, "mrr@10": 0.95}, "chitchat": {"questions": 3}}}


def test_kinds_leave_the_objective_and_the_retriever_printout_as_they_were():
    scores = scores_with_kinds()
    assert objective(scores, "mean:hybrid.map@3") == pytest.approx(
        (scores["conversational"]["hybrid"]["map@3"] + 0.9) / 2
    )
    assert objective(scores, "conversational.kinds.multi-turn.hybrid.map@3") == 0.0  # a kind can be the objective
    lines = summary_lines(scores)
    assert not any("kinds" in line for line in lines)
    kind_lines = [line for line in lines if "kind=" in line]
    assert len(kind_lines) == 3 * 2  # a line per kind and retriever
    assert "evaluate: conversational  hybrid       kind=multi-turn  questions=1  map@3=0.0000  mrr@10=0.0000" in lines


def test_summary_holds_the_final_retriever_dense_before_and_after_kinds_and_chitchat():
    scores = scores_with_kinds()
    summary = {**summarize(scores, "hybrid"), "objective": 0.5}
    hybrid = scores["conversational"]["hybrid"]
    assert summary == {
        "objective": 0.5,
        "final": {
            "conversational": {"map@3": hybrid["map@3"], "mrr@10": hybrid["mrr@10"]},
            "dev": {"map@3": 0.9, "mrr@10": 0.95},
        },
        "dense": {"conversational": {"base": 0.25, "tuned": scores["conversational"]["dense"]["map@3"]}},
        "kind": {"conversational": {"single": 0.75, "multi-turn": 0.0, "chitchat": 1.0}},
        "chitchat": {"conversational": {"precision": 0.5, "recall": 1.0}},  # dev's are undefined: left out
    }
    assert "dev" not in summarize(scores, "dense")["final"]  # dev has no dense run: nothing made up


def test_summary_table_is_aligned_and_names_the_retriever_and_objective():
    table = summary_table({**summarize(scores_with_kinds(), "hybrid"), "objective": 0.5}, "hybrid", "mean:hybrid.map@3")
    lines = table.splitlines()
    assert lines[0].split() == ["source", "figure", "value"]
    assert len({len(line) for line in lines}) == 1  # one width: values right-aligned in one column
    kinds = [line.split(",")[1].split()[0] for line in lines if "questions" in line]
    assert kinds == ["single", "multi-turn", "chitchat"]  # the declared order, not the JSON file's
    written = json.loads(json.dumps({**summarize(scores_with_kinds(), "hybrid"), "objective": 0.5}, sort_keys=True))
    assert summary_table(written, "hybrid") == summary_table(
        {**summarize(scores_with_kinds(), "hybrid"), "objective": 0.5}, "hybrid"
    )
    assert any("dense map@3, base" in line and line.endswith("0.2500") for line in lines)
    assert lines[-1].split()[:2] == ["objective", "(mean:hybrid.map@3)"] and lines[-1].endswith("0.5000")


def test_load_reads_the_workspace_and_a_git_revision_and_says_what_to_run_when_missing(tmp_path):
    with pytest.raises(DataError, match=r"metrics/summary.json: not found: run `dvc repro`"):
        load(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "summary.json").write_text(json.dumps({"objective": 0.5}))
    (tmp_path / "params.yaml").write_text("submission:\n  retriever: rerank\ntune:\n  objective: mean:rerank.map@3\n")
    assert load(tmp_path) == ({"objective": 0.5}, "rerank", "mean:rerank.map@3")
    (tmp_path / "metrics" / "objective.json").write_text(json.dumps({"objective": 0.625}))
    assert load(tmp_path)[0] == {"objective": 0.625}  # objective.json's value, the one dvc exp show sorts by
    (tmp_path / "metrics" / "objective.json").unlink()

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (tmp_path / "metrics" / "summary.json").write_text(json.dumps({"objective": 0.75}))
    assert load(tmp_path, "HEAD")[0] == {"objective": 0.5}
    assert load(tmp_path)[0] == {"objective": 0.75}


def test_cli_prints_the_table_or_one_line_saying_to_run_dvc_repro(tmp_path, monkeypatch, capsys):
    from ragtune.cli import EXIT_ERROR, EXIT_OK, main

    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["summary"]) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == (
        "ragtune summary: metrics/summary.json: not found: run `dvc repro` (its evaluate stage writes it)"
    )
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "summary.json").write_text(
        json.dumps({**summarize(scores_with_kinds(), "hybrid"), "objective": 0.5})
    )
    assert main(["summary"]) == EXIT_OK  # no params.yaml: the retriever is called "final"
    assert "conversational  final map@3" in capsys.readouterr().out
    (tmp_path / "params.yaml").write_text("submission:\n  retriever: hybrid\n")
    assert main(["summary"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("metrics/summary.json (workspace)\nsource ")
    assert "conversational  hybrid map@3 " in out and out.splitlines()[-1].split()[0] == "objective"
