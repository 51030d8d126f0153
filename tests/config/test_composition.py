"""The Hydra configuration composes as documented: groups set what they own, params.yaml is current."""

from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import compose_and_dump

ROOT = Path(__file__).resolve().parents[2]


def compose(tmp_path, *overrides: str) -> dict:
    out = tmp_path / "params.yaml"
    compose_and_dump(out, str(ROOT / "conf"), None, "config", str(ROOT), list(overrides))
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize("group, rerank_top", [("none", 0), ("tiny", 20), ("bge-v2-m3", 50)])
def test_reranker_group_sets_how_many_candidates_are_reranked(tmp_path, group, rerank_top):
    params = compose(tmp_path, f"reranker={group}")
    assert params["retrieval"]["rerank_top"] == rerank_top
    assert params["reranker"]["name"] == group


def test_real_model_group_uses_the_documented_training_defaults(tmp_path):
    train = compose(tmp_path, "model=bge-m3")["train"]
    assert train["learning_rate"] == pytest.approx(1e-5) and train["temperature"] == pytest.approx(0.02)
    assert train["batch_size"] * train["gradient_accumulation_steps"] * train.get("num_gpus", 1) == 32


def test_committed_params_are_the_composed_default(tmp_path):
    assert compose(tmp_path) == yaml.safe_load((ROOT / "params.yaml").read_text())


def test_alpha_is_a_top_level_key(tmp_path):
    assert compose(tmp_path, "alpha=0.6")["alpha"] == 0.6
