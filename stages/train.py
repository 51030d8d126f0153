"""train: the base embedder (tiny: built here from the corpus; real: a hub id) fine-tuned with FlagEmbedding's M3 runner."""

import time

from common import params, path, stage

from ragtune import tiny, training
from ragtune.io import read_jsonl, write_json


@stage
def main() -> None:
    p = params()
    model = p["model"]
    base_dir = path("models/base")
    if model["name"] == "tiny":
        documents = read_jsonl(path("data/prepared/documents.jsonl"))
        tiny.build_tiny_embedder([d["content"] for d in documents], base_dir, seed=p["seed"], **model["architecture"])
        base = str(base_dir)
    else:  # a pretrained model: record which one, don't copy gigabytes into the DVC cache
        write_json(base_dir / "pointer.json", {"name_or_path": model["embedder"]})
        base = model["embedder"]

    settings = training.settings_from_mapping({**p["train"], "seed": p["seed"],
                                               "query_max_len": model["query_max_len"],
                                               "passage_max_len": model["passage_max_len"]})
    started = time.perf_counter()
    curve = training.finetune_m3(base, path("data/negatives/train.jsonl"), path("models/embedder"), settings)
    seconds = time.perf_counter() - started
    write_json(path("plots/train_loss.json"), curve)
    write_json(path("metrics/train.json"), {"steps": len(curve), "first_loss": curve[0]["loss"] if curve else None,
                                            "final_loss": curve[-1]["loss"] if curve else None})
    losses = f", loss {curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}" if curve else " (fewer steps than logging_steps)"
    print(f"train: {len(curve)} logged steps in {seconds:.0f} s{losses}")


if __name__ == "__main__":
    main()
