"""The committed conversational validation sets: the tuning part (`conversational.jsonl`, a validation source) and
the held-out part (`conversational_heldout.jsonl`, for the final confirmation only). Well-formed, balanced like real
questions, each row saying how it was written, and never from the competition's eval questions (no near-duplicate
of any of them)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import yaml

from ragtune.data import inputs as data

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "ragtune" / "resources" / "competition"
PARTS = {"conversational": RESOURCES / "conversational.jsonl", "heldout": RESOURCES / "conversational_heldout.jsonl"}
COMPETITION = ROOT.parent / "shared" / "data" / "competition"
# how a question was written: with its document in view, from a topic alone, as a test item
ORIGINS = {"document-first", "topic-first", "exam"}
NEAR_DUPLICATE = 0.6  # Jaccard of character 3-grams (spaces removed); paraphrases of one topic stay far below


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def trigrams(text: str) -> set[str]:
    flat = "".join(text.split())
    return {flat[i : i + 3] for i in range(max(len(flat) - 2, 1))}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_well_formed_and_balanced(part):
    conv = rows(PARTS[part])
    kinds = collections.Counter(row["kind"] for row in conv)
    assert set(kinds) == {"single", "multi-turn", "chitchat"} and len(conv) >= 150
    assert 0.10 <= kinds["multi-turn"] / len(conv) <= 0.20, kinds  # about 13%
    assert 0.07 <= kinds["chitchat"] / len(conv) <= 0.13, kinds  # about 9%
    assert [row["qid"] for row in conv] == sorted({row["qid"] for row in conv})  # unique, in order
    for row in conv:
        assert (row["kind"] == "chitchat") == (row["relevant"] == []), row["qid"]
        assert row["msg"][-1]["role"] == "user", row["qid"]
        assert row["origin"] in ORIGINS, row["qid"]


def test_split_is_disjoint_stratified_and_large_enough():
    tuning, heldout = rows(PARTS["conversational"]), rows(PARTS["heldout"])
    assert not {r["qid"] for r in tuning} & {r["qid"] for r in heldout}
    assert len(tuning) + len(heldout) >= 600
    grown = collections.Counter(r["origin"] for r in tuning + heldout if r["qid"] > "conv-0290")  # after the first 280
    assert grown["topic-first"] + grown["exam"] > grown.total() / 2, grown
    strata = collections.Counter((r["kind"], r["origin"]) for r in tuning + heldout)
    held = collections.Counter((r["kind"], r["origin"]) for r in heldout)
    for stratum, count in strata.items():  # about 30% of every kind × origin held out
        assert abs(held[stratum] - 0.3 * count) <= 1, (stratum, held[stratum], count)


def test_heldout_is_not_a_validation_source_by_default():
    config = yaml.safe_load((ROOT / "conf" / "data" / "competition.yaml").read_text(encoding="utf-8"))
    assert "conversational_heldout.jsonl" not in " ".join(config["validation"].values())


@pytest.mark.shared
@pytest.mark.skipif(not COMPETITION.is_dir(), reason="competition data (../shared) not present")
def test_relevant_docids_exist():
    docids = {d["docid"] for d in data.load_documents(COMPETITION / "documents.jsonl")}
    loaded = data.load_validation(PARTS, docids)  # raises on an unknown docid or a qid in both parts
    assert len(loaded) == sum(len(rows(path)) for path in PARTS.values())


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
    worst = (0.0, "")
    for row in (row for path in PARTS.values() for row in rows(path)):
        for turn in (t["content"] for t in row["msg"] if t["role"] == "user"):
            mine = trigrams(turn)
            for other in grams:
                score = len(mine & other) / len(mine | other)
                if score > worst[0]:
                    worst = (score, row["qid"])
    print(f"max Jaccard(char 3-grams) of a conversational turn with an eval question: {worst[0]:.3f} ({worst[1]})")
    assert worst[0] < NEAR_DUPLICATE, f"{worst[1]} is a near-duplicate of an eval question ({worst[0]:.3f})"
