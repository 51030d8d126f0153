"""train: the base embedder (models/base, made by the base stage) fine-tuned with its family's FlagEmbedding runner
(BGE-M3: the M3 runner; E5: the encoder-only runner), optionally a targeted second round on the training
questions it still misses; then base vs fine-tuned on the validation questions (MAP@3 of dense search), and
models/embedder is the fine-tuned model only where it wins (`train.select`). Finally the reranker pair
models/reranker_base, models/reranker (a model directory or a pointer.json each; fine-tuned when
`reranker.finetune`)."""

from common import params, path, stage

from ragtune.io import read_jsonl, write_json
from ragtune.models import sources as model_sources
from ragtune.models.hub import require_model, resolve_model
from ragtune.training import negatives, selection, targeted
from ragtune.training import runner as training

ENCODINGS = "models/.encodings"  # remembered passage vectors, shared with the index stage (ragtune/cache/encodings.py)


@stage
def main() -> None:
    p = params()
    model, reranker, train, seed = p["model"], p["reranker"], p["train"], p["seed"]
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    lengths = {"query_max_len": model["query_max_len"], "passage_max_len": model["passage_max_len"]}
    base_dir, embedder_dir, train_file = (
        path("models/base"),
        path("models/embedder"),
        path("data/negatives/train.jsonl"),
    )
    base = resolve_model(base_dir)  # the directory itself, the hub id its pointer names, or its pinned snapshot
    require_model(base, "model.embedder", model.get("revision"))  # before any training: seconds, not hub retries
    if reranker.get("architecture") is None:  # a hub reranker (the tiny one is built here)
        require_model(reranker["path"], "reranker.path", reranker.get("revision"))
    settings = training.settings_from_mapping(
        {**{k: v for k, v in train.items() if k not in targeted.KEYS + selection.KEYS}, "seed": seed, **lengths}
    )

    curve = training.finetune_embedder(base, train_file, embedder_dir, settings)
    print(f"train: embedder {curve.describe()}")
    summary = curve.summary()

    if train["targeted_round"]:
        summary["targeted"], targeted_curve = targeted.targeted_round(
            embedder_dir,
            read_jsonl(train_file),
            {d["docid"]: d["content"] for d in documents},
            negatives.NegativeFilter.from_params(p["negatives"]),
            settings,
            train["targeted_top_k"],
            train["targeted_pool"],
            train["targeted_max_steps"],
            seed,
        )
        print(
            f"train: targeted round on {summary['targeted']['missed']} missed questions, "
            + (targeted_curve.describe() if targeted_curve else "skipped: fewer than a batch")
        )

    validation = read_jsonl(path("data/queries/validation.jsonl"))
    scores = selection.compare_models(
        validation,
        documents,
        {"base": base_dir, "finetuned": embedder_dir},
        train["select_on"],
        train["select_corpus"],
        seed,
        **lengths,
        encodings=path(ENCODINGS),
    )
    choice = selection.choose(train["select"], scores["base_map@3"], scores["finetuned_map@3"])
    if choice == "base":
        model_sources.copy_model(str(base_dir), embedder_dir)  # a pointer stays a pointer, with its revision
    summary["selection"] = {**scores, "select": train["select"], "chosen": choice}
    print(
        f"train: validation ({scores['source']}, {scores['questions']} questions, {scores['documents']} documents) "
        f"map@3 base {scores['base_map@3']} fine-tuned {scores['finetuned_map@3']}"
        f" → models/embedder is the {choice} model"
    )

    # Built after the embedder is trained: the tiny cross-encoder can start from its encoder.
    local_base = base_dir if (base_dir / "tokenizer.json").is_file() else None  # the tiny reranker's tokenizer
    reranker_base = model_sources.base_reranker(
        reranker["name"],
        reranker["path"],
        reranker.get("architecture"),
        local_base,
        path("models/reranker_base"),
        seed,
        encoder_dir=embedder_dir if reranker.get("init_from_embedder") else None,
        revision=reranker.get("revision"),
    )
    if reranker["finetune"] and reranker_base is not None:
        rerank_settings = training.settings_from_mapping({**reranker["train"], "seed": seed, **lengths})
        start = resolve_model(path("models/reranker_base"), "reranker.path")  # a pinned hub id: its snapshot
        rerank_curve = training.finetune_reranker(start, train_file, path("models/reranker"), rerank_settings)
        print(f"train: reranker {rerank_curve.describe()}")
        summary["reranker_final_loss"] = rerank_curve.final_loss
    else:
        model_sources.copy_model(str(path("models/reranker_base")), path("models/reranker"))

    write_json(path("plots/train_loss.json"), list(curve))
    write_json(path("metrics/train.json"), summary)


if __name__ == "__main__":
    main()
