"""The BM25 wrapper: Lucene's formula, save and load, stable index bytes; the analyzer's question scaffolding."""

import math

import pytest

from ragtune.retrieval.sparse.bm25 import BM25Retriever

DOCS = {
    "d1": "광합성은 식물이 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다.",
    "d2": "세포 호흡은 포도당을 분해하여 에너지를 얻는 과정으로 미토콘드리아에서 일어난다.",
    "d3": "지진은 지각판의 움직임으로 생긴 에너지가 방출되면서 땅이 흔들리는 현상이다.",
    "d4": "블랙홀은 중력이 매우 강해서 빛조차 빠져나올 수 없는 천체이다.",
}


@pytest.fixture(scope="module")
def bm25(korean_analyzer):
    retriever = BM25Retriever(korean_analyzer, k1=1.2, b=0.75)
    retriever.index(list(DOCS), list(DOCS.values()))
    return retriever


def test_bm25_matches_lucene_formula(bm25):
    analyzer = bm25.analyzer
    docs = {d: analyzer.tokens(t) for d, t in DOCS.items()}
    avgdl = sum(map(len, docs.values())) / len(docs)
    query = analyzer.tokens("식물의 광합성에서 빛 에너지는 어떤 역할을 해?")

    def lucene(tokens):  # Lucene 8+: no (k1 + 1) factor in the numerator
        score = 0.0
        for term in set(query):
            df = sum(term in d for d in docs.values())
            if not df:
                continue
            tf = tokens.count(term)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(tokens) / avgdl))
        return score

    hits = bm25.search_tokens([query], k=4)[0]
    expected = sorted(((d, lucene(t)) for d, t in docs.items()), key=lambda x: (-x[1], x[0]))
    assert [d for d, _ in hits] == [d for d, s in expected if s > 0]
    for (_, ours), (_, theirs) in zip(hits, expected):
        assert ours == pytest.approx(theirs, rel=1e-4)


def test_bm25_save_load_and_unknown_query(bm25, tmp_path):
    bm25.save(tmp_path / "bm25")
    loaded = BM25Retriever.load(tmp_path / "bm25")
    assert loaded.search(["블랙홀의 중력"], 2) == bm25.search(["블랙홀의 중력"], 2)
    assert loaded.search(["안녕"], 3) == [[]]  # no known term: no arbitrary hits


def test_a_loaded_index_is_memory_mapped_and_scores_the_same(bm25, tmp_path):
    import numpy as np

    bm25.save(tmp_path / "bm25")
    loaded = BM25Retriever.load(tmp_path / "bm25")
    assert isinstance(loaded._bm25.scores["data"], np.memmap)  # read from the file as searches need it
    queries = [bm25.analyzer.tokens(q) for q in ("블랙홀의 중력", "포도당 에너지", "지진 현상")]
    for mine, theirs in zip(loaded.search_ids(queries, 4), bm25.search_ids(queries, 4)):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(loaded.score_matrix(queries), bm25.score_matrix(queries))


def test_scaffolding_is_not_a_search_term(korean_analyzer):
    assert korean_analyzer.tokens("블랙홀에 대해 설명해줘") == ["블랙홀"]


def test_bm25_index_bytes_do_not_depend_on_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import sys, pathlib; from ragtune.retrieval.sparse.bm25 import BM25Retriever; "
        "from ragtune.text.analysis import CharNgramAnalyzer; "
        "r = BM25Retriever(CharNgramAnalyzer(2)); "
        f"r.index({list(DOCS)!r}, {list(DOCS.values())!r}); r.save(pathlib.Path(sys.argv[1]))"
    )
    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / seed)], check=True, env=dict(os.environ, PYTHONHASHSEED=seed)
        )
    files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1").rglob("*") if p.is_file())
    assert files and all((tmp_path / "1" / f).read_bytes() == (tmp_path / "2" / f).read_bytes() for f in files)


def test_score_matrix_scores_a_query_without_corpus_words_zero_everywhere(bm25):
    import numpy as np

    queries = [bm25.analyzer.tokens("블랙홀의 중력"), ["없는낱말"], []]
    scores = bm25.score_matrix(queries)
    assert scores.shape == (3, len(bm25.docids))
    assert np.array_equal(scores[0], bm25._bm25.get_scores(queries[0])) and scores[0].dtype == np.float32
    assert not scores[1:].any()


def test_terms_streamed_once_index_the_same_bytes(korean_analyzer, tmp_path):
    # index and negatives hand index_tokens a generator over morphemes.jsonl: the same index as from a list
    terms = korean_analyzer.batch(list(DOCS.values()))
    listed, streamed = BM25Retriever(korean_analyzer), BM25Retriever(korean_analyzer)
    listed.index_tokens(list(DOCS), terms)
    streamed.index_tokens(list(DOCS), (doc for doc in terms))
    listed.save(tmp_path / "listed")
    streamed.save(tmp_path / "streamed")
    files = sorted(p.relative_to(tmp_path / "listed") for p in (tmp_path / "listed").rglob("*") if p.is_file())
    assert files and all(
        (tmp_path / "listed" / f).read_bytes() == (tmp_path / "streamed" / f).read_bytes() for f in files
    )
    with pytest.raises(ValueError, match="3 analysed documents for 4 docids"):
        BM25Retriever(korean_analyzer).index_tokens(list(DOCS), iter(terms[:3]))
