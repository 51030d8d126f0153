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


def test_stored_morphemes_are_read_again_at_every_pass(tmp_path):
    from ragtune.io import write_jsonl
    from ragtune.text.analysis import StoredMorphemes

    rows = [
        {"docid": "a", "morphemes": [["광합성", "NNG"]]},
        {"docid": "b", "morphemes": [["빛", "NNG"], ["이", "JKS"]]},
    ]
    write_jsonl(tmp_path / "morphemes.jsonl", rows)
    stored = StoredMorphemes(tmp_path / "morphemes.jsonl")
    assert len(stored) == 2
    assert list(stored) == list(stored) == [row["morphemes"] for row in rows]  # two passes, as the IDF and the pairs
