"""retrieve: rank documents for the validation questions and the eval questions.

Per question: a standalone query (multi-turn → user turns with content), a chit-chat decision
(chit-chat → empty ranking), then sparse + dense candidates fused by `alpha` (hybrid) or RRF,
optionally reranked. Runs of every retriever are written so evaluate can show what each adds.
"""

from common import WORKERS, model_path, params, path, stage

from ragtune import conversation, dense
from ragtune.io import read_jsonl, write_jsonl
from ragtune.llm import LLMClient, LLMSettings, ResponseCache
from ragtune.retrieval import DenseSearcher, RetrievalSettings, retrieve
from ragtune.runs import save_runs
from ragtune.sparse import load_retriever


@stage
def main() -> None:
    p = params()
    config = p["retrieval"]
    llm = None if p["llm"]["provider"] == "offline" else LLMSettings.from_config(p["llm"])  # a missing key fails here
    docids = [d["docid"] for d in read_jsonl(path("data/prepared/documents.jsonl"))]
    sets = {"validation": [(q["qid"], q["msg"]) for q in read_jsonl(path("data/queries/validation.jsonl"))],
            "eval": [(str(q["eval_id"]), q["msg"]) for q in read_jsonl(path("data/prepared/questions.jsonl"))]}

    chitchat, knowledge = conversation.shipped_calibration()
    synthetic = [row["query"] for row in read_jsonl(path("data/queries/train.jsonl"))][:: config["calibration_stride"]]
    detector = conversation.ChitchatDetector(threshold=config["chitchat_threshold"], seed=p["seed"])
    detector.fit(chitchat, knowledge + synthetic)

    cache = path("runs/llm_cache.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch()  # tracked even when no LLM is used
    client = LLMClient(llm, cache=ResponseCache(cache)) if llm is not None else None

    lexical = {"bm25": load_retriever(path("indexes/sparse"), num_workers=WORKERS)}
    weights = {"bm25": 1.0 - config["char_weight"]}
    if p["index"]["char_ngram"]:
        lexical["bm25_char"] = load_retriever(path("indexes/sparse_char"), num_workers=WORKERS)
        weights["bm25_char"] = config["char_weight"]
    searchers = {name: DenseSearcher(dense.M3Encoder(model_path(model_dir), batch_size=p["index"]["batch_size"],
                                                     query_max_length=p["model"]["query_max_len"]),
                                     dense.load_faiss(path(f"indexes/{name}/faiss.index")), docids)
                 for name, model_dir in (("dense", "models/embedder"), ("dense_base", "models/base"))}
    settings = RetrievalSettings(candidates=config["candidates"], fusion=config["fusion"], alpha=p["alpha"],
                                 rrf_k=p["rrf_k"], norm=config["norm"], rerank_top=config["rerank_top"],
                                 keep=config["keep"])
    rerank = reranker(p["reranker"], read_jsonl(path("data/prepared/documents.jsonl")))

    for split, items in sets.items():
        use_llm = client if split == "eval" or config["llm_on_validation"] else None
        plans = conversation.plan_queries(items, detector, use_llm, config["multi_query"], config["hyde"])
        # The base model is evidence for fine-tuning, measured on validation only.
        reported = searchers if split == "validation" else {"dense": searchers["dense"]}
        runs = retrieve({plan.qid: plan.variants for plan in plans}, {n: r.search for n, r in lexical.items()},
                        reported, settings, skip={plan.qid for plan in plans if plan.chitchat}, rerank=rerank,
                        sparse_weights=weights)
        save_runs(path(f"runs/{split}"), runs, [plan.qid for plan in plans], docids, settings.keep)
        write_jsonl(path(f"runs/{split}/queries.jsonl"), (plan.as_dict() for plan in plans))
        print(f"retrieve: {split}: {len(plans)} questions, {sum(plan.chitchat for plan in plans)} judged chit-chat")
    if client is not None:
        client.cache.compact()


def reranker(config: dict, documents: list[dict]):
    """rerank(query, docids) → [(docid, score)] with the configured cross-encoder, or None."""
    if config["name"] == "none":
        return None
    from ragtune.rerank import CrossEncoderReranker
    local = path(config["path"])  # a directory of this repository, else a hub id
    model = CrossEncoderReranker(str(local) if local.exists() else config["path"],
                                 batch_size=config["batch_size"], max_length=config["max_length"])
    texts = {d["docid"]: d["content"] for d in documents}
    return lambda query, docids: model.rerank(query, [(d, texts[d]) for d in docids])


if __name__ == "__main__":
    main()
