"""A rejected `dvc exp run -S key=value` leaves params.yaml as committed for the rejected keys (issue #24)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ragtune.config.restore import composed_yaml, restore_rejected

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository whose committed params.yaml is the project's."""
    shutil.copyfile(ROOT / "params.yaml", tmp_path / "params.yaml")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "params.yaml")
    git(tmp_path, "commit", "-qm", "params")
    return tmp_path


def compose_into(path: Path, **changes) -> dict:
    """params.yaml as `dvc exp run -S` writes it, with `changes` (dotted keys as a__b) applied."""
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = values
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(composed_yaml(values), encoding="utf-8")
    return values


def test_the_project_params_yaml_is_in_the_composed_layout():
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    assert composed_yaml(yaml.safe_load(text)) == text  # so a restore changes only the restored lines


def test_a_rejected_key_gets_its_committed_value_and_the_users_other_keys_stay(repo):
    committed = (repo / "params.yaml").read_text(encoding="utf-8")
    compose_into(repo / "params.yaml", alpha=2, seed=7, train__epochs="x")
    said = restore_rejected(repo / "params.yaml")
    assert said == (
        "alpha = 2 is not allowed: must be a number in [0, 1]; restored the committed alpha: 0.6; "
        "train.epochs = 'x' is not allowed: must be a number > 0; restored the committed train.epochs: 1.0"
    )
    expected = committed.replace("\nseed: 42\n", "\nseed: 7\n")
    assert "\nseed: 42\n" in committed and (repo / "params.yaml").read_text(encoding="utf-8") == expected


def test_an_unknown_key_is_removed(repo):
    committed = (repo / "params.yaml").read_text(encoding="utf-8")
    compose_into(repo / "params.yaml", retrieval__alpah=0.5)
    said = restore_rejected(repo / "params.yaml")
    assert said.startswith("retrieval.alpah is not a known parameter") and "removed retrieval.alpah" in said
    assert (repo / "params.yaml").read_text(encoding="utf-8") == committed


@pytest.mark.parametrize("case", ["untracked", "unchanged", "hand-edited", "valid"])
def test_what_is_left_alone(repo, case):
    path = repo / "params.yaml"
    if case == "untracked":
        git(repo, "rm", "-q", "--cached", "params.yaml")
        git(repo, "commit", "-qm", "untrack")
        compose_into(path, alpha=2)
    elif case == "unchanged":  # HEAD's own value is the rejected one: nothing better to put back
        compose_into(path, alpha=2)
        git(repo, "commit", "-qam", "bad")
    elif case == "hand-edited":  # a comment would be lost by rewriting the file
        compose_into(path, alpha=2)
        path.write_text("# mine\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        compose_into(path, alpha=0.3)
    before = path.read_bytes()
    assert restore_rejected(path) is None
    assert path.read_bytes() == before


STAGE = """
import sys
from common import params, stage

@stage
def main():
    params()
    print("ran")

main()
"""


def test_a_stage_rejecting_an_override_says_so_in_one_line_and_restores_it(repo):
    """stages/common.params(): one line, nothing run, params.yaml back to the committed alpha."""
    committed = (repo / "params.yaml").read_text(encoding="utf-8")
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "stages" / "probe.py").write_text(STAGE, encoding="utf-8")
    compose_into(repo / "params.yaml", alpha=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAGTUNE_CACHE_DIR": str(repo / "cache")}
    done = subprocess.run([sys.executable, "stages/probe.py"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "error: params.yaml: alpha = 2 is not allowed: must be a number in [0, 1]; restored the committed alpha: 0.6 "
        "(nothing ran; the next `dvc repro` runs with the committed values)\n"
    )
    assert (repo / "params.yaml").read_text(encoding="utf-8") == committed
    again = subprocess.run([sys.executable, "stages/probe.py"], cwd=repo, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == "ran\n", again.stderr
