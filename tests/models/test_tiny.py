"""Tiny BGE-M3 / reranker builds: BGE-M3's layout, loadable by FlagEmbedding, byte-identical rebuilds.

SENTENCES and the build helpers live in tests/tiny_support.py (the other tests use them too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_support import SENTENCES, SHAPE, build_embedder, build_reranker, digests

from ragtune.models.tiny import build_tiny_embedder, build_tiny_reranker


@pytest.fixture
def embedder(tiny_embedder) -> Path:
    return tiny_embedder


def test_embedder_has_bge_m3_layout(embedder):
    names = set(digests(embedder))
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "colbert_linear.pt",
        "sparse_linear.pt",
    } <= names
    assert not any(name.startswith(".") for name in names)


def test_rebuild_is_byte_identical_and_seed_matters(embedder, tmp_path):
    assert digests(build_embedder(tmp_path / "again")) == digests(embedder)
    other = digests(build_embedder(tmp_path / "seed1", seed=1))
    assert other["model.safetensors"] != digests(embedder)["model.safetensors"]
    assert other["tokenizer.json"] == digests(embedder)["tokenizer.json"]  # tokenizer depends on texts only


def test_tokenizer_is_xlm_r_style(embedder):
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(str(embedder))
    assert isinstance(tokenizer, XLMRobertaTokenizerFast)
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert tokenizer.convert_tokens_to_ids("<mask>") == len(tokenizer) - 1
    ids = tokenizer("광합성은 식물이")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids
    pair = tokenizer("질문", "문서")["input_ids"]
    assert pair.count(2) == 3  # <s> A </s></s> B </s>, as XLM-R


def test_flagembedding_loads_embedder_and_heads(embedder):
    import torch
    from FlagEmbedding import BGEM3FlagModel

    model = BGEM3FlagModel(str(embedder), use_fp16=False, devices="cpu")
    out = model.encode(SENTENCES[:2], return_dense=True, return_sparse=True, return_colbert_vecs=True)
    assert out["dense_vecs"].shape == (2, SHAPE["hidden_size"])
    assert out["lexical_weights"][0] and out["colbert_vecs"][0].shape[1] == SHAPE["hidden_size"]
    saved = torch.load(embedder / "sparse_linear.pt", weights_only=True)
    assert torch.equal(model.model.sparse_linear.weight.cpu(), saved["weight"])


def test_reranker_loads_in_flag_reranker(embedder, tmp_path):
    from FlagEmbedding import FlagReranker

    first = build_reranker(embedder, tmp_path / "reranker")
    assert digests(build_reranker(embedder, tmp_path / "again")) == digests(first)
    reranker = FlagReranker(str(first), use_fp16=False, devices="cpu")
    scores = reranker.compute_score([("광합성", SENTENCES[0]), ("광합성", SENTENCES[1])])
    assert len(scores) == 2 and all(isinstance(score, float) for score in scores)


def test_failed_build_leaves_previous_model(embedder, tmp_path):
    target = build_embedder(tmp_path / "kept")
    before = digests(target)
    with pytest.raises(ValueError):
        build_tiny_embedder([], target, vocab_size=300, seed=0, **SHAPE)
    assert digests(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_attention_value_init_range_scales_value_and_output_projections(tmp_path):
    from transformers import XLMRobertaModel

    wide = build_tiny_embedder(
        SENTENCES, tmp_path / "wide", vocab_size=300, max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
    )
    again = build_tiny_embedder(
        SENTENCES,
        tmp_path / "again",
        vocab_size=300,
        max_position=130,
        seed=0,
        attention_value_init_range=0.25,
        **SHAPE,
    )
    assert digests(wide) == digests(again)
    model = XLMRobertaModel.from_pretrained(str(wide))
    for layer in model.encoder.layer:
        assert 0.2 < layer.attention.self.value.weight.std().item() < 0.3
        assert 0.2 < layer.attention.output.dense.weight.std().item() < 0.3
        assert layer.attention.self.query.weight.std().item() < 0.05  # the rest keeps initializer_range


def test_reranker_attention_value_init_range(embedder, tmp_path):
    from transformers import XLMRobertaForSequenceClassification

    wide = build_tiny_reranker(
        embedder, tmp_path / "wide", max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
    )
    assert digests(wide) == digests(
        build_tiny_reranker(
            embedder, tmp_path / "again", max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
        )
    )
    model = XLMRobertaForSequenceClassification.from_pretrained(str(wide))
    for layer in model.roberta.encoder.layer:
        assert 0.2 < layer.attention.self.value.weight.std().item() < 0.3
        assert layer.attention.self.query.weight.std().item() < 0.05


def test_reranker_starts_from_a_given_encoder(embedder, tmp_path):
    import torch
    from transformers import XLMRobertaForSequenceClassification, XLMRobertaModel

    built = build_tiny_reranker(
        embedder, tmp_path / "from-encoder", max_position=130, seed=0, encoder_dir=embedder, **SHAPE
    )
    assert digests(built) == digests(
        build_tiny_reranker(embedder, tmp_path / "again", max_position=130, seed=0, encoder_dir=embedder, **SHAPE)
    )
    source = XLMRobertaModel.from_pretrained(str(embedder)).state_dict()
    model = XLMRobertaForSequenceClassification.from_pretrained(str(built))
    for key, tensor in model.roberta.state_dict().items():
        assert torch.equal(tensor, source[key]), key


def test_reranker_rejects_an_encoder_of_another_shape(embedder, tmp_path):
    with pytest.raises(ValueError, match="shape"):
        build_tiny_reranker(
            embedder,
            tmp_path / "bad",
            max_position=130,
            seed=0,
            encoder_dir=embedder,
            **{**SHAPE, "intermediate_size": 128},
        )
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # 60 steps of the real fine-tuning runner (~35 s)
def test_fine_tuned_tiny_reranker_loss_drops(tmp_path):
    """The real runner on tiny data: starting from a (widened) tiny encoder, the listwise loss falls below ln(group)."""
    import math

    from ragtune.io import write_jsonl
    from ragtune.training.runner import finetune_reranker
    from ragtune.training.settings import RunnerSettings

    rows = [
        {
            "query": sentence.split()[0] + " " + sentence.split()[1],
            "pos": [sentence],
            "neg": [other for other in SENTENCES if other != sentence][index % 7 :: 7][:3],
        }
        for index, sentence in enumerate(SENTENCES[:16])
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    embedder = build_tiny_embedder(
        SENTENCES,
        tmp_path / "embedder",
        vocab_size=300,
        max_position=130,
        seed=0,
        attention_value_init_range=0.25,
        **SHAPE,
    )
    base = build_tiny_reranker(embedder, tmp_path / "base", max_position=130, seed=0, encoder_dir=embedder, **SHAPE)
    settings = RunnerSettings(
        learning_rate=5e-3,
        max_steps=60,
        batch_size=8,
        train_group_size=4,
        query_max_len=16,
        passage_max_len=48,
        warmup_ratio=0.1,
        logging_steps=10,
        seed=0,
    )
    curve = finetune_reranker(base, tmp_path / "train.jsonl", tmp_path / "tuned", settings)
    assert curve[-1]["loss"] < 0.5 * math.log(settings.train_group_size)
