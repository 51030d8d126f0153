"""retrieve: rank documents for the validation questions and the eval questions.

Per question: a standalone query (multi-turn → user turns, bare reactions left out), a chit-chat decision
(chit-chat → empty ranking), then sparse + dense candidates fused by `alpha` (hybrid) or RRF,
optionally reranked. Runs of every retriever are written so evaluate can show what each adds.
"""

from common import WORKERS, params, path, stage

from ragtune.cache.location import cache_root
from ragtune.cache.searches import SearchMemo
from ragtune.io import read_jsonl, write_jsonl
from ragtune.llm import AnswerStore, LLMClient, LLMSettings, ResponseCache
from ragtune.models.hub import resolve_model
from ragtune.query import chitchat
from ragtune.query.plan import plan_queries
from ragtune.retrieval.pipeline import RetrievalSettings, retrieve
from ragtune.retrieval.rerank import rerank_subset
from ragtune.retrieval.searchers import Searchers, cross_encoders
from ragtune.runs import save_runs


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
    sets = {
        "validation": [(q["qid"], q["msg"]) for q in validation],
        "eval": [(str(q["eval_id"]), q["msg"]) for q in read_jsonl(path("data/prepared/questions.jsonl"))],
    }

    stride = config["calibration_stride"]
    synthetic = [row["query"] for row in read_jsonl(path("data/queries/train.jsonl"))] if stride else []
    detector = chitchat.calibrated_detector(config["chitchat_threshold"], p["seed"], synthetic, stride)

    cache = path("runs/llm_cache.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch()  # tracked even when no LLM is used
    store = AnswerStore(cache_root(path(".")) / "llm")  # survives `dvc exp run`'s restore and a kill
    client = LLMClient(llm, cache=ResponseCache(cache, store=store)) if llm is not None else None

    # Searchers are built only when the memo cannot answer (a sweep over alpha loads no model).
    searchers = Searchers(path("."), p, docids, WORKERS)
    (lexical, weights), dense = searchers.lexical(), searchers.dense()  # one factory each: a model loads once
    memo = SearchMemo(path("runs/candidates"), store=cache_root(path(".")) / "candidates")  # outlives exp restores
    settings = RetrievalSettings(
        candidates=config["candidates"],
        fusion=config["fusion"],
        alpha=p["alpha"],
        rrf_k=p["rrf_k"],
        norm=config["norm"],
        rerank_top=config["rerank_top"],
    )
    rerankers = cross_encoders(p["reranker"], documents, lambda d: resolve_model(path(d), "reranker.path"))
    colbert = searchers.colbert(documents)  # reported beside the final ranking, which it does not change

    for split, items in sets.items():
        through_llm = [item for item in items if split == "eval" or item[0] in llm_qids]
        offline = [item for item in items if not (split == "eval" or item[0] in llm_qids)]
        planned = {
            plan.qid: plan
            for group, use_llm in ((through_llm, client), (offline, None))
            if group
            for plan in plan_queries(group, detector, use_llm, config["multi_query"], config["hyde"])
        }
        plans = [planned[qid] for qid, _ in items]
        active = [plan for plan in plans if not plan.chitchat]
        # dense_base on eval too: a submission can be written from any run (submission.retriever)
        remembered = {
            kind: {name: memo.wrap(f"{split}/{name}", key, make) for name, (key, make) in group.items()}
            for kind, group in (("sparse", lexical), ("dense", dense))
        }
        # reranker.validation_limit: a seeded subset of validation is reranked (eval always is in full);
        # the others keep the fused ranking in the rerank runs, so their metrics mix both
        # (see ragtune.retrieval.rerank).
        rerank_qids = (
            rerank_subset([plan.qid for plan in active], p["reranker"]["validation_limit"], p["seed"])
            if split == "validation"
            else None
        )
        runs = retrieve(
            {plan.qid: plan.variants for plan in active},
            [plan.qid for plan in plans],
            docids,
            remembered["sparse"],
            remembered["dense"],
            settings,
            rerankers=rerankers if split == "validation" else dict(list(rerankers.items())[-1:]),
            sparse_weights=weights,
            rerank_qids=rerank_qids,
            reported_rescorers={"colbert": colbert.for_queries([plan.variants[0] for plan in active])}
            if colbert is not None
            else None,
        )
        save_runs(path(f"runs/{split}"), runs, config["keep"])
        write_jsonl(path(f"runs/{split}/queries.jsonl"), (plan.as_dict() for plan in plans))
        print(f"retrieve: {split}: {len(plans)} questions, {len(plans) - len(active)} judged chit-chat")
    if client is not None:
        client.cache.compact()
    print(f"retrieve: candidate searches remembered: {len(memo.hits)}, run: {len(memo.misses)}")


if __name__ == "__main__":
    main()
