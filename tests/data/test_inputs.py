"""prepare's validation: every kind of bad input names the file, the line and the field."""

import json

import pytest

from ragtune.data import inputs as data
from ragtune.io import DataError


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


DOC = {"docid": "d1", "src": "s", "content": "물은 100도에서 끓는다."}


def test_documents_are_normalised(tmp_path):
    path = write(tmp_path, "documents.jsonl", [{"docid": "d1", "src": "s", "content": "  물은\n100도에서   끓는다. "}])
    assert data.load_documents(path) == [{"docid": "d1", "src": "s", "content": "물은 100도에서 끓는다."}]


@pytest.mark.parametrize(
    "lines, line, field, words",
    [
        (['{"docid": "d1", "content": '], 1, None, "malformed JSON"),
        ([DOC, {"src": "s", "content": "x"}], 2, "docid", "missing"),
        ([DOC, DOC], 2, "docid", "duplicate"),
        ([DOC, {"docid": "d2", "content": "   "}], 2, "content", "empty"),
        ([{"docid": "d2", "content": 5}], 1, "content", "must be str"),
    ],
)
def test_bad_documents(tmp_path, lines, line, field, words):
    path = write(tmp_path, "documents.jsonl", lines)
    with pytest.raises(DataError) as error:
        data.load_documents(path)
    assert (error.value.line, error.value.field) == (line, field)
    assert str(path) in str(error.value) and words in str(error.value)


def test_eval_question_without_user_turn(tmp_path):
    path = write(
        tmp_path,
        "eval.jsonl",
        [
            {"eval_id": 1, "msg": [{"role": "user", "content": "광합성?"}]},
            {"eval_id": 2, "msg": [{"role": "assistant", "content": "네"}]},
        ],
    )
    with pytest.raises(DataError, match=r"eval.jsonl:2: field 'msg' has no user turn"):
        data.load_questions(path)


def test_label_naming_unknown_docid(tmp_path):
    path = write(tmp_path, "dev.jsonl", [{"query": "물은 언제 끓나?", "docid": "d1"}, {"query": "q", "docid": "nope"}])
    with pytest.raises(DataError, match=r"dev.jsonl:2: field 'docid' names unknown docid 'nope'"):
        data.load_labelled(path, {"d1"})


def test_both_label_formats(tmp_path):
    path = write(
        tmp_path,
        "labelled.jsonl",
        [
            {"query": "물은 언제 끓나?", "docid": "d1"},
            {"qid": "c1", "msg": [{"role": "user", "content": "안녕!"}], "relevant": []},
        ],
    )
    rows = data.load_labelled(path, {"d1"})
    assert rows[0] == {"qid": "dev-000001", "msg": [{"role": "user", "content": "물은 언제 끓나?"}], "relevant": ["d1"]}
    assert rows[1]["relevant"] == []


def conv(qid, kind, relevant, turns=("광합성은 어떻게 일어나?",)):
    msg = []
    for i, text in enumerate(turns):
        msg += ([{"role": "assistant", "content": "네."}] if i else []) + [{"role": "user", "content": text}]
    return {"qid": qid, "kind": kind, "msg": msg, "relevant": relevant}


def test_validation_sources_carry_their_name(tmp_path):
    dev = write(tmp_path, "dev.jsonl", [{"query": "물은 언제 끓나?", "docid": "d1"}])
    talk = write(
        tmp_path,
        "conv.jsonl",
        [
            conv("c1", "single", ["d1"]),
            conv("c2", "chitchat", []),
            conv("c3", "multi-turn", ["d1"], ("물 얘기 해줘", "그건 언제 끓어?")),
        ],
    )
    rows = data.load_validation({"dev": dev, "conversational": talk}, {"d1"})
    assert [(r["qid"], r["source"]) for r in rows] == [
        ("c1", "conversational"),
        ("c2", "conversational"),
        ("c3", "conversational"),
        ("dev-000001", "dev"),
    ]
    assert rows[1]["relevant"] == [] and rows[1]["kind"] == "chitchat"


@pytest.mark.parametrize(
    "row, field, words",
    [
        (conv("c1", "smalltalk", []), "kind", "must be one of"),
        (conv("c1", "chitchat", ["d1"]), "relevant", "chit-chat must have an empty"),
        (conv("c1", "single", []), "relevant", "needs at least one relevant"),
        (conv("c1", "multi-turn", ["d1"]), "msg", "two user turns"),
        ({**conv("c1", "single", ["d1"]), "relevant": [3]}, "relevant[0]", "must be a docid string"),
        (conv("c1", "single", ["nope"]), "relevant", "unknown docid"),
    ],
)
def test_bad_conversational_rows(tmp_path, row, field, words):
    path = write(tmp_path, "conv.jsonl", [conv("c0", "chitchat", []), row])
    with pytest.raises(DataError) as error:
        data.load_validation({"conversational": path}, {"d1"})
    assert (error.value.line, error.value.field) == (2, field)
    assert str(path) in str(error.value) and words in str(error.value)


def test_qid_unique_across_sources(tmp_path):
    a = write(tmp_path, "a.jsonl", [conv("c1", "chitchat", [])])
    b = write(tmp_path, "b.jsonl", [conv("c1", "chitchat", [])])
    with pytest.raises(DataError, match=r"b.jsonl: field 'qid' qid 'c1' is also in source 'a'"):
        data.load_validation({"a": a, "b": b}, set())
