"""What a person sees when a stage cannot run or is stopped (issue #24, stages/common.py): one line naming the
stage to run first when an input is missing; `<stage>: interrupted` and 130 / 143 on Ctrl-C or SIGTERM, with no
traceback and no staging leftovers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A stage that stages a model directory and a temporary training folder as train does, then waits to be stopped.
SLEEPER = """\
import tempfile, time
from pathlib import Path
from common import ROOT, stage
from ragtune.io import staged_directory

@stage
def main():
    (ROOT / "models").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".embedder.train.", dir=ROOT / "models"):
        with staged_directory(ROOT / "models" / "embedder") as staging:
            (staging / "model.safetensors").write_bytes(b"half")
            print("ready", flush=True)
            time.sleep(60)

if __name__ == "__main__":
    main()
"""


def workspace(tmp_path: Path) -> Path:
    """A fresh clone's shape: stages/, dvc.yaml and params.yaml, no stage outputs."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copyfile(ROOT / name, repo / name)
    return repo


def run(repo: Path, script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's ragtune
    return subprocess.run([sys.executable, script], cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_a_stage_before_its_inputs_names_the_stage_to_run_first(tmp_path):
    repo = workspace(tmp_path)
    done = run(repo, "stages/train.py")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "train: data/negatives/train.jsonl is missing (and 3 more of its inputs)"
        " — run `dvc repro` (or `dvc repro negatives`) first\n"
    )


def test_missing_inputs_come_from_dvc_yaml(tmp_path):
    sys.path.insert(0, str(ROOT / "stages"))
    try:
        import common
    finally:
        sys.path.remove(str(ROOT / "stages"))
    repo = workspace(tmp_path)
    assert common.missing_input("prepare", repo) is None  # its inputs are the user's, checked by prepare itself
    assert common.missing_input("evaluate", repo).startswith("evaluate: runs/validation is missing (and 1 more")
    (repo / "runs/validation").mkdir(parents=True)
    (repo / "data/queries").mkdir(parents=True)
    assert common.missing_input("evaluate", repo) == (
        "evaluate: data/queries/validation.jsonl is missing — run `dvc repro` (or `dvc repro queries`) first"
    )
    (repo / "data/queries/validation.jsonl").write_text("")
    assert common.missing_input("evaluate", repo) is None
    (repo / "dvc.yaml").unlink()  # a bare copy of stages/ (the tests' stage repositories): nothing to check
    assert common.missing_input("train", repo) is None


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_stage_says_so_in_one_line_and_leaves_no_staging(tmp_path, signum, status):
    repo = workspace(tmp_path)
    (repo / "stages" / "sleeper.py").write_text(SLEEPER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # SIGINT's default restored: a test run in a background job inherits it ignored
        [sys.executable, "stages/sleeper.py"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout.readline() == b"ready\n"
    assert sorted(p.name for p in (repo / "models").iterdir())  # staging under way
    started = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == status
    assert stderr.decode() == "sleeper: interrupted\n"  # no traceback
    assert list((repo / "models").iterdir()) == []  # no .embedder.train.*, no .embedder.*.tmp


@pytest.mark.skipif(__import__("platform").machine().lower() not in ("x86_64", "amd64"), reason="x86-64 only")
def test_every_stage_gets_one_cpu_kernel_ceiling_and_a_users_value_wins(tmp_path):
    repo = workspace(tmp_path)
    names = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")
    (repo / "stages" / "probe.py").write_text(f"import os, common\nprint(*(os.environ[n] for n in {names!r}))\n")
    clean = {k: v for k, v in os.environ.items() if k not in names}
    for extra, expected in (({}, "avx2 AVX2,STRICT AVX2"), ({"MKL_CBWR": "COMPATIBLE"}, "avx2 COMPATIBLE AVX2")):
        env = {**clean, **extra, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "stages/probe.py"], cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


@pytest.mark.skipif(__import__("platform").machine().lower() not in ("x86_64", "amd64"), reason="x86-64 only")
@pytest.mark.parametrize(
    ("old", "new", "native"),
    [
        ("cpu_kernels: portable\n", "cpu_kernels: native\n", ("negatives", "train", "index", "retrieve")),
        ("  precision: fp32\n", "  precision: bf16\n", ("negatives", "train", "index", "retrieve")),
        ("cpu_kernels: portable\n", "cpu_kernels: portable\n", ()),
    ],
)
def test_the_stages_that_list_native_kernels_or_bf16_leave_the_ceiling_and_the_others_keep_it(
    tmp_path, old, new, native
):
    repo = workspace(tmp_path)
    names = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")
    params = repo / "params.yaml"
    text = params.read_text()
    assert text.count(old) == 1  # index.precision is the only `precision: fp32` (train's is auto)
    params.write_text(text.replace(old, new))
    probe = f"import os, common\nprint(*(os.environ.get(n, '-') for n in {names!r}))\n"
    clean = {k: v for k, v in os.environ.items() if k not in names}
    for stage in ("prepare", "queries", "base", "negatives", "train", "index", "retrieve", "evaluate", "submit"):
        (repo / "stages" / f"{stage}.py").write_text(probe)
        env = {**clean, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == ("- - -" if stage in native else "avx2 AVX2,STRICT AVX2"), stage
