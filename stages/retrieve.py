"""retrieve: rank documents for the validation questions and the eval questions.

Per question: a standalone query (multi-turn → user turns, bare reactions left out), a chit-chat decision
(chit-chat → empty ranking), then sparse + dense candidates fused by `alpha` (hybrid) or RRF,
optionally reranked. Runs of every retriever are written so evaluate can show what each adds.
"""

from common import ROOT, WORKERS, WORKSPACE, params, stage

from ragtune.cache.fusions import FusionMemo
from ragtune.cache.location import cache_root
from ragtune.cache.searches import SearchMemo
from ragtune.compute.engine import engine_for
from ragtune.io import read_json, read_jsonl, start_jsonl, write_json, write_jsonl
from ragtune.llm import AnswerStore, LLMClient, LLMSettings, ResponseCache
from ragtune.models.hub import resolve_model
from ragtune.query.memo import Planner
from ragtune.retrieval.pipeline import RetrievalSettings, retrieve
from ragtune.retrieval.rerank import rerank_subset
from ragtune.retrieval.searchers import Searchers, cross_encoders
from ragtune.runs import save_runs


@stage
def main() -> None:
    p = params()
    settings, ws = p.retrieval, WORKSPACE
    llm = None if p.llm.provider == "offline" else LLMSettings.from_config(p.llm.model_dump())  # a missing key fails
    documents = read_jsonl(ws.documents)
    docids = [d["docid"] for d in documents]
    validation = read_jsonl(ws.validation)
    sets = {
        "validation": [(q["qid"], q["msg"]) for q in validation],
        "eval": [(str(q["eval_id"]), q["msg"]) for q in read_jsonl(ws.questions)],
    }
    # validation sources that take the LLM path like the eval questions (what is tuned is what is submitted)
    llm_qids = {q["qid"] for q in validation if q["source"] in (settings.llm_sources or ())}
    language = read_json(ws.collection)["language"]

    start_jsonl(ws.retrieve_llm_cache)  # tracked even when no LLM is used
    store = AnswerStore(cache_root(ROOT) / "llm")  # survives `dvc exp run`'s restore and a kill
    client = LLMClient(llm, cache=ResponseCache(ws.retrieve_llm_cache, store=store)) if llm is not None else None
    # offline plans are remembered (a sweep over fusion judges no chit-chat again): ragtune.query.memo
    planner = Planner(settings, p.seed, language, ws, client, p.queries.domain, store=cache_root(ROOT) / "plans")

    # Searchers are built only when the memo cannot answer (a sweep over alpha loads no model).
    engine = engine_for(p.compute)  # where questions encode and pairs are scored: here, or Ray actors
    memo = SearchMemo(ws.candidates, store=cache_root(ROOT) / "candidates")  # outlives exp restores
    searchers = Searchers(ROOT, p, docids, WORKERS, language, engine, cache_root(ROOT) / "fingerprints", memo.remembers)
    (lexical, weights), dense = searchers.lexical(), searchers.dense()  # one factory each: a model loads once
    fusion = RetrievalSettings.from_fusion(p.fusion, candidates=settings.candidates, rerank_top=settings.rerank_top)
    rerankers = cross_encoders(p.reranker, documents, lambda d: resolve_model(ROOT / d, "reranker.path"), engine)
    final_reranker = {name: rerankers[name] for name in ("rerank",) if name in rerankers}  # eval: the tuned one only
    colbert = searchers.colbert(documents)  # reported beside the final ranking, which it does not change
    fusions = FusionMemo(cache_root(ROOT) / "fusions")  # the lexical side's: it does not change with alpha

    for split, items in sets.items():
        through_llm = (lambda qid: True) if split == "eval" else llm_qids.__contains__
        plans, rule = planner.plan(items, through_llm)
        active = [plan for plan in plans if not plan.chitchat]
        # dense_base on eval too: a submission can be written from any run (submission.retriever)
        remembered = {
            kind: {name: memo.wrap(f"{split}/{name}", key, make) for name, (key, make) in group.items()}
            for kind, group in (("sparse", lexical), ("dense", dense))
        }
        # reranker.validation_limit: a seeded subset of validation is reranked (eval always is in full); the others
        # keep the fused ranking in the rerank runs, so their metrics mix both (see ragtune.retrieval.rerank).
        limit = p.reranker.validation_limit
        rerank_qids = rerank_subset([q.qid for q in active], limit, p.seed) if split == "validation" else None
        queries = {plan.qid: plan.variants for plan in active}
        reported = {"colbert": colbert.for_queries([plan.variants[0] for plan in active])} if colbert else None
        runs = retrieve(
            queries, [plan.qid for plan in plans], docids, remembered["sparse"], remembered["dense"], fusion,
            rerankers=rerankers if split == "validation" else final_reranker,
            sparse_weights=weights, rerank_qids=rerank_qids, reported_rescorers=reported,
            lexical_fusion=fusions.weighted_sum,
        )  # fmt: skip
        save_runs(ws.runs(split), runs, settings.keep)
        write_jsonl(ws.runs(split) / "queries.jsonl", (plan.as_dict() for plan in plans))
        write_json(ws.chitchat_rule(split), rule)  # how the plans decided
        print(f"retrieve: {split}: {len(plans)} questions, {len(plans) - len(active)} judged chit-chat")
    if client is not None:
        client.cache.compact()
    print(
        f"retrieve: candidate searches remembered: {len(memo.hits)}, run: {len(memo.misses)}; plans remembered: "
        f"{planner.memo.hits} of {len(sets)} question sets; lexical fusions remembered: {fusions.hits} of {len(sets)}"
    )


if __name__ == "__main__":
    main()
