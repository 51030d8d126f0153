"""Dense encoders through FlagEmbedding (BGE-M3 and E5 families), described by a spec beside the weights.

A model directory carries `ragtune_encoder.json` (`EncoderSpec`: family, pooling, prefixes, lengths),
written when the base model is made; `load_encoder` reads it and returns the family's encoder, so
stages never branch on a model name. `M3Encoder` wraps `FlagEmbedding.BGEM3FlagModel` (CLS pooling,
learned sparse and ColBERT heads); `E5Encoder` wraps `FlagEmbedding.FlagModel`, the encoder-only embedder
(mean pooling, "query: "/"passage: " prefixes, no heads). A directory holding only `pointer.json`
(a hub id) resolves to that id; without a spec it is BGE-M3, as before specs existed. Dense vectors are
L2-normalised float32, so inner product = cosine. Device policy (`default_device`, `encoding_devices`), int8
quantisation and bfloat16 autocast for CPU (`index.quantize`, `index.precision`: `cpu_arithmetic`) live here too:
they decide how a model encodes, not what is searched.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ragtune.io import atomic_write
from ragtune.models.hub import resolve_model

Quantize = Literal["none", "int8"]
Precision = Literal["fp32", "bf16"]  # index.precision: the arithmetic of encoding on a CPU
SPEC_FILE = "ragtune_encoder.json"


@dataclass(frozen=True)
class EncoderSpec:
    """How to encode with a model: written next to its weights (or its pointer) by whoever makes the base model."""

    family: Literal["m3", "e5"] = "m3"
    pooling: Literal["cls", "mean"] = "cls"
    query_prefix: str = ""
    passage_prefix: str = ""
    query_max_length: int = 64
    passage_max_length: int = 512

    def __post_init__(self):
        if self.family not in ("m3", "e5"):
            raise ValueError(f"{SPEC_FILE}: family must be 'm3' or 'e5', got {self.family!r}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"{SPEC_FILE}: pooling must be 'cls' or 'mean', got {self.pooling!r}")


M3_SPEC = EncoderSpec()
E5_SPEC = EncoderSpec(
    family="e5",
    pooling="mean",
    query_prefix="query: ",
    passage_prefix="passage: ",
    query_max_length=64,
    passage_max_length=256,
)


def write_spec(model_dir: str | Path, spec: EncoderSpec) -> None:
    with atomic_write(Path(model_dir) / SPEC_FILE) as handle:
        handle.write(json.dumps(asdict(spec), indent=2, sort_keys=True) + "\n")


def read_spec(model_dir: str | Path) -> EncoderSpec:
    """The directory's spec; BGE-M3's when it has none (hub ids, directories made before specs)."""
    file = Path(model_dir) / SPEC_FILE
    if not file.is_file():
        return M3_SPEC
    values = json.loads(file.read_text(encoding="utf-8"))
    known = set(EncoderSpec.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{file}: unknown fields {', '.join(unknown)}")
    return EncoderSpec(**values)


def load_encoder(
    model_dir: str | Path,
    *,
    device: Devices = None,
    batch_size: int = 64,
    query_max_length: int | None = None,
    passage_max_length: int | None = None,
    quantize: Quantize = "none",
    precision: Precision = "fp32",
):
    """The encoder for `model_dir` (a model directory, a pointer directory or a hub id), chosen by its spec.

    `device`: one device, or several (`index.devices`: FlagEmbedding's multi-process pool); None: the
    default device. Lengths default to the spec's. `quantize="int8"`: dynamic int8 quantisation of the
    Linear layers (CPU only; measured in benchmarks/encode_quantized.py). `precision="bf16"`: on a CPU, the
    forward pass under bfloat16 autocast (`cpu_arithmetic`); a GPU encodes in fp16 either way (FlagEmbedding's)."""
    spec, path, lengths = resolve_spec(model_dir, query_max_length, passage_max_length)
    options = dict(device=device, batch_size=batch_size, quantize=quantize, precision=precision, **lengths)
    if spec.family == "e5":
        return E5Encoder(path, spec=spec, **options)
    return M3Encoder(path, **options)


def resolve_spec(model_dir: str | Path, query_max_length: int | None, passage_max_length: int | None):
    """(spec, the path or hub id to load, {query_max_length, passage_max_length}) of `model_dir`."""
    spec = read_spec(model_dir) if Path(model_dir).is_dir() else M3_SPEC
    lengths = {
        "query_max_length": query_max_length or spec.query_max_length,
        "passage_max_length": passage_max_length or spec.passage_max_length,
    }
    return spec, resolve_model(model_dir) if Path(model_dir).is_dir() else str(model_dir), lengths


def length_order(
    model_dir: str | Path,
    texts: Sequence[str],
    kind: Literal["query", "passage"],
    query_max_length: int | None = None,
    passage_max_length: int | None = None,
) -> np.ndarray:
    """The order in which `load_encoder(model_dir, …).encode(texts, kind)` batches `texts`: FlagEmbedding's
    (longest truncated token sequence first, `np.argsort` of the negated lengths, as its encode_single_device
    sorts), from the tokenizer alone. Cut into whole batches of this order, texts encode in the very batches (and
    paddings) a single call makes: how compute=ray reproduces compute=local's vectors."""
    from transformers import AutoTokenizer

    spec, path, lengths = resolve_spec(model_dir, query_max_length, passage_max_length)
    prefix = {"query": spec.query_prefix, "passage": spec.passage_prefix}[kind] if spec.family == "e5" else ""
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer([prefix + text for text in texts], truncation=True, max_length=lengths[f"{kind}_max_length"])
    return np.argsort([-len(row) for row in ids["input_ids"]])


def cpu_arithmetic(precision: Precision, quantize: Quantize, devices: list[str]):
    """What an encoder's forward pass runs under: for `precision="bf16"` on a CPU, torch's bfloat16 autocast (the
    Linear layers' products in bfloat16, accumulated and normalised in float32; AMX or AVX-512 BF16 cores run them
    natively: benchmarks/encode_quantized.py); otherwise nothing. Raises ParamsError for what it cannot honour."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision != "bf16":
        raise _precision_error(f"must be fp32 or bf16, got {precision!r}")
    if quantize != "none":
        raise _precision_error("bf16 and index.quantize=int8 do not combine: choose one")
    if len(devices) > 1:  # autocast does not reach FlagEmbedding's pool processes
        raise _precision_error(f"bf16 encodes on one device, not {','.join(devices)} (index.devices)")
    if not devices[0].startswith("cpu"):
        return contextlib.nullcontext  # a GPU encodes in fp16 (FlagEmbedding's use_fp16)
    import torch

    native = (
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )
    if not native:
        logging.getLogger("ragtune").warning(
            "index.precision=bf16: this CPU has neither AMX nor AVX-512 BF16, so bfloat16 is emulated, slower than fp32"
        )
    return functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)


def _precision_error(message: str):
    from ragtune.config.schema import ParamsError

    return ParamsError("params.yaml", "index.precision", message)


def arithmetic_key(quantize: Quantize, precision: Precision) -> str:
    """The encoding's arithmetic as memo keys name it: "none" (fp32, as keys always said), "int8" or "bf16"."""
    return quantize if precision == "fp32" else precision


def quantize_int8(model):
    """Dynamic int8 quantisation of a torch model's Linear layers: weights int8 per output channel (per-tensor
    scales lose more: benchmarks/encode_quantized.py), activations quantised per batch."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    return torch.ao.quantization.quantize_dynamic(
        model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
    )


@dataclass(frozen=True)
class Encoded:
    dense: np.ndarray  # (n, dim) float32, rows of unit length
    lexical: list[dict[str, float]]  # token id -> weight, one mapping per text
    colbert: list[np.ndarray] = field(default_factory=list)  # (tokens, dim) float16 per text, when asked for


def default_device() -> str:
    """Where a model runs when nothing is configured: the first GPU, else the CPU (dense and rerank alike).
    A CPU build of torch (version `…+cpu`) has no GPU to offer: said without importing torch (two seconds a sweep's
    retrieve, which answers from remembered searches, would spend only to learn the device its keys name)."""
    import importlib.metadata
    import sys

    if "torch" not in sys.modules:
        try:
            if importlib.metadata.version("torch").endswith("+cpu"):
                return "cpu"
        except importlib.metadata.PackageNotFoundError:
            pass
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


Devices = str | Sequence[str] | None  # index.devices: one device, several, or None (the default device)


def encoding_devices(devices: Devices = None) -> list[str]:
    """`index.devices` as a list: None → [the default device], "cuda:1" → ["cuda:1"], a list → itself.
    Several devices: FlagEmbedding's multi-process pool, one process per device, each encoding a chunk."""
    if devices is None:
        return [default_device()]
    listed = [devices] if isinstance(devices, str) else [str(device) for device in devices]
    if not listed or not all(listed):
        raise ValueError(f"index.devices: {devices!r} names no device (null: the default device)")
    return listed


def devices_key(devices: Devices = None) -> str:
    """Where vectors are encoded, as memo keys record it (the default device alone: its name, as before)."""
    return ",".join(encoding_devices(devices))


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class M3Encoder:
    """Dense vectors and lexical weights from a BGE-M3-layout model (hub name or local directory)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: Devices = None,
        batch_size: int = 64,
        query_max_length: int = 64,
        passage_max_length: int = 512,
        use_fp16: bool | None = None,
        quantize: Quantize = "none",
        precision: Precision = "fp32",
    ):
        from FlagEmbedding import BGEM3FlagModel

        self.devices = encoding_devices(device)
        self.device = self.devices[0]
        self.arithmetic = cpu_arithmetic(precision, quantize, self.devices)
        if self.arithmetic is not contextlib.nullcontext:  # its sparse and ColBERT heads would hand numpy bfloat16
            raise _precision_error("bf16 on a CPU is for E5 models; a BGE-M3 model encodes in fp32 there")
        fp16 = self.device.startswith("cuda") if use_fp16 is None else use_fp16
        self.batch_size = batch_size
        self.max_length = {"query": query_max_length, "passage": passage_max_length}
        # Several devices: FlagEmbedding starts its process pool at the first encode (see _run).
        self.model = BGEM3FlagModel(
            str(model_path),
            use_fp16=fp16,
            devices=self.devices,
            batch_size=batch_size,
            query_max_length=query_max_length,
            passage_max_length=passage_max_length,
            normalize_embeddings=True,
        )
        if quantize == "int8":
            _require_cpu(self.devices)
            self.model.model.model = quantize_int8(self.model.model.model)
        elif quantize != "none":
            raise ValueError(f"index.quantize must be int8 or none, got {quantize!r}")

    def encode(
        self, texts: Sequence[str], kind: Literal["query", "passage"], lexical: bool = True, colbert: bool = False
    ) -> Encoded:
        """Encode texts as queries or passages (they differ only in their maximum length).

        `lexical=False` skips the lexical weights (empty list): dense search alone doesn't need them.
        `colbert=True` adds BGE-M3's multi-vector output (one unit vector per token after `<s>`),
        kept as float16: a corpus of them is large.
        """
        if kind not in self.max_length:
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        texts = list(texts)
        if not texts:
            return Encoded(np.zeros((0, self.dimension), dtype=np.float32), [])
        # FlagEmbedding shows its own tqdm bar ("Inference Embeddings").
        with self.arithmetic():
            output = _run(
                self.model,
                self.devices,
                texts,
                batch_size=self.batch_size,
                max_length=self.max_length[kind],
                return_dense=True,
                return_sparse=lexical,
                return_colbert_vecs=colbert,
            )
        dense = l2_normalise(np.asarray(output["dense_vecs"], dtype=np.float32).reshape(len(texts), -1))
        weights = (
            [
                {token: float(weight) for token, weight in sorted(row.items(), key=lambda kv: int(kv[0]))}
                for row in output["lexical_weights"]
            ]
            if lexical
            else []
        )
        vectors = [np.asarray(v, dtype=np.float16) for v in output["colbert_vecs"]] if colbert else []
        return Encoded(dense, weights, vectors)

    @property
    def dimension(self) -> int:
        return int(self.model.model.model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        return len(self.model.tokenizer)


def _require_cpu(devices: list[str]) -> None:
    if not all(device.startswith("cpu") for device in devices):
        raise ValueError(f"index.quantize: int8 dynamic quantisation runs on CPU only, not {','.join(devices)}")


def _run(model, devices: list[str], texts: list[str], **options):
    """FlagEmbedding's encoding on one device in this process, or on several through its multi-process pool
    (started at the first call, one process per device, stopped when the model is released)."""
    if len(devices) == 1:
        return model.encode_single_device(texts, device=devices[0], **options)
    return model.encode(texts, **options)


class E5Encoder:
    """Dense vectors from an E5-layout model (BERT, mean pooling, prefixes) through FlagEmbedding's `FlagModel`."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        spec: EncoderSpec = E5_SPEC,
        device: Devices = None,
        batch_size: int = 64,
        query_max_length: int | None = None,
        passage_max_length: int | None = None,
        use_fp16: bool | None = None,
        quantize: Quantize = "none",
        precision: Precision = "fp32",
    ):
        from FlagEmbedding import FlagModel

        self.devices = encoding_devices(device)
        self.device = self.devices[0]
        self.arithmetic = cpu_arithmetic(precision, quantize, self.devices)
        fp16 = self.device.startswith("cuda") if use_fp16 is None else use_fp16
        self.batch_size = batch_size
        self.prefix = {"query": spec.query_prefix, "passage": spec.passage_prefix}
        self.max_length = {
            "query": query_max_length or spec.query_max_length,
            "passage": passage_max_length or spec.passage_max_length,
        }
        # Prefixes are added here, not by FlagModel's instructions: encode_single_device applies none.
        self.model = FlagModel(
            str(model_path),
            use_fp16=fp16,
            devices=self.devices,
            batch_size=batch_size,
            pooling_method=spec.pooling,
            normalize_embeddings=True,
            query_max_length=self.max_length["query"],
            passage_max_length=self.max_length["passage"],
        )
        if quantize == "int8":
            _require_cpu(self.devices)
            self.model.model = quantize_int8(self.model.model)
        elif quantize != "none":
            raise ValueError(f"index.quantize must be int8 or none, got {quantize!r}")

    def encode(
        self, texts: Sequence[str], kind: Literal["query", "passage"], lexical: bool = False, colbert: bool = False
    ) -> Encoded:
        """Encode texts as queries or passages (prefix and maximum length differ); dense vectors only."""
        if kind not in self.max_length:
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        if lexical:
            raise ValueError(
                "an E5 model has no lexical weights: set index.m3_sparse=false (and retrieval.m3_sparse_weight=0)"
            )
        if colbert:
            raise ValueError("an E5 model has no ColBERT vectors: set retrieval.colbert=false")
        texts = [self.prefix[kind] + text for text in texts]
        if not texts:
            return Encoded(np.zeros((0, self.dimension), dtype=np.float32), [])
        with self.arithmetic():
            output = _run(self.model, self.devices, texts, batch_size=self.batch_size, max_length=self.max_length[kind])
        return Encoded(l2_normalise(np.asarray(output, dtype=np.float32).reshape(len(texts), -1)), [])

    @property
    def dimension(self) -> int:
        return int(self.model.model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        return len(self.model.tokenizer)
