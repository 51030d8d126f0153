"""Which Korean analysis makes the best BM25? Measured on labelled questions (dev queries by default).

Usage: python benchmarks/sparse_analysis.py [--documents F] [--labelled F] [--limit N]
Prints MRR@10 and recall@10 per variant (tags, scaffolding filter, k1/b) and BM25 search speed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ragtune.data.inputs import load_documents, load_labelled, user_text
from ragtune.evaluation import metrics
from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.runs import RankedRun
from ragtune.text.analysis import CONTENT_TAGS, QUESTION_SCAFFOLDING, KoreanAnalyzer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "competition"

VARIANTS = {
    "content tags + scaffolding filter (default)": dict(tags=CONTENT_TAGS, stopwords=QUESTION_SCAFFOLDING),
    "content tags, no scaffolding filter": dict(tags=CONTENT_TAGS, stopwords=()),
    "nouns only": dict(tags=("NNG", "NNP", "NNB", "NR", "SL", "SH", "SN", "XR"), stopwords=QUESTION_SCAFFOLDING),
    "nouns + verbs, no adverbs": dict(
        tags=("NNG", "NNP", "NNB", "NR", "NP", "SL", "SH", "SN", "VV", "VA", "XR"), stopwords=QUESTION_SCAFFOLDING
    ),
    "every morpheme": dict(tags=None, stopwords=()),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", default=SHARED / "documents.jsonl", type=Path)
    parser.add_argument("--labelled", default=SHARED / "dev_queries.jsonl", type=Path)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    documents = load_documents(args.documents)
    labelled = load_labelled(args.labelled, {d["docid"] for d in documents})
    if args.limit:
        labelled = labelled[: args.limit]
    qrels = {q["qid"]: q["relevant"] for q in labelled}
    base = KoreanAnalyzer(num_workers=2)
    started = time.perf_counter()
    doc_morphs = base.morphemes([d["content"] for d in documents])
    query_morphs = base.morphemes([user_text(q["msg"]) for q in labelled])
    print(
        f"Kiwi analysis: {len(documents)} documents + {len(labelled)} questions in {time.perf_counter() - started:.1f} s"  # noqa: E501
    )
    docids = [d["docid"] for d in documents]
    all_tags = sorted({tag for doc in doc_morphs for _, tag in doc})

    def measure(label: str, analyzer: KoreanAnalyzer, k1: float = 1.2, b: float = 0.75, **speed) -> None:
        retriever = BM25Retriever(analyzer, k1=k1, b=b, **speed)
        retriever.index_tokens(docids, [analyzer.select(m) for m in doc_morphs])
        tokens = [analyzer.select(m) for m in query_morphs]
        retriever.search_ids(tokens[:10], 100)  # warm-up (numba compiles here)
        started = time.perf_counter()
        ids, found = retriever.search_ids(tokens, 100)  # the arrays the retrieve stage uses
        seconds = time.perf_counter() - started
        run = RankedRun.ranked([q["qid"] for q in labelled], docids, ids, found)
        scores = metrics.evaluate(run, qrels, ["mrr@10", "recall@10", "map@3"])
        print(
            f"{label:<48} k1={k1:<4} b={b:<5} mrr@10={scores['mrr@10']:.4f} recall@10={scores['recall@10']:.4f} "
            f"map@3={scores['map@3']:.4f}  search {len(tokens) / seconds:,.0f} q/s"
        )

    for label, variant in VARIANTS.items():
        measure(label, KoreanAnalyzer(tags=variant["tags"] or all_tags, stopwords=variant["stopwords"]))
    default = KoreanAnalyzer()
    measure("default, 2 threads", default, threads=2)
    measure("default, numba backend", default, backend="numba")
    for k1, b in ((0.9, 0.4), (1.2, 0.5), (1.5, 0.75), (2.0, 0.75), (1.2, 0.9)):
        measure("default analysis", default, k1, b)


if __name__ == "__main__":
    main()
