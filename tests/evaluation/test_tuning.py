"""`ragtune tune`'s parts without DVC: search-space words, the declared objective, a study that continues
where it stopped (a fake runner stands in for `dvc exp run`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragtune.cache.location import ENV
from ragtune.evaluation.objective import DEFAULT, ObjectiveError, objective
from ragtune.release.tuning import (
    Space,
    TuneError,
    best_assignments,
    check_spaces,
    describe,
    open_study,
    override,
    parse_space,
    plot,
    run_trials,
)

ROOT = Path(__file__).resolve().parents[2]
METRICS = {
    "dev": {"hybrid": {"map@3": 0.8, "mrr@10": 0.82}, "chitchat": {"precision": 1.0}},
    "conversational": {"hybrid": {"map@3": 0.6, "mrr@10": 0.7}, "chitchat": {"precision": 0.9}},
}


@pytest.mark.parametrize(
    "word, expected",
    [
        ("alpha=float(0.3,0.9)", Space("alpha", "float", 0.3, 0.9, text="alpha=float(0.3,0.9)")),
        ("retrieval.candidates=int(50, 300)", Space("retrieval.candidates", "int", 50, 300)),
        ("train.learning_rate=float(1e-6,1e-4,log)", Space("train.learning_rate", "float", 1e-6, 1e-4, True)),
        ("retrieval.fusion=choice(hybrid,rrf)", Space("retrieval.fusion", "choice", choices=("hybrid", "rrf"))),
        ("rrf_k=choice(10, 60.5)", Space("rrf_k", "choice", choices=(10, 60.5))),
    ],
)
def test_spaces_parse(word, expected):
    assert dataclasses_without_text(parse_space(word)) == dataclasses_without_text(expected)


def dataclasses_without_text(space: Space) -> tuple:
    return (space.key, space.kind, space.low, space.high, space.log, space.choices)


@pytest.mark.parametrize(
    "word, message",
    [
        ("alpha=float(0.3)", "'alpha=float(0.3)': float needs (low, high)"),
        ("alpha=float(0.9,0.3)", "low must be below high"),
        ("alpha=float(a,b)", "float bounds must be numbers"),
        ("retrieval.candidates=int(1.5,3)", "int bounds must be integers"),
        ("alpha=float(0,1,log)", "a log range needs low > 0"),
        ("retrieval.fusion=choice()", "choice needs one or more values"),
        ("retrieval.fusion=choice(rrf,rrf)", "a value is listed twice"),
        ("alpha=0.5", "expected KEY=float(low,high)"),
        ("alpha=uniform(0,1)", "expected KEY=float(low,high)"),
    ],
)
def test_a_bad_space_is_one_line_naming_it(word, message):
    with pytest.raises(TuneError) as caught:
        parse_space(word)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_keys_and_values_are_checked_against_the_schema_before_any_trial():
    present = check_spaces(ROOT / "conf", [parse_space("alpha=float(0.3,0.9)"), parse_space("sparse=choice(bm25s)")])
    assert present == {"alpha": True, "sparse": True}
    for word, message in [
        ("retrieval.char_wieght=float(0,1)", "retrieval.char_wieght is not a known parameter"),
        ("char_weight=float(0,1)", "did you mean retrieval.char_weight"),
        ("alpha=float(0.5,1.5)", "field 'alpha' = 1.5 is not allowed: must be a number in [0, 1]"),
        ("retrieval.fusion=choice(hybrid,max)", "'max' is not allowed"),
        ("model=choice(tiny,huge)", "no model option 'huge'"),
        ("model=float(0,1)", "model is a config group"),
    ]:
        with pytest.raises(TuneError, match=re.escape(message)):
            check_spaces(ROOT / "conf", [parse_space(word)])


def test_overrides_are_hydra_words():
    assert override("alpha", 0.25) == "alpha=0.25"
    assert override("retrieval.fusion", "rrf") == "retrieval.fusion=rrf"
    assert override("tune.objective", DEFAULT) == "tune.objective=mean:hybrid.map@3"
    assert override("data.language", "ko", present=False) == "++data.language=ko"
    assert override("queries.domain", "a help centre") == 'queries.domain="a help centre"'
    assert override("retrieval.colbert", True) == "retrieval.colbert=true"


def test_the_objective_is_a_key_or_the_mean_over_sources():
    assert objective(METRICS, "conversational.hybrid.map@3") == 0.6
    assert objective(METRICS, DEFAULT) == pytest.approx(0.7)
    assert objective({"sample": {"hybrid": {"map@3": 0.5}}}, DEFAULT) == 0.5
    with pytest.raises(ObjectiveError) as caught:
        objective(METRICS, "sample.hybrid.map@3")
    assert "no 'sample.hybrid.map@3'" in str(caught.value) and "dev.hybrid.map@3" in str(caught.value)
    with pytest.raises(ObjectiveError, match="no 'conversational.rrf.map@3'"):
        objective(METRICS, "mean:rrf.map@3")
    with pytest.raises(ObjectiveError, match="not a number"):
        objective(METRICS, "dev.hybrid")


class FakeRunner:
    """Stands in for `dvc exp run`: the objective is a known function of alpha; stops after `fail_after` runs."""

    def __init__(self, fail_after: int | None = None):
        self.names, self.fail_after = [], fail_after

    def __call__(self, name, overrides):
        if self.fail_after is not None and len(self.names) >= self.fail_after:
            raise KeyboardInterrupt
        self.names.append(name)
        alpha = float(next(o for o in overrides if o.startswith("alpha=")).partition("=")[2])
        assert "tune.objective=mean:hybrid.map@3" in overrides
        return {"sample": {"hybrid": {"map@3": 1 - abs(alpha - 0.6)}}}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "store"))
    return tmp_path


def test_a_study_continues_where_it_stopped(store):
    words = ["alpha=float(0.3,0.9)", "retrieval.candidates=int(50,300)"]
    handle = open_study(store, "s", words, None, seed=42)
    assert handle.path == store / "store" / "tune" / "s.db" and handle.path.exists()
    first = FakeRunner(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_trials(handle, 5, first)
    assert first.names == ["tune-s-0", "tune-s-1"]
    interrupted = handle.study.trials[2].params

    again = open_study(store, "s", [], None, seed=42)  # no words: the study's own
    runner = FakeRunner()
    assert run_trials(again, 5, runner) == 3  # the two done are not run again
    assert runner.names == ["tune-s-3", "tune-s-4", "tune-s-5"]
    assert again.study.trials[3].params == interrupted  # the interrupted trial's values come first
    assert run_trials(open_study(store, "s", words, None, seed=42), 5, FakeRunner()) == 0
    table = describe(again)
    assert "5 trials done" in table and "tune-s-2" in table and "fail" in table and "best: trial" in table
    best = again.study.best_trial
    assert best_assignments(again) == [
        f"alpha={best.params['alpha']!r}",
        f"retrieval.candidates={best.params['retrieval.candidates']}",
    ]
    written = plot(again, store / "plots")
    assert [p.name for p in written] == ["history.png", "importances.png"] and all(p.stat().st_size for p in written)


def test_a_continued_study_keeps_its_search_and_objective(store):
    open_study(store, "s", ["alpha=float(0.3,0.9)"], None)
    with pytest.raises(TuneError, match="searches alpha=float"):
        open_study(store, "s", ["alpha=float(0.1,0.9)"], None)
    with pytest.raises(TuneError, match="maximises mean:hybrid.map@3"):
        open_study(store, "s", [], "sample.hybrid.map@3")
    with pytest.raises(TuneError, match="no study 'other' yet"):
        open_study(store, "other", [], None)
    with pytest.raises(TuneError, match="use letters, digits"):
        open_study(store, "a b", ["alpha=float(0.3,0.9)"], None)


def test_a_failed_experiment_is_recorded_and_not_retried(store):
    handle = open_study(store, "f", ["alpha=float(0.3,0.9)"], None, seed=1)

    def broken(name, overrides):
        raise TuneError("`dvc exp run` failed")

    with pytest.raises(TuneError):
        run_trials(handle, 2, broken)
    runner = FakeRunner()
    assert run_trials(open_study(store, "f", [], None, seed=1), 2, runner) == 2
    assert runner.names == ["tune-f-1", "tune-f-2"]
