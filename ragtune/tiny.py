"""Tiny models of BGE-M3's and bge-reranker-v2-m3's architecture, built locally and deterministically.

The real models cannot be downloaded everywhere, so the offline pipeline builds small XLM-RoBERTa
models with a tokenizer trained on the corpus and runs the *real* FlagEmbedding code on them.
The directory layout is BGE-M3's: Hugging Face model and tokenizer files plus `colbert_linear.pt`
and `sparse_linear.pt`, so `BGEM3FlagModel`, `FlagReranker` and the FlagEmbedding fine-tuning
runners load them exactly as they load the published checkpoints.

Byte-identical rebuilds: the tokenizer's pieces are put in a canonical order, weights come from a seeded
generator, safetensors carries fixed metadata, and `torch.save` archives are serialised in memory
so their record names do not depend on a temporary file name (see `save_state_dict`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch

from ragtune.io import atomic_write

# XLM-R's special tokens and their ids; <mask> comes last, as in XLM-R's vocabulary.
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"


@contextlib.contextmanager
def staged_directory(out_dir: Path) -> Iterator[Path]:
    """Yield an empty sibling directory; it replaces `out_dir` only if the block succeeds."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield stage
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(stage, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


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


def canonical_unigram(tokenizer):
    """The same tokenizer with its pieces in a canonical order.

    The Unigram trainer learns the same pieces on every run, but it iterates hash maps with random
    seeds, so equal-score pieces come out in any order and scores differ in the last bits. Scores
    are rounded and pieces sorted by (score, piece) so ids and scores do not depend on the run.
    """
    from tokenizers import Tokenizer

    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    specials, pieces = vocab[:len(SPECIAL_TOKENS)], vocab[len(SPECIAL_TOKENS):]
    assert [piece for piece, _ in specials] == list(SPECIAL_TOKENS)
    pieces = sorted(([piece, round(score, 8)] for piece, score in pieces), key=lambda item: (-item[1], item[0]))
    # The trainer appends the pieces it must keep (required characters) after the learnt ones,
    # scored min_score - 1e-4 * i in hash-map order: re-deal that run's scores in piece order.
    start = len(pieces) - 1
    while start > 0 and any(abs(pieces[start - 1][1] - pieces[start][1] - step) < 1e-6 for step in (0.0, 1e-4)):
        start -= 1
    top = pieces[start][1]
    pieces[start:] = [[piece, round(top - 1e-4 * i, 8)] for i, (piece, _) in enumerate(sorted(pieces[start:]))]
    spec["model"]["vocab"] = specials + pieces
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def train_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int):
    """A SentencePiece-style Unigram tokenizer like XLM-R's, trained on `texts`."""
    from tokenizers import processors
    from tokenizers.implementations import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaTokenizerFast

    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    backend = SentencePieceUnigramTokenizer()
    backend.train_from_iterator(
        list(texts), vocab_size=vocab_size - 1, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>",
    )
    inner = canonical_unigram(backend._tokenizer)
    inner.add_special_tokens([MASK_TOKEN])
    bos, eos = inner.token_to_id("<s>"), inner.token_to_id("</s>")
    inner.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=inner, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK_TOKEN, model_max_length=max_length,
    )


def _config(vocab_size: int, hidden_size: int, num_layers: int, num_heads: int,
            intermediate_size: int, max_position: int, **extra):
    from transformers import XLMRobertaConfig

    # max_position_embeddings counts the padding offset (pad id + 1), as XLM-R's 514 = 512 + 2.
    return XLMRobertaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_position, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, **extra,
    )


def _save_model(model, directory: Path) -> None:
    model.save_pretrained(directory, safe_serialization=True)


def build_tiny_embedder(texts: Sequence[str], out_dir: Path, *, vocab_size: int, hidden_size: int,
                        num_layers: int, num_heads: int, intermediate_size: int,
                        max_position: int = 514, seed: int) -> Path:
    """Write a randomly initialised BGE-M3-shaped embedder (tokenizer trained on `texts`) to `out_dir`."""
    from transformers import XLMRobertaModel

    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size, max_position - 2)
    config = _config(len(tokenizer), hidden_size, num_layers, num_heads, intermediate_size, max_position)
    torch.manual_seed(seed)
    model = XLMRobertaModel(config).eval()  # with pooler, as in BGE-M3's checkpoint
    colbert_linear = torch.nn.Linear(hidden_size, hidden_size)
    sparse_linear = torch.nn.Linear(hidden_size, 1)
    with staged_directory(out_dir) as stage:
        _save_model(model, stage)
        tokenizer.save_pretrained(stage)
        save_state_dict(colbert_linear.state_dict(), stage / "colbert_linear.pt")
        save_state_dict(sparse_linear.state_dict(), stage / "sparse_linear.pt")
    return out_dir


def build_tiny_reranker(tokenizer_dir: Path, out_dir: Path, *, hidden_size: int, num_layers: int,
                        num_heads: int, intermediate_size: int, max_position: int = 514, seed: int) -> Path:
    """Write a randomly initialised bge-reranker-v2-m3-shaped cross-encoder sharing `tokenizer_dir`'s tokenizer."""
    from transformers import AutoTokenizer, XLMRobertaForSequenceClassification

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = _config(len(tokenizer), hidden_size, num_layers, num_heads, intermediate_size, max_position,
                     num_labels=1)
    torch.manual_seed(seed)
    model = XLMRobertaForSequenceClassification(config).eval()
    with staged_directory(out_dir) as stage:
        _save_model(model, stage)
        tokenizer.save_pretrained(stage)
    return out_dir
