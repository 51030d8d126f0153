"""ragtune.query.memo: offline plans remembered by everything that decides them."""

import pytest

from ragtune.config.paths import Workspace
from ragtune.config.schema import Retrieval
from ragtune.io import write_jsonl
from ragtune.query.memo import PlanMemo, Planner, plan_inputs
from ragtune.query.plan import QueryPlan

QUESTIONS = [
    ("q1", [{"role": "user", "content": "광합성은 어디에서 일어나?"}]),
    ("q2", [{"role": "user", "content": "안녕 반가워 ㅎㅎ"}]),
    ("q3", [{"role": "user", "content": "달은 왜 모양이 바뀌어?"}, {"role": "assistant", "content": "…"},
            {"role": "user", "content": "그럼 그건 얼마나 걸려?"}]),
]  # fmt: skip


def OFFLINE(qid: str) -> bool:  # no question goes to an LLM
    return False


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "repo")
    write_jsonl(ws.morphemes, [{"docid": "d1", "morphemes": [["광합성", "NNG"], ["엽록체", "NNG"]]}])
    return ws


def planner(ws, store, **settings):
    return Planner(Retrieval(candidates=10, **settings), 42, "ko", ws, None, "", store)


def test_a_second_run_answers_from_the_memo_without_calibrating_the_detector(workspace, tmp_path):
    plans, rule = planner(workspace, tmp_path / "store").plan(QUESTIONS, OFFLINE)
    assert [p.chitchat for p in plans] == [False, True, False] and rule["threshold"] == 0.55

    second = planner(workspace, tmp_path / "store")
    second.detector = lambda: pytest.fail("a remembered set calibrates no detector")
    again, again_rule = second.plan(QUESTIONS, OFFLINE)
    assert [p.as_dict() for p in again] == [p.as_dict() for p in plans] and again_rule == rule
    assert second.memo.hits == 1


def remembered(ws, store, **settings) -> int:
    """Hits of a memo keyed like the stage's after one plan of QUESTIONS with the default settings."""

    def made():
        return [QueryPlan(qid, "q", False, 0.0, ["q"]) for qid, _ in QUESTIONS], None

    PlanMemo(store, plan_inputs(Retrieval(candidates=10), 42, "ko", ws)).plans(QUESTIONS, made)
    memo = PlanMemo(store, plan_inputs(Retrieval(**{"candidates": 10, **settings}), 42, "ko", ws))
    memo.plans(QUESTIONS, made)
    return memo.hits


@pytest.mark.parametrize("change", [{"chitchat_threshold": 0.9}, {"chitchat": "off"}, {"calibration_stride": 3}])
def test_a_setting_that_decides_plans_is_part_of_the_key(workspace, tmp_path, change):
    assert remembered(workspace, tmp_path, **change) == 0


def test_a_fusion_setting_is_not(workspace, tmp_path):
    assert remembered(workspace, tmp_path, char_weight=0.5, fusion="rrf", candidates=50) == 1


def test_the_corpus_vocabulary_and_the_users_examples_are_part_of_the_key(workspace, tmp_path):
    def made():
        return [], None

    keys = []
    for change in (None, "vocabulary", "examples"):
        if change == "vocabulary":
            write_jsonl(workspace.morphemes, [{"docid": "d1", "morphemes": [["달", "NNG"]]}])
        if change == "examples":
            workspace.chitchat_examples.mkdir(parents=True)
            (workspace.chitchat_examples / "chitchat.txt").write_text("좋은 아침\n", encoding="utf-8")
        memo = PlanMemo(tmp_path, plan_inputs(Retrieval(candidates=10), 42, "ko", workspace))
        memo.plans(QUESTIONS, made)
        keys.append(memo.hits)
    assert keys == [0, 0, 0]


def test_a_set_with_questions_an_llm_plans_is_not_remembered(workspace, tmp_path):
    with_llm = Planner(Retrieval(candidates=10), 42, "ko", workspace, client=object(), domain="", store=tmp_path)
    with_llm.detector = lambda: (None, None)
    with pytest.raises(AttributeError):  # plan_routed asked the (stand-in) client: no memo answered first
        with_llm.plan(QUESTIONS, lambda qid: qid == "q1")
    assert not any(tmp_path.rglob("*.json"))
