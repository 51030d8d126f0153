"""Shared fixtures: the tiny models, built once per session; one uninterrupted pipeline run on the sample,
reused by every test that needs it. Session fixtures are read-only: a test that changes one copies it first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ragtune.kernels import set_ceiling

set_ceiling()  # before anything loads torch: the tests compute with the kernels the stages use (ragtune.kernels)

import pytest  # noqa: E402
from pipeline_support import committed_copy, lock_outs, sh  # noqa: E402
from tiny_support import build_e5, build_embedder, build_reranker  # noqa: E402


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    repo: Path  # a committed git repo; dvc.lock and the DVC cache hold every output
    outs: dict[str, str]  # dvc.lock `stage:path` -> md5
    submission: bytes
    repro_stdout: str  # what the reference `dvc repro` printed


@pytest.fixture(scope="session")
def pipeline_reference(tmp_path_factory) -> PipelineRun:
    """`dvc repro` of the sample pipeline (short training) from clean, uninterrupted, then committed.

    Tests copy `repo` before changing anything in it.
    """
    repo = committed_copy(tmp_path_factory.mktemp("reference") / "ragtune")
    done = sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "reference run", cwd=repo)
    submission = (repo / "submissions" / "submission.csv").read_bytes()
    return PipelineRun(repo, lock_outs(repo), submission, done.stdout)


@pytest.fixture(scope="session")
def korean_analyzer():
    """The default KoreanAnalyzer: loading Kiwi's model takes seconds, so one for the session (it holds no state
    that analysing changes)."""
    from ragtune.text.analysis import KoreanAnalyzer

    return KoreanAnalyzer()


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory) -> Path:
    """The tiny BGE-M3 (tests/tiny_support.py's build, seed 0)."""
    return build_embedder(tmp_path_factory.mktemp("tiny") / "embedder")


@pytest.fixture(scope="session")
def tiny_reranker(tiny_embedder, tmp_path_factory) -> Path:
    """The tiny cross-encoder on the tiny embedder's tokenizer (seed 0)."""
    return build_reranker(tiny_embedder, tmp_path_factory.mktemp("tiny") / "reranker")


@pytest.fixture(scope="session")
def tiny_e5(tmp_path_factory) -> Path:
    """The tiny E5 (seed 0)."""
    return build_e5(tmp_path_factory.mktemp("tiny") / "e5")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray of 2 CPUs for the compute=ray tests (slow tier), started once and shut down at the session's end;
    its workers import this checkout's ragtune."""
    ray = pytest.importorskip("ray")
    root = Path(__file__).resolve().parents[1]
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(root)}},
    )
    yield ray
    ray.shutdown()
