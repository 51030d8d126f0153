"""Script-based language detection and script runs."""

from __future__ import annotations

import pytest

from ragtune.text.language import corpus_language, detect_language, script_runs
from ragtune.text.sentences import split_sentences


@pytest.mark.parametrize(
    "text,language",
    [
        ("뉴턴의 운동 제1법칙은 관성의 법칙이라고도 불립니다.", "ko"),
        ("DNA 복제는 세포 분열 전에 일어나며 두 가닥이 각각 주형이 됩니다.", "ko"),
        ("Switch off the power at the breaker before wiring.", "en"),
        ("今天的天气很好，我们去公园散步吧。", "zh"),
        ("今日はいい天気なので、公園を散歩しましょう。", "ja"),
        ("전원을 breaker에서 switch off 하세요", "mixed"),
        ("12:30 — 42!", "und"),
        ("", "und"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_corpus_language_pools_letters_and_explains():
    korean = ["한국어 문서입니다. 전원을 차단기에서 끄세요."] * 9
    assert corpus_language(korean + ["A short English note."]).language == "ko"
    profile = corpus_language(korean[:3] + ["A long English document about thermostats and wiring."] * 3)
    assert profile.language == "mixed"
    assert profile.texts == {"ko": 3, "en": 3}
    assert set(profile.shares) == {"hangul", "latin"} and abs(sum(profile.shares.values()) - 1) < 1e-9
    assert "mixed" in profile.summary() and "latin" in profile.summary()
    assert corpus_language([]).language == "und"


def test_script_runs_cover_the_text():
    text = "전원 220V를 off하고 漢字와 カナ, ok?"
    runs = script_runs(text)
    assert "".join(r.text for r in runs) == text
    assert [(r.script, r.text) for r in runs] == [
        ("hangul", "전원 220"),
        ("latin", "V"),
        ("hangul", "를 "),
        ("latin", "off"),
        ("hangul", "하고 "),
        ("han", "漢字"),
        ("hangul", "와 "),
        ("kana", "カナ, "),
        ("latin", "ok?"),
    ]
    assert all(text[r.start : r.end] == r.text for r in runs)
    assert [r.script for r in script_runs("  Привет мир")] == ["other"]
    assert [r.script for r in script_runs("123")] == ["other"] and script_runs("") == []


def test_sentences_korean_and_english():
    text = "Hello there. It is 3.5 cm, e.g. small! 정말요? 네 그렇습니다.\n다음 줄입니다\n끝. 中文。日本"
    assert split_sentences(text) == [
        "Hello there.",
        "It is 3.5 cm, e.g. small!",
        "정말요?",
        "네 그렇습니다.",
        "다음 줄입니다",
        "끝.",
        "中文。",
        "日本",
    ]
