"""ragtune.text.analysis: Kiwi loads only when text is analysed."""

from ragtune.text.analysis import KoreanAnalyzer


def test_selecting_terms_from_stored_morphemes_loads_no_kiwi():
    analyzer = KoreanAnalyzer()
    assert analyzer.select([("광합성", "NNG"), ("은", "JX")]) == ["광합성"]
    assert analyzer._loaded is None


def test_analysing_text_loads_kiwi_once():
    analyzer = KoreanAnalyzer()
    assert "광합성" in [form for form, _ in analyzer.morphemes(["광합성은 무엇인가"])[0]]
    loaded = analyzer._loaded
    analyzer.morphemes(["식물"])
    assert loaded is not None and analyzer._loaded is loaded
