"""End to end on the shipped sample, in a temporary copy of the repository: the workflows users run.

`dvc repro`; a second `dvc repro` that does nothing; `dvc exp run -S alpha=…` rerunning only what
follows `alpha`; `dvc exp run -S data=competition`; `dvc exp show`; `dvc metrics diff`; bad input.
Training is cut to a few steps here (the same code path; figures come from benchmarks/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    done = subprocess.run(args, cwd=cwd, env=env, text=True, capture_output=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def copy_repository(target: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, text=True,
                           capture_output=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def shrink_training(repo: Path) -> None:
    """A few steps of the real training: the workflows are under test here, not model quality."""
    conf = repo / "conf" / "model" / "tiny.yaml"
    text = re.sub(r"max_steps: \d+", "max_steps: 3", conf.read_text())
    text = re.sub(r"batch_size: \d+", "batch_size: 4", text)
    text = re.sub(r"logging_steps: \d+", "logging_steps: 1", text)
    conf.write_text(text)
    sh(sys.executable, "-m", "ragtune.cli", "params", cwd=repo)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_repository(tmp_path_factory.mktemp("ragtune"))
    shrink_training(repo)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("dvc", "remote", "remove", "local", cwd=repo)  # no remote outside the temporary copy
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "copy", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def first_repro(repo) -> subprocess.CompletedProcess:
    done = sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "baseline", cwd=repo)
    return done


def test_repro_runs_every_stage_and_writes_a_valid_submission(repo, first_repro):
    assert ran_stages(first_repro.stdout) == ["prepare", "queries", "negatives", "train", "index", "retrieve",
                                              "evaluate", "submit"]
    rows = [json.loads(line) for line in (repo / "submissions" / "submission.csv").read_text().splitlines()]
    eval_ids = [json.loads(line)["eval_id"] for line in (repo / "ragtune/resources/sample/eval.jsonl").read_text().splitlines()]
    assert sorted(r["eval_id"] for r in rows) == sorted(eval_ids)
    assert all(len(r["topk"]) <= 3 for r in rows)
    assert any(r["topk"] == [] for r in rows), "chit-chat gets an empty topk"
    scores = json.loads((repo / "metrics" / "retrieval.json").read_text())
    assert {"bm25", "dense", "dense_base", "hybrid"} <= set(scores)
    assert {"map@3", "mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100"} <= set(scores["hybrid"])
    assert scores["hybrid"]["map@3"] > 0.5
    assert (repo / "reports" / "failures.md").read_text().startswith("#")


def test_second_repro_does_nothing(repo, first_repro):
    done = sh("dvc", "repro", cwd=repo)
    assert ran_stages(done.stdout) == []
    assert "up to date" in done.stdout


def test_alpha_experiment_reruns_only_the_tail_and_metrics_diff_shows_it(repo, first_repro):
    done = sh("dvc", "exp", "run", "-S", "alpha=0.6", "-n", "alpha-0.6", cwd=repo)
    assert set(ran_stages(done.stdout)) == {"retrieve", "evaluate", "submit"}
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout)
    assert "alpha-0.6" in json.dumps(shown)
    diff = sh("dvc", "metrics", "diff", "main", "alpha-0.6", "--json", cwd=repo).stdout
    assert "map@3" in diff and "mrr@10" in diff


def test_competition_data_switch(repo, first_repro):
    """`-S data=competition` reads data/raw/competition/ — here a small file set in the competition's format."""
    raw = repo / "data" / "raw" / "competition"
    raw.mkdir(parents=True)
    sample = repo / "ragtune" / "resources" / "sample"
    shutil.copy(sample / "documents.jsonl", raw / "documents.jsonl")
    shutil.copy(sample / "eval.jsonl", raw / "eval.jsonl")
    labelled = [json.loads(line) for line in (sample / "labelled.jsonl").read_text().splitlines()]
    dev = [{"query": q["msg"][-1]["content"], "docid": q["relevant"][0]} for q in labelled if len(q["msg"]) == 1 and q["relevant"]]
    (raw / "dev_queries.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dev))
    done = sh("dvc", "exp", "run", "-S", "data=competition", "-n", "competition", cwd=repo)
    assert "prepare" in ran_stages(done.stdout)
    params = sh("dvc", "exp", "show", "--json", cwd=repo).stdout
    assert "competition" in params


@pytest.mark.parametrize("bad, words", [
    ('{"docid": "a", "src": "s", "content": "물"}\n{"docid": "a", "src": "s", "content": "불"}\n',
     "documents.jsonl:2: field 'docid' duplicate docid"),
    ('{"docid": "a", "src": "s", "content": "물"}\n{"docid": "b", "src": "s"\n', "documents.jsonl:2: malformed JSON"),
])
def test_bad_input_fails_cleanly_and_writes_nothing(repo, tmp_path, bad, words):
    work = copy_repository(tmp_path / "bad")
    data = work / "ragtune" / "resources" / "sample"
    (data / "documents.jsonl").write_text(bad, encoding="utf-8")
    done = sh(sys.executable, "stages/prepare.py", cwd=work, check=False)
    assert done.returncode == 1
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert not (work / "data" / "prepared").exists()
