"""Fine-tuning: hard negatives, conflict-free batches, FlagEmbedding's runners, model selection, the targeted round.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "batches",
        "lora",
        "negatives",
        "partial_finetune",
        "reranker",
        "runner",
        "selection",
        "settings",
        "targeted",
    ],
    submod_attrs={
        "batches": ["arrange_epochs", "batch_conflicts", "order_for_unique_positives", "read_training_file"],
        "lora": ["LoraTargetsError", "attach", "check_targets", "merge", "parameter_counts", "target_modules"],
        "negatives": [
            "MiningStats",
            "NegativeFilter",
            "dense_pools",
            "mine_negatives",
            "missed_questions",
            "targeted_rows",
            "teacher_scores",
            "training_rows",
        ],
        "partial_finetune": ["frozen_parameter_names"],
        "reranker": ["reranker_pair"],
        "runner": [
            "LossCurve",
            "children_cpu_seconds",
            "finetune_embedder",
            "finetune_m3",
            "finetune_m3_rows",
            "finetune_reranker",
            "resolve_precision",
        ],
        "selection": ["question_text"],
        "settings": ["LoraSettings", "RunnerSettings", "settings_from_mapping"],
        "targeted": ["targeted_round"],
    },
)
