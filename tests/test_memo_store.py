"""SearchMemo with a store: results outlive `dvc exp run`'s restore of runs/candidates."""

import shutil

import numpy as np

from ragtune.memo import SearchMemo


def counting_searcher(calls):
    def search(texts, k):
        calls.append(list(texts))
        ids = np.arange(len(texts) * k).reshape(len(texts), k)
        return ids, ids.astype(np.float32) / 10
    return search


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
