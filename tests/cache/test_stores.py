"""ragtune.cache.stores and `ragtune cache`: what the stores hold, and forgetting only regenerable entries that
have gone unused."""

import os
import time

import numpy as np

from ragtune import cli
from ragtune.cache import stores
from ragtune.cache.searches import SearchMemo, fingerprint

DAY = 86400


def entry(path, age_days, now, size=10):
    """A store entry last used `age_days` ago: a directory holding `key`, or a file."""
    key = path / "key" if path.suffix != ".json" and path.parent.name != "fingerprints" else path
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"x" * size)
    os.utime(key, (now - age_days * DAY, now - age_days * DAY))


def a_store(root, now):
    entry(root / "candidates" / "ab" / "ab01", 40, now)
    entry(root / "candidates" / "cd" / "cd02", 1, now)
    entry(root / "plans" / "ef" / "ef03.json", 40, now)
    entry(root / "fingerprints" / "0123", 40, now)
    entry(root / "fusions" / "f1", 2, now)
    (root / "fusions" / "killed").mkdir(parents=True)  # a write killed before its key, long ago
    os.utime(root / "fusions" / "killed", (now - 40 * DAY, now - 40 * DAY))
    (root / "fusions" / "writing").mkdir()  # another process writing it now
    entry(root / "llm" / "answers", 400, now)


def test_usage_counts_entries_and_their_last_use(tmp_path):
    now = time.time()
    a_store(tmp_path, now)
    found = {usage.store: usage for usage in stores.usage(tmp_path)}
    assert set(found) == {"candidates", "plans", "fingerprints", "fusions", "llm"}
    assert found["candidates"].entries == 2 and found["candidates"].size == 20
    assert abs(found["candidates"].last_used - (now - DAY)) < 1
    assert found["fusions"].entries == 3 and not found["llm"].prunable


def test_prune_forgets_only_regenerable_entries_unused_that_long(tmp_path):
    now = time.time()
    a_store(tmp_path, now)
    dry = {usage.store: usage.entries for usage in stores.prune(tmp_path, 30 * DAY, now, dry_run=True)}
    assert dry == {"candidates": 1, "plans": 1, "fingerprints": 1, "fusions": 1}
    assert (tmp_path / "candidates" / "ab" / "ab01").exists()  # a dry run removes nothing
    stores.prune(tmp_path, 30 * DAY, now)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["candidates/cd/cd02/key", "fusions/f1/key", "llm/answers/key"]
    assert (tmp_path / "fusions" / "writing").is_dir() and not (tmp_path / "fusions" / "killed").exists()


def test_an_answer_from_the_store_counts_as_a_use(tmp_path):
    store = tmp_path / "store"
    search = lambda texts, k: (np.zeros((len(texts), k), np.int64), np.zeros((len(texts), k), np.float32))  # noqa: E731
    SearchMemo(tmp_path / "memo", store=store).wrap("n", "fp", lambda: search)(["a"], 2)
    (key,) = store.glob("*/*/key")
    os.utime(key, (1, 1))
    SearchMemo(tmp_path / "other", store=store).wrap("n", "fp", lambda: search)(["a"], 2)  # answered by the store
    assert time.time() - key.stat().st_mtime < 60
    (tmp_path / "model.bin").write_bytes(b"1")
    fingerprint(tmp_path / "model.bin", remembered=tmp_path / "digests")
    (digest,) = (tmp_path / "digests").iterdir()
    os.utime(digest, (1, 1))
    fingerprint(tmp_path / "model.bin", remembered=tmp_path / "digests")
    assert time.time() - digest.stat().st_mtime < 60


def test_the_command_lists_the_stores_and_prunes(tmp_path, monkeypatch, capsys):
    now = time.time()
    a_store(tmp_path / "stores", now)
    (tmp_path / "project" / ".dvc").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path / "stores"))
    assert cli.main(["cache"]) == 0
    shown = capsys.readouterr().out
    assert "candidates" in shown and "llm (kept)" in shown
    assert cli.main(["cache", "--prune-unused-days", "30"]) == 0
    assert "removed, unused for 30 days or more" in capsys.readouterr().out
    assert not (tmp_path / "stores" / "plans" / "ef" / "ef03.json").exists()
    assert (tmp_path / "stores" / "llm" / "answers" / "key").exists()
