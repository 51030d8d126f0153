"""A folder as the pipeline's inputs: passages as document rows, labels naming files or passages, the language."""

from __future__ import annotations

import json

import pytest

from ragtune.data.collection import folder_documents, folder_questions, resolve_language
from ragtune.data.passages import approx_tokens
from ragtune.io import DataError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "setup.md").write_text(
        "# Setup\n\n## Power\n\nSwitch off power at the breaker before you start.\n\n"
        "## Wiring\n\nConnect the C wire to the terminal marked C.\n",
        encoding="utf-8",
    )
    (root / "faq.txt").write_text("How long is the warranty?\n\nTwo years from the date of purchase.\n")
    return root


def test_passages_become_document_rows_with_where_they_came_from(folder):
    rows, passages = folder_documents(folder, 64, 8, approx_tokens)
    assert [r["docid"] for r in rows] == [p.id for p in passages]
    setup = [r for r in rows if r["src"] == "guide/setup.md"]
    assert setup and all(r["docid"].startswith("guide/setup.md#") for r in setup)
    power = next(r for r in setup if "breaker" in r["content"])
    assert power["headings"][-1] == "Power" and power["content"].startswith("Setup")  # the trail leads the text
    assert power["end"] > power["start"] >= 0


def test_labels_name_files_or_passages(folder, tmp_path):
    _, passages = folder_documents(folder, 64, 8, approx_tokens)
    labels = tmp_path / "questions.jsonl"
    first = passages[0].id
    lines = [
        {"question": "breaker first?", "relevant": ["guide/setup.md"]},
        {"question": "warranty length", "relevant": [first]},
        {"question": "hi there", "relevant": []},
    ]
    labels.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    rows = folder_questions(labels, passages)
    assert rows[0]["relevant"] == sorted(p.id for p in passages if p.path == "guide/setup.md")
    assert rows[1]["relevant"] == [first] and rows[2]["relevant"] == []
    assert {r["source"] for r in rows} == {"questions"} and rows[0]["msg"][0]["content"] == "breaker first?"


def test_a_label_naming_nothing_is_one_clear_error(folder, tmp_path):
    _, passages = folder_documents(folder, 64, 8, approx_tokens)
    labels = tmp_path / "questions.csv"
    labels.write_text("question,relevant\nwhere is it,guide/missing.md\n")
    with pytest.raises(DataError, match=r"questions.csv:2: field 'relevant'.*guide/missing.md"):
        folder_questions(labels, passages)


def test_an_empty_labels_file_means_no_labels(folder, tmp_path):
    _, passages = folder_documents(folder, 64, 8, approx_tokens)
    (tmp_path / "none.jsonl").write_text("")
    assert folder_questions(tmp_path / "none.jsonl", passages) == []


@pytest.mark.parametrize(
    "setting, texts, language",
    [
        ("auto", ["Switch off power at the breaker."], "en"),
        ("auto", ["전원을 끄고 차단기를 내리세요."], "ko"),
        ("auto", ["차단기(breaker)를 내리고 전원을 끄세요. 배선은 그대로 둡니다."], "mixed"),
        ("ko", ["Switch off power."], "ko"),
    ],
)
def test_the_language_is_set_or_detected(setting, texts, language):
    assert resolve_language(setting, texts)["language"] == language
