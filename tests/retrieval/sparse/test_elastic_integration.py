"""ElasticsearchRetriever against a real server with analysis-nori; runs only when ES_URL is set.

docker compose up -d elasticsearch
ES_URL=http://localhost:9200 .venv/bin/python -m pytest tests/retrieval/sparse/test_elastic_integration.py -q
"""

from __future__ import annotations

import os
import uuid

import pytest

from ragtune.retrieval.sparse.elastic import ElasticsearchRetriever

pytestmark = pytest.mark.skipif(not os.environ.get("ES_URL"), reason="ES_URL not set: no Elasticsearch server")

PASSAGES = {
    "photosynthesis": "식물은 엽록체에서 광합성을 하여 빛 에너지를 화학 에너지로 바꾸고 산소를 내놓는다.",
    "earth-rotation": "지구는 자전축을 중심으로 하루에 한 바퀴씩 자전하며, 이 때문에 낮과 밤이 생긴다.",
    "dna": "DNA는 이중 나선 구조를 가진 유전 물질로, 네 종류의 염기 서열에 유전 정보가 저장된다.",
    "volcano": "화산은 지하의 마그마가 지각의 약한 틈을 뚫고 분출하면서 만들어지는 지형이다.",
    "newton": "뉴턴의 운동 제2법칙에 따르면 물체의 가속도는 작용한 힘에 비례하고 질량에 반비례한다.",
}
QUERIES = {
    "광합성은 어디에서 일어나나요?": "photosynthesis",
    "낮과 밤이 생기는 이유는 무엇인가요?": "earth-rotation",
    "유전 정보는 어디에 저장되나요?": "dna",
    "마그마가 분출하면 무엇이 만들어지나요?": "volcano",
    "힘과 가속도의 관계를 설명하는 법칙은?": "newton",
}


@pytest.fixture
def retriever():
    retriever = ElasticsearchRetriever(f"ragtune-test-{uuid.uuid4().hex[:12]}")
    yield retriever
    retriever.client.indices.delete(index=retriever.index_name, ignore_unavailable=True)


def test_korean_passages_rank_first(retriever, tmp_path):
    retriever.index(list(PASSAGES), list(PASSAGES.values()))
    results = retriever.search(list(QUERIES), k=3)
    assert [hits[0][0] for hits in results] == list(QUERIES.values())
    for hits in results:
        assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)

    retriever.save(tmp_path)
    loaded = ElasticsearchRetriever.load(tmp_path)
    assert loaded.search(list(QUERIES), k=3) == results


def test_nori_drops_particles_and_keeps_nouns(retriever):
    retriever.index(list(PASSAGES), list(PASSAGES.values()))
    terms = retriever.analyze("식물은 광합성을 한다")
    assert "식물" in terms
    assert not {"은", "을"} & set(terms)
