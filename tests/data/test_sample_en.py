"""The English sample: counts, links from questions to files, and binary files that match their source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.data.passages import split_documents
from ragtune.data.readers import read_file, read_folder
from ragtune.resources.sample_en import make_binary_files
from ragtune.text.language import corpus_language

SAMPLE = Path(make_binary_files.__file__).parent
DOCUMENTS = SAMPLE / "documents"


@pytest.fixture(scope="module")
def corpus():
    return read_folder(DOCUMENTS, strict=True)


def test_counts(corpus):
    assert len(corpus.files) >= 15 and not corpus.unreadable and not corpus.ignored
    assert set(corpus.formats()) >= {"md", "txt", "html", "csv", "jsonl", "docx", "pdf"}
    assert len(split_documents(corpus.documents)) >= 60
    assert corpus_language(d.text for d in corpus.documents).language == "en"


def test_questions_link_to_existing_files(corpus):
    rows = [json.loads(line) for line in (SAMPLE / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 40
    assert sum(not row["relevant"] for row in rows) >= 4
    assert len({row["question"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"question", "relevant"} and row["question"].strip()
        for path in row["relevant"]:
            assert path in corpus.files, f"{row['question']!r}: {path} is not a sample file"


def test_html_boilerplate_is_not_in_the_sample_text(corpus):
    wifi = next(d for d in corpus.documents if d.path == "troubleshooting/wifi.html")
    for boilerplate in ("Search help articles", "Upgrade to Nimbus Plus", "Cookie settings", "Home › Troubleshooting"):
        assert boilerplate not in wifi.text


def test_binary_files_match_their_source(tmp_path):
    make_binary_files.main(tmp_path)
    for name in (make_binary_files.DOCX_NAME, make_binary_files.PDF_NAME):
        built, committed = read_file(tmp_path / name), read_file(DOCUMENTS / name)
        assert [(d.title, d.blocks) for d in built] == [(d.title, d.blocks) for d in committed]
    assert (tmp_path / make_binary_files.PDF_NAME).read_bytes() == (DOCUMENTS / make_binary_files.PDF_NAME).read_bytes()
