"""The shipped sample dataset (`data=sample`): counts, schema, links, and no overlap with the competition."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest

from ragtune.io import read_jsonl

RESOURCES = Path(str(files("ragtune") / "resources"))
SAMPLE = RESOURCES / "sample"
COMPETITION = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "competition"
DOCID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "ragtune/sample")
TOPICS = {
    "physics",
    "chemistry",
    "biology",
    "earth_science",
    "astronomy",
    "medicine",
    "nutrition",
    "ecology",
    "computer_science",
    "electrical_engineering",
    "genetics",
    "psychology",
}


def documents() -> list[dict]:
    return read_jsonl(SAMPLE / "documents.jsonl")


def labelled() -> list[dict]:
    return read_jsonl(SAMPLE / "labelled.jsonl")


def eval_questions() -> list[dict]:
    return read_jsonl(SAMPLE / "eval.jsonl")


def chitchat() -> list[str]:
    return (RESOURCES / "chitchat_ko.txt").read_text(encoding="utf-8").splitlines()


def normalise(text: str) -> str:
    # Compare messages without spacing and punctuation, so "너 뭐해?" and "너 뭐 해" count as the same.
    return re.sub(r"[\W_]+", "", text).lower()


def messages(rows: list[dict]) -> set[str]:
    # User turns only: assistant acknowledgements ("네, 무엇을 도와드릴까요?") are stock phrases everywhere.
    return {normalise(turn["content"]) for row in rows for turn in row["msg"] if turn["role"] == "user"}


def check_conversation(msg) -> None:
    assert isinstance(msg, list) and len(msg) % 2 == 1, msg
    for position, turn in enumerate(msg):
        assert set(turn) == {"role", "content"}
        assert turn["role"] == ("user" if position % 2 == 0 else "assistant")
        assert isinstance(turn["content"], str) and turn["content"].strip() == turn["content"] != ""


def test_documents_schema_counts_and_lengths():
    docs = documents()
    assert len(docs) == 120
    for doc in docs:
        assert set(doc) == {"docid", "src", "content"}
        assert 150 <= len(doc["content"]) <= 450, (doc["docid"], len(doc["content"]))
        assert doc["content"] == doc["content"].strip() and "\n" not in doc["content"]
    assert len({doc["docid"] for doc in docs}) == 120
    assert len({doc["content"] for doc in docs}) == 120
    topics = Counter(doc["src"].removeprefix("sample__") for doc in docs)
    assert set(topics) == TOPICS and set(topics.values()) == {10}


def test_docids_are_uuid5_of_topic_and_position():
    seen: Counter[str] = Counter()
    for doc in documents():
        topic = doc["src"].removeprefix("sample__")
        seen[topic] += 1
        assert doc["docid"] == str(uuid.uuid5(DOCID_NAMESPACE, f"{topic}/{seen[topic]:02d}"))


def test_labelled_schema_links_and_kinds():
    rows = labelled()
    docids = {doc["docid"] for doc in documents()}
    assert len(rows) == 40
    assert [row["qid"] for row in rows] == [f"s{n:03d}" for n in range(1, 41)]
    for row in rows:
        assert set(row) == {"qid", "msg", "relevant"}
        check_conversation(row["msg"])
        assert len(row["relevant"]) <= 1 and set(row["relevant"]) <= docids, row["qid"]
    chit_chat = [row for row in rows if not row["relevant"]]
    multi_turn = [row for row in rows if len(row["msg"]) > 1]
    assert len(chit_chat) == 4 and all(len(row["msg"]) == 1 for row in chit_chat)
    assert len(multi_turn) == 4 and all(len(row["msg"]) == 3 and row["relevant"] for row in multi_turn)
    # Every retrieval question points at a different passage, so no passage is counted twice.
    targets = [row["relevant"][0] for row in rows if row["relevant"]]
    assert len(targets) == len(set(targets)) == 36


def test_eval_schema_ids_and_kinds():
    rows = eval_questions()
    assert len(rows) == 24
    ids = [row["eval_id"] for row in rows]
    assert sorted(ids) == list(range(24)) and ids != sorted(ids)
    for row in rows:
        assert set(row) == {"eval_id", "msg"}
        check_conversation(row["msg"])
    assert Counter(len(row["msg"]) for row in rows) == {1: 20, 3: 4}


def test_chitchat_calibration_set():
    lines = chitchat()
    # 200 original lines + 9 hand-written for the conversational detector + 8 closing turns (ragtune.query.plan)
    assert len(lines) == 217
    assert all(line and line == line.strip() for line in lines)
    assert len({normalise(line) for line in lines}) == len(lines)


def test_sets_share_no_message():
    chat = {normalise(line) for line in chitchat()}
    assert not chat & messages(labelled())
    assert not chat & messages(eval_questions())
    assert not messages(labelled()) & messages(eval_questions())


@pytest.mark.shared
@pytest.mark.skipif(not COMPETITION.is_dir(), reason="competition data (../shared) not present")
def test_nothing_copied_from_the_competition():
    competition_messages = messages(read_jsonl(COMPETITION / "eval.jsonl"))
    assert not {normalise(line) for line in chitchat()} & competition_messages
    assert not messages(eval_questions()) & competition_messages
    assert not messages(labelled()) & competition_messages
    competition_contents = {normalise(doc["content"]) for doc in read_jsonl(COMPETITION / "documents.jsonl")}
    assert not {normalise(doc["content"]) for doc in documents()} & competition_contents
