"""Model work on an engine (ragtune.compute): dense encoding and cross-encoder scoring, each as a task (paths and
settings; its `load()` builds the model the local path builds) and an object with the local one's interface
(`PooledEncoder.encode`, `PooledReranker.rerank_lists` …), so callers do not know where the work runs.

Same results on every engine: locally a call is one batch, exactly the call the stages made before engines; on Ray
the rows are cut into batches that repeat the local call's own batching —
- encoding: the texts in FlagEmbedding's length order (`ragtune.models.encoders.length_order`), cut into whole
  model batches (compute.batch_size rounded down to a multiple of the encoder's batch size, at least one), so
  each model batch holds the rows and padding it holds locally;
- scoring: batches of `pairs_per_call` pairs, the local path's calls to FlagReranker.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.compute.engine import Engine
from ragtune.models.encoders import Devices, Encoded, length_order, load_encoder
from ragtune.models.hub import resolve_model
from ragtune.retrieval.rerank import PAIRS_PER_CALL, CrossEncoderReranker, PairReranker


def _device(engine: Engine, device: Devices):
    """Where a task's model runs: as configured in process; on a Ray actor its own GPU, or the CPU without one
    (index.devices' pool is replaced by the actors)."""
    if not engine.distributed:
        return tuple(device) if isinstance(device, list) else device
    return None if getattr(engine, "gpus_per_worker", 0) else "cpu"


@dataclasses.dataclass(frozen=True)
class EncodeTask:
    model_dir: str
    device: Any = None
    batch_size: int = 64
    query_max_length: int | None = None
    passage_max_length: int | None = None
    quantize: str = "none"
    precision: str = "fp32"

    def load(self):
        device = list(self.device) if isinstance(self.device, tuple) else self.device
        encoder = load_encoder(
            self.model_dir,
            device=device,
            batch_size=self.batch_size,
            query_max_length=self.query_max_length,
            passage_max_length=self.passage_max_length,
            quantize=self.quantize,
            precision=self.precision,
        )
        return lambda columns, **options: encoder.encode(columns["text"], **options)


class PooledEncoder:
    """`load_encoder(model_dir, …)`'s interface (`encode`, `dimension`, `vocab_size`), its batches run by `engine`."""

    def __init__(
        self,
        engine: Engine,
        model_dir: str | Path,
        *,
        device: Devices = None,
        batch_size: int = 64,
        query_max_length: int | None = None,
        passage_max_length: int | None = None,
        quantize: str = "none",
        precision: str = "fp32",
    ):
        self.engine, self.model_dir = engine, str(model_dir)
        self.task = EncodeTask(
            self.model_dir,
            _device(engine, device),
            batch_size,
            query_max_length,
            passage_max_length,
            quantize,
            precision,
        )
        self.pool = engine.pool(self.task)

    def encode(self, texts: Sequence[str], kind: str, **options) -> Encoded:
        """As the local encoder's `encode(texts, kind, lexical=…, colbert=…)`; the options it is not given keep
        that encoder's defaults."""
        texts, options = list(texts), {"kind": kind, **options}
        if not self.engine.distributed:
            return self.pool.map_batches({"text": texts}, options=options)[0]
        if not texts:
            return Encoded(np.zeros((0, self.dimension), dtype=np.float32), [])
        parts, back = _in_length_order(self.pool, self.engine, self.task, self.model_dir, texts, options)
        lexical = [row for part in parts for row in part.lexical]
        colbert = [row for part in parts for row in part.colbert]
        return Encoded(
            np.concatenate([part.dense for part in parts])[back],
            [lexical[i] for i in back] if lexical else [],
            [colbert[i] for i in back] if colbert else [],
        )

    @functools.cached_property
    def _path(self) -> str:
        return resolve_model(self.model_dir) if Path(self.model_dir).is_dir() else self.model_dir

    @property
    def dimension(self) -> int:
        from transformers import AutoConfig

        return int(AutoConfig.from_pretrained(self._path).hidden_size)

    @property
    def vocab_size(self) -> int:
        from transformers import AutoTokenizer

        return len(AutoTokenizer.from_pretrained(self._path))


def _in_length_order(pool, engine: Engine, task, model_dir: str, texts: list[str], options: dict):
    """`pool`'s results for `texts` in FlagEmbedding's length order, cut into whole model batches, and each text's
    position in that order (`results[back]` puts them back)."""
    kind = options["kind"]
    order = length_order(model_dir, texts, kind, task.query_max_length, task.passage_max_length)
    size = max(1, engine.batch_size // task.batch_size) * task.batch_size
    return pool.map_batches({"text": [texts[i] for i in order]}, size, options), np.argsort(order)


@dataclasses.dataclass(frozen=True)
class PairTask:
    """Two models that share a bottom, encoded in one pass (ragtune.models.shared_bottom), as a task."""

    first_dir: str
    second_dir: str
    device: Any = None
    batch_size: int = 64
    query_max_length: int | None = None
    passage_max_length: int | None = None
    precision: str = "fp32"

    def load(self):
        from ragtune.models.shared_bottom import load_pair

        options = dataclasses.asdict(self)
        pair = load_pair(options.pop("first_dir"), options.pop("second_dir"), **options)
        if pair is None:  # the driver found them shared (bottom_shared): another machine's files differ
            raise RuntimeError(f"{self.first_dir} and {self.second_dir} share no bottom where this actor runs")
        return lambda columns, kind: pair.dense(columns["text"], kind)


class PooledPair:
    """`ragtune.models.shared_bottom.load_pair`'s interface (`dense`, `encode`, whole `first` and `second`
    encoders), its batches run by a distributed engine in the length order and cuts of the first model's encoding."""

    def __init__(
        self, engine: Engine, first_dir: str | Path, second_dir: str | Path, *, device: Devices = None, **options
    ):
        self.engine, self.first_dir = engine, str(first_dir)
        self.first, self.second = (PooledEncoder(engine, d, device=device, **options) for d in (first_dir, second_dir))
        self.task = PairTask(self.first_dir, str(second_dir), _device(engine, device), **options)
        self.pool = engine.pool(self.task)

    def dense(self, texts: Sequence[str], kind: str) -> list[np.ndarray]:
        texts = list(texts)
        if not texts:
            return [np.zeros((0, self.first.dimension), np.float32) for _ in range(2)]
        parts, back = _in_length_order(self.pool, self.engine, self.task, self.first_dir, texts, {"kind": kind})
        return [np.concatenate([part[model] for part in parts])[back] for model in (0, 1)]

    def encode(self, texts: Sequence[str], kind: str) -> tuple[Encoded, Encoded]:
        first, second = self.dense(texts, kind)
        return Encoded(first, []), Encoded(second, [])


def pooled_pair(engine: Engine, first_dir: str | Path, second_dir: str | Path, **options):
    """The two models as a shared-bottom pair encoding on `engine`, or None where they share no bottom: in process,
    `load_pair` itself; on a distributed engine, a `PooledPair` once the weights here say the bottom is shared."""
    from ragtune.models import shared_bottom

    if not engine.distributed:
        return shared_bottom.load_pair(first_dir, second_dir, **options)
    if options.pop("quantize", "none") != "none" or not shared_bottom.bottom_shared(first_dir, second_dir, **options):
        return None
    return PooledPair(engine, first_dir, second_dir, **options)


@dataclasses.dataclass(frozen=True)
class ScoreTask:
    model_path: str
    device: str | None = None
    batch_size: int = 32
    max_length: int = 512

    def load(self):
        model = CrossEncoderReranker(
            self.model_path, device=self.device, batch_size=self.batch_size, max_length=self.max_length
        )
        return lambda columns, pairs_per_call: model._scores(
            list(zip(columns["query"], columns["passage"])), pairs_per_call
        )


class PooledReranker(PairReranker):
    """`CrossEncoderReranker(model_path, …)`'s rankings, its pairs scored by `engine`."""

    def __init__(self, engine: Engine, model_path: str | Path, *, batch_size: int = 32, max_length: int = 512):
        self.engine = engine
        self.pool = engine.pool(ScoreTask(str(model_path), _device(engine, None), batch_size, max_length))

    def _scores(self, pairs: list[tuple[str, str]], pairs_per_call: int = PAIRS_PER_CALL) -> list[float]:
        if not pairs:
            return []
        columns = {"query": [q for q, _ in pairs], "passage": [p for _, p in pairs]}
        parts = self.pool.map_batches(columns, pairs_per_call, {"pairs_per_call": pairs_per_call})
        return [score for part in parts for score in part]
