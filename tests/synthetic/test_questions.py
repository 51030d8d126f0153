"""Offline question forms that do not copy their document, and questions read from a file."""

import json

import pytest

from ragtune.io import DataError
from ragtune.synthetic import files, offline, split

DOCUMENT = (
    "광합성은 식물이 빛 에너지를 화학 에너지로 바꾸는 과정입니다. 엽록체의 엽록소는 빛을 흡수하고, "
    "이산화탄소와 물을 이용해 포도당을 만듭니다. 이 과정에서 산소가 부산물로 방출됩니다. "
    "광합성의 속도는 빛의 세기, 온도, 이산화탄소 농도에 따라 달라집니다."
)
OTHER = "화산은 지각 아래의 마그마가 지표로 분출하면서 만들어집니다. 화산 활동은 판의 경계에서 주로 일어납니다."


@pytest.fixture(scope="module")
def analysed(korean_analyzer):
    analyzer = korean_analyzer
    morphemes = analyzer.morphemes([DOCUMENT, OTHER])
    idf = offline.inverse_document_frequency(morphemes)
    sentences = analyzer.sentences(DOCUMENT)
    return analyzer.morphemes(sentences), offline.key_phrases(morphemes[0], idf), idf, sentences


def test_longest_copied_span():
    assert offline.longest_copied_span("빛 에너지 흡수", "식물이 빛 에너지를") == len("빛 에너지")
    assert offline.longest_copied_span("xyz", "abc") == 0
    assert offline.longest_copied_span("abc", "zabcz") == 3


def test_particles_follow_the_last_syllable():
    assert offline._fill_any("{a_ul} 설명해줘", "광합성") == "광합성을 설명해줘"
    assert offline._fill_any("{a_ga} 뭐야?", "엽록소") == "엽록소가 뭐야?"
    assert offline._fill_any("{a_i} {b}{b_wa} 어떻게 연결되나요?", "산소", "물") == "산소는 물과 어떻게 연결되나요?"


def test_content_chunks_strip_particles_and_find_the_subject(analysed):
    sentence_morphemes, *_ = analysed
    chunks, subject = offline.content_chunks(sentence_morphemes[0])
    assert subject == "광합성"
    assert "식물" in chunks and "바꾸다" in chunks
    assert not any(chunk.endswith(("은", "를", "입니다")) for chunk in chunks)


def test_varied_questions_are_deterministic_distinct_and_never_copy(analysed):
    sentence_morphemes, phrases, idf, sentences = analysed
    made = offline.varied_questions("d1", DOCUMENT, sentence_morphemes, phrases, idf, 6, seed=7)
    assert made == offline.varied_questions("d1", DOCUMENT, sentence_morphemes, phrases, idf, 6, seed=7)
    assert len(made) == 6 and len(set(made)) == 6
    text = " ".join(DOCUMENT.split())
    trigrams = offline.document_word_ngrams(text)
    for question in made:
        assert offline.longest_copied_span(question, text) <= 16
        assert not offline.shares_word_ngram(question, trigrams)
        assert all(question.rstrip(".?") not in s for s in sentences)
    # the legacy generator copies whole sentences: that is what the statistics measure
    legacy = [{"query": q, "docid": "d1"} for q in offline.offline_questions("d1", sentences, phrases, 3, seed=7)]
    new = [{"query": q, "docid": "d1"} for q in made]
    assert (
        offline.copy_statistics(new, {"d1": DOCUMENT})["mean_copied_span"]
        < offline.copy_statistics(legacy, {"d1": DOCUMENT})["mean_copied_span"]
    )


def test_varied_questions_depend_only_on_their_document(analysed):
    sentence_morphemes, phrases, idf, _ = analysed
    one = offline.varied_questions("d1", DOCUMENT, sentence_morphemes, phrases, idf, 3, seed=7)
    other = offline.varied_questions("d2", DOCUMENT, sentence_morphemes, phrases, idf, 3, seed=7)
    assert one == offline.varied_questions("d1", DOCUMENT, sentence_morphemes, phrases, idf, 3, seed=7)
    assert one != other  # seeded by docid


def test_short_document_gives_fewer_questions_not_an_error():
    assert offline.varied_questions("d", "짧다.", [], [], {}, 3, seed=1) == []


def _write(tmp_path, rows):
    path = tmp_path / "questions.jsonl"
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_question_file_reads_and_deduplicates(tmp_path):
    path = _write(
        tmp_path,
        [
            {"query": " 광합성이 뭐야? ", "docid": "d1"},
            {"query": "광합성이 뭐야?", "docid": "d1"},
            "",
            {"query": "화산은 어디서 생겨?", "docid": "d2", "extra": 1},
        ],
    )
    pairs = files.read_question_file(path, {"d1", "d2"})
    assert pairs == [
        {"query": "광합성이 뭐야?", "docid": "d1", "source": "file"},
        {"query": "화산은 어디서 생겨?", "docid": "d2", "source": "file"},
    ]


@pytest.mark.parametrize(
    "row, field, problem",
    [
        ({"query": "질문", "docid": "nope"}, "docid", "is not a document of the corpus"),
        ({"query": "  ", "docid": "d1"}, "query", "is empty"),
        ({"docid": "d1"}, "query", "is missing"),
        ({"query": "질문", "docid": 3}, "docid", "must be str"),
    ],
)
def test_question_file_errors_name_line_and_field(tmp_path, row, field, problem):
    path = _write(tmp_path, [{"query": "좋은 질문", "docid": "d1"}, row])
    with pytest.raises(DataError) as error:
        files.read_question_file(path, {"d1"})
    message = str(error.value)
    assert "2" in message and field in message and problem in message and str(path) in message


def test_malformed_question_file_line(tmp_path):
    path = _write(tmp_path, ['{"query": "a", "docid": "d1"}', "{not json"])
    with pytest.raises(DataError, match="malformed"):
        files.read_question_file(path, {"d1"})


def test_empty_shipped_file_means_no_questions():
    from importlib import resources

    shipped = resources.files("ragtune") / "resources" / "questions" / "none.jsonl"
    assert files.read_question_file(shipped, {"d1"}) == []


def test_file_questions_add_or_replace():
    generated = [{"query": "g1", "docid": "d2"}, {"query": "g2", "docid": "d1"}]
    from_file = [{"query": "f1", "docid": "d1"}]
    order = ["d1", "d2"]
    assert [p["query"] for p in files.combine_file_questions(generated, from_file, "add", order)] == [
        "g2",
        "f1",
        "g1",
    ]
    assert [p["query"] for p in files.combine_file_questions(generated, from_file, "replace", order)] == ["f1"]
    with pytest.raises(ValueError, match="file_mode"):
        files.combine_file_questions(generated, from_file, "merge", order)


def test_offline_pairs_follow_the_generator_and_corpus_order(korean_analyzer):
    analyzer = korean_analyzer
    documents = [{"docid": "d1", "content": DOCUMENT}, {"docid": "d2", "content": OTHER}]
    morphemes = analyzer.morphemes([DOCUMENT, OTHER])
    idf = offline.inverse_document_frequency(morphemes)
    varied = offline.offline_pairs(documents, morphemes, analyzer, "varied", 2, seed=7)
    assert [pair["query"] for pair in varied if pair["docid"] == "d1"] == offline.varied_questions(
        "d1",
        DOCUMENT,
        analyzer.morphemes(analyzer.sentences(DOCUMENT)),
        offline.key_phrases(morphemes[0], idf),
        idf,
        2,
        seed=7,
    )
    assert [pair["docid"] for pair in varied] == sorted(pair["docid"] for pair in varied)
    assert {pair["source"] for pair in varied} == {"offline"}
    cloze = offline.offline_pairs(documents, morphemes, analyzer, "inverse_cloze", 2, seed=7)
    assert [pair["query"] for pair in cloze if pair["docid"] == "d1"] == offline.offline_questions(
        "d1", analyzer.sentences(DOCUMENT), offline.key_phrases(morphemes[0], idf), 2, seed=7
    )
    with pytest.raises(ValueError, match="queries.generator"):
        offline.offline_pairs(documents, morphemes, analyzer, "llm", 2, seed=7)


def test_file_questions_pass_the_round_trip_first():
    generated = [{"query": "g1", "docid": "d2"}]
    from_file = [{"query": "found", "docid": "d1"}, {"query": "lost", "docid": "d2"}]
    search = lambda texts, k: [[("d1", 1.0)] if text == "found" else [("d1", 1.0)] for text in texts]  # noqa: E731
    pairs, stats = files.with_file_questions(generated, from_file, "add", ["d1", "d2"], search, 3)
    assert [p["query"] for p in pairs] == ["found", "g1"]
    assert stats == {"file_questions": 2, "file_round_trip_kept": 1, "file_round_trip_dropped": 1, "file_mode": "add"}
    pairs, stats = files.with_file_questions(generated, from_file, "replace", ["d1", "d2"], None, 0)  # no round trip
    assert [p["query"] for p in pairs] == ["found", "lost"] and stats["file_round_trip_dropped"] == 0


def test_validation_is_labelled_or_held_out_documents():
    pairs = [{"query": f"q{n}", "docid": f"d{n % 10}"} for n in range(30)]
    docids = [f"d{n}" for n in range(10)]
    labelled = [{"qid": "1", "msg": [], "relevant": ["d1"], "source": "dev"}]
    train, validation, stats = split.split_validation(pairs, labelled, docids, 0.3, seed=42)
    assert train == pairs and validation == labelled
    assert stats == {
        "train_questions": 30,
        "validation_questions": 1,
        "validation_source": "labelled",
        "validation_dev": 1,
    }
    train, validation, stats = split.split_validation(pairs, [], docids, 0.3, seed=42)
    held_out = split.holdout_documents(docids, 0.3, seed=42)
    assert held_out and {p["docid"] for p in train}.isdisjoint(held_out)
    assert [row["relevant"][0] for row in validation] == [p["docid"] for p in pairs if p["docid"] in held_out]
    assert (
        validation[0]["qid"] == "holdout-000000"
        and validation[0]["msg"][0]["content"] == "q" + validation[0]["relevant"][0][1:]
    )
    assert len(train) + len(validation) == 30 and stats["validation_holdout"] == len(validation)
    assert stats["validation_source"] == "held-out documents"


# --- offline questions over a small science corpus -------------------------------------------------

SCIENCE_DOCS = {
    "d1": "광합성은 식물이 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다.",
    "d2": "세포 호흡은 포도당을 분해하여 에너지를 얻는 과정으로 미토콘드리아에서 일어난다.",
    "d3": "지진은 지각판의 움직임으로 생긴 에너지가 방출되면서 땅이 흔들리는 현상이다.",
    "d4": "블랙홀은 중력이 매우 강해서 빛조차 빠져나올 수 없는 천체이다.",
}


def test_offline_questions_are_deterministic_and_distinct(korean_analyzer):
    analyzer = korean_analyzer
    morphemes = analyzer.morphemes(list(SCIENCE_DOCS.values()))
    idf = offline.inverse_document_frequency(morphemes)
    phrases = offline.key_phrases(morphemes[0], idf)
    sentences = analyzer.sentences(SCIENCE_DOCS["d1"])
    first = offline.offline_questions("d1", sentences, phrases, 3, seed=7)
    assert first == offline.offline_questions("d1", sentences, phrases, 3, seed=7)
    assert len(first) == 3 == len(set(first))
    assert "광합성" in phrases


def test_fill_picks_each_particle_by_the_last_syllable():
    assert offline._fill("{a_i} 무엇인가요?", "광합성") == "광합성은 무엇인가요?"
    assert offline._fill("{a_wa} {b}의 관계", "에너지", "물") == "에너지와 물의 관계"


def test_holdout_split_is_stable():
    ids = [f"d{i}" for i in range(1000)]
    held = split.holdout_documents(ids, 0.1, seed=1)
    assert held == split.holdout_documents(list(reversed(ids)), 0.1, seed=1)
    assert 60 < len(held) < 140
