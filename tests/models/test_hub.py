"""Hub pointers pinned to a revision: written, read, resolved to that commit's snapshot (a test-made cache)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from ragtune.models.hub import ModelUnavailable, pinned_snapshot, read_pointer, resolve_model, write_pointer

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache of the test's own holding org/model at COMMIT; the hub is never asked."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    snapshot = cache / "models--org--model" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return snapshot


def test_a_pointer_carries_its_revision_only_when_pinned(tmp_path):
    write_pointer(tmp_path / "pinned", "BAAI/bge-m3", COMMIT)
    write_pointer(tmp_path / "main", "BAAI/bge-m3")
    assert read_pointer(tmp_path / "pinned") == ("BAAI/bge-m3", COMMIT)
    assert read_pointer(tmp_path / "main") == ("BAAI/bge-m3", None)
    # an unpinned pointer keeps the bytes it had before revisions existed (memo keys over it stay valid)
    assert json.loads((tmp_path / "main" / "pointer.json").read_text()) == {"name_or_path": "BAAI/bge-m3"}
    assert (tmp_path / "pinned" / "pointer.json").read_bytes() != (tmp_path / "main" / "pointer.json").read_bytes()
    assert read_pointer(tmp_path) is None


def test_a_pinned_pointer_resolves_to_that_commits_snapshot(tmp_path, hub_cache):
    write_pointer(tmp_path / "pinned", "org/model", COMMIT)
    write_pointer(tmp_path / "main", "org/model")
    assert Path(resolve_model(tmp_path / "pinned")) == hub_cache
    assert resolve_model(tmp_path / "main") == "org/model"  # unpinned: the id, FlagEmbedding loads main
    write_pointer(tmp_path / "local", str(tmp_path / "main"), COMMIT)  # a local directory has no revision
    assert resolve_model(tmp_path / "local") == str(tmp_path / "main")


def test_a_revision_missing_offline_names_the_setting_and_the_download(hub_cache):
    other = "f" * 40
    with pytest.raises(ModelUnavailable) as failed:
        pinned_snapshot("org/model", other, "reranker.path")
    message = str(failed.value)
    assert "reranker.path" in message and f"hf download org/model --revision {other}" in message
    assert "\n" not in message


@pytest.mark.parametrize("group, key", [("model/bge-m3", "model"), ("reranker/bge-v2-m3", "reranker")])
def test_the_hub_groups_pin_a_commit(group, key):
    config = yaml.safe_load((ROOT / "conf" / f"{group}.yaml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[0-9a-f]{40}", config[key]["revision"])
