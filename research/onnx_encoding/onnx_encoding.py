"""Study (frozen, research/onnx_encoding): E5 passage/query encoding on CPU, fp32 PyTorch against int8 dynamic
quantisation and, with `--onnx`, ONNX Runtime (fp32 and int8 dynamic): speed, cosine, top-10 neighbours against
fp32 PyTorch. benchmarks/encode_quantized.py keeps the PyTorch half.

Prints figures, asserts nothing. Uses the competition documents and dev questions (never eval.jsonl):
the first `--docs` documents by docid order, and the dev questions whose document is among them.
`--onnx` needs `pip install onnxruntime onnx` (not a ragtune dependency: no mode reached the 2× it would have to
earn on the machine measured, docs/scale.md).

  python research/onnx_encoding/onnx_encoding.py --model models/base --docs 300 --threads 2 \
    --passage-max-length 256 --onnx
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a model directory with ragtune_encoder.json")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/competition"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passage-max-length", type=int, default=None)
    parser.add_argument("--onnx", action="store_true", help="also ONNX Runtime, fp32 and int8 (needs onnxruntime)")
    args = parser.parse_args()

    import torch

    from ragtune.models.encoders import load_encoder

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    documents = sorted(
        (json.loads(line) for line in open(data / "documents.jsonl", encoding="utf-8")), key=lambda d: d["docid"]
    )[: args.docs]
    wanted = {d["docid"]: n for n, d in enumerate(documents)}
    dev = [json.loads(line) for line in open(data / "dev_queries.jsonl", encoding="utf-8")]
    questions = [q for q in dev if q["docid"] in wanted]
    texts = [d["content"] for d in documents]

    results = {}
    modes = ("none", "int8", "onnx", "onnx-int8") if args.onnx else ("none", "int8")
    for mode in modes:
        if mode.startswith("onnx"):
            int8 = mode == "onnx-int8"
            encoder = OnnxEncoder(args.model, int8, args.threads, args.batch_size, args.passage_max_length)
        else:
            encoder = load_encoder(
                args.model, device="cpu", batch_size=args.batch_size, quantize=mode,
                passage_max_length=args.passage_max_length,
            )  # fmt: skip
        encoder.encode(texts[:8], kind="passage")  # warm-up
        started = time.perf_counter()
        passages = encoder.encode(texts, kind="passage").dense
        passage_s = time.perf_counter() - started
        started = time.perf_counter()
        queries = encoder.encode([q["query"] for q in questions], kind="query").dense
        query_s = time.perf_counter() - started
        scores = queries @ passages.T
        top10 = np.argsort(-scores, axis=1)[:, :10]
        gold = np.asarray([wanted[q["docid"]] for q in questions])
        ranks = (np.argsort(-scores, axis=1) == gold[:, None]).argmax(axis=1)
        results[mode] = dict(
            passages=passages,
            queries=queries,
            top10=top10,
            mrr10=float(np.mean(np.where(ranks < 10, 1.0 / (ranks + 1), 0.0))),
            docs_per_s=len(texts) / passage_s,
            queries_per_s=len(questions) / query_s,
        )
        print(
            f"{mode:>5}: {len(texts)} passages {len(texts) / passage_s:6.1f} docs/s, {len(questions)} queries "
            f"{len(questions) / query_s:6.1f} q/s, dev MRR@10 over these docs {results[mode]['mrr10']:.4f}"
        )
    fp32 = results["none"]
    for mode in modes[1:]:
        other = results[mode]
        cos_p = (fp32["passages"] * other["passages"]).sum(1)
        cos_q = (fp32["queries"] * other["queries"]).sum(1)
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fp32["top10"], other["top10"])])
        same_top1 = float(np.mean(fp32["top10"][:, 0] == other["top10"][:, 0]))
        print(
            f"{mode} vs fp32: speed-up passages x{other['docs_per_s'] / fp32['docs_per_s']:.2f}, "
            f"queries x{other['queries_per_s'] / fp32['queries_per_s']:.2f}; cosine passages mean {cos_p.mean():.4f} "
            f"min {cos_p.min():.4f}, queries mean {cos_q.mean():.4f} min {cos_q.min():.4f}; "
            f"top-10 overlap {overlap:.3f}, same top-1 {same_top1:.3f}"
        )


class OnnxEncoder:
    """The E5 encoder's arithmetic through ONNX Runtime: the model's transformer exported once (torch.onnx, to a
    temporary directory), mean pooling and prefixes as ragtune's E5 encoder applies them, batches in FlagEmbedding's
    longest-first order; `int8`: onnxruntime's dynamic int8 quantisation of the export (weights per channel)."""

    def __init__(self, model_dir: str, int8: bool, threads: int, batch_size: int, passage_max_length: int | None):
        import tempfile

        import onnxruntime
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel, AutoTokenizer

        from ragtune.models.encoders import read_spec

        spec = read_spec(model_dir)
        self.prefix = {"query": spec.query_prefix, "passage": spec.passage_prefix}
        self.max_length = {"query": spec.query_max_length, "passage": passage_max_length or spec.passage_max_length}
        self.batch_size, self.tokenizer = batch_size, AutoTokenizer.from_pretrained(model_dir)
        model = AutoModel.from_pretrained(model_dir).eval()

        class Hidden(torch.nn.Module):  # keyword arguments: the exporter passes positional ones
            def __init__(self):
                super().__init__()
                self.model = model  # a submodule: its weights are exported as weights

            def forward(self, input_ids, attention_mask):
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        folder = Path(tempfile.mkdtemp(prefix="ragtune-onnx-"))
        path, example = folder / "model.onnx", self.tokenizer(["passage: 예시 문장"] * 2, return_tensors="pt")
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
        torch.onnx.export(
            Hidden(), (example["input_ids"], example["attention_mask"]), str(path), dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["hidden"],
            dynamic_axes={**axes, "hidden": {0: "batch", 1: "tokens"}},
        )  # fmt: skip
        if int8:
            quantize_dynamic(str(path), str(folder / "int8.onnx"), weight_type=QuantType.QInt8, per_channel=True)
            path = folder / "int8.onnx"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts, kind: str):
        from types import SimpleNamespace

        encoded = self.tokenizer(
            [self.prefix[kind] + t for t in texts], truncation=True, max_length=self.max_length[kind]
        )
        order = np.argsort([-len(ids) for ids in encoded["input_ids"]])
        vectors = np.zeros((len(texts), 0), np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self.tokenizer.pad(
                {key: [encoded[key][i] for i in rows] for key in ("input_ids", "attention_mask")}, return_tensors="np"
            )
            inputs = {key: batch[key].astype(np.int64) for key in ("input_ids", "attention_mask")}
            hidden = self.session.run(None, inputs)[0]
            mask = inputs["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            if not vectors.shape[1]:
                vectors = np.zeros((len(texts), pooled.shape[1]), np.float32)
            vectors[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return SimpleNamespace(dense=vectors)


if __name__ == "__main__":
    main()
