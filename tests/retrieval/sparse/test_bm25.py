"""Offline questions, negative mining, BM25 wrapper, runs on disk, submission format."""

import json
import math

import pytest

from ragtune.data import submission
from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.runs import RankedRun
from ragtune.synthetic import questions as queries
from ragtune.training.negatives import MiningStats, NegativeFilter, mine_negatives

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


def test_scaffolding_is_not_a_search_term(korean_analyzer):
    assert korean_analyzer.tokens("블랙홀에 대해 설명해줘") == ["블랙홀"]


def test_offline_questions_are_deterministic_and_distinct(korean_analyzer):
    analyzer = korean_analyzer
    morphemes = analyzer.morphemes(list(DOCS.values()))
    idf = queries.inverse_document_frequency(morphemes)
    phrases = queries.key_phrases(morphemes[0], idf)
    sentences = analyzer.sentences(DOCS["d1"])
    first = queries.offline_questions("d1", sentences, phrases, 3, seed=7)
    assert first == queries.offline_questions("d1", sentences, phrases, 3, seed=7)
    assert len(first) == 3 == len(set(first))
    assert "광합성" in phrases


def test_particles_follow_the_last_syllable():
    assert queries._fill("{a_i} 무엇인가요?", "광합성") == "광합성은 무엇인가요?"
    assert queries._fill("{a_wa} {b}의 관계", "에너지", "물") == "에너지와 물의 관계"


def test_holdout_split_is_stable():
    ids = [f"d{i}" for i in range(1000)]
    held = queries.holdout_documents(ids, 0.1, seed=1)
    assert held == queries.holdout_documents(list(reversed(ids)), 0.1, seed=1)
    assert 60 < len(held) < 140


def test_negatives_filter_false_negatives():
    texts = {
        "pos": "가나다라마바사아자차",
        "dup": "가나다라마바사아자차",
        "top": "x",
        "close": "y",
        "ok1": "z1",
        "ok2": "z2",
        "ok3": "z3",
    }
    pool = [("top", 10.0), ("pos", 9.0), ("close", 8.8), ("dup", 5.0), ("ok1", 4.0), ("ok2", 3.0), ("ok3", 2.0)]
    stats = MiningStats()
    rule = NegativeFilter(k=2, skip_top=1, margin=0.05, near_duplicate=0.8, fill_random=False)
    negatives = mine_negatives("pos", [pool], texts, list(texts), rule, stats, "q", 0)
    assert negatives == ["ok1", "ok2"]
    assert stats.as_dict()["rejected"] == {"near_duplicate": 1, "rank_window": 1, "score_margin": 1}


def test_runs_round_trip_bytes(tmp_path):
    run = {"q1": {"d2": 0.5, "d1": 0.5, "d3": 0.1}, "q2": {}}
    ranked = RankedRun.from_run(run, ["q1", "q2"], ["d1", "d2", "d3"], k=4)
    ranked.save(tmp_path / "a")
    ranked.save(tmp_path / "b")
    assert RankedRun.load(tmp_path / "a").to_run() == {"q1": {"d1": 0.5, "d2": 0.5, "d3": pytest.approx(0.1)}, "q2": {}}
    for name in ("ids.npy", "scores.npy", "qids.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_submission_rows_and_validation(tmp_path):
    questions = [{"eval_id": 2, "msg": []}, {"eval_id": 1, "msg": []}]
    run = {"1": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.6}, "2": {}}
    rows = submission.build_rows(questions, {"1": "광합성", "2": "안녕"}, run, DOCS)
    assert [r["eval_id"] for r in rows] == [1, 2]
    assert rows[0]["topk"] == ["d1", "d2", "d3"] and rows[1]["topk"] == []
    submission.validate(rows, questions, set(DOCS))
    with pytest.raises(submission.SubmissionError, match="unknown docids"):
        submission.validate([dict(rows[0], topk=["zz"]), rows[1]], questions, set(DOCS))
    with pytest.raises(submission.SubmissionError, match="missing \\[2\\]"):
        submission.validate(rows[:1], questions, set(DOCS))
    submission.write_submission(tmp_path / "s.csv", rows)
    assert json.loads((tmp_path / "s.csv").read_text().splitlines()[0])["eval_id"] == 1


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
