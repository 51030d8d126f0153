"""Each stage lists only the params it reads: a retrieval-side change reruns retrieve → evaluate → submit only.

DVC tracks params per key: a stage whose `params` lists `retrieval` reruns on any `retrieval.*`
change, one listing `llm.model` only on that key. These tests apply that rule to dvc.yaml and the
composed configuration (every group); the slow one asks DVC itself after a run of the LLM stages.
"""

from __future__ import annotations

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
def test_a_killed_dvc_exp_run_sends_only_the_missing_requests_again(tmp_path):
    """`dvc exp run -S llm=local … queries` killed half-way, then run again: ≤ 1.1× a clean run's requests
    (the experiment restores the tracked cache to its committed state; the answer store outlives that)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from llm_throughput import exp_run, reset, serving, stage_clone  # the benchmark's own procedure

    clone = tmp_path / "repo"
    env = stage_clone(clone, "HEAD")  # committed work only
    with serving(0.05) as server:
        _, _, clean = exp_run(clone, env, server, 4, tmp_path / "clean", extra=("--force",))
        reset(clone, env)
        other = ("-S", "llm.temperature=0.3")  # not in DVC's run cache: the rerun really runs
        _, _, at_kill = exp_run(clone, env, server, 1, tmp_path / "store", kill_at=clean // 2, extra=other)
        _, _, rerun = exp_run(clone, env, server, 4, tmp_path / "store", extra=other)
    assert clean > 0 and at_kill >= clean // 2
    assert at_kill + rerun <= 1.1 * clean, (clean, at_kill, rerun)
    lines = (clone / "data" / "queries" / "llm_cache.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= clean * 0.9  # the tracked cache is filled from the store
    assert not any("bench-not-a-secret" in p.read_text() for p in (tmp_path / "store").rglob("*.json"))
