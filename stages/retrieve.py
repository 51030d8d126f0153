"""retrieve: rank documents for the validation questions and the eval questions.

Per question: a standalone query (multi-turn → user turns with content), a chit-chat decision
(chit-chat → empty ranking), then sparse + dense candidates fused by `alpha` (hybrid) or RRF,
optionally reranked. Runs of every retriever are written so evaluate can show what each adds.
"""

import functools
from importlib.metadata import PackageNotFoundError, version

from common import WORKERS, model_path, params, path, stage

from ragtune import conversation, dense
from ragtune.io import DataError, read_json, read_jsonl, write_jsonl
from ragtune.params import ParamsError
from ragtune.cachedir import cache_root
from ragtune.llm import AnswerStore, LLMClient, LLMSettings, ResponseCache
from ragtune.memo import SearchMemo, fingerprint
from ragtune.rerank import rerank_subset
from ragtune.retrieval import (BatchRescorer, ColbertRescorer, DenseSearcher, LexicalWeightSearcher, RetrievalSettings,
                               hits_searcher, retrieve)
from ragtune.runs import save_runs
from ragtune.sparse import load_retriever


LIBRARIES = ("bm25s", "kiwipiepy", "faiss-cpu", "torch", "transformers", "FlagEmbedding", "numpy")


@stage
def main() -> None:
    p = params()
    config = p["retrieval"]
    llm = None if p["llm"]["provider"] == "offline" else LLMSettings.from_config(p["llm"])  # a missing key fails here
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    docids = [d["docid"] for d in documents]
    validation = read_jsonl(path("data/queries/validation.jsonl"))
    # validation sources that take the LLM path like the eval questions (what is tuned is what is submitted)
    llm_qids = {q["qid"] for q in validation if q["source"] in config["llm_sources"]}
    sets = {"validation": [(q["qid"], q["msg"]) for q in validation],
            "eval": [(str(q["eval_id"]), q["msg"]) for q in read_jsonl(path("data/prepared/questions.jsonl"))]}

    chitchat, knowledge = conversation.shipped_calibration()
    synthetic = [row["query"] for row in read_jsonl(path("data/queries/train.jsonl"))][:: config["calibration_stride"]]
    detector = conversation.ChitchatDetector(threshold=config["chitchat_threshold"], seed=p["seed"])
    detector.fit(chitchat, knowledge + synthetic)

    cache = path("runs/llm_cache.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch()  # tracked even when no LLM is used
    store = AnswerStore(cache_root(path(".")) / "llm")  # survives `dvc exp run`'s restore and a kill
    client = LLMClient(llm, cache=ResponseCache(cache, store=store)) if llm is not None else None

    # Searchers are built only when the memo cannot answer (a sweep over alpha loads no model).
    code = fingerprint(path("ragtune"), *(installed(m) for m in LIBRARIES))
    bm25_backend = config["bm25_search"]  # results do not depend on it; kept in the fingerprint all the same
    lexical = {"bm25": (fingerprint(code, path("indexes/sparse"), bm25_backend),
                        functools.cache(lambda: lexical_searcher(path("indexes/sparse"), docids, bm25_backend)))}
    weights = {"bm25": 1.0 - config["char_weight"]}
    if p["index"]["char_ngram"]:
        lexical["bm25_char"] = (fingerprint(code, path("indexes/sparse_char"), bm25_backend),
                                functools.cache(lambda: lexical_searcher(path("indexes/sparse_char"), docids, bm25_backend)))
        weights["bm25_char"] = config["char_weight"]
    if p["index"]["m3_sparse"]:
        lexical["m3_sparse"] = (fingerprint(code, path("indexes/dense"), path("models/embedder"),
                                            p["model"]["query_max_len"], config["query_batch_size"],
                                            dense.default_device()),
                                functools.cache(lambda: learned_sparse_searcher(p, docids)))
        weights["m3_sparse"] = config["m3_sparse_weight"]
        weights["bm25"] -= config["m3_sparse_weight"]
    searchers = {name: (fingerprint(code, path(f"indexes/{name}"), path(model_dir),
                                    p["model"]["query_max_len"], config["query_batch_size"], dense.default_device()),
                        functools.cache(functools.partial(dense_searcher, name, model_dir, p, docids)))
                 for name, model_dir in (("dense", "models/embedder"), ("dense_base", "models/base"))}
    memo = SearchMemo(path("runs/candidates"), store=cache_root(path(".")) / "candidates")  # outlives exp restores
    settings = RetrievalSettings(candidates=config["candidates"], fusion=config["fusion"], alpha=p["alpha"],
                                 rrf_k=p["rrf_k"], norm=config["norm"], rerank_top=config["rerank_top"])
    rerankers = cross_encoders(p["reranker"], documents)
    colbert = None
    if config["colbert"]:  # BGE-M3's multi-vector score of the fused top rerank_top
        if config["rerank_top"] <= 0:
            raise ParamsError("params.yaml", "retrieval.colbert", "needs retrieval.rerank_top > 0 (how many to rescore)")
        colbert = ColbertRescorer(embedder("dense", "models/embedder", p, docids),
                                  {d["docid"]: d["content"] for d in documents})

    for split, items in sets.items():
        through_llm = [item for item in items if split == "eval" or item[0] in llm_qids]
        offline = [item for item in items if not (split == "eval" or item[0] in llm_qids)]
        planned = {plan.qid: plan for group, use_llm in ((through_llm, client), (offline, None)) if group
                   for plan in conversation.plan_queries(group, detector, use_llm, config["multi_query"], config["hyde"])}
        plans = [planned[qid] for qid, _ in items]
        # dense_base on eval too: a submission can be written from any run (submission.retriever)
        reported = searchers
        reranking = rerankers if split == "validation" else dict(list(rerankers.items())[-1:])
        if colbert is not None:
            reranking = {"colbert": colbert.for_queries([plan.variants[0] for plan in plans if not plan.chitchat]),
                         **reranking}
        remembered = {kind: {name: memo.wrap(f"{split}/{name}", key, make) for name, (key, make) in group.items()}
                      for kind, group in (("sparse", lexical), ("dense", reported))}
        # reranker.validation_limit: a seeded subset of validation is reranked (eval always is in full);
        # the others keep the fused ranking in the rerank runs, so their metrics mix both (see ragtune.rerank).
        rerank_qids = (rerank_subset([plan.qid for plan in plans if not plan.chitchat],
                                     p["reranker"]["validation_limit"], p["seed"]) if split == "validation" else None)
        runs = retrieve({plan.qid: plan.variants for plan in plans if not plan.chitchat},
                        [plan.qid for plan in plans], docids, remembered["sparse"], remembered["dense"], settings,
                        rerankers=reranking, sparse_weights=weights, rerank_qids=rerank_qids)
        save_runs(path(f"runs/{split}"), runs, config["keep"])
        write_jsonl(path(f"runs/{split}/queries.jsonl"), (plan.as_dict() for plan in plans))
        print(f"retrieve: {split}: {len(plans)} questions, {sum(plan.chitchat for plan in plans)} judged chit-chat")
    if client is not None:
        client.cache.compact()
    print(f"retrieve: candidate searches remembered: {len(memo.hits)}, run: {len(memo.misses)}")


def installed(package: str) -> str:
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:  # e.g. faiss-gpu instead of faiss-cpu
        return f"{package} absent"


def lexical_searcher(directory, docids: list[str], search_backend: str):
    """Array search over the corpus table (bm25s: native; other backends: adapted from their hits)."""
    retriever = load_retriever(directory, num_workers=WORKERS, search_backend=search_backend)
    if not hasattr(retriever, "search_arrays"):
        return hits_searcher(retriever.search, docids)
    if retriever.docids != docids:
        raise DataError("indexes/", "the lexical index lists other documents than data/prepared (rerun index)")
    return retriever.search_arrays


def embedder(name: str, model_dir: str, p: dict, docids: list[str]):
    """The embedder of `model_dir`, after checking that indexes/<name> lists the corpus in order."""
    if read_json(path(f"indexes/{name}/docids.json")) != docids:
        raise DataError(f"indexes/{name}", "the index lists other documents than data/prepared (rerun index)")
    return dense.load_encoder(path(model_dir), batch_size=p["retrieval"]["query_batch_size"],
                              query_max_length=p["model"]["query_max_len"],
                              passage_max_length=p["model"]["passage_max_len"])


def dense_searcher(name: str, model_dir: str, p: dict, docids: list[str]) -> DenseSearcher:
    return DenseSearcher(embedder(name, model_dir, p, docids), dense.load_faiss(path(f"indexes/{name}/faiss.index")))


def learned_sparse_searcher(p: dict, docids: list[str]) -> LexicalWeightSearcher:
    return LexicalWeightSearcher(embedder("dense", "models/embedder", p, docids),
                                 dense.load_lexical_matrix(path("indexes/dense/lexical.npz")))


def cross_encoders(config: dict, documents: list[dict]) -> dict:
    """name → rescore(query, docids): `rerank` (models/reranker), preceded by `rerank_base` when the
    cross-encoder was fine-tuned, so evaluate shows what fine-tuning it changed; {} for reranker=none."""
    if config["name"] == "none":
        return {}
    from ragtune.rerank import CrossEncoderReranker
    texts = {d["docid"]: d["content"] for d in documents}
    names = {"rerank_base": "models/reranker_base"} if config["finetune"] else {}
    rescorers = {}
    for name, directory in {**names, "rerank": "models/reranker"}.items():
        model = CrossEncoderReranker(model_path(directory), batch_size=config["batch_size"],
                                     max_length=config["max_length"])
        # every question's pairs scored together (FlagReranker probes memory on each call)
        rescorers[name] = BatchRescorer(lambda queries, heads, m=model: m.rerank_lists(
            queries, [[(d, texts[d]) for d in head] for head in heads]))
    return rescorers


if __name__ == "__main__":
    main()
