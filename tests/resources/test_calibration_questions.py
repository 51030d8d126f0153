"""The shipped knowledge-seeking questions that calibrate the chit-chat detector.

They must stay disjoint from the competition's evaluation and dev questions (calibrating on
them would leak the test set) and from the chit-chat calibration file (a line in both
would be labelled both ways).
"""

import json
from importlib.resources import files
from pathlib import Path

import pytest

QUESTIONS_FILE = files("ragtune") / "resources" / "questions_ko.txt"
CHITCHAT_FILE = files("ragtune") / "resources" / "chitchat_ko.txt"
COMPETITION = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "competition"


def normalised(text: str) -> str:
    # Whitespace differences must not hide a duplicate.
    return " ".join(text.split())


def read_lines(resource) -> list[str]:
    return resource.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def questions() -> list[str]:
    return read_lines(QUESTIONS_FILE)


def test_non_empty_unique_lines(questions):
    # 300 original lines plus 30 requests for advice, benefits and know-how (knowledge questions the
    # detector used to mistake for chit-chat)
    assert len(questions) == 330
    assert all(line.strip() for line in questions)
    assert all(line == normalised(line) for line in questions), "stray whitespace"
    assert len({normalised(line) for line in questions}) == len(questions)


def test_lines_are_korean_questions(questions):
    assert all(any("가" <= ch <= "힣" for ch in line) for line in questions)


def test_no_line_from_competition_eval_or_dev_queries(questions):
    eval_path, dev_path = COMPETITION / "eval.jsonl", COMPETITION / "dev_queries.jsonl"
    if not (eval_path.exists() and dev_path.exists()):
        pytest.skip("competition data not present")
    held_out = set()
    with eval_path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                held_out.update(
                    normalised(turn["content"]) for turn in json.loads(line)["msg"] if turn["role"] == "user"
                )
    with dev_path.open(encoding="utf-8") as handle:
        held_out.update(normalised(json.loads(line)["query"]) for line in handle if line.strip())
    assert held_out, "competition files were read as empty"
    leaked = [line for line in questions if normalised(line) in held_out]
    assert leaked == []


def test_disjoint_from_chitchat_calibration(questions):
    if not CHITCHAT_FILE.is_file():
        pytest.skip("chitchat_ko.txt not written yet")
    chitchat = {normalised(line) for line in read_lines(CHITCHAT_FILE) if line.strip()}
    assert [line for line in questions if normalised(line) in chitchat] == []
