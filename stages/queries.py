"""queries: synthetic (question, docid) pairs per document, and the validation set.

Offline (default) the questions are varied forms that never copy a sentence (`queries.generator: varied`;
`inverse_cloze` is the legacy sentence-as-question generator). With an
LLM (`llm=solar|openai|local`) they come from the model, answers cached in data/queries/llm_cache.jsonl,
filtered by a BM25 round trip; documents the LLM failed on fall back to the offline generator.
`queries.from_file` adds (`file_mode: add`) or substitutes (`replace`) pre-generated (query, docid) pairs,
validated and round-trip filtered the same way; the default path is an empty shipped file (a DVC dep).
Without labelled questions, a held-out split of documents provides the validation set.
"""

import functools

from common import ROOT, WORKSPACE, params, stage

from ragtune.cache.location import cache_root
from ragtune.io import read_json, read_jsonl, start_jsonl, write_json, write_jsonl
from ragtune.llm import AnswerStore, LLMClient, LLMSettings, ResponseCache
from ragtune.retrieval.sparse import embedded_bm25
from ragtune.synthetic import files, offline, split
from ragtune.synthetic.llm import with_llm_questions
from ragtune.text.analysis import StoredMorphemes
from ragtune.text.english import analyzer_for_language

NO_QUESTIONS = "ragtune/resources/questions/none.jsonl"  # queries.from_file's default: an empty shipped file


@stage
def main() -> None:
    p = params()
    settings, seed = p.queries, p.seed
    llm = None if p.llm.provider == "offline" else LLMSettings.from_config(p.llm.model_dump())  # a missing key fails
    documents = read_jsonl(WORKSPACE.documents)
    morphemes = StoredMorphemes(WORKSPACE.morphemes)  # read from disk at each pass: never all in memory
    labelled = read_jsonl(WORKSPACE.labelled)
    docids, texts = [d["docid"] for d in documents], {d["docid"]: d["content"] for d in documents}
    round_trip = functools.cache(lambda: round_trip_search(p, documents))  # built once, only where a round trip runs
    language = read_json(WORKSPACE.collection)["language"]  # questions in the corpus's language
    pairs = offline.offline_pairs(
        documents, morphemes, analyzer_for_language(language), settings.generator, settings.per_document, seed,
        settings.max_copied_chars, language,
    )  # fmt: skip
    stats = {
        "documents": len(documents),
        "questions": len(pairs),
        "offline": len(pairs),
        "generator": settings.generator,
        **{f"offline_{k}": v for k, v in offline.copy_statistics(pairs, texts).items()},
    }
    start_jsonl(WORKSPACE.queries_llm_cache)  # a tracked output even when no LLM is used
    if llm is not None:
        # answers land in the store at once (it survives `dvc exp run`'s restore and a kill); the tracked file is
        # filled from it by compact()
        store = AnswerStore(cache_root(ROOT) / "llm")
        client = LLMClient(llm, cache=ResponseCache(WORKSPACE.queries_llm_cache, store=store))
        pairs, llm_stats = with_llm_questions(
            client,
            documents,
            pairs,
            settings.per_document,
            round_trip(),
            settings.round_trip_top_k,
            language,
            settings.domain,
        )
        client.cache.compact()  # sorted by request key: the tracked cache is deterministic
        stats.update(llm_stats)
    from_file = files.read_question_file(ROOT / (settings.from_file or NO_QUESTIONS), set(texts))
    if from_file:
        search = round_trip() if settings.round_trip_top_k > 0 else None
        pairs, file_stats = files.with_file_questions(
            pairs, from_file, settings.file_mode, docids, search, settings.round_trip_top_k
        )
        stats.update(file_stats)
    stats["questions"] = len(pairs)
    pairs, validation, split_stats = split.split_validation(pairs, labelled, docids, settings.holdout_fraction, seed)
    stats.update(split_stats)
    write_jsonl(WORKSPACE.train_questions, pairs)
    write_jsonl(WORKSPACE.validation, validation)
    write_json(WORKSPACE.metrics("queries"), stats)
    print(f"queries: {stats}")


def round_trip_search(p, documents: list[dict]):
    """`search(texts, k)` of the mining BM25 over the corpus (the round trip: is a question's document found?),
    not retrieval's."""
    lexical = embedded_bm25(p.negatives.bm25, read_json(WORKSPACE.collection)["language"])  # as mining's
    lexical.index([d["docid"] for d in documents], [d["content"] for d in documents])
    return lexical.search


if __name__ == "__main__":
    main()
