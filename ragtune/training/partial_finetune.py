"""FlagEmbedding's embedder runners with part of the model frozen (`python -m ragtune.training.partial_finetune`).

FlagEmbedding 1.4's runners can freeze only position embeddings. Training a strong pretrained
embedder on a CPU budget often goes better when the word embeddings (a quarter of E5-small's
parameters are its 250k-row vocabulary) and the lower layers stay fixed, so this module takes two
arguments of its own, sets `requires_grad` after the runner has built the model and before the
Hugging Face Trainer (which optimises only trainable parameters) starts, and passes every other
argument to the runner unchanged:

  --ragtune_runner encoder_only|m3   which FlagEmbedding runner
  --ragtune_freeze_word_embeddings   keep the word-embedding matrix fixed
  --ragtune_train_top_layers N       train only the top N transformer layers (and nothing below them); 0: all
"""

from __future__ import annotations

import argparse
import logging
import re
import sys

LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


def frozen_parameter_names(names: list[str], freeze_word_embeddings: bool, train_top_layers: int) -> set[str]:
    """Which of a model's parameter names to freeze (pure: tested without a runner)."""
    layers = sorted({int(m.group(1)) for name in names if (m := LAYER.search(name))})
    lowest_trained = (max(layers) + 1 - train_top_layers) if train_top_layers > 0 and layers else 0
    frozen = set()
    for name in names:
        match = LAYER.search(name)
        if freeze_word_embeddings and "word_embeddings" in name:
            frozen.add(name)
        elif train_top_layers > 0 and ("embeddings." in name or (match and int(match.group(1)) < lowest_trained)):
            frozen.add(name)
    return frozen


def freeze(model, freeze_word_embeddings: bool, train_top_layers: int) -> int:
    """Freeze `model`'s parameters as `frozen_parameter_names` says; returns how many tensors were frozen."""
    parameters = dict(model.named_parameters())
    frozen = frozen_parameter_names(list(parameters), freeze_word_embeddings, train_top_layers)
    for name in frozen:
        parameters[name].requires_grad = False
    trainable = sum(p.numel() for p in parameters.values() if p.requires_grad)
    logging.getLogger(__name__).info("frozen %d tensors; %d trainable parameters", len(frozen), trainable)
    return len(frozen)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--ragtune_runner", choices=("encoder_only", "m3"), default="encoder_only")
    parser.add_argument("--ragtune_freeze_word_embeddings", action="store_true")
    parser.add_argument("--ragtune_train_top_layers", type=int, default=0)
    ours, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)

    from transformers import HfArgumentParser

    if ours.ragtune_runner == "m3":
        from FlagEmbedding.finetune.embedder.encoder_only import m3 as flag

        runner_class = flag.EncoderOnlyEmbedderM3Runner
        arguments = (
            flag.EncoderOnlyEmbedderM3ModelArguments,
            flag.EncoderOnlyEmbedderM3DataArguments,
            flag.EncoderOnlyEmbedderM3TrainingArguments,
        )
    else:
        from FlagEmbedding.finetune.embedder.encoder_only import base as flag

        runner_class = flag.EncoderOnlyEmbedderRunner
        arguments = (
            flag.EncoderOnlyEmbedderModelArguments,
            flag.EncoderOnlyEmbedderDataArguments,
            flag.EncoderOnlyEmbedderTrainingArguments,
        )

    class PartialRunner(runner_class):
        def load_tokenizer_and_model(self):
            tokenizer, model = super().load_tokenizer_and_model()
            freeze(model, ours.ragtune_freeze_word_embeddings, ours.ragtune_train_top_layers)
            return tokenizer, model

    model_args, data_args, training_args = HfArgumentParser(arguments).parse_args_into_dataclasses(rest)
    PartialRunner(model_args=model_args, data_args=data_args, training_args=training_args).run()


if __name__ == "__main__":
    main()
