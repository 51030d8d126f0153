"""FusionMemo: the remembered fusion equals a fresh one, and any change in the inputs fuses again."""

import time

import numpy as np

from ragtune.cache.fusions import FusionMemo
from ragtune.retrieval import fusion
from ragtune.runs import RankedRun

DOCIDS = [f"d{i}" for i in range(6)]


def run(seed: int, qids=("q1", "q2", "q3")) -> RankedRun:
    rng = np.random.default_rng(seed)
    ids = np.stack([rng.choice(len(DOCIDS), 4, replace=False) for _ in qids])
    return RankedRun.ranked(list(qids), DOCIDS, ids, rng.random((len(qids), 4)))


def equal(a: RankedRun, b: RankedRun) -> bool:
    same_arrays = all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in ((a.ids, b.ids), (a.scores, b.scores)))
    return same_arrays and a.qids == b.qids and a.docids == b.docids


def counting(monkeypatch) -> list:
    calls, real = [], fusion.weighted_sum
    monkeypatch.setattr(fusion, "weighted_sum", lambda *args: calls.append(args) or real(*args))
    return calls


def test_the_remembered_fusion_is_the_fresh_one(tmp_path, monkeypatch):
    runs, weights = {"bm25": run(1), "bm25_char": run(2)}, {"bm25": 0.7, "bm25_char": 0.3}
    fresh = fusion.weighted_sum(runs, weights, "zmuv", 5)
    calls = counting(monkeypatch)
    first = FusionMemo(tmp_path).weighted_sum(runs, weights, "zmuv", 5)
    memo = FusionMemo(tmp_path)
    again = memo.weighted_sum(runs, weights, "zmuv", 5)
    assert len(calls) == 1 and memo.hits == 1
    assert equal(first, fresh) and equal(again, fresh)


def test_any_change_fuses_again(tmp_path, monkeypatch):
    runs, weights = {"a": run(1), "b": run(2)}, {"a": 0.5, "b": 0.5}
    FusionMemo(tmp_path).weighted_sum(runs, weights, "zmuv", 5)
    calls = counting(monkeypatch)
    moved = run(2)
    moved.scores[0, 0] += 1e-3
    changes = [
        ({"a": run(1), "b": run(3)}, weights, "zmuv", 5),  # other candidates
        ({"a": run(1), "b": moved}, weights, "zmuv", 5),  # one score
        ({"a": run(1, ("q1", "q2", "q9")), "b": run(2, ("q1", "q2", "q9"))}, weights, "zmuv", 5),  # other questions
        (runs, {"a": 0.6, "b": 0.4}, "zmuv", 5),
        (runs, weights, "min-max", 5),
        (runs, weights, "zmuv", 4),
    ]
    for change in changes:
        assert equal(FusionMemo(tmp_path).weighted_sum(*change), fusion.weighted_sum(*change))
    assert len(calls) == 2 * len(changes)


def test_interrupted_write_is_not_trusted(tmp_path, monkeypatch):
    runs, weights = {"a": run(1), "b": run(2)}, {"a": 0.5, "b": 0.5}
    FusionMemo(tmp_path).weighted_sum(runs, weights)
    (entry,) = tmp_path.iterdir()
    (entry / "key").unlink()  # as if killed between writing the arrays and the key
    calls = counting(monkeypatch)
    FusionMemo(tmp_path).weighted_sum(runs, weights)
    assert len(calls) == 1


def test_only_the_results_used_last_are_kept(tmp_path, monkeypatch):
    weights = {"a": 0.5, "b": 0.5}
    inputs = [{"a": run(1), "b": run(seed)} for seed in range(2, 6)]
    memo = FusionMemo(tmp_path, keep=2)
    for runs in inputs[:3]:
        memo.weighted_sum(runs, weights)
    memo.weighted_sum(inputs[1], weights)  # used again: now the last
    memo.weighted_sum(inputs[3], weights)  # a new one: the oldest (inputs[0], inputs[2]) are forgotten
    assert len(list(tmp_path.iterdir())) == 2
    calls = counting(monkeypatch)
    for runs in (inputs[1], inputs[3], inputs[0]):
        FusionMemo(tmp_path, keep=2).weighted_sum(runs, weights)
    assert len(calls) == 1  # inputs[0] only


def test_an_entry_another_process_is_writing_is_not_forgotten(tmp_path):
    weights = {"a": 0.5, "b": 0.5}
    memo = FusionMemo(tmp_path, keep=2)
    memo.weighted_sum({"a": run(1), "b": run(2)}, weights)
    time.sleep(0.05)  # the file system's clock may lag the nanosecond one by a few milliseconds
    (tmp_path / "in-the-making").mkdir()  # arrays being written, no key yet (a queued experiment beside this one)
    memo.weighted_sum({"a": run(1), "b": run(3)}, weights)
    assert (tmp_path / "in-the-making").is_dir() and len(list(tmp_path.iterdir())) == 2
