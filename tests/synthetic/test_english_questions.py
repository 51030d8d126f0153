"""Offline questions in the corpus's language: English help-centre questions on the English sample, the
Korean sample's questions unchanged, a mixed corpus per document, and the Chinese/Japanese fallback."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from ragtune.data.inputs import load_documents
from ragtune.data.passages import split_documents
from ragtune.data.readers import read_folder
from ragtune.synthetic import english, languages, offline
from ragtune.text.analysis import KoreanAnalyzer
from ragtune.text.english import EnglishAnalyzer, MixedAnalyzer

RESOURCES = Path(offline.__file__).resolve().parents[1] / "resources"
HANGUL = re.compile(r"[\uac00-\ud7a3\u3130-\u318f]")


@pytest.fixture(scope="module")
def sample_en():
    """The English sample as the pipeline sees it: passages, `content` = title and headings, then text."""
    passages = split_documents(read_folder(RESOURCES / "sample_en" / "documents", strict=True).documents)
    documents = [{"docid": p.id, "content": p.context} for p in passages]
    analyzer = EnglishAnalyzer()
    return documents, analyzer.morphemes([d["content"] for d in documents]), analyzer


def english_pairs(sample, per_document=3, seed=42):
    documents, morphemes, analyzer = sample
    return offline.offline_pairs(documents, morphemes, analyzer, "varied", per_document, seed, 16, language="en")


def test_every_sample_passage_gets_english_questions_that_copy_nothing(sample_en):
    documents, _, _ = sample_en
    pairs = english_pairs(sample_en)
    per_doc = {d["docid"]: [p["query"] for p in pairs if p["docid"] == d["docid"]] for d in documents}
    assert all(len(questions) == 3 for questions in per_doc.values()), [k for k, v in per_doc.items() if len(v) < 3]
    texts = {d["docid"]: d["content"] for d in documents}
    for pair in pairs:
        question, text = pair["query"], " ".join(texts[pair["docid"]].split())
        assert not HANGUL.search(question) and re.search(r"[A-Za-z]{3}", question), question
        assert pair["source"] == "offline" and 2 <= len(question.split()) <= 9, question
        assert offline.longest_copied_span(question.lower(), text.lower()) <= 16, question
        assert not offline.shares_word_ngram(question.lower(), offline.document_word_ngrams(text.lower())), question
        sentences = [s.lower().rstrip(".!?") for s in english.split_sentences(text) if len(s.split()) >= 3]
        assert not any(s in question.lower() for s in sentences), question
    stats = offline.copy_statistics(pairs, texts)
    assert stats["max_copied_span"] <= 16 and stats["word_trigram_share"] == 0.0


def test_english_questions_are_deterministic_varied_and_help_centre_shaped(sample_en):
    pairs = english_pairs(sample_en)
    assert pairs == english_pairs(sample_en)
    assert pairs != english_pairs(sample_en, seed=7)
    questions = [p["query"] for p in pairs]
    assert len(set(questions)) >= 0.9 * len(questions)
    starts = {"how": 0, "what": 0, "why": 0, "problem": 0, "keywords": 0}
    for q in questions:
        first = q.split()[0]
        if first in ("how", "what", "why"):
            starts[first] += 1
        elif q.endswith(("not working", "problem", "issue", "stopped working")) or q.startswith("trouble with"):
            starts["problem"] += 1
        else:
            starts["keywords"] += 1
    assert all(count >= 5 for count in starts.values()), starts
    assert "how do I invite family members" in questions  # a heading's gerund turned into a how-to


def test_key_phrases_prefer_multiword_terms_from_headings(sample_en):
    documents, morphemes, _ = sample_en
    idf = english.english_idf(morphemes)
    pairs_df = english.phrase_pairs(d["content"] for d in documents)
    content = next(d["content"] for d in documents if d["docid"] == "installation/mounting.md#0")
    phrases = english.english_key_phrases(content, idf, pairs_df)
    assert phrases[0] == "wall base" and "direct sunlight" in phrases
    assert all(p == p.lower() for p in phrases)
    wifi = next(d["content"] for d in documents if d["docid"] == "troubleshooting/wifi.html#0")
    assert "2.4 GHz" in english.english_key_phrases(wifi, idf, pairs_df)  # units keep their case


def test_verbs_end_phrases_and_open_instructions():
    assert [[w.low for w in run] for run in english.content_runs("A room sensor measures temperature.")] == [
        ["room", "sensor"],
        ["temperature"],
    ]
    assert [[w.low for w in run] for run in english.content_runs("Check the firmware update, then wait.")] == [
        ["firmware", "update"]
    ]
    verb, obj = english.instruction("Pull the battery tab, then open the app.")
    assert verb == "pull" and [w.low for w in obj] == ["battery", "tab"]
    assert english.instruction("Support is available by chat.") is None
    assert english.instruction("Inviting family members")[0] == "invite"


@pytest.mark.slow  # every sample document through Kiwi and the generator
def test_korean_sample_questions_are_unchanged():
    """Digests of the shipped Korean sample's questions computed before languages existed (commit 60e4052)."""
    documents = load_documents(RESOURCES / "sample" / "documents.jsonl")
    analyzer = KoreanAnalyzer()
    morphemes = analyzer.morphemes([d["content"] for d in documents])
    expected = {
        "varied": "24ea39f0119e6f9ede437b1301d8f53d0faf2adbe1eefdbea800ea1cb334edf5",
        "inverse_cloze": "01088259a2fcf9055fb47e76fbbaebcdd21b6f4c156d26e4a0e5a4916ce3079c",
    }
    for generator, digest in expected.items():
        for kwargs in ({}, {"language": "ko"}):
            pairs = offline.offline_pairs(documents, morphemes, analyzer, generator, 3, 42, 16, **kwargs)
            blob = json.dumps(pairs, ensure_ascii=False, sort_keys=True).encode()
            assert len(pairs) == 360 and hashlib.sha256(blob).hexdigest() == digest, generator
    first = offline.offline_pairs(documents, morphemes, analyzer, "varied", 3, 42, 16, language="ko")[:3]
    assert [p["query"] for p in first] == [
        "뉴턴 운동 차이",
        "물체는 관성과 어떻게 연결되나요?",
        "식탁보 그릇 현상 관성 이유",
    ]


def test_mixed_corpus_asks_each_document_in_its_own_language():
    documents = [
        {
            "docid": "ko",
            "content": "광합성은 식물이 빛 에너지를 화학 에너지로 바꾸는 과정입니다. 엽록소가 빛을 흡수합니다.",
        },
        {
            "docid": "en",
            "content": "Room sensors\n\nA room sensor measures temperature in a second room. Pull the battery tab.",
        },
        {"docid": "zh", "content": "恒温器可以控制暖气和空调。安装前请关闭电源。"},
        {"docid": "none", "content": "12 34 56"},
    ]
    analyzer = MixedAnalyzer()
    morphemes = analyzer.morphemes([d["content"] for d in documents])
    assert [languages.document_language(d["content"]) for d in documents] == ["ko", "en", "zh", "und"]
    pairs = offline.offline_pairs(documents, morphemes, analyzer, "varied", 3, 1, 16, language="mixed")
    by_doc = {d["docid"]: [p["query"] for p in pairs if p["docid"] == d["docid"]] for d in documents}
    assert by_doc["ko"] and all(HANGUL.search(q) for q in by_doc["ko"])
    assert by_doc["en"] and not any(HANGUL.search(q) for q in by_doc["en"])
    assert by_doc["zh"] and all(re.fullmatch(r"[\u4e00-\u9fff]{2}( [\u4e00-\u9fff]{2}){0,2}", q) for q in by_doc["zh"])
    assert by_doc["none"] == []
    with pytest.raises(ValueError, match="Korean only"):
        offline.offline_pairs(documents, morphemes, analyzer, "inverse_cloze", 3, 1, 16, language="mixed")
    with pytest.raises(ValueError, match="language"):
        offline.offline_pairs(documents, morphemes, analyzer, "varied", 3, 1, 16, language="fr")


def test_japanese_fallback_is_keyword_bigrams():
    documents = [{"docid": "ja", "content": "サーモスタットは暖房と冷房を制御します。設置の前に電源を切ってください。"}]
    analyzer = MixedAnalyzer()
    pairs = offline.offline_pairs(
        documents, analyzer.morphemes([documents[0]["content"]]), analyzer, "varied", 3, 1, 16, language="ja"
    )
    assert len(pairs) == 3 and all(all(len(w) == 2 for w in p["query"].split()) for p in pairs)
