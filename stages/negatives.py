"""negatives: hard negatives for each synthetic question → FlagEmbedding's {query, pos, neg} training file.

Candidates come from BM25 (`pool`) and, when `dense_pool` > 0, from the base dense model; with
`teacher_scores` the base cross-encoder scores every positive and negative (for distillation).
"""

import tempfile
from pathlib import Path

from common import params, path, stage
from lexical import embedded_bm25

from ragtune.config.schema import ParamsError
from ragtune.io import read_jsonl, write_json, write_jsonl
from ragtune.models import sources as model_sources
from ragtune.models.hub import require_model, resolve_model
from ragtune.training import negatives


@stage
def main() -> None:
    p = params()
    config, model = p["negatives"], p["model"]
    if config["teacher_scores"] and p["reranker"].get("architecture") is None:  # a hub cross-encoder: before mining
        require_model(p["reranker"]["path"], "reranker.path", p["reranker"].get("revision"))
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    morphemes = [row["morphemes"] for row in read_jsonl(path("data/prepared/morphemes.jsonl"))]
    pairs = read_jsonl(path("data/queries/train.jsonl"))
    texts = {d["docid"]: d["content"] for d in documents}
    docids = [d["docid"] for d in documents]
    queries = [pair["query"] for pair in pairs]

    bm25 = embedded_bm25(config["bm25"])  # mining BM25, not retrieval's (the sparse group)
    bm25.index_tokens(docids, [bm25.analyzer.select(m) for m in morphemes])
    pools = [[hits] for hits in bm25.search(queries, config["pool"])]

    with tempfile.TemporaryDirectory(prefix="ragtune-negatives-") as scratch:
        base = path("models/base")  # the base stage's: the model train starts from
        if config["dense_pool"] > 0:
            from ragtune.models.encoders import load_encoder

            encoder = load_encoder(
                base,
                device=p["index"]["devices"],
                query_max_length=model["query_max_len"],
                passage_max_length=model["passage_max_len"],
            )
            dense = negatives.dense_pools(encoder, queries, docids, [texts[d] for d in docids], config["dense_pool"])
            pools = [[*bm25_pools, hits] for bm25_pools, hits in zip(pools, dense)]

        rule = negatives.NegativeFilter.from_params(config)
        stats = negatives.MiningStats()
        rows = negatives.training_rows(pairs, pools, texts, docids, rule, stats, p["seed"], progress=True)
        if config["teacher_scores"]:
            rows = negatives.teacher_scores(teacher(p["reranker"], base, Path(scratch), p["seed"]), rows)
    write_jsonl(path("data/negatives/train.jsonl"), rows)
    write_json(path("metrics/negatives.json"), stats.as_dict())
    print(f"negatives: {stats.as_dict()}")


def teacher(config: dict, embedder: str, scratch: Path, seed: int):
    """The base cross-encoder of the reranker group. The tiny one is random here: the train stage's starts
    from the fine-tuned embedder, which does not exist yet, so a tiny teacher only exercises the code path."""
    from ragtune.retrieval.rerank import CrossEncoderReranker

    if config["name"] == "none":
        raise ParamsError("params.yaml", "negatives.teacher_scores", "needs a reranker (reranker=tiny or bge-v2-m3)")
    tokenizer = Path(embedder) if (Path(embedder) / "tokenizer.json").is_file() else None
    model_sources.base_reranker(
        config["name"],
        config["path"],
        config.get("architecture"),
        tokenizer,
        scratch / "reranker",
        seed,
        revision=config.get("revision"),
    )
    return CrossEncoderReranker(resolve_model(scratch / "reranker", "reranker.path"), max_length=config["max_length"])


if __name__ == "__main__":
    main()
