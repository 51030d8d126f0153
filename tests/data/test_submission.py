"""The competition file: rows per eval question (chit-chat empty), validation against questions and docids."""

import json

import pytest

from ragtune.data import submission

DOCS = {
    "d1": "광합성은 식물이 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다.",
    "d2": "세포 호흡은 포도당을 분해하여 에너지를 얻는 과정으로 미토콘드리아에서 일어난다.",
    "d3": "지진은 지각판의 움직임으로 생긴 에너지가 방출되면서 땅이 흔들리는 현상이다.",
    "d4": "블랙홀은 중력이 매우 강해서 빛조차 빠져나올 수 없는 천체이다.",
}


def test_submission_rows_and_validation(tmp_path):
    questions = [{"eval_id": 2, "msg": []}, {"eval_id": 1, "msg": []}]
    run = {"1": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.6}, "2": {}}
    rows = submission.build_rows(questions, {"1": "광합성", "2": "안녕"}, run, DOCS)
    assert [r["eval_id"] for r in rows] == [1, 2]
    assert rows[0]["topk"] == ["d1", "d2", "d3"] and rows[1]["topk"] == []
    submission.validate(rows, questions, set(DOCS))
    with pytest.raises(submission.SubmissionError, match="unknown docids"):
        submission.validate([dict(rows[0], topk=["zz"]), rows[1]], questions, set(DOCS))
    with pytest.raises(submission.SubmissionError, match="missing \\[2\\]"):
        submission.validate(rows[:1], questions, set(DOCS))
    submission.write_submission(tmp_path / "s.csv", rows)
    assert json.loads((tmp_path / "s.csv").read_text().splitlines()[0])["eval_id"] == 1
