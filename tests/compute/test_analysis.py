"""ragtune.compute.analysis: the corpus's morphemes are the analyzer's, on the local engine and on a 2-worker Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.compute.analysis import iter_morphemes, morpheme_rows, morphemes
from ragtune.compute.engine import LocalEngine, RayEngine
from ragtune.text.english import analyzer_for_language

SAMPLE = Path(__file__).resolve().parents[2] / "ragtune" / "resources" / "sample" / "documents.jsonl"


def documents(limit: int = 60) -> list[str]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [json.loads(line)["content"] for line in handle][:limit]


def test_the_local_engine_analyses_as_the_analyzer():
    texts = documents(12)
    assert morphemes(LocalEngine(), "ko", texts) == analyzer_for_language("ko").morphemes(texts)
    assert morphemes(LocalEngine(), "ko", []) == []


def test_chunks_give_the_same_morphemes_and_rows_are_checked_before_the_end():
    texts = documents(12)
    whole = morphemes(LocalEngine(), "ko", texts)
    assert list(iter_morphemes(LocalEngine(), "ko", texts, chunk=5)) == whole  # 5 + 5 + 2, one pool
    rows = [{"docid": f"d{i}", "content": text} for i, text in enumerate(texts)] + [{"docid": "emoji", "content": "😀"}]
    checked = []
    written = []
    select = analyzer_for_language("ko").select  # content morphemes: an emoji has none
    for row in morpheme_rows(LocalEngine(), "ko", rows, select, checked.append):
        assert not checked  # the check comes after the last row, before a streaming write puts its file in place
        written.append(row)
    assert [row["morphemes"] for row in written[:-1]] == whole and written[-1]["docid"] == "emoji"
    assert checked == [[True] * 12 + [False]]


@pytest.mark.slow
@pytest.mark.parametrize("language", ["ko", "mixed"])
def test_ray_analyses_the_local_morphemes(ray_cluster, language):
    texts = documents()
    assert morphemes(RayEngine(workers=2, batch_size=16), language, texts) == morphemes(LocalEngine(), language, texts)
