"""End to end on the shipped sample, in a temporary copy of the repository: the workflows users run.

`dvc repro` (the session's reference run, tests/conftest.py: one full run for every test that needs
one); a second `dvc repro`, in a copy of it, that does nothing; `dvc exp run -S alpha=…` rerunning only what
follows `alpha`; a rejected `-S alpha=2` leaving params.yaml as committed; `dvc exp run -S data=competition`;
`dvc exp show`; `dvc metrics diff`; bad input.
Training is cut to a few steps here (the same code path; figures come from benchmarks/).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from pipeline_support import STAGES, copy_repository, lock_outs, ran_stages, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(pipeline_reference, tmp_path_factory) -> Path:
    """A copy of the reference run (committed on `main`, its DVC cache inside) that these tests change."""
    copy = tmp_path_factory.mktemp("ragtune") / "ragtune"
    shutil.copytree(pipeline_reference.repo, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def first_repro(pipeline_reference) -> str:
    """What the first `dvc repro` printed."""
    return pipeline_reference.repro_stdout


def test_repro_runs_every_stage_and_writes_a_valid_submission(repo, first_repro):
    assert ran_stages(first_repro) == STAGES
    rows = [json.loads(line) for line in (repo / "submissions" / "submission.csv").read_text().splitlines()]
    eval_ids = [
        json.loads(line)["eval_id"] for line in (repo / "ragtune/resources/sample/eval.jsonl").read_text().splitlines()
    ]
    assert sorted(r["eval_id"] for r in rows) == sorted(eval_ids)
    assert all(len(r["topk"]) <= 3 for r in rows)
    assert any(r["topk"] == [] for r in rows), "chit-chat gets an empty topk"
    scores = json.loads((repo / "metrics" / "retrieval.json").read_text())["sample"]  # one section per source
    assert {"bm25", "dense", "dense_base", "hybrid", "chitchat"} <= set(scores)
    assert {"map@3", "mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100"} <= set(scores["hybrid"])
    assert scores["hybrid"]["map@3"] > 0.5
    assert (repo / "reports" / "failures.md").read_text().startswith("#")


def test_the_pictures_a_person_sees_draw_offline(repo, tmp_path):
    assert (repo / "plots/train/loss.png").read_bytes()[:4] == b"\x89PNG"
    rule = json.loads((repo / "runs/validation/chitchat.json").read_text())
    assert rule == {"threshold": 0.55, "margin": 0.03, "language": "ko"}  # the sample is Korean
    assert (repo / "plots/images/chitchat_sample.png").read_bytes()[:4] == b"\x89PNG"  # it has chit-chat questions
    sh("dvc", "plots", "show", "-o", str(tmp_path / "page"), cwd=repo)
    page = (tmp_path / "page" / "index.html").read_text()
    assert "cdn.jsdelivr.net" not in page and 'var e="5.20.2"' in page  # vega inlined (.dvc/plots/offline.html)
    shown = {p.name for p in (tmp_path / "page" / "static").iterdir()}
    assert {"workspace_plots_train_loss.png", "workspace_plots_images_chitchat_sample.png"} <= shown, shown


def test_second_repro_does_nothing(repo, first_repro):
    done = sh("dvc", "repro", cwd=repo)
    assert ran_stages(done.stdout) == []
    assert "up to date" in done.stdout


def test_alpha_experiment_reruns_only_the_tail_and_metrics_diff_shows_it(repo, first_repro):
    done = sh("dvc", "exp", "run", "-S", "alpha=0.3", "-n", "alpha-0.3", cwd=repo)
    assert set(ran_stages(done.stdout)) == {"retrieve", "evaluate", "submit"}
    assert "candidate searches remembered: 8, run: 0" in done.stdout  # fused again, not searched again
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout)
    assert "alpha-0.3" in json.dumps(shown)
    diff = sh("dvc", "metrics", "diff", "main", "alpha-0.3", "--json", cwd=repo).stdout
    assert "map@3" in diff and "mrr@10" in diff


def test_a_rejected_override_leaves_params_yaml_as_committed(pipeline_reference, tmp_path):
    """Issue #24: `dvc exp run -S alpha=2` fails in one line and puts the committed alpha back, so the next
    plain `dvc repro` has nothing to do."""
    work = tmp_path / "ragtune"
    shutil.copytree(pipeline_reference.repo, work, symlinks=True)
    committed = (work / "params.yaml").read_bytes()
    done = sh("dvc", "exp", "run", "-S", "alpha=2", cwd=work, check=False)
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in said
    assert (
        "error: params.yaml: alpha = 2 is not allowed: must be a number in [0, 1]; restored the committed alpha: 0.6"
        in said
    )
    assert (work / "params.yaml").read_bytes() == committed
    # DVC clears a stage's outputs before it runs the command that rejects the value: the next plain `dvc repro`
    # brings back the first stage after the change (from the run cache, or by running it) and nothing changes.
    again = sh("dvc", "repro", cwd=work)
    assert set(ran_stages(again.stdout)) <= {"retrieve"}
    assert lock_outs(work) == pipeline_reference.outs


def test_competition_data_switch(repo, first_repro):
    """`-S data=competition` reads data/raw/competition/ — here a small file set in the competition's format."""
    raw = repo / "data" / "raw" / "competition"
    raw.mkdir(parents=True)
    sample = repo / "ragtune" / "resources" / "sample"
    shutil.copy(sample / "documents.jsonl", raw / "documents.jsonl")
    shutil.copy(sample / "eval.jsonl", raw / "eval.jsonl")
    labelled = [json.loads(line) for line in (sample / "labelled.jsonl").read_text().splitlines()]
    dev = [
        {"query": q["msg"][-1]["content"], "docid": q["relevant"][0]}
        for q in labelled
        if len(q["msg"]) == 1 and q["relevant"]
    ]
    (raw / "dev_queries.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dev))
    # the shipped conversational set names the real corpus's docids: the sample's questions stand in for it
    shutil.copy(sample / "labelled.jsonl", raw / "conversational.jsonl")
    done = sh(
        "dvc",
        "exp",
        "run",
        "-S",
        "data=competition",
        "-S",
        "data.validation.conversational=data/raw/competition/conversational.jsonl",
        "-n",
        "competition",
        cwd=repo,
    )
    assert "prepare" in ran_stages(done.stdout)
    params = sh("dvc", "exp", "show", "--json", cwd=repo).stdout
    assert "competition" in params


@pytest.mark.parametrize(
    "bad, words",
    [
        (
            '{"docid": "a", "src": "s", "content": "물"}\n{"docid": "a", "src": "s", "content": "불"}\n',
            "documents.jsonl:2: field 'docid' duplicate docid",
        ),
        (
            '{"docid": "a", "src": "s", "content": "물"}\n{"docid": "b", "src": "s"\n',
            "documents.jsonl:2: malformed JSON",
        ),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(repo, tmp_path, bad, words):
    work = copy_repository(tmp_path / "bad")
    data = work / "ragtune" / "resources" / "sample"
    (data / "documents.jsonl").write_text(bad, encoding="utf-8")
    done = sh(sys.executable, "stages/prepare.py", cwd=work, check=False)
    assert done.returncode == 1
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert not (work / "data" / "prepared").exists()
