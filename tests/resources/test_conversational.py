"""The committed conversational validation set: well-formed, balanced like real questions, written from
documents and never from the competition's eval questions (no near-duplicate of any of them)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from ragtune.data import inputs as data

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONAL = ROOT / "ragtune" / "resources" / "competition" / "conversational.jsonl"
COMPETITION = ROOT.parent / "shared" / "data" / "competition"
NEAR_DUPLICATE = 0.6  # Jaccard of character 3-grams (spaces removed); paraphrases of one topic stay far below


def rows() -> list[dict]:
    return [json.loads(line) for line in CONVERSATIONAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def trigrams(text: str) -> set[str]:
    flat = "".join(text.split())
    return {flat[i : i + 3] for i in range(max(len(flat) - 2, 1))}


def test_well_formed_and_balanced():
    conv = rows()
    kinds = collections.Counter(row["kind"] for row in conv)
    assert set(kinds) == {"single", "multi-turn", "chitchat"} and len(conv) >= 250
    assert 0.10 <= kinds["multi-turn"] / len(conv) <= 0.20, kinds  # about 15%
    assert 0.07 <= kinds["chitchat"] / len(conv) <= 0.13, kinds  # about 10%
    assert [row["qid"] for row in conv] == sorted({row["qid"] for row in conv})  # unique, in order
    for row in conv:
        assert (row["kind"] == "chitchat") == (row["relevant"] == []), row["qid"]
        assert row["msg"][-1]["role"] == "user", row["qid"]


@pytest.mark.shared
@pytest.mark.skipif(not COMPETITION.is_dir(), reason="competition data (../shared) not present")
def test_relevant_docids_exist():
    docids = {d["docid"] for d in data.load_documents(COMPETITION / "documents.jsonl")}
    loaded = data.load_validation({"conversational": CONVERSATIONAL}, docids)  # raises on an unknown docid
    assert len(loaded) == len(rows())


@pytest.mark.shared
@pytest.mark.skipif(not COMPETITION.is_dir(), reason="competition data (../shared) not present")
def test_no_near_duplicate_of_an_eval_question():
    evaluation = [
        turn["content"]
        for q in data.load_questions(COMPETITION / "eval.jsonl")
        for turn in q["msg"]
        if turn["role"] == "user"
    ]
    grams = [trigrams(text) for text in evaluation]
    worst = (0.0, "", "")
    for row in rows():
        for turn in (t["content"] for t in row["msg"] if t["role"] == "user"):
            mine = trigrams(turn)
            for other in grams:
                score = len(mine & other) / len(mine | other)
                if score > worst[0]:
                    worst = (score, row["qid"], turn)
    print(f"max Jaccard(char 3-grams) of a conversational turn with an eval question: {worst[0]:.3f} ({worst[1]})")
    assert worst[0] < NEAR_DUPLICATE, f"{worst[1]} is a near-duplicate of an eval question ({worst[0]:.3f})"
