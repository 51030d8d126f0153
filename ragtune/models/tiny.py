"""Tiny models of BGE-M3's, multilingual-E5's and bge-reranker-v2-m3's architecture, built locally and
deterministically.

The real models cannot be downloaded everywhere, so the offline pipeline builds small XLM-RoBERTa
models with a tokenizer trained on the corpus and runs the *real* FlagEmbedding code on them.
The directory layout is BGE-M3's: Hugging Face model and tokenizer files plus `colbert_linear.pt`
and `sparse_linear.pt`, so `BGEM3FlagModel`, `FlagReranker` and the FlagEmbedding fine-tuning
runners load them exactly as they load the published checkpoints.

Byte-identical rebuilds: the tokenizer is trained by single-threaded SentencePiece, weights come from a seeded
generator, safetensors carries fixed metadata, and `torch.save` archives are serialised in memory
so their record names do not depend on a temporary file name (see `save_state_dict`).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ragtune.io import atomic_write, honour_umask, staged_directory
from ragtune.models.encoders import M3_SPEC, EncoderSpec, write_spec


def save_state_dict(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """`torch.save` with byte-stable output.

    A torch archive names its records after the file's stem and derives its
    `.data/serialization_id` from those names, so saving straight to a temporary file
    (random name) gives different bytes each time; serialising to memory fixes the name.
    """
    buffer = io.BytesIO()
    torch.save({key: tensor.detach().cpu().contiguous() for key, tensor in state.items()}, buffer)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def train_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int):
    """A SentencePiece Unigram tokenizer trained on `texts`, converted exactly as XLM-R's is.

    Trained with the `sentencepiece` library (the tool XLM-R's vocabulary was made with) on one
    thread, which is deterministic; the `tokenizers` Unigram trainer is not (it iterates hash maps
    with per-process random seeds, so equal-score pieces get different ids run to run).
    transformers' XLMRobertaConverter then gives XLM-R's layout: <s> <pad> </s> <unk> = 0..3,
    the pieces, <mask> last, nmt_nfkc normalisation, Metaspace pre-tokenisation.
    """
    import types

    import sentencepiece
    from transformers import XLMRobertaTokenizerFast
    from transformers.convert_slow_tokenizer import XLMRobertaConverter

    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    model = io.BytesIO()
    # The converter maps spm ids 0..2 (<unk> <s> </s>) onto XLM-R's four specials and appends
    # <mask>: the final vocabulary has the spm size + 2.
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        vocab_size=vocab_size - 2,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        max_sentence_length=1 << 16,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    with tempfile.TemporaryDirectory() as scratch:
        model_file = Path(scratch) / "sentencepiece.bpe.model"
        model_file.write_bytes(model.getvalue())
        # The converter only reads the model file and the ids of <s> and </s>.
        original = types.SimpleNamespace(
            vocab_file=str(model_file), handle_byte_fallback=False, convert_tokens_to_ids={"<s>": 0, "</s>": 2}.get
        )
        backend = XLMRobertaConverter(original).converted()
    return XLMRobertaTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def _config(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position: int,
    **extra,
):
    from transformers import XLMRobertaConfig

    # max_position_embeddings counts the padding offset (pad id + 1), as XLM-R's 514 = 512 + 2.
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **extra,
    )


def _save_model(model, directory: Path) -> None:
    model.save_pretrained(directory, safe_serialization=True)


def build_tiny_embedder(
    texts: Sequence[str],
    out_dir: Path,
    *,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position: int = 514,
    initializer_range: float = 0.02,
    attention_value_init_range: float | None = None,
    seed: int,
) -> Path:
    """Write a randomly initialised BGE-M3-shaped embedder (tokenizer trained on `texts`) to `out_dir`.

    `attention_value_init_range` (default: `initializer_range`) is the standard deviation of every
    layer's attention value and output projections. Why: BGE-M3 pools the CLS vector, and in a
    random post-LayerNorm XLM-R that vector is almost the constant `<s>` + position-0 embedding;
    with 0.02 the attention adds ~5% content (all cosines ≈ 0.99) and contrastive fine-tuning
    collapses to equal scores. A larger value (0.25 for hidden 128) lets attention carry the
    tokens' content into CLS from the start, without changing the architecture or pooling.
    """
    from transformers import XLMRobertaModel

    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size, max_position - 2)
    config = _config(
        len(tokenizer),
        hidden_size,
        num_layers,
        num_heads,
        intermediate_size,
        max_position,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = XLMRobertaModel(config).eval()  # with pooler, as in BGE-M3's checkpoint
    _widen_attention(model.encoder, attention_value_init_range)
    colbert_linear = torch.nn.Linear(hidden_size, hidden_size)
    sparse_linear = torch.nn.Linear(hidden_size, 1)
    with staged_directory(out_dir) as stage:
        _save_model(model, stage)
        tokenizer.save_pretrained(stage)
        save_state_dict(colbert_linear.state_dict(), stage / "colbert_linear.pt")
        save_state_dict(sparse_linear.state_dict(), stage / "sparse_linear.pt")
        write_spec(stage, M3_SPEC)
        honour_umask(stage)
    return out_dir


def build_tiny_e5(
    texts: Sequence[str],
    out_dir: Path,
    *,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position: int = 512,
    initializer_range: float = 0.02,
    attention_value_init_range: float | None = None,
    query_max_length: int = 32,
    passage_max_length: int = 128,
    seed: int,
) -> Path:
    """Write a randomly initialised multilingual-E5-shaped embedder to `out_dir`: a BertModel (positions from 0,
    no pooler: E5 mean-pools) with an XLM-R-layout tokenizer trained on `texts`, and E5's spec (mean pooling,
    "query: "/"passage: " prefixes)."""
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size, max_position)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=1,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False).eval()
    _widen_attention(model.encoder, attention_value_init_range)
    with staged_directory(out_dir) as stage:
        _save_model(model, stage)
        tokenizer.save_pretrained(stage)
        write_spec(
            stage,
            EncoderSpec(
                family="e5",
                pooling="mean",
                query_prefix="query: ",
                passage_prefix="passage: ",
                query_max_length=query_max_length,
                passage_max_length=passage_max_length,
            ),
        )
        honour_umask(stage)
    return out_dir


def _widen_attention(encoder, value_init_range: float | None) -> None:
    """Redraw every layer's attention value and output projections with std `value_init_range` (None: keep)."""
    if value_init_range is None:
        return
    with torch.no_grad():
        for layer in encoder.layer:
            layer.attention.self.value.weight.normal_(0.0, value_init_range)
            layer.attention.output.dense.weight.normal_(0.0, value_init_range)


def build_tiny_reranker(
    tokenizer_dir: Path,
    out_dir: Path,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position: int = 514,
    attention_value_init_range: float | None = None,
    encoder_dir: Path | None = None,
    seed: int,
) -> Path:
    """Write a bge-reranker-v2-m3-shaped cross-encoder sharing `tokenizer_dir`'s tokenizer.

    `encoder_dir`: an XLM-R encoder of the same shape and tokenizer (the fine-tuned tiny embedder) whose
    embeddings and layers the cross-encoder starts from, as real rerankers start from a pretrained
    encoder; only the classification head is then random. Why: from random weights the tiny
    cross-encoder must discover query-passage token matching from nothing and its listwise loss sits
    at ln(group) for ~100 steps (docs/training.md). None: random encoder.
    `attention_value_init_range`: as for `build_tiny_embedder` (the classifier reads the CLS position too);
    it applies to the random encoder only."""
    from transformers import AutoTokenizer, XLMRobertaForSequenceClassification

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = _config(len(tokenizer), hidden_size, num_layers, num_heads, intermediate_size, max_position, num_labels=1)
    torch.manual_seed(seed)
    model = XLMRobertaForSequenceClassification(config).eval()
    if encoder_dir is None:
        _widen_attention(model.roberta.encoder, attention_value_init_range)
    else:
        _load_encoder(model.roberta, Path(encoder_dir))
    with staged_directory(out_dir) as stage:
        _save_model(model, stage)
        tokenizer.save_pretrained(stage)
        honour_umask(stage)
    return out_dir


def _load_encoder(target, encoder_dir: Path) -> None:
    """Copy `encoder_dir`'s embeddings and layers into `target` (same shapes required; its pooler is not used)."""
    from transformers import XLMRobertaModel

    source = XLMRobertaModel.from_pretrained(str(encoder_dir)).state_dict()
    wanted = target.state_dict()
    mismatched = sorted(key for key in wanted if key not in source or source[key].shape != wanted[key].shape)
    if mismatched:
        raise ValueError(f"{encoder_dir} is not an encoder of the reranker's shape: {', '.join(mismatched[:5])}")
    target.load_state_dict({key: source[key] for key in wanted})
