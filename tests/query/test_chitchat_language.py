"""Chit-chat calibration per language (ko, en, mixed; none for zh / ja), the margin + vocabulary rule of
`judge`, and a user's own examples. Probe texts are held out: none is a calibration line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.query import chitchat
from ragtune.query.chitchat import (
    ChitchatDetector,
    UncalibratedLanguage,
    calibrated_detector,
    decide,
    shipped_calibration,
    user_calibration,
)

EN_CHAT = ["hiya, anybody home?", "thanks a million!", "haha nice one", "see you tomorrow", "are you a robot or what"]
EN_QUESTIONS = [
    "how do i change the email on my account",
    "refund for a cancelled order",
    "app keeps crashing on startup",
    "which cable do i need for the monitor",
    "where can i download the user manual",
]
KO_CHAT = ["안녕하세요! 오늘 처음 써보는데 잘 부탁드려요", "그냥 심심해서 들어왔어"]
KO_QUESTIONS = ["광합성은 어떤 과정을 거쳐 포도당을 만들어?", "지구 나이는 어떻게 알아내?"]


def words(texts):
    return [text.lower().replace("?", " ").replace("!", " ").split() for text in texts]


@pytest.fixture(scope="module")
def english():
    return calibrated_detector(0.55, 0, language="en")


@pytest.fixture(scope="module")
def mixed():
    return calibrated_detector(0.55, 0, language="mixed")


def test_english_calibration_files():
    chat, questions = shipped_calibration("en")
    assert len(chat) >= 80 and len(questions) >= 150
    assert len(set(chat)) == len(chat) and len(set(questions)) == len(questions) and not set(chat) & set(questions)
    assert not (set(EN_CHAT) | set(EN_QUESTIONS)) & (set(chat) | set(questions))  # the probes are held out


def test_english_calibration_is_not_the_english_sample():
    def grams(text):
        text = text.lower()
        return {text[i : i + 3] for i in range(len(text) - 2)}

    sample = Path(chitchat.RESOURCES / "sample_en/questions.jsonl").read_text(encoding="utf-8").splitlines()
    asked = [grams(json.loads(line)["question"]) for line in sample]
    for line in sum(shipped_calibration("en"), []):
        near = max(len(grams(line) & g) / max(1, len(grams(line) | g)) for g in asked)
        assert near < 0.6, line


def test_english_flags_chitchat_and_passes_questions(english):
    assert english.is_chitchat(EN_CHAT) == [True] * len(EN_CHAT)
    assert english.is_chitchat(EN_QUESTIONS) == [False] * len(EN_QUESTIONS)
    assert english.language == "en" and english.margin == chitchat.MARGINS["en"]


def test_mixed_knows_both_languages(mixed):
    assert mixed.is_chitchat(EN_CHAT + KO_CHAT) == [True] * (len(EN_CHAT) + len(KO_CHAT))
    assert mixed.is_chitchat(EN_QUESTIONS + KO_QUESTIONS) == [False] * (len(EN_QUESTIONS) + len(KO_QUESTIONS))
    ko, en = shipped_calibration("ko"), shipped_calibration("en")
    assert shipped_calibration("mixed") == (ko[0] + en[0], ko[1] + en[1])


def test_korean_is_unchanged():
    # P(chit-chat) of the Korean calibration, seed 0: pinned, so a change to it is a decision (the closing turns
    # added to chitchat_ko.txt moved these from 0.9204, 0.1035, 0.7651, 0.0456 at commit 60e4052)
    before = [0.9238607617533979, 0.1031598654160805, 0.8023215395768383, 0.042946203568430666]
    texts = [KO_CHAT[0], KO_QUESTIONS[0], KO_CHAT[1], KO_QUESTIONS[1]]
    assert list(calibrated_detector(0.55, 0).probability(texts)) == pytest.approx(before, abs=1e-12)
    assert list(calibrated_detector(0.55, 0, language="ko").probability(texts)) == list(
        ChitchatDetector(threshold=0.55, seed=0).fit(*shipped_calibration()).probability(texts)
    )


@pytest.mark.parametrize("language", ["zh", "ja"])
def test_no_calibration_for_chinese_or_japanese(language):
    with pytest.raises(UncalibratedLanguage, match="turn chit-chat detection off"):
        calibrated_detector(0.55, 0, language=language)
    with pytest.raises(ValueError, match="unknown language"):
        shipped_calibration("fr")


def test_decide_margin_and_vocabulary():
    vocabulary = {"router", "wire", "thanks"}
    terms = [["router"], ["hello"], ["router"], ["router"], ["thanks"], []]
    probability = [0.56, 0.56, 0.64, 0.40, 0.56, 0.56]
    assert decide(probability, terms, None, 0.55, 0.05) == [True, True, True, False, True, True]  # threshold alone
    # unsure band [0.55, 0.60): chit-chat only without a content term; above it the classifier alone
    assert decide(probability, terms, vocabulary, 0.55, 0.05) == [False, True, True, False, False, True]
    # a term the chit-chat calibration uses is no content term
    assert decide(probability, terms, vocabulary, 0.55, 0.05, {"thanks"}) == [False, True, True, False, True, True]
    assert decide(probability, terms, vocabulary, 0.55, 0.0) == [True, True, True, False, True, True]


def test_judge_uses_the_vocabulary_only_where_unsure(english):
    texts = EN_CHAT + EN_QUESTIONS
    probability = english.probability(texts)
    assert english.judge(texts) == english.is_chitchat(texts)  # no vocabulary: the threshold alone
    vocabulary = {word for text in words(texts) for word in text}  # every word known: only sure texts stay flagged
    sure = [bool(p >= english.threshold + english.margin) for p in probability]
    chat = english.chat_terms(words)
    assert english.judge(texts, vocabulary, analyze=words) == [
        s or (p >= english.threshold and all(w in chat for w in ws))
        for s, p, ws in zip(sure, probability, words(texts))
    ]
    assert english.judge(texts, set(), analyze=words) == english.is_chitchat(texts)  # nothing known: unchanged
    wide = ChitchatDetector(threshold=0.55, margin=1.0).fit(*shipped_calibration("en"))
    assert wide.judge(["thanks a million!"], {"million"}, analyze=words) == [False]  # names a corpus term
    assert wide.judge(["thanks a million!"], {"invoice"}, analyze=words) == [True]


def test_judge_default_analyzer_is_the_languages(english):
    analyze = english.analyzer()
    assert analyze(["Routers keeps dropping"]) == [["router", "keep", "drop"]]
    assert english.analyzer() is analyze


def test_user_examples_change_the_decision(tmp_path):
    assert user_calibration(None) == ([], []) and user_calibration(tmp_path) == ([], [])
    probe = ["tell me about your weekend plans"]
    base = calibrated_detector(0.55, 0, language="en")
    (tmp_path / "questions.txt").write_text("tell me about the weekend delivery plans\n\n", encoding="utf-8")
    (tmp_path / "chitchat.txt").write_text("what are your plans for the weekend\nhow was your weekend\n", "utf-8")
    extra_chat, extra_questions = user_calibration(tmp_path)
    assert extra_chat == ["what are your plans for the weekend", "how was your weekend"]
    assert extra_questions == ["tell me about the weekend delivery plans"]
    as_chat = calibrated_detector(0.55, 0, language="en", extra_chitchat=extra_chat)
    as_question = calibrated_detector(0.55, 0, language="en", extra_questions=extra_questions)
    p = base.probability(probe)[0]
    assert as_chat.probability(probe)[0] > p > as_question.probability(probe)[0]
    assert as_chat.is_chitchat(probe) == [True] and as_question.is_chitchat(probe) == [False]
