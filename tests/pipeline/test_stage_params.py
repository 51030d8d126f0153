"""Each stage lists only the params it reads: a retrieval-side change reruns retrieve → evaluate → submit only.

DVC tracks params per key: a stage whose `params` lists `retrieval` reruns on any `retrieval.*`
change, one listing `llm.model` only on that key. These tests apply that rule to dvc.yaml and the
composed configuration (every group); the slow one asks DVC itself after a run of the LLM stages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TAIL = {"retrieve", "evaluate", "submit"}
# Keys swept at the tail, or that change no answer (how the LLM is called, not what it answers).
RETRIEVAL_SIDE = [
    "alpha",
    "rrf_k",
    "retrieval.candidates",
    "retrieval.char_weight",
    "retrieval.norm",
    "retrieval.fusion",
    "retrieval.keep",
    "retrieval.bm25_search",
    "retrieval.multi_query",
    "retrieval.rerank_top",
    "reranker.batch_size",
    "evaluation.report_limit",
    "submission.reference_chars",
]
NO_ANSWER_CHANGE = ["llm.timeout", "llm.concurrency", "llm.max_requests", "llm.max_retries", "llm.api_key_env"]
MINING_NOT_RETRIEVAL = ["sparse.k1", "sparse.b"]  # retrieval's BM25: index → retrieve, never negatives/train
# Where batch work runs changes no output (tests/compute, tests/pipeline/test_compute_ray.py): no stage reruns.
COMPUTE = ["compute", "compute.engine", "compute.address", "compute.workers", "compute.gpus_per_worker"]
# Where the training processes meet, not what they learn (train.nnodes is no such key: it sets the world size).
TRAIN_LAUNCH = ["train.node_rank", "train.master_addr", "train.master_port"]


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def listed(stage: dict) -> list[str]:
    keys = []
    for entry in stage.get("params", []):
        keys += list(entry) if isinstance(entry, dict) else [entry]
    return keys


def rerun_by(key: str) -> set[str]:
    """The stages whose params cover `key` (DVC: an entry equal to it or a prefix group of it)."""
    return {
        name
        for name, stage in stages().items()
        if any(key == entry or key.startswith(f"{entry}.") for entry in listed(stage))
    }


@pytest.mark.parametrize("key", RETRIEVAL_SIDE)
def test_a_retrieval_side_key_reruns_only_the_tail(key):
    assert rerun_by(key) <= TAIL and rerun_by(key), f"{key} reruns {sorted(rerun_by(key))}"


@pytest.mark.parametrize("key", NO_ANSWER_CHANGE)
def test_how_the_llm_is_called_reruns_nothing(key):
    assert rerun_by(key) == set(), f"{key} reruns {sorted(rerun_by(key))}"


@pytest.mark.parametrize("key", COMPUTE)
def test_where_batch_work_runs_reruns_nothing(key):
    assert rerun_by(key) == set(), f"{key} reruns {sorted(rerun_by(key))}"


@pytest.mark.parametrize("key", TRAIN_LAUNCH)
def test_where_training_processes_meet_reruns_nothing(key):
    assert rerun_by(key) == set(), f"{key} reruns {sorted(rerun_by(key))}"


def test_every_other_train_key_retrains():
    """dvc.yaml lists the train group key by key (to leave TRAIN_LAUNCH out): a key added to it must be listed."""
    from ragtune.config.schema import Train

    unlisted = [
        f"train.{k}"
        for k in Train.model_fields
        if f"train.{k}" not in TRAIN_LAUNCH and "train" not in rerun_by(f"train.{k}")
    ]
    assert unlisted == [], f"add to the train stage's params in dvc.yaml: {unlisted}"


@pytest.mark.parametrize("key", MINING_NOT_RETRIEVAL)
def test_retrieval_bm25_does_not_retrain(key):
    assert not rerun_by(key) & {"queries", "negatives", "train"}, f"{key} reruns {sorted(rerun_by(key))}"


def test_mining_bm25_is_its_own_group():
    assert {"negatives", "queries"} <= rerun_by("negatives.bm25.k1")
    assert not rerun_by("negatives.bm25.k1") & {"index", "retrieve"}


def _groups() -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.yaml")) for d in (ROOT / "conf").iterdir() if d.is_dir()}


@pytest.mark.parametrize("group,option", [(g, f.stem) for g, files in _groups().items() for f in files])
def test_listed_keys_exist_with_each_group_option(group, option):
    config = yaml.safe_load((ROOT / "conf" / group / f"{option}.yaml").read_text(encoding="utf-8")) or {}
    if "# @package _global_" not in (ROOT / "conf" / group / f"{option}.yaml").read_text(encoding="utf-8"):
        config = {group: config}
    primary = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text(encoding="utf-8"))
    for top, node in config.items():  # conf/config.yaml's keys of the group's sections join every option's
        if isinstance(node, dict) and isinstance(primary.get(top), dict):
            config[top] = {**primary[top], **node}
    for stage_name, stage in stages().items():
        for entry in listed(stage):
            top, _, rest = entry.partition(".")
            if top in config and rest:
                node = config[top]
                for part in rest.split("."):
                    assert isinstance(node, dict) and part in node, (
                        f"stage {stage_name} lists {entry}, absent from conf/{group}/{option}.yaml"
                    )
                    node = node[part]


@pytest.mark.slow
def test_a_killed_dvc_exp_run_sends_only_the_missing_requests_again():
    """`dvc exp run -S llm=local … queries` killed half-way, then run again: ≤ 1.1× a clean run's requests
    (the experiment restores the tracked cache to its committed state; the answer store outlives that).
    Measured by the benchmark whose figure the README quotes, `benchmarks/llm_throughput.py --stage`, run as a
    command on a clone of the committed work."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "llm_throughput.py"), "--stage", "--latency", "0.05"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    out = done.stdout
    clean = int(re.search(r"\[5\] concurrency 16: (\d+) requests", out).group(1))
    at_kill, rerun = map(int, re.search(r"killed after (\d+) requests .*; the rerun sent (\d+);", out).groups())
    assert clean > 0 and at_kill >= clean // 2
    assert at_kill + rerun <= 1.1 * clean, (clean, at_kill, rerun)
    tracked = int(re.search(r"tracked data/queries/llm_cache.jsonl: (\d+) answers", out).group(1))
    assert tracked >= clean * 0.9  # the tracked cache is filled from the store
    assert "the API key in the store: no" in out
