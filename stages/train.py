"""train: the base embedder (tiny: built here from the corpus; real: a hub id) fine-tuned with FlagEmbedding's M3 runner,
optionally a targeted second round on the training questions it still misses, and the reranker pair
models/reranker_base, models/reranker (a model directory or a pointer.json each; fine-tuned when `reranker.finetune`)."""

import dataclasses
import time

from common import params, path, stage

from ragtune import negatives, training
from ragtune.io import read_jsonl, write_json

TARGETED_KEYS = ("targeted_round", "targeted_top_k", "targeted_pool", "targeted_max_steps")


@stage
def main() -> None:
    p = params()
    model, reranker = p["model"], p["reranker"]
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    lengths = {"query_max_len": model["query_max_len"], "passage_max_len": model["passage_max_len"]}
    base = training.base_embedder(model["name"], model["embedder"], model.get("architecture"),
                                  [d["content"] for d in documents], path("models/base"), p["seed"])
    targeted = {key: p["train"][key] for key in TARGETED_KEYS}
    settings = training.settings_from_mapping({**{k: v for k, v in p["train"].items() if k not in TARGETED_KEYS},
                                               "seed": p["seed"], **lengths})
    train_file = path("data/negatives/train.jsonl")

    started, cpu = time.perf_counter(), training.children_cpu_seconds()
    curve = training.finetune_m3(base, train_file, path("models/embedder"), settings)
    print(f"train: embedder {len(curve)} logged steps in {time.perf_counter() - started:.0f} s "
          f"({training.children_cpu_seconds() - cpu:.0f} CPU s){loss_change(curve)}")
    summary = {"steps": len(curve), "first_loss": curve[0]["loss"] if curve else None,
               "final_loss": curve[-1]["loss"] if curve else None}

    if targeted["targeted_round"]:
        summary["targeted"] = targeted_round(p, documents, settings, targeted)

    # Built after the embedder is trained: the tiny cross-encoder can start from its encoder.
    reranker_base = training.base_reranker(reranker["name"], reranker["path"], reranker.get("architecture"),
                                           path("models/base") if model["name"] == "tiny" else None,
                                           path("models/reranker_base"), p["seed"],
                                           encoder_dir=path("models/embedder") if reranker.get("init_from_embedder")
                                           else None)
    if reranker["finetune"] and reranker_base is not None:
        started = time.perf_counter()
        rerank_settings = training.settings_from_mapping({**reranker["train"], "seed": p["seed"], **lengths})
        rerank_curve = training.finetune_reranker(reranker_base, train_file, path("models/reranker"), rerank_settings)
        print(f"train: reranker {len(rerank_curve)} logged steps in {time.perf_counter() - started:.0f} s"
              f"{loss_change(rerank_curve)}")
        summary["reranker_final_loss"] = rerank_curve[-1]["loss"] if rerank_curve else None
    else:
        training.copy_model(reranker_base, path("models/reranker"))

    write_json(path("plots/train_loss.json"), curve)
    write_json(path("metrics/train.json"), summary)


def targeted_round(p: dict, documents: list[dict], settings, targeted: dict) -> dict:
    """Fine-tune again on the synthetic training questions (never the validation set) the embedder misses."""
    from ragtune.dense import M3Encoder

    texts = {d["docid"]: d["content"] for d in documents}
    pairs = [{"query": row["query"], "docid": row["pos_id"]} for row in read_jsonl(path("data/negatives/train.jsonl"))]
    config = p["negatives"]
    rule = negatives.NegativeFilter(k=config["k"], skip_top=config["skip_top"], margin=config["margin"],
                                    near_duplicate=config["near_duplicate"])
    encoder = M3Encoder(path("models/embedder"), query_max_length=settings.query_max_len,
                        passage_max_length=settings.passage_max_len)
    stats = negatives.MiningStats()
    rows = negatives.targeted_rows(encoder, pairs, texts, [d["docid"] for d in documents], rule,
                                   targeted["targeted_pool"], targeted["targeted_top_k"], stats, p["seed"])
    if len(rows) < settings.batch_size:
        print(f"train: targeted round skipped: {len(rows)} missed questions, fewer than a batch")
        return {"missed": len(rows), "steps": 0}
    round_settings = dataclasses.replace(settings, max_steps=targeted["targeted_max_steps"],
                                         knowledge_distillation=False)  # new negatives have no teacher scores
    started = time.perf_counter()
    curve = training.finetune_m3_rows(path("models/embedder"), rows, path("models/embedder"), round_settings)
    print(f"train: targeted round on {len(rows)} missed questions, {len(curve)} logged steps in "
          f"{time.perf_counter() - started:.0f} s{loss_change(curve)}")
    return {"missed": len(rows), "steps": len(curve), "final_loss": curve[-1]["loss"] if curve else None}


def loss_change(curve: list[dict]) -> str:
    return f", loss {curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}" if curve else " (fewer steps than logging_steps)"


if __name__ == "__main__":
    main()
