"""FlagEmbedding's runners, part of the model frozen or LoRA adapters (`python -m ragtune.training.partial_finetune`).

FlagEmbedding 1.4's runners can freeze only position embeddings. Training a strong pretrained
embedder on a CPU budget often goes better when the word embeddings (a quarter of E5-small's
parameters are its 250k-row vocabulary) and the lower layers stay fixed, so this module takes two
arguments of its own, sets `requires_grad` after the runner has built the model and before the
Hugging Face Trainer (which optimises only trainable parameters) starts, and passes every other
argument to the runner unchanged:

  --ragtune_runner encoder_only|m3|reranker   which FlagEmbedding runner
  --ragtune_freeze_word_embeddings   keep the word-embedding matrix fixed
  --ragtune_train_top_layers N       train only the top N transformer layers (and nothing below them); 0: all
  --ragtune_lora JSON                LoRA adapters instead (ragtune.training.lora; LoraSettings' fields), in the
                                     top N layers only with --ragtune_train_top_layers; merged before the model
                                     is saved, so the output is a plain model directory

It leaves `ragtune_run.json` in the output directory: trainable and total parameters, the process's peak
resident memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import sys
from pathlib import Path

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
    """Freeze `model`'s parameters as `frozen_parameter_names` says, and keep the wholly frozen parts in inference
    mode (`keep_in_inference_mode`); returns how many tensors were frozen."""
    parameters = dict(model.named_parameters())
    frozen = frozen_parameter_names(list(parameters), freeze_word_embeddings, train_top_layers)
    for name in frozen:
        parameters[name].requires_grad = False
    trainable = sum(p.numel() for p in parameters.values() if p.requires_grad)
    kept = keep_in_inference_mode(model)
    logging.getLogger(__name__).info(
        "frozen %d tensors (%d modules in inference mode); %d trainable parameters", len(frozen), kept, trainable
    )
    return len(frozen)


def keep_in_inference_mode(model) -> int:
    """Keep every outermost module whose parameters are all frozen (the embeddings and the lower layers under
    --ragtune_train_top_layers) in eval mode, whatever `model.train()` the Trainer calls at each step: a frozen
    layer is a fixed feature extractor, computed as at inference, without dropout. On CPU that is also what lets
    attention take PyTorch's fused kernel (dropout sends it to the slow one): a third off each step of E5-small
    with the top 2 of 12 layers trained. Returns how many modules were kept."""
    import types

    from torch import nn

    def frozen(module) -> bool:
        own = list(module.parameters())
        return bool(own) and not any(p.requires_grad for p in own)

    kept, inside = 0, None
    for name, module in model.named_modules():  # parents before their children
        if inside is not None and name.startswith(inside):  # below a module already kept
            continue
        if name and frozen(module):
            module.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), module)
            module.eval()
            kept, inside = kept + 1, f"{name}."
    return kept


RUN_FILE = "ragtune_run.json"


def _runner(name: str):
    """FlagEmbedding's runner class and its three argument dataclasses."""
    if name == "reranker":
        from FlagEmbedding.abc.finetune import reranker as arguments_of
        from FlagEmbedding.finetune.reranker.encoder_only.base import EncoderOnlyRerankerRunner

        return EncoderOnlyRerankerRunner, (
            arguments_of.AbsRerankerModelArguments,
            arguments_of.AbsRerankerDataArguments,
            arguments_of.AbsRerankerTrainingArguments,
        )
    if name == "m3":
        from FlagEmbedding.finetune.embedder.encoder_only import m3 as flag

        return flag.EncoderOnlyEmbedderM3Runner, (
            flag.EncoderOnlyEmbedderM3ModelArguments,
            flag.EncoderOnlyEmbedderM3DataArguments,
            flag.EncoderOnlyEmbedderM3TrainingArguments,
        )
    from FlagEmbedding.finetune.embedder.encoder_only import base as flag

    return flag.EncoderOnlyEmbedderRunner, (
        flag.EncoderOnlyEmbedderModelArguments,
        flag.EncoderOnlyEmbedderDataArguments,
        flag.EncoderOnlyEmbedderTrainingArguments,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--ragtune_runner", choices=("encoder_only", "m3", "reranker"), default="encoder_only")
    parser.add_argument("--ragtune_freeze_word_embeddings", action="store_true")
    parser.add_argument("--ragtune_train_top_layers", type=int, default=0)
    parser.add_argument("--ragtune_lora", default=None)
    ours, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)

    from transformers import HfArgumentParser

    from ragtune.training import lora
    from ragtune.training.settings import LoraSettings

    runner_class, arguments = _runner(ours.ragtune_runner)
    adapters = LoraSettings(**json.loads(ours.ragtune_lora)) if ours.ragtune_lora else None

    class PartialRunner(runner_class):
        def load_tokenizer_and_model(self):
            tokenizer, model = super().load_tokenizer_and_model()
            if adapters is not None:  # the wrapper's `model` is the Hugging Face model; heads outside it train
                model.model = lora.attach(model.model, adapters, ours.ragtune_train_top_layers)
            else:
                freeze(model, ours.ragtune_freeze_word_embeddings, ours.ragtune_train_top_layers)
            self.ragtune_counts = lora.parameter_counts(model)
            return tokenizer, model

        def run(self):
            super().run()  # trains; saves the adapters (LoRA) or the model
            if adapters is not None:  # the merged model over the adapters, in the same place
                self.model.model = lora.merge(self.model.model)
                self.trainer.save_model()
            if self.trainer.is_world_process_zero():
                peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
                record = {**self.ragtune_counts, "peak_rss_mb": round(peak_mb, 1)}
                Path(self.training_args.output_dir, RUN_FILE).write_text(json.dumps(record), encoding="utf-8")

    model_args, data_args, training_args = HfArgumentParser(arguments).parse_args_into_dataclasses(rest)
    PartialRunner(model_args=model_args, data_args=data_args, training_args=training_args).run()


if __name__ == "__main__":
    main()
