"""The parameter schema: every key of the composed configuration, its type and its allowed range.

`validate(params)` checks a composed configuration (what `conf/` composes into params.yaml) before
any work starts and raises `ParamsError` naming the key, the value and what is allowed, in one line.
Unknown keys are rejected, so a typo (`-S '+retrieval.alpah=0.5'`) or a key added to `conf/` without
a schema entry fails loudly instead of being ignored.

To add a parameter: add a field to the group's model below (with its range), then the key to `conf/`.
Keys a group sets only for some of its options (a reranker's `train`, Elasticsearch's `index_prefix`)
are optional here; what an option needs together is checked by the code that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.config.explain import describe, key, key_parts, submodel
from ragtune.config.launch import train_launch_problem
from ragtune.io import DataError

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
StepLimit = Annotated[int, Field(ge=-1)]  # -1: no limit (epochs decide)
Fraction = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Precision = Literal["auto", "bf16", "fp16", "fp32"]


class ParamsError(DataError):
    """A parameter with a wrong type, out of its range, or unknown: names the key, the value and what is allowed."""

    def __init__(self, source: str, key: str, message: str):
        self.key = key
        super().__init__(source, message, field=key)


class Group(BaseModel):
    # strict: "abc", "0.5" or true are not numbers; ints are accepted where floats are
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Data(Group):
    name: str
    path: str  # the folder of the collection (relative to the repository, or absolute); a DVC dep of prepare
    documents: str | None = None  # JSONL groups: the documents file inside `path`; null: read every file under it
    eval: str | None = None  # JSONL groups: the eval questions (the submission's rows); null: none
    labelled: str | None = None  # legacy: one labelled file inside path
    validation: dict[str, str] | None = None  # source name -> labelled questions (path from the repository root)
    language: Literal["auto", "ko", "en", "mixed", "zh", "ja"] = "auto"  # auto: detected from the corpus
    questions: str | None = None  # a folder's labelled questions (JSONL or CSV: question, relevant)
    passage_overlap: NonNegativeInt = 32  # tokens carried between consecutive passages of one section


class LLM(Group):
    provider: Literal["offline", "solar", "openai", "local"]
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    concurrency: PositiveInt = 8
    timeout: Positive = 60
    max_retries: NonNegativeInt = 5
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    max_requests: NonNegativeInt = 20000
    seed: NonNegativeInt | None = None
    max_failure_rate: Fraction = 0.2
    backoff_base: NonNegative = 1.0
    backoff_max: NonNegative = 60.0


class Architecture(Group):
    vocab_size: PositiveInt | None = None
    hidden_size: PositiveInt
    num_layers: PositiveInt
    num_heads: PositiveInt
    intermediate_size: PositiveInt
    attention_value_init_range: Positive | None = None
    max_position: PositiveInt | None = None  # position embeddings of a tiny model
    family: Literal["m3", "e5"] = "m3"  # tiny BGE-M3 layout, or a tiny E5 (mean pooling, prefixes)


class Model(Group):
    name: str
    embedder: str | None = None
    revision: str | None = None
    architecture: Architecture | None = None
    query_max_len: PositiveInt
    passage_max_len: PositiveInt


class Lora(Group):
    rank: NonNegativeInt = 0  # 0: off (the weights themselves train)
    alpha: Positive = 16.0
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    targets: Annotated[list[str], Field(min_length=1)] = ["query", "key", "value", "dense"]


class Train(Group):
    learning_rate: Positive
    temperature: Positive
    epochs: Positive
    max_steps: StepLimit
    batch_size: PositiveInt
    gradient_accumulation_steps: PositiveInt = 1
    train_group_size: PositiveInt
    unified_finetuning: bool = False
    use_self_distill: bool = False
    self_distill_start_step: NonNegativeInt = 0
    warmup_ratio: Fraction = 0.1
    precision: Precision = "auto"
    num_gpus: PositiveInt = 1
    weight_decay: NonNegative = 0.0
    negatives_cross_device: bool = False
    knowledge_distillation: bool = False
    gradient_checkpointing: bool = False
    logging_steps: PositiveInt = 10
    freeze_word_embeddings: bool = False
    train_top_layers: NonNegativeInt = 0
    lora: Lora = Lora()
    select: Literal["auto", "finetuned", "base"] = "auto"
    select_on: str | None = None
    select_corpus: NonNegativeInt = 0
    targeted_round: bool = False
    targeted_top_k: PositiveInt = 10
    targeted_pool: PositiveInt = 50
    targeted_max_steps: StepLimit = -1
    # ---- across machines (torchrun; checked together: ragtune.config.launch) ----
    nnodes: PositiveInt = 1
    node_rank: NonNegativeInt = 0
    master_addr: str | None = None
    master_port: Annotated[int, Field(ge=1, le=65535)] = 29500
    # ---- end across machines ----


class RerankerArchitecture(Group):
    hidden_size: PositiveInt
    num_layers: PositiveInt
    num_heads: PositiveInt
    intermediate_size: PositiveInt
    attention_value_init_range: Positive | None = None
    max_position: PositiveInt | None = None


class RerankerTrain(Group):
    learning_rate: Positive
    epochs: Positive = 1.0
    max_steps: StepLimit = -1
    batch_size: PositiveInt
    gradient_accumulation_steps: PositiveInt = 1
    train_group_size: Annotated[int, Field(ge=2)]  # a positive and at least one negative
    warmup_ratio: Fraction = 0.1
    precision: Precision = "auto"
    num_gpus: PositiveInt = 1
    logging_steps: PositiveInt = 10
    lora: Lora = Lora()


class Reranker(Group):
    name: str
    path: str | None = None
    revision: str | None = None
    batch_size: PositiveInt | None = None
    max_length: PositiveInt | None = None
    finetune: bool = False
    init_from_embedder: bool = False
    architecture: RerankerArchitecture | None = None
    train: RerankerTrain | None = None
    validation_limit: NonNegativeInt | None = None


class Analyzer(Group):
    tags: list[str] | None = None
    drop_scaffolding: bool = True
    lowercase: bool = True


class Sparse(Group):
    backend: Literal["bm25s", "elasticsearch"]
    k1: NonNegative
    b: Fraction
    analyzer: Analyzer = Analyzer()
    # elasticsearch
    index_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")] | None = None
    decompound_mode: Literal["none", "discard", "mixed"] | None = None
    stoptags: list[str] | None = None
    api_key_env: str | None = None


class Queries(Group):
    per_document: PositiveInt
    holdout_fraction: Annotated[float, Field(gt=0, lt=1)]
    round_trip_top_k: NonNegativeInt = 0
    generator: Literal["varied", "inverse_cloze"] = "varied"
    max_copied_chars: PositiveInt = 16
    from_file: str | None = None
    file_mode: Literal["add", "replace"] = "add"
    domain: str = ""  # what the collection is about, for LLM prompts ("a thermostat's help centre"); "" : unsaid


class MiningBM25(Group):
    k1: NonNegative
    b: Fraction
    analyzer: Analyzer = Analyzer()


class Negatives(Group):
    pool: PositiveInt
    k: PositiveInt
    skip_top: NonNegativeInt = 0
    margin: Fraction = 0.0
    near_duplicate: Fraction = 1.0
    dense_pool: NonNegativeInt = 0
    teacher_scores: bool = False
    bm25: MiningBM25 | None = None  # the BM25 that mines (negatives, the queries round trip)


class HNSW(Group):
    m: PositiveInt = 32  # links per node (faiss's M)
    ef_construction: PositiveInt = 200
    ef_search: PositiveInt = 128


class IVF(Group):
    nlist: NonNegativeInt = 0  # inverted lists; 0: about 4·√n, at most one per 39 training vectors
    nprobe: PositiveInt = 32  # lists searched per query
    train_sample: PositiveInt = 100_000  # k-means (and PQ) train on this many corpus vectors, a seeded sample


class PQ(Group):
    m: NonNegativeInt = 0  # sub-quantizers (divides the dimension); 0: dimension / 8 (8 dimensions each)
    nbits: Annotated[int, Field(ge=1, le=16)] = 8  # bits per sub-quantizer code


class Index(Group):
    char_ngram: NonNegativeInt = 0
    faiss: Literal["flat", "hnsw", "ivf", "ivfpq"] = "flat"
    hnsw: HNSW = HNSW()
    ivf: IVF = IVF()  # ivf and ivfpq
    pq: PQ = PQ()  # ivfpq
    gpu: bool = False  # flat and IVF indexes built on GPU 0 where faiss-gpu sees one (faiss has no GPU HNSW)
    batch_size: PositiveInt = 64
    m3_sparse: bool = False
    quantize: Literal["none", "int8"] | None = None
    # the dense models' arithmetic on a CPU wherever they encode (index, retrieve, negatives, train's selection):
    # bf16 runs them under bfloat16 autocast, and the stages then leave the CPU kernels' ceiling (stages/common.py)
    precision: Literal["fp32", "bf16"] = "fp32"
    # where the dense model encodes (index, retrieve, negatives): null = the default device (cuda:0, else cpu);
    # a device ("cuda:1"), or a list: FlagEmbedding's multi-process pool, one process per device
    devices: Annotated[list[str], Field(min_length=1)] | str | None = None


class Retrieval(Group):
    rerank_top: NonNegativeInt = 0
    fusion: Literal["hybrid", "rrf"] = "hybrid"
    char_weight: Fraction = 0.0
    m3_sparse_weight: Fraction = 0.0
    norm: Literal["min-max", "max", "sum", "zmuv"] = "min-max"
    candidates: PositiveInt
    colbert: bool = False
    bm25_search: Literal["numpy", "numba"] = "numpy"
    query_batch_size: PositiveInt = 256
    keep: PositiveInt = 100
    chitchat: Literal["auto", "on", "off"] = "auto"  # auto: on where a calibration exists for the corpus language
    chitchat_threshold: Fraction = 0.55
    calibration_stride: NonNegativeInt = 0
    multi_query: NonNegativeInt = 0
    hyde: bool = False
    llm_on_validation: bool = False
    llm_sources: list[str] | None = None


class Evaluation(Group):
    report_limit: NonNegativeInt = 200


class Submission(Group):
    retriever: str = "hybrid"
    reference_chars: NonNegativeInt = 0


class Tune(Group):
    """`ragtune tune`'s declared objective (ragtune/evaluation/objective.py): a dotted key into
    metrics/retrieval.json, or mean:<retriever>.<metric> over the validation sources."""

    objective: Annotated[str, Field(pattern=r"^(mean:)?[^.\s:]+(\.[^.\s:]+)+$")] = "mean:hybrid.map@3"


class Compute(Group):
    """Where batch work runs (ragtune.compute): this process, or a Ray cluster's actor pool. It changes where,
    never what: no stage lists it as a DVC param and no memo key holds it."""

    engine: Literal["local", "ray"] = "local"
    # null: a local Ray with `workers` actors; else a running cluster: auto, ray://host:port or host:port
    address: Annotated[str, Field(pattern=r"^(auto|local|ray://\S+|[\w.-]+:\d+)$")] | None = None
    workers: PositiveInt = 1
    cpus_per_worker: Positive = 1
    gpus_per_worker: NonNegative = 0
    batch_size: PositiveInt = 1024  # rows per actor call (encoding: whole model batches of it)
    restarts: NonNegativeInt = 3  # an actor lost (its node, its memory) is started again, its batch rerun


class Fusion(Group):
    """How the lexical and dense runs are combined: the top-level sweep knobs `alpha` and `rrf_k` (kept at the top
    so `dvc exp run -S alpha=0.6` stays short) with `retrieval.fusion` and `retrieval.norm`, as one object."""

    method: Literal["hybrid", "rrf"]
    alpha: Fraction
    rrf_k: Annotated[float, Field(ge=1)]
    norm: Literal["min-max", "max", "sum", "zmuv"]


class Params(Group):
    """The whole composed configuration (params.yaml)."""

    seed: NonNegativeInt
    # the CPU kernels of the stages that list it: portable (an AVX2 ceiling, ragtune.kernels: the same bytes across
    # x86-64 CPUs) or native (the machine's best, AVX-512 or AMX: faster, its bytes the machine's own); stages/common.py
    cpu_kernels: Literal["portable", "native"] = "portable"
    alpha: Fraction  # weight of the dense run in hybrid fusion
    rrf_k: Annotated[float, Field(ge=1)]  # reciprocal rank fusion constant
    data: Data
    llm: LLM
    model: Model
    train: Train
    reranker: Reranker
    sparse: Sparse
    queries: Queries
    negatives: Negatives
    index: Index
    retrieval: Retrieval
    evaluation: Evaluation = Evaluation()
    submission: Submission = Submission()
    tune: Tune = Tune()
    compute: Compute = Compute()

    @property
    def fusion(self) -> Fusion:
        return Fusion(method=self.retrieval.fusion, alpha=self.alpha, rrf_k=self.rrf_k, norm=self.retrieval.norm)


def validate(params: Mapping[str, Any], source: str = "params.yaml") -> dict[str, Any]:
    """`params` unchanged when every key is known, typed and in range; else ParamsError (the first problem,
    and how many more there are)."""
    load(params, source)
    return dict(params)


def load(params: Mapping[str, Any], source: str = "params.yaml") -> Params:
    """The typed configuration stages work with (defaults filled in by the schema, never restated); ParamsError
    naming the first bad key otherwise."""
    try:
        loaded = Params.model_validate(dict(params))
    except ValidationError as exc:
        errors = exc.errors()
        message, first = describe(errors[0], Params), key(errors[0]["loc"], Params)
        others = [
            name
            for name in dict.fromkeys(key(e["loc"], Params) for e in errors[1:])  # a union: one error per member
            if name != first and not name.startswith(f"{first}.") and not first.startswith(f"{name}.")
        ]
        if others:
            message += f" (and {len(others)} more: {', '.join(others[:3])}{' …' if len(others) > 3 else ''})"
        raise ParamsError(source, first, message) from None
    problem = train_launch_problem(loaded.train)  # the across-machines keys together
    if problem is not None:
        raise ParamsError(source, *problem)
    return loaded


def rejections(params: Mapping[str, Any]) -> list[tuple[list[str], str]]:
    """Every rejected key of `params` as (its path, what is wrong in `describe`'s words); [] when it validates."""
    try:
        Params.model_validate(dict(params))
    except ValidationError as exc:
        found: dict[tuple[str, ...], str] = {}
        for error in exc.errors():  # a union fails once per member: its first error says it
            found.setdefault(tuple(key_parts(error["loc"], Params)), describe(error, Params))
        return [(list(path), message) for path, message in found.items()]
    return []


def schema_keys(model: type[BaseModel] = Params, prefix: str = "") -> set[str]:
    """Every dotted key the schema knows (nested groups included)."""
    keys = set()
    for name, info in model.model_fields.items():
        keys.add(prefix + name)
        nested = submodel(info.annotation)
        if nested is not None:
            keys |= schema_keys(nested, f"{prefix}{name}.")
    return keys
