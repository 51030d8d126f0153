"""The English analyzer against bm25s + PyStemmer used directly, and the mixed analyzer on Korean + English."""

from __future__ import annotations

import bm25s
import pytest
import Stemmer

from ragtune.text.analysis import KoreanAnalyzer
from ragtune.text.english import (
    ANALYZER_FOR_LANGUAGE,
    EnglishAnalyzer,
    MixedAnalyzer,
    analyzer_for_language,
    load_analyzer,
)

ENGLISH = [
    "Switch off power at the breaker.",
    "The runners were running faster than the RUNNER before them; 2024 models run quietly.",
    "Wi-Fi drops every evening: fix the 2.4 GHz channel to 1, 6 or 11.",
    "",
    "a I",
    "Caf\u00e9s and na\u00efve users' configurations",
]


@pytest.fixture(scope="module")
def korean():
    return KoreanAnalyzer()


def test_english_analyzer_matches_bm25s_with_pystemmer():
    reference = bm25s.tokenize(
        ENGLISH, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )
    analyzer = EnglishAnalyzer()
    assert analyzer.batch(ENGLISH) == [list(tokens) for tokens in reference]
    assert analyzer.tokens(ENGLISH[0]) == ["switch", "off", "power", "breaker"]
    morphemes = analyzer.morphemes(ENGLISH[:2])
    assert ("the", "SL") in morphemes[1] and ("2024", "SN") in morphemes[1]  # surface words; stopwords still in
    assert analyzer.select(morphemes[1]) == analyzer.batch(ENGLISH[1:2])[0]


def test_english_config_round_trip_and_options():
    analyzer = EnglishAnalyzer(stemmer=None, stopwords=["power"])
    assert analyzer.tokens("Power at the breakers") == ["at", "the", "breakers"]
    again = load_analyzer(analyzer.config())
    assert isinstance(again, EnglishAnalyzer) and again.config() == analyzer.config()
    assert EnglishAnalyzer().sentences("One. Two!") == ["One.", "Two!"]


def test_mixed_analyzer_stems_english_inside_korean(korean):
    text = "차단기에서 전원을 끄세요 (switch off power at the breakers)."
    assert korean.tokens("switch off power at the breaker.")[-2:] == ["br", "eaker."]  # what Kiwi does alone
    mixed = MixedAnalyzer(korean=korean)
    tokens = mixed.tokens(text)
    assert tokens == ["차단기", "전원", "끄", "switch", "off", "power", "breaker"]
    assert mixed.tokens("Wi-Fi 라우터를 reboot했어요") == ["wi", "fi", "라우터", "reboot"]


def test_mixed_analyzer_equals_kiwi_on_hangul_and_bigrams_cjk(korean):
    mixed = MixedAnalyzer(korean=korean)
    hangul = ["뉴턴의 운동 제1법칙은 관성의 법칙이라고도 불립니다.", "물체가 운동 상태를 유지하려는 성질"]
    assert mixed.batch(hangul) == korean.batch(hangul)
    assert mixed.tokens("漢字 한자") == ["漢字", "한자"]
    assert mixed.tokens("今日はいい天気") == ["今日", "はい", "いい", "天気"]
    assert mixed.tokens("中") == ["中"]


def test_mixed_interface_and_config(korean):
    mixed = MixedAnalyzer(korean=korean, n=3)
    config = mixed.config()
    assert config["kind"] == "mixed" and config["korean"] == korean.config() and config["n"] == 3
    assert load_analyzer(config).config() == config
    texts = ["전원 220V를 off", "Hello 세계"]
    assert mixed.batch(texts) == [mixed.select(m) for m in mixed.morphemes(texts)]
    assert mixed.sentences("첫 문장입니다. Second sentence.") == ["첫 문장입니다.", "Second sentence."]
    assert mixed.sentences("One. Two.") == ["One.", "Two."]
    assert load_analyzer({"kind": "char_ngram", "n": 2}).config() == {"kind": "char_ngram", "n": 2}


def test_analyzer_for_language():
    assert isinstance(analyzer_for_language("en"), EnglishAnalyzer)
    # ko keeps the Kiwi analyzer (same results as before); everything else not English goes mixed
    assert ANALYZER_FOR_LANGUAGE == {"ko": "morpheme", "en": "english", "zh": "mixed", "ja": "mixed", "mixed": "mixed"}
