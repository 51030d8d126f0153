import json

import pytest

from ragtune.io import DataError
from ragtune.llm import ResponseCache, request_key

MESSAGES = [{"role": "user", "content": "광합성이란?"}]


def record(text: str) -> dict:
    return {"model": "m", "content": text, "finish_reason": "stop"}


def test_key_covers_provider_model_messages_and_parameters():
    base = request_key("solar", "m", MESSAGES, {"temperature": 0.2})
    assert base == request_key("solar", "m", [dict(MESSAGES[0])], {"temperature": 0.2})
    assert (
        len(
            {
                base,
                request_key("openai", "m", MESSAGES, {"temperature": 0.2}),
                request_key("solar", "m2", MESSAGES, {"temperature": 0.2}),
                request_key("solar", "m", MESSAGES, {"temperature": 0.3}),
                request_key("solar", "m", [{"role": "user", "content": "광합성"}], {"temperature": 0.2}),
            }
        )
        == 5
    )


def test_every_put_is_on_disk_immediately(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = ResponseCache(path)
    cache.put("b", record("B"))
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["content"] == "B"  # before close
    cache.put("a", record("A"))
    cache.put("a", record("other"))  # first answer wins
    reloaded = ResponseCache(path)
    assert len(reloaded) == 2 and reloaded.get("a")["content"] == "A"


def test_truncated_last_line_is_ignored_and_cut_before_the_next_append(tmp_path):
    path = tmp_path / "cache.jsonl"
    with ResponseCache(path) as cache:
        cache.put("a", record("A"))
    path.write_bytes(path.read_bytes() + b'{"key": "b", "content": "cut sh')  # a kill mid-write
    cache = ResponseCache(path)
    assert list(cache.keys()) == ["a"]
    cache.put("c", record("C"))
    cache.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "content": "A"}', encoding="utf-8")
    cache = ResponseCache(path)
    assert "a" in cache
    cache.put("b", record("B"))
    cache.close()
    assert [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines()] == ["a", "b"]


def test_a_corrupt_line_in_the_middle_is_a_located_error(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "content": "A"}\nnot json\n{"key": "b", "content": "B"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"cache.jsonl:2"):
        ResponseCache(path)


def test_compact_sorts_by_key_and_is_byte_stable(tmp_path):
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for path, order in ((first, "bca"), (second, "acb")):
        with ResponseCache(path) as cache:
            for key in order:
                cache.put(key, record(key.upper()))
            cache.compact()
    assert first.read_bytes() == second.read_bytes()
    assert [json.loads(line)["key"] for line in first.read_text().splitlines()] == ["a", "b", "c"]
    cache = ResponseCache(first)
    cache.put("d", record("D"))  # appending after a compaction still works
    cache.close()
    assert len(ResponseCache(first)) == 4


def test_an_empty_cache_compacts_to_one_newline_and_loads_empty(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_bytes(b"\n")  # as ragtune.io.start_jsonl makes it
    cache = ResponseCache(path)
    assert len(cache) == 0
    cache.compact()
    assert path.read_bytes() == b"\n" and len(ResponseCache(path)) == 0
