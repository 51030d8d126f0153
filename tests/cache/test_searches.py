"""SearchMemo: answers only for exactly the same inputs, never from a half-written entry, and (with a store)
outlives `dvc exp run`'s restore of runs/candidates."""

import os
import shutil

import numpy as np

from ragtune.cache.searches import SearchMemo, fingerprint


def counting_searcher(calls):
    def search(texts, k):
        calls.append(list(texts))
        ids = np.arange(len(texts) * k).reshape(len(texts), k)
        return ids, ids.astype(np.float32) / 10

    return search


def test_same_inputs_are_answered_from_the_memo(tmp_path):
    calls = []
    made = []
    memo = SearchMemo(tmp_path)
    search = memo.wrap("val/bm25", "fp1", lambda: made.append(1) or counting_searcher(calls))
    first = search(["a", "b"], 3)
    again = SearchMemo(tmp_path).wrap("val/bm25", "fp1", lambda: counting_searcher(calls))(["a", "b"], 3)
    assert len(calls) == 1 and made == [1]
    for x, y in zip(first, again):
        assert np.array_equal(x, y) and x.dtype == y.dtype


def test_any_change_recomputes(tmp_path):
    calls = []
    SearchMemo(tmp_path).wrap("n", "fp1", lambda: counting_searcher(calls))(["a", "b"], 3)
    for fp, texts, k in (("fp2", ["a", "b"], 3), ("fp1", ["a", "c"], 3), ("fp1", ["a", "b"], 2), ("fp1", ["a"], 3)):
        SearchMemo(tmp_path).wrap("n", fp, lambda: counting_searcher(calls))(texts, k)
    assert len(calls) == 5


def test_interrupted_write_is_not_trusted(tmp_path):
    calls = []
    SearchMemo(tmp_path).wrap("n", "fp", lambda: counting_searcher(calls))(["a"], 2)
    (tmp_path / "n" / "key").unlink()  # as if killed between writing the arrays and the key
    SearchMemo(tmp_path).wrap("n", "fp", lambda: counting_searcher(calls))(["a"], 2)
    assert len(calls) == 2


def test_fingerprint_reads_file_contents_not_names_of_caches(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"1")
    before = fingerprint(tmp_path / "m", 32)
    (tmp_path / "m" / "__pycache__").mkdir()
    (tmp_path / "m" / "__pycache__" / "x.pyc").write_bytes(b"stamp")
    assert fingerprint(tmp_path / "m", 32) == before
    assert fingerprint(tmp_path / "m", 64) != before
    (tmp_path / "m" / "w.bin").write_bytes(b"2")
    assert fingerprint(tmp_path / "m", 32) != before


def test_a_restored_memo_is_answered_from_the_store(tmp_path):
    calls = []
    memo_dir, store = tmp_path / "candidates", tmp_path / "store"
    first = SearchMemo(memo_dir, store=store).wrap("val/dense", "fp", lambda: counting_searcher(calls))(["a", "b"], 3)
    SearchMemo(memo_dir, store=store).wrap("val/dense", "fp2", lambda: counting_searcher(calls))(["a", "b"], 3)
    shutil.rmtree(memo_dir)  # the experiment restored the committed memo (here: none)
    memo = SearchMemo(memo_dir, store=store)
    again = memo.wrap("val/dense", "fp", lambda: counting_searcher(calls))(["a", "b"], 3)
    assert len(calls) == 2 and memo.hits == ["val/dense"]
    for x, y in zip(first, again):
        assert np.array_equal(x, y) and x.dtype == y.dtype
    assert (memo_dir / "val" / "dense" / "key").exists()  # the tracked memo is written again from the store


def test_a_remembered_fingerprint_is_read_until_a_file_changes(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 4096)
    (model / "config.json").write_text("{}")
    remembered = tmp_path / "fingerprints"
    fresh = fingerprint("code", model, 256)
    assert fingerprint("code", model, 256, remembered=remembered) == fresh  # the same digest, now remembered
    (kept,) = remembered.iterdir()
    kept.write_text("remembered")  # proves the next call reads it instead of the 4 KB
    assert fingerprint("code", model, 256, remembered=remembered) == "remembered"
    assert fingerprint("code", model, 512, remembered=remembered) == fingerprint("code", model, 512)  # another value
    os.utime(model / "weights.bin", ns=(1, 1))  # same size, another modification time: read again
    assert fingerprint("code", model, 256, remembered=remembered) == fresh
    (model / "config.json").write_text('{"a": 1}')
    assert fingerprint("code", model, 256, remembered=remembered) == fingerprint("code", model, 256) != fresh


def test_remembers_says_beforehand_what_a_search_would_answer_from_memory(tmp_path):
    memo_dir, store = tmp_path / "candidates", tmp_path / "store"
    memo = SearchMemo(memo_dir, store=store)
    assert not memo.remembers("fp", ["a", "b"], 3)
    memo.wrap("val/dense", "fp", lambda: counting_searcher([]))(["a", "b"], 3)
    assert memo.remembers("fp", ["a", "b"], 3)
    assert not memo.remembers("fp", ["a", "b"], 4) and not memo.remembers("fp2", ["a", "b"], 3)
    shutil.rmtree(store)  # a question set's own place still answers
    assert SearchMemo(memo_dir, store=store).remembers("fp", ["a", "b"], 3)
    assert SearchMemo(memo_dir).remembers("fp", ["a", "b"], 3)
