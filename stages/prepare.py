"""prepare: the collection's documents, eval questions and labelled questions, validated and normalised; its language
(data.language, or detected); the corpus analysed once. A JSONL group (sample, competition) names its files; a
folder (data=folder) is read whole: every file split into passages that fit the embedder (model.passage_max_len)."""

from common import ROOT, WORKERS, WORKSPACE, params, stage

from ragtune.compute.analysis import morpheme_rows
from ragtune.compute.engine import engine_for
from ragtune.data import collection, inputs
from ragtune.io import write_json, write_jsonl
from ragtune.text.analysis import check_indexable
from ragtune.text.english import analyzer_for_language

PREFIX_TOKENS = 4  # the embedder's passage prefix ("passage: ") on top of the tokens counted


@stage
def main() -> None:
    p = params()
    data = p.data
    source = ROOT / data.path
    if data.documents is None:  # a folder of the team's own files
        from ragtune.models.e5 import xlmr_token_counter

        limit = p.model.passage_max_len - PREFIX_TOKENS
        documents, passages = collection.folder_documents(source, limit, data.passage_overlap, xlmr_token_counter())
        questions, sources = [], {"questions": ROOT / data.questions} if data.questions else {}
        labelled = collection.folder_questions(ROOT / data.questions, passages) if data.questions else []
    else:
        documents = inputs.load_documents(source / data.documents)
        questions = inputs.load_questions(source / data.eval) if data.eval else []
        # every validation source whose file is present; an absent one (dev_queries.jsonl not placed) is said
        sources = {name: ROOT / file for name, file in sorted((data.validation or {}).items())}
        for name in [name for name, file in sources.items() if not file.exists()]:
            print(f"prepare: validation source {name!r}: {sources.pop(name)} is absent, skipped")
        labelled = inputs.load_validation(sources, {d["docid"] for d in documents})
    language = collection.resolve_language(data.language, [d["content"] for d in documents])
    analyzer = analyzer_for_language(language["language"], num_workers=WORKERS)
    engine = engine_for(p.compute, threads=WORKERS)  # Kiwi here, or on Ray actors (the same morphemes)
    where, docids = source / data.documents if data.documents else source, [d["docid"] for d in documents]
    # chunk by chunk to disk; a corpus BM25 cannot index stops before the file is in place, nothing written
    rows = morpheme_rows(
        engine, language["language"], documents, analyzer.select, lambda kept: check_indexable(where, docids, kept)
    )
    write_jsonl(WORKSPACE.morphemes, rows)
    write_jsonl(WORKSPACE.documents, documents)
    write_jsonl(WORKSPACE.questions, questions)
    write_jsonl(WORKSPACE.labelled, labelled)
    write_json(WORKSPACE.collection, language)
    counts = ", ".join(f"{name} {sum(row['source'] == name for row in labelled)}" for name in sources)
    print(
        f"prepare: {len(documents)} documents, {len(questions)} questions, {len(labelled)} labelled questions"
        + (f" ({counts})" if counts else "")
        + f", language {language['language']}"
    )


if __name__ == "__main__":
    main()
