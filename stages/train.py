"""train: the base embedder (models/base, made by the base stage) fine-tuned with its family's FlagEmbedding runner
(BGE-M3: the M3 runner; E5: the encoder-only runner), optionally a targeted second round on the training
questions it still misses; then base vs fine-tuned on the validation questions (MAP@3 of dense search), and
models/embedder is the fine-tuned model only where it wins (`train.select`). Finally the reranker pair
models/reranker_base, models/reranker (a model directory or a pointer.json each; fine-tuned when
`reranker.finetune`)."""

from common import WORKSPACE, params, stage

from ragtune.compute.engine import engine_for
from ragtune.config.launch import refuse_other_nodes_under_dvc
from ragtune.io import read_jsonl, write_json
from ragtune.models.hub import require_model, resolve_model
from ragtune.models.sources import copy_model
from ragtune.training import negatives, runner, selection, targeted
from ragtune.training.reranker import reranker_pair
from ragtune.training.settings import settings_from_mapping


@stage
def main() -> None:
    p = params()
    model, reranker, train, seed, ws = p.model, p.reranker, p.train, p.seed, WORKSPACE
    refuse_other_nodes_under_dvc(train)  # DVC would wait for outputs only node 0 writes
    documents = read_jsonl(ws.documents)
    engine = engine_for(p.compute)  # where the targeted round and the selection encode
    lengths = {"query_max_len": model.query_max_len, "passage_max_len": model.passage_max_len}
    base = resolve_model(ws.base_model)  # the directory itself, the hub id its pointer names, or its pinned snapshot
    require_model(base, "model.embedder", model.revision)  # before any training: seconds, not hub retries
    if reranker.architecture is None:  # a hub reranker (the tiny one is built here)
        require_model(reranker.path, "reranker.path", reranker.revision)
    run_keys = train.model_dump(exclude={*targeted.KEYS, *selection.KEYS})
    settings = settings_from_mapping({**run_keys, "seed": seed, **lengths})
    curve = runner.finetune_embedder(base, ws.training_file, ws.embedder, settings)
    if not settings.writes_model:  # this node lent its processes to node 0's run
        print(f"train: node {settings.node_rank} of {settings.nnodes} finished its share; node 0 writes the models")
        return
    print(f"train: embedder {curve.describe()}")
    summary = curve.summary()
    if train.targeted_round:
        summary["targeted"], targeted_curve = targeted.targeted_round(
            ws.embedder,
            read_jsonl(ws.training_file),
            {d["docid"]: d["content"] for d in documents},
            negatives.NegativeFilter.from_settings(p.negatives),
            settings,
            train.targeted_top_k,
            train.targeted_pool,
            train.targeted_max_steps,
            seed,
            engine,
        )
        ran = targeted_curve.describe() if targeted_curve else "skipped: fewer than a batch"
        print(f"train: targeted round on {summary['targeted']['missed']} missed questions, {ran}")
    validation = read_jsonl(ws.validation)
    models = {"base": ws.base_model, "finetuned": ws.embedder}
    scores = selection.compare_models(
        validation, documents, models, train.select_on, train.select_corpus, seed, **lengths, encodings=ws.encodings,
        engine=engine, precision=p.index.precision,
    )  # fmt: skip
    choice = selection.choose(train.select, scores["base_map@3"], scores["finetuned_map@3"])
    if choice == "base":
        copy_model(str(ws.base_model), ws.embedder)  # a pointer stays a pointer, with its revision
    summary["selection"] = {**scores, "select": train.select, "chosen": choice}
    print(
        f"train: validation ({scores['source']}, {scores['questions']} questions, {scores['documents']} documents) "
        f"map@3 base {scores['base_map@3']} fine-tuned {scores['finetuned_map@3']}"
        f" → models/embedder is the {choice} model"
    )
    reranker_curve = reranker_pair(
        reranker, ws.training_file, ws.base_model, ws.embedder, ws.reranker_base, ws.reranker, seed, lengths
    )
    if reranker_curve is not None:
        summary.update(reranker_curve.reranker_summary())
    write_json(ws.plots("train_loss.json"), list(curve))
    curve.draw(ws.plots("train/loss.png"))  # the same points, for a person (dvc plots show)
    write_json(ws.metrics("train"), summary)  # deterministic figures only: a rerun leaves it unchanged
    write_json(ws / "logs/train_timing.json", curve.timing())  # untracked (.gitignore), like the printed line


if __name__ == "__main__":
    main()
