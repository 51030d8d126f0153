"""LoRA (peft) inside FlagEmbedding's runners: low-rank adapters on the linear layers of the transformer layers
(`train.lora`, `reranker.train.lora`), merged into the weights when training ends, so the saved model is an
ordinary Hugging Face directory every later stage loads unchanged.

The adapters go on the encoder only: modules named `...encoder.layer.<n>.<...>.<target>` whose last name is one
of the targets (E5, BGE-M3 and the cross-encoder are all BERT / XLM-R encoders: `query`, `key`, `value` and the
three `dense` layers of each block), in every layer, or in the top N with `train_top_layers`. The pooler and the
cross-encoder's classification head (`classifier.dense`) get none: the head is trained whole, as peft does for
sequence classification; so are BGE-M3's ColBERT and sparse heads, which sit outside the encoder. Every other
weight is frozen.
"""

from __future__ import annotations

import re

from ragtune.io import UserError
from ragtune.training.settings import LoraSettings

LAYER = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")
HEADS = ("classifier", "score")  # sequence-classification heads, trained whole (peft's SEQ_CLS convention)


class LoraTargetsError(UserError, ValueError):
    """`train.lora.targets` (or `reranker.train.lora.targets`) names no linear module of the model's layers."""


def linear_module_names(model) -> list[str]:
    """Full names of the model's linear layers (`encoder.layer.0.attention.self.query`, …)."""
    import torch

    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def target_modules(model, targets, train_top_layers: int = 0, key: str = "train.lora.targets") -> list[str]:
    """The full names of the linear layers that get adapters: inside a transformer layer (the top
    `train_top_layers` of them when > 0), last name in `targets`. LoraTargetsError naming `key` and the model's
    linear module names when none matches."""
    linear = linear_module_names(model)
    layered = [(name, int(match.group(1))) for name in linear if (match := LAYER.search(name))]
    layers = sorted({number for _, number in layered})
    lowest = max(layers) + 1 - train_top_layers if train_top_layers > 0 and layers else 0
    chosen = [name for name, number in layered if number >= lowest and name.rsplit(".", 1)[-1] in set(targets)]
    if not chosen:
        names = sorted({LAYER.split(name)[-1] for name, _ in layered} or set(linear))
        raise LoraTargetsError(
            f"{key} = {list(targets)} match no linear module of the model's layers; "
            f"its linear modules: {', '.join(names)}"
        )
    return chosen


def attach(model, settings: LoraSettings, train_top_layers: int = 0, key: str = "train.lora.targets"):
    """`model` (a Hugging Face encoder or sequence classifier) wrapped in a peft model with adapters on the
    targets; its own weights frozen except a classification head (`HEADS`), which is trained whole."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target_modules(model, settings.targets, train_top_layers, key),
        modules_to_save=[head for head in HEADS if hasattr(model, head)] or None,
        bias="none",
    )
    return get_peft_model(model, config)


def merge(model):
    """The plain model with the adapters folded into its weights (peft's `merge_and_unload`)."""
    return model.merge_and_unload()


def parameter_counts(model) -> dict[str, int]:
    """Trainable and total parameters of `model` as it trains (adapters counted in both, as peft counts)."""
    parameters = list(model.parameters())
    return {
        "trainable_parameters": sum(p.numel() for p in parameters if p.requires_grad),
        "total_parameters": sum(p.numel() for p in parameters),
    }


def check_targets(base_model, settings: LoraSettings, train_top_layers: int, key: str, classifier: bool) -> None:
    """Fail before a runner starts when the targets match nothing: the model is built from its config on the
    meta device (no weights read, no memory), the same class the runner loads."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(base_model), **({"num_labels": 1} if classifier else {}))
    with torch.device("meta"):
        model = (AutoModelForSequenceClassification if classifier else AutoModel).from_config(config)
    target_modules(model, settings.targets, train_top_layers, key)
