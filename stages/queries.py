"""queries: synthetic (question, docid) pairs per document, and the validation set.

Offline (default) the questions are varied forms that never copy a sentence (`queries.generator: varied`;
`inverse_cloze` is the legacy sentence-as-question generator). With an
LLM (`llm=solar|openai|local`) they come from the model, answers cached in data/queries/llm_cache.jsonl,
filtered by a BM25 round trip; documents the LLM failed on fall back to the offline generator.
`queries.from_file` adds (`file_mode: add`) or substitutes (`replace`) pre-generated (query, docid) pairs,
validated and round-trip filtered the same way; the default path is an empty shipped file (a DVC dep).
Without labelled questions, a held-out split of documents provides the validation set.
"""

from common import params, path, stage
from lexical import embedded_bm25

from ragtune import queries
from ragtune.io import read_jsonl, write_json, write_jsonl
from ragtune.params import ParamsError
from ragtune.cachedir import cache_root
from ragtune.llm import AnswerStore, LLMClient, LLMSettings, ResponseCache
from ragtune.text import KoreanAnalyzer


@stage
def main() -> None:
    p = params()
    config, seed = p["queries"], p["seed"]
    llm = None if p["llm"]["provider"] == "offline" else LLMSettings.from_config(p["llm"])  # a missing key fails here
    prepared = path("data/prepared")
    documents = read_jsonl(prepared / "documents.jsonl")
    morphemes = [row["morphemes"] for row in read_jsonl(prepared / "morphemes.jsonl")]
    labelled = read_jsonl(prepared / "labelled.jsonl")

    analyzer = KoreanAnalyzer()
    idf = queries.inverse_document_frequency(morphemes)
    generator = config.get("generator", "varied")
    pairs = []
    for document, morphs in zip(documents, morphemes):
        phrases = queries.key_phrases(morphs, idf)
        sentences = analyzer.sentences(document["content"])
        if generator == "varied":
            made = queries.varied_questions(document["docid"], document["content"], analyzer.morphemes(sentences), phrases,
                                            idf, config["per_document"], seed, config.get("max_copied_chars", 16))
        elif generator == "inverse_cloze":
            made = queries.offline_questions(document["docid"], sentences, phrases, config["per_document"], seed)
        else:
            raise ParamsError("params.yaml", "queries.generator", f"must be 'varied' or 'inverse_cloze', got {generator!r}")
        pairs.extend({"query": question, "docid": document["docid"], "source": "offline"} for question in made)
    texts = {d["docid"]: d["content"] for d in documents}
    stats = {"documents": len(documents), "questions": len(pairs), "offline": len(pairs), "generator": generator,
             **{f"offline_{k}": v for k, v in queries.copy_statistics(pairs, texts).items()}}

    cache = path("data/queries/llm_cache.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch()  # a tracked output even when no LLM is used
    if llm is not None:
        # answers land in the store at once (it survives `dvc exp run`'s restore and a kill); the tracked file is
        # filled from it by compact()
        client = LLMClient(llm, cache=ResponseCache(cache, store=AnswerStore(cache_root(path(".")) / "llm")))
        # the round trip (is the question's document found?) uses the mining BM25, not retrieval's
        lexical = embedded_bm25(p["negatives"]["bm25"])
        lexical.index([d["docid"] for d in documents], [d["content"] for d in documents])
        pairs, llm_stats = queries.with_llm_questions(client, documents, pairs, config["per_document"], lexical.search,
                                                      config["round_trip_top_k"])
        client.cache.compact()  # sorted by request key: the tracked cache is deterministic
        stats.update(llm_stats)

    question_file = path(config.get("from_file") or "ragtune/resources/questions/none.jsonl")
    from_file = queries.read_question_file(question_file, set(texts))
    if from_file:
        kept, dropped = from_file, []
        if config["round_trip_top_k"] > 0:
            lexical = embedded_bm25(p["negatives"]["bm25"])
            lexical.index([d["docid"] for d in documents], [d["content"] for d in documents])
            hits = lexical.search([pair["query"] for pair in from_file], config["round_trip_top_k"])
            kept, dropped = queries.round_trip_filter(from_file, [[docid for docid, _ in h] for h in hits],
                                                      config["round_trip_top_k"])
        pairs = queries.combine_file_questions(pairs, kept, config.get("file_mode", "add"), [d["docid"] for d in documents])
        stats.update(file_questions=len(from_file), file_round_trip_kept=len(kept), file_round_trip_dropped=len(dropped),
                     file_mode=config.get("file_mode", "add"))
    stats["questions"] = len(pairs)

    if labelled:
        validation = labelled
    else:  # no labels: questions about held-out documents validate, and never train
        held_out = queries.holdout_documents([d["docid"] for d in documents], config["holdout_fraction"], seed)
        validation = [{"qid": f"holdout-{i:06d}", "msg": [{"role": "user", "content": pair["query"]}],
                       "relevant": [pair["docid"]], "source": "holdout"}
                      for i, pair in enumerate(pairs) if pair["docid"] in held_out]
        pairs = [pair for pair in pairs if pair["docid"] not in held_out]
    stats.update(train_questions=len(pairs), validation_questions=len(validation),
                 validation_source="labelled" if labelled else "held-out documents",
                 **{f"validation_{name}": sum(q["source"] == name for q in validation)
                    for name in sorted({q["source"] for q in validation})})

    out = path("data/queries")
    write_jsonl(out / "train.jsonl", pairs)
    write_jsonl(out / "validation.jsonl", validation)
    write_json(path("metrics/queries.json"), stats)
    print(f"queries: {stats}")


if __name__ == "__main__":
    main()
