"""RankedRun on disk: a run saved twice is byte-identical and loads back to the same scores."""

import pytest

from ragtune.runs import RankedRun


def test_runs_round_trip_bytes(tmp_path):
    run = {"q1": {"d2": 0.5, "d1": 0.5, "d3": 0.1}, "q2": {}}
    ranked = RankedRun.from_run(run, ["q1", "q2"], ["d1", "d2", "d3"], k=4)
    ranked.save(tmp_path / "a")
    ranked.save(tmp_path / "b")
    assert RankedRun.load(tmp_path / "a").to_run() == {"q1": {"d1": 0.5, "d2": 0.5, "d3": pytest.approx(0.1)}, "q2": {}}
    for name in ("ids.npy", "scores.npy", "qids.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
