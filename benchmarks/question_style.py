"""How far validation questions stand from their documents: word overlap, length and the relevant document's rank.

Per question (chit-chat skipped): the share of its distinct content words (ragtune's Kiwi analyzer, as the BM25
index sees them) that occur in its best relevant document; its length in characters; and the rank of the first
relevant document under BM25 over the whole corpus (bm25s, the analyzer's terms) and, with --embeddings, under
the dense encoder. The query is the user turns joined (a multi-turn conversation's later turns alone name too
little). Grouped by source, kind and, where rows carry one, `origin` (how the question was written).

Never the eval questions: dev (written by an LLM from one document each) and the committed conversational files.

Usage: python benchmarks/question_style.py --data DIR [--dev-sample 2000] [--embeddings NPY --encoder MODEL]
         [FILE ...]
  DIR: the competition's documents.jsonl and dev_queries.jsonl. FILE: labelled jsonl files (default: the
  shipped conversational.jsonl and conversational_heldout.jsonl). --embeddings: the documents' passage vectors
  in documents.jsonl order (np.save of an (n, dim) array), encoded by --encoder (--quantize int8 if they were).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
from pathlib import Path

import numpy as np

from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.text.analysis import KoreanAnalyzer

RESOURCES = Path(__file__).resolve().parents[1] / "ragtune" / "resources" / "competition"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def questions(files: list[Path], dev: Path, dev_sample: int) -> list[dict]:
    rows = []
    for path in files:
        for row in read(path):
            if row["relevant"]:
                group = f"{path.stem} {row.get('kind', '?')} {row.get('origin', 'old')}"
                text = " ".join(t["content"] for t in row["msg"] if t["role"] == "user")
                rows.append({"group": group, "text": text, "relevant": row["relevant"]})
    if dev.is_file():
        sample = random.Random(0).sample(read(dev), dev_sample)
        rows += [{"group": "dev", "text": d["query"], "relevant": [d["docid"]]} for d in sample]
    return rows


def ranks(order: np.ndarray, docids: list[str], relevant: list[list[str]]) -> list[int]:
    """1-based rank of the first relevant document in each row of `order` (document indices, best first)."""
    position = {docid: i for i, docid in enumerate(docids)}
    found = []
    for row, wanted in zip(order, relevant):
        targets = {position[d] for d in wanted}
        found.append(next(r + 1 for r, d in enumerate(row) if d in targets))
    return found


def summary(values: list[float], rank: bool = False) -> str:
    if rank:
        return (
            f"median {statistics.median(values):.0f}, @1 {np.mean([v == 1 for v in values]):.2f}, "
            f"@10 {np.mean([v <= 10 for v in values]):.2f}"
        )
    return f"{np.mean(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dev-sample", type=int, default=2000)
    parser.add_argument("--embeddings", type=Path)
    parser.add_argument("--encoder", type=Path)
    parser.add_argument("--quantize", default="none", help="as the embeddings were encoded: none or int8")
    args = parser.parse_args()
    files = args.files or [p for p in (RESOURCES / "conversational.jsonl", RESOURCES / "conversational_heldout.jsonl")]
    documents = read(args.data / "documents.jsonl")
    docids = [d["docid"] for d in documents]
    analyzer = KoreanAnalyzer()
    doc_terms = analyzer.batch([d["content"] for d in documents])
    bm25 = BM25Retriever(analyzer)
    bm25.index_tokens(docids, doc_terms)
    rows = questions([p for p in files if p.is_file()], args.data / "dev_queries.jsonl", args.dev_sample)
    terms = analyzer.batch([r["text"] for r in rows])
    known = [[t for t in words if t in bm25._bm25.vocab_dict] for words in terms]  # bm25s fails on an empty query
    scores = np.stack([bm25._bm25.get_scores(words) if words else np.zeros(len(docids)) for words in known])
    sparse = ranks(np.argsort(-scores, axis=1), docids, [r["relevant"] for r in rows])
    dense = [None] * len(rows)
    if args.embeddings:
        from ragtune.models.encoders import load_encoder

        encoder = load_encoder(args.encoder, device="cpu", quantize=args.quantize)
        scores = encoder.encode([r["text"] for r in rows], "query").dense @ np.load(args.embeddings).T
        dense = ranks(np.argsort(-scores, axis=1), docids, [r["relevant"] for r in rows])
    index = {docid: set(t) for docid, t in zip(docids, doc_terms)}
    groups = collections.defaultdict(list)
    for row, words, bm25_rank, dense_rank in zip(rows, terms, sparse, dense):
        words = set(words)
        overlap = max(len(words & index[d]) / max(len(words), 1) for d in row["relevant"])
        groups[row["group"]].append((overlap, len(row["text"]), bm25_rank, dense_rank))
    for group in sorted(groups):
        overlap, length, bm25_rank, dense_rank = zip(*groups[group])
        line = (
            f"{group:45s} n={len(overlap):5d}  overlap {summary(overlap)}  chars {summary(length)}  "
            f"bm25 rank {summary(bm25_rank, rank=True)}"
        )
        if args.embeddings:
            line += f"  dense rank {summary(dense_rank, rank=True)}"
        print(line)


if __name__ == "__main__":
    main()
