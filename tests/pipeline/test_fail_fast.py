"""Fail fast and clearly (issue #14): unreachable models and servers, unindexable corpora, bad encodings,
and the line between a user's error (one line) and a bug (a traceback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragtune.io import DataError, UserError, iter_jsonl, read_json
from ragtune.models.hub import ModelUnavailable, require_model
from ragtune.text.analysis import check_indexable

ROOT = Path(__file__).resolve().parents[2]


def dead_url(path: str = "") -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# ---- models ---------------------------------------------------------------------------------


def test_a_hub_model_without_a_hub_fails_in_seconds_naming_model_hub_and_setting(monkeypatch):
    hub = dead_url()
    monkeypatch.setenv("HF_ENDPOINT", hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as failed:
        require_model("BAAI/bge-reranker-v2-m3-not-cached", "reranker.path")
    assert time.perf_counter() - started < 10
    message = str(failed.value)
    assert "BAAI/bge-reranker-v2-m3-not-cached" in message and hub in message
    assert "reranker.path=/path/to/a/local/copy" in message and "HF_HUB_OFFLINE" in message and "\n" not in message


def test_offline_mode_asks_no_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://203.0.113.1")  # would hang if asked
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        require_model("BAAI/bge-m3-not-cached")
    assert time.perf_counter() - started < 2


def test_local_directories_and_missing_paths(tmp_path):
    assert require_model(str(tmp_path)) == "local"
    assert require_model(None) == "none"
    with pytest.raises(ModelUnavailable, match=r"model\.embedder\): no such local directory"):
        require_model(str(tmp_path / "missing" / "model"))


# ---- Elasticsearch -----------------------------------------------------------------------


def test_elasticsearch_without_es_url_names_it(monkeypatch):
    from ragtune.retrieval.sparse.elastic import ElasticsearchRetriever

    monkeypatch.delenv("ES_URL", raising=False)
    with pytest.raises(UserError, match="ES_URL is not set"):  # one line in a stage
        ElasticsearchRetriever(index_name="ragtune-x")


def test_an_unreachable_elasticsearch_fails_in_seconds_naming_es_url(monkeypatch):
    from ragtune.retrieval.sparse.elastic import ElasticsearchBackendError, ElasticsearchRetriever

    url = dead_url()
    monkeypatch.setenv("ES_URL", url)
    started = time.perf_counter()
    with pytest.raises(ElasticsearchBackendError) as failed:
        ElasticsearchRetriever(index_name="ragtune-x").check_reachable()
    assert time.perf_counter() - started < 10
    assert f"ES_URL={url}" in str(failed.value) and "\n" not in str(failed.value)


# ---- prepare: documents BM25 cannot find ----------------------------------------------------


def test_a_corpus_without_any_lexical_token_is_an_error():
    with pytest.raises(DataError, match="none of the 2 documents has an indexable lexical token"):
        check_indexable("documents.jsonl", ["a", "b"], [[], []])


def test_some_documents_without_lexical_tokens_are_listed_in_a_warning(caplog):
    assert check_indexable("documents.jsonl", ["a", "b", "c"], [["x"], [], ["y"]]) == ["b"]
    assert "1 of 3 documents have no indexable lexical token" in caplog.text and ": b" in caplog.text


def test_emoji_only_documents_yield_no_token(korean_analyzer):
    analyzer = korean_analyzer
    terms = [analyzer.select(m) for m in analyzer.morphemes(["😀🎉🚀", "광합성은 엽록체에서 일어난다."])]
    assert check_indexable("documents.jsonl", ["emoji", "text"], terms) == ["emoji"]


# ---- encodings ------------------------------------------------------------------------------


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "documents.jsonl"
    path.write_bytes(b'{"docid": "a"}\n{"docid": "b\xff"}\n')
    with pytest.raises(DataError, match=r"documents\.jsonl:2: invalid UTF-8 \(byte 0xff at column 13\)"):
        list(iter_jsonl(path))
    (tmp_path / "x.json").write_bytes(b'{\n"a": "\xfe"}')
    with pytest.raises(DataError, match=r"x\.json:2: invalid UTF-8"):
        read_json(tmp_path / "x.json")


def test_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "documents.jsonl"
    path.write_bytes('\ufeff{"docid": "가"}\n{"docid": "나"}\n'.encode("utf-8"))
    assert [obj["docid"] for _, obj in iter_jsonl(path)] == ["가", "나"]
    (tmp_path / "x.json").write_bytes('\ufeff{"a": 1}'.encode("utf-8"))
    assert read_json(tmp_path / "x.json") == {"a": 1}


@pytest.mark.parametrize("line", ['{"docid": "a", "content": "cut', '{"docid": "a", "content": "cut\r', '{"docid": 1'])
def test_the_malformed_json_column_stays_within_a_cut_short_line(tmp_path, line):
    path = tmp_path / "documents.jsonl"
    path.write_text('{"docid": "ok"}\n' + line + "\n", encoding="utf-8", newline="")
    with pytest.raises(DataError) as failed:
        list(iter_jsonl(path))
    column = int(str(failed.value).rsplit("column ", 1)[1].rstrip(")"))
    assert str(failed.value).startswith(f"{path}:2:") and 1 <= column <= len(line.rstrip("\r"))


# ---- a user's error is one line, a bug keeps its traceback ----------------------------------

STAGE = """
import sys
sys.path.insert(0, {stages!r})
from common import stage
from ragtune.io import DataError

@stage
def main():
    if sys.argv[1] == "data":
        raise DataError("documents.jsonl", "is missing", line=3, field="content")
    raise ValueError("a library's own ValueError")

main()
"""


@pytest.mark.parametrize("kind", ["data", "bug"])
def test_a_data_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, kind):
    script = tmp_path / "stage.py"
    script.write_text(STAGE.format(stages=str(ROOT / "stages")), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    if kind == "data":
        assert run.stderr.strip() == "error: documents.jsonl:3: field 'content' is missing"
    else:
        assert "Traceback" in run.stderr and "ValueError: a library's own ValueError" in run.stderr
