"""queries: synthetic (question, docid) pairs per document, and the validation set.

Offline (default) the questions are inverse-cloze sentences and key-phrase questions. With an
LLM (`llm=solar|openai|local`) they come from the model, answers cached in data/queries/llm_cache.jsonl,
filtered by a BM25 round trip; documents the LLM failed on fall back to the offline generator.
Without labelled questions, a held-out split of documents provides the validation set.
"""

from common import params, path, sparse_retriever, stage

from ragtune import queries
from ragtune.io import read_jsonl, write_json, write_jsonl
from ragtune.llm import LLMClient, LLMSettings, ResponseCache
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
    pairs = []
    for document, morphs in zip(documents, morphemes):
        phrases = queries.key_phrases(morphs, idf)
        sentences = analyzer.sentences(document["content"])
        for question in queries.offline_questions(document["docid"], sentences, phrases, config["per_document"], seed):
            pairs.append({"query": question, "docid": document["docid"], "source": "offline"})
    stats = {"documents": len(documents), "questions": len(pairs), "offline": len(pairs)}

    cache = path("data/queries/llm_cache.jsonl")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.touch()  # a tracked output even when no LLM is used
    if llm is not None:
        client = LLMClient(llm, cache=ResponseCache(cache))
        lexical = sparse_retriever(p["sparse"], documents)  # for the round trip: is the question's document found?
        lexical.index([d["docid"] for d in documents], [d["content"] for d in documents])
        pairs, llm_stats = queries.with_llm_questions(client, documents, pairs, config["per_document"], lexical.search,
                                                      config["round_trip_top_k"])
        client.cache.compact()  # sorted by request key: the tracked cache is deterministic
        stats.update(llm_stats)

    if labelled:
        validation = labelled
    else:  # no labels: questions about held-out documents validate, and never train
        held_out = queries.holdout_documents([d["docid"] for d in documents], config["holdout_fraction"], seed)
        validation = [{"qid": f"holdout-{i:06d}", "msg": [{"role": "user", "content": pair["query"]}],
                       "relevant": [pair["docid"]]} for i, pair in enumerate(pairs) if pair["docid"] in held_out]
        pairs = [pair for pair in pairs if pair["docid"] not in held_out]
    stats.update(train_questions=len(pairs), validation_questions=len(validation),
                 validation_source="labelled" if labelled else "held-out documents")

    out = path("data/queries")
    write_jsonl(out / "train.jsonl", pairs)
    write_jsonl(out / "validation.jsonl", validation)
    write_json(path("metrics/queries.json"), stats)
    print(f"queries: {stats}")


if __name__ == "__main__":
    main()
