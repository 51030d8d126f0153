"""train: the base embedder (models/base, made by the base stage) fine-tuned with its family's FlagEmbedding runner
(BGE-M3: the M3 runner; E5: the encoder-only runner), optionally a targeted second round on the training
questions it still misses; then base vs fine-tuned on the validation questions (MAP@3 of dense search), and
models/embedder is the fine-tuned model only where it wins (`train.select`). Finally the reranker pair
models/reranker_base, models/reranker (a model directory or a pointer.json each; fine-tuned when `reranker.finetune`)."""

import dataclasses
import time

from common import params, path, stage

from ragtune import dense, negatives, selection, training
from ragtune.encodings import EncodingMemo
from ragtune.hub import require_model
from ragtune.io import read_jsonl, write_json

TARGETED_KEYS = ("targeted_round", "targeted_top_k", "targeted_pool", "targeted_max_steps")
SELECTION_KEYS = ("select", "select_on", "select_corpus")
ENCODINGS = "models/.encodings"  # remembered passage vectors, shared with the index stage (ragtune/encodings.py)


@stage
def main() -> None:
    p = params()
    model, reranker, train = p["model"], p["reranker"], p["train"]
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    lengths = {"query_max_len": model["query_max_len"], "passage_max_len": model["passage_max_len"]}
    base_dir = path("models/base")
    base = dense.resolve_model(base_dir)  # the directory itself, or the hub id its pointer names
    require_model(base, "model.embedder", model.get("revision"))  # before any training: seconds, not hub retries
    if reranker.get("architecture") is None:  # a hub reranker (the tiny one is built here)
        require_model(reranker["path"], "reranker.path", reranker.get("revision"))
    targeted = {key: train[key] for key in TARGETED_KEYS}
    settings = training.settings_from_mapping({**{k: v for k, v in train.items()
                                                  if k not in TARGETED_KEYS + SELECTION_KEYS},
                                               "seed": p["seed"], **lengths})
    train_file = path("data/negatives/train.jsonl")

    started, cpu = time.perf_counter(), training.children_cpu_seconds()
    curve = training.finetune_embedder(base, train_file, path("models/embedder"), settings)
    seconds = time.perf_counter() - started
    print(f"train: embedder {curve.steps} optimiser steps in {seconds:.0f} s "
          f"({training.children_cpu_seconds() - cpu:.0f} CPU s, {seconds / max(curve.steps, 1):.1f} s/step)"
          f"{loss_change(curve)}")
    summary = {"steps": curve.steps, "seconds_per_step": round(seconds / max(curve.steps, 1), 3),
               "first_loss": curve[0]["loss"] if curve else None, "final_loss": curve[-1]["loss"] if curve else None}

    if targeted["targeted_round"]:
        summary["targeted"] = targeted_round(p, documents, settings, targeted)

    summary["selection"] = select_embedder(p, documents, base_dir)

    # Built after the embedder is trained: the tiny cross-encoder can start from its encoder.
    local_base = base_dir if (base_dir / "tokenizer.json").is_file() else None  # the tiny reranker's tokenizer
    reranker_base = training.base_reranker(reranker["name"], reranker["path"], reranker.get("architecture"),
                                           local_base, path("models/reranker_base"), p["seed"],
                                           encoder_dir=path("models/embedder") if reranker.get("init_from_embedder")
                                           else None)
    if reranker["finetune"] and reranker_base is not None:
        started = time.perf_counter()
        rerank_settings = training.settings_from_mapping({**reranker["train"], "seed": p["seed"], **lengths})
        rerank_curve = training.finetune_reranker(reranker_base, train_file, path("models/reranker"), rerank_settings)
        print(f"train: reranker {rerank_curve.steps} optimiser steps in {time.perf_counter() - started:.0f} s"
              f"{loss_change(rerank_curve)}")
        summary["reranker_final_loss"] = rerank_curve[-1]["loss"] if rerank_curve else None
    else:
        training.copy_model(reranker_base, path("models/reranker"))

    write_json(path("plots/train_loss.json"), list(curve))
    write_json(path("metrics/train.json"), summary)


def select_embedder(p: dict, documents: list[dict], base_dir) -> dict:
    """MAP@3 of base and fine-tuned dense search on the validation source `train.select_on`; models/embedder
    becomes the base (a copy, or its pointer) unless the fine-tuned model wins or `train.select` forces it.
    The corpus is capped by `train.select_corpus` (relevant documents + a seeded sample) to bound CPU time."""
    train, model = p["train"], p["model"]
    questions, source = selection.selection_questions(read_jsonl(path("data/queries/validation.jsonl")),
                                                      train["select_on"])
    texts = {d["docid"]: d["content"] for d in documents}
    relevant = {docid for q in questions for docid in q["relevant"] if docid in texts}
    docids = selection.capped_corpus([d["docid"] for d in documents], relevant, train["select_corpus"], p["seed"])
    scores = {}
    for name, model_dir in (("base", base_dir), ("finetuned", path("models/embedder"))):
        encoder = dense.load_encoder(model_dir, query_max_length=model["query_max_len"],
                                     passage_max_length=model["passage_max_len"])
        memo = EncodingMemo(path(ENCODINGS), model_dir, "passage", model["passage_max_len"], "none",
                            dense.default_device())
        vectors = memo.encode([texts[d] for d in docids], lambda t: encoder.encode(t, kind="passage").dense)
        scores[name] = round(selection.dense_map(lambda t: encoder.encode(t, kind="query").dense, vectors, docids,
                                                 questions), 6) if questions else None
    choice = selection.choose(train["select"], scores["base"], scores["finetuned"])
    if choice == "base":
        training.copy_model(dense.resolve_model(base_dir) if (base_dir / "pointer.json").is_file() else str(base_dir),
                            path("models/embedder"))
    print(f"train: validation ({source}, {len(questions)} questions, {len(docids)} documents) map@3 "
          f"base {scores['base']} fine-tuned {scores['finetuned']} → models/embedder is the {choice} model")
    return {"source": source, "questions": len(questions), "documents": len(docids),
            "base_map@3": scores["base"], "finetuned_map@3": scores["finetuned"], "select": train["select"],
            "chosen": choice}


def targeted_round(p: dict, documents: list[dict], settings, targeted: dict) -> dict:
    """Fine-tune again on the synthetic training questions (never the validation set) the embedder misses."""
    texts = {d["docid"]: d["content"] for d in documents}
    pairs = [{"query": row["query"], "docid": row["pos_id"]} for row in read_jsonl(path("data/negatives/train.jsonl"))]
    config = p["negatives"]
    rule = negatives.NegativeFilter(k=config["k"], skip_top=config["skip_top"], margin=config["margin"],
                                    near_duplicate=config["near_duplicate"])
    encoder = dense.load_encoder(path("models/embedder"), query_max_length=settings.query_max_len,
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
    curve = training.finetune_embedder_rows(path("models/embedder"), rows, path("models/embedder"), round_settings)
    print(f"train: targeted round on {len(rows)} missed questions, {curve.steps} optimiser steps in "
          f"{time.perf_counter() - started:.0f} s{loss_change(curve)}")
    return {"missed": len(rows), "steps": curve.steps, "final_loss": curve[-1]["loss"] if curve else None}


def loss_change(curve: list[dict]) -> str:
    return f", loss {curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}" if curve else " (fewer steps than logging_steps)"


if __name__ == "__main__":
    main()
