"""A team's own folder of files through the whole pipeline, as the README's "Your own documents" runs it: the
shipped English sample (Markdown, text, HTML, PDF, DOCX, CSV, TSV, JSONL) as `data=folder`, its questions as
labels, then `ragtune search` on the result. The tiny model keeps it to minutes; figures: benchmarks/any_collection.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pipeline_support import committed_copy, sh

pytestmark = pytest.mark.slow
SAMPLE = "ragtune/resources/sample_en"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = committed_copy(tmp_path_factory.mktemp("own") / "ragtune")
    sh(
        "dvc", "exp", "run", "-S", "data=folder", "-S", f"data.path={SAMPLE}/documents",
        "-S", f"data.questions={SAMPLE}/questions.jsonl", cwd=repo,
    )  # fmt: skip
    return repo


def read(repo: Path, relative: str):
    path = repo / relative
    return json.loads(path.read_text()) if path.suffix == ".json" else [json.loads(x) for x in path.open()]


def test_every_file_is_read_split_and_labelled(repo):
    assert read(repo, "data/prepared/collection.json")["language"] == "en"
    documents = read(repo, "data/prepared/documents.jsonl")
    sources = {d["src"] for d in documents}
    assert len(sources) >= 15 and len(documents) >= 60
    assert {Path(s).suffix for s in sources} >= {".md", ".txt", ".html", ".pdf", ".docx", ".csv", ".tsv", ".jsonl"}
    assert all(d["docid"].startswith(d["src"]) for d in documents)
    labelled = read(repo, "data/prepared/labelled.jsonl")
    assert len(labelled) >= 40 and all(set(q["relevant"]) <= {d["docid"] for d in documents} for q in labelled)


def test_questions_are_written_in_english(repo):
    questions = [row["query"] for row in read(repo, "data/queries/train.jsonl")]
    assert questions and not any("\uac00" <= ch <= "\ud7a3" for q in questions for ch in q)


def test_validation_reports_the_labels_and_chitchat(repo):
    section = read(repo, "metrics/retrieval.json")["questions"]
    assert {"bm25", "dense", "dense_base", "hybrid"} <= set(section)
    assert "bm25_char" not in section  # the bigram view is off for English (it measured worse)
    assert section["chitchat"]["recall"] == 1.0 and section["chitchat"]["false_positives"] == 0


def test_search_answers_from_the_tuned_retriever(repo):
    found = sh(sys.executable, "-m", "ragtune.cli", "search", "error E4 on the display", "--json", cwd=repo)
    results = json.loads(found.stdout)
    assert results and {"docid", "source", "title", "score", "text"} == set(results[0])
    assert all(r["source"] for r in results)
    chat = sh(sys.executable, "-m", "ragtune.cli", "search", "thanks, that's all!", "--json", cwd=repo)
    assert json.loads(chat.stdout) == []
