from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_support import SENTENCES, digests

from ragtune.training.lora import LoraTargetsError, attach, check_targets, merge, parameter_counts, target_modules
from ragtune.training.settings import LoraSettings, RunnerSettings, settings_from_mapping

RANK8 = LoraSettings(rank=8, alpha=16.0, dropout=0.0)


def hf_model(directory, classifier: bool = False):
    from transformers import AutoModel, AutoModelForSequenceClassification

    if classifier:
        return AutoModelForSequenceClassification.from_pretrained(str(directory), num_labels=1).eval()
    return AutoModel.from_pretrained(str(directory)).eval()


def lora_modules(model) -> set[str]:
    """Names of the modules that carry adapters (peft's prefix stripped)."""
    from peft.tuners.lora import LoraLayer

    return {name.split("base_model.model.", 1)[-1] for name, m in model.named_modules() if isinstance(m, LoraLayer)}


@pytest.mark.parametrize("family", ["m3", "e5"])
def test_adapters_attach_only_to_the_targets_and_only_they_train(family, tiny_embedder, tiny_e5):
    base = hf_model(tiny_embedder if family == "m3" else tiny_e5)
    total = sum(p.numel() for p in base.parameters())
    layers = base.config.num_hidden_layers
    model = attach(base, LoraSettings(rank=4, targets=("query", "value")))
    expected = {f"encoder.layer.{n}.attention.self.{name}" for n in range(layers) for name in ("query", "value")}
    assert lora_modules(model) == expected
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    hidden = base.config.hidden_size
    adapters = len(expected) * 4 * (hidden + hidden)  # A: rank × in, B: out × rank
    assert parameter_counts(model) == {"trainable_parameters": adapters, "total_parameters": total + adapters}


def test_the_default_targets_are_every_linear_layer_of_the_blocks_not_the_pooler(tiny_e5):
    base = hf_model(tiny_e5)
    chosen = target_modules(base, LoraSettings().targets)
    per_layer = {name.split(".", 3)[-1] for name in chosen}
    assert per_layer == {
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    }
    assert not any("pooler" in name for name in chosen)


def test_with_top_layers_only_the_top_layers_get_adapters(tiny_embedder):
    base = hf_model(tiny_embedder)
    top = base.config.num_hidden_layers - 1
    chosen = target_modules(base, ("query", "key", "value", "dense"), train_top_layers=1)
    assert chosen and all(name.startswith(f"encoder.layer.{top}.") for name in chosen)


def test_the_merged_model_is_plain_and_computes_what_the_adapted_one_did(tiny_e5):
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_e5))
    batch = tokenizer(SENTENCES[:4], padding=True, return_tensors="pt")
    base = hf_model(tiny_e5)
    plain_class, plain_keys = type(base), set(base.state_dict())
    model = attach(base, RANK8).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_B." in name:  # B starts at zero (the adapter a no-op): give it something to merge
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
        adapted = model(**batch).last_hidden_state
        merged = merge(model)
        after = merged(**batch).last_hidden_state
    assert type(merged) is plain_class and set(merged.state_dict()) == plain_keys
    assert not lora_modules(merged)
    assert torch.allclose(adapted, after, atol=1e-5)
    assert not torch.allclose(after, hf_model(tiny_e5)(**batch).last_hidden_state, atol=1e-3)  # B was not zero


def test_the_cross_encoder_head_trains_whole_without_adapters(tiny_reranker):
    model = attach(hf_model(tiny_reranker, classifier=True), RANK8)
    assert not any("classifier" in name for name in lora_modules(model))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any("classifier" in name and "lora_" not in name for name in trainable)
    assert all("lora_" in name or "classifier" in name for name in trainable)
    trained_head = next(p for name, p in model.named_parameters() if p.requires_grad and "classifier" in name)
    trained_head.data.fill_(0.5)  # as if trained: the merged model keeps the trained head, not the original
    merged = merge(model)
    assert type(merged).__name__ == "XLMRobertaForSequenceClassification"
    assert any((p == 0.5).all() for name, p in merged.named_parameters() if name.startswith("classifier."))


def test_targets_matching_nothing_fail_in_one_line_naming_the_setting(tiny_e5, tiny_reranker):
    with pytest.raises(LoraTargetsError) as failure:
        check_targets(tiny_e5, LoraSettings(rank=8, targets=("q_proj", "v_proj")), 0, "train.lora.targets", False)
    message = str(failure.value)
    assert "\n" not in message and message.startswith("train.lora.targets = ['q_proj', 'v_proj'] match no")
    assert "attention.self.query" in message and "intermediate.dense" in message
    with pytest.raises(LoraTargetsError, match=r"^reranker\.train\.lora\.targets"):
        check_targets(
            tiny_reranker, LoraSettings(rank=8, targets=("out_proj",)), 0, "reranker.train.lora.targets", True
        )
    check_targets(tiny_reranker, RANK8, 0, "reranker.train.lora.targets", True)  # the defaults match


def test_lora_settings_are_checked_and_read_from_the_train_group():
    assert not RunnerSettings().lora.enabled  # rank 0: off, the default
    settings = settings_from_mapping({"lora": {"rank": 8, "alpha": 32.0, "dropout": 0.1, "targets": ["query"]}})
    assert settings.lora == LoraSettings(rank=8, alpha=32.0, dropout=0.1, targets=("query",)) and settings.lora.enabled
    for bad in ({"rank": -1}, {"alpha": 0.0}, {"dropout": 1.0}, {"targets": []}):
        with pytest.raises(ValueError):
            LoraSettings(**bad)


@pytest.mark.parametrize(
    ("key", "value"), [("rank", -1), ("alpha", 0.0), ("dropout", 1.0), ("targets", []), ("rnak", 8)]
)
def test_the_schema_names_a_bad_lora_key(key, value):

    import yaml

    from ragtune.config.schema import ParamsError, load

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["lora"][key] = value
    with pytest.raises(ParamsError) as failure:
        load(params)
    assert failure.value.key == f"train.lora.{key}"


@pytest.mark.slow  # a fine-tuning runner process
def test_lora_finetuning_saves_a_plain_merged_model_changed_in_the_adapted_layers_only(tiny_e5, tmp_path):
    from safetensors.numpy import load_file

    from ragtune.io import write_jsonl
    from ragtune.models.encoders import load_encoder
    from ragtune.training.runner import finetune_embedder

    rows = [
        {"query": s.split()[0], "pos": [s], "neg": [SENTENCES[(n + 3) % len(SENTENCES)]]}
        for n, s in enumerate(SENTENCES)
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    settings = RunnerSettings(
        learning_rate=5e-3,
        max_steps=2,
        batch_size=4,
        train_group_size=2,
        query_max_len=16,
        passage_max_len=48,
        seed=0,
        precision="fp32",
        logging_steps=1,
        train_top_layers=1,  # with LoRA: adapters in the top layer only
        freeze_word_embeddings=True,
        lora=LoraSettings(rank=8),
    )
    curve = finetune_embedder(tiny_e5, tmp_path / "train.jsonl", tmp_path / "tuned", settings)
    tuned = tmp_path / "tuned"
    assert not any("adapter" in name for name in digests(tuned))  # merged: no peft files, no adapter keys
    before, after = load_file(tiny_e5 / "model.safetensors"), load_file(tuned / "model.safetensors")
    assert set(before) <= set(after) and not any("lora" in key for key in after)  # (+ the pooler AutoModel adds)
    changed = {key for key in before if not (before[key] == after[key]).all()}
    top = max(int(key.split(".")[2]) for key in before if key.startswith("encoder.layer."))
    assert changed and all(key.startswith(f"encoder.layer.{top}.") and key.endswith(".weight") for key in changed)
    record = curve.summary()["lora"]
    assert record["rank"] == 8 and record["targets"] == ["query", "key", "value", "dense"] and record["layers"] == 1
    assert 0 < record["trainable_parameters"] < record["total_parameters"]
    assert curve.timing()["peak_rss_mb"] > 0
    json.dumps(curve.summary())  # metrics/train.json
    assert type(load_encoder(tuned, device="cpu")).__name__ == "E5Encoder"
