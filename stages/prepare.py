"""prepare: validate and normalise documents, eval questions and every validation source; analyse the corpus once."""

from common import WORKERS, params, path, stage

from ragtune.data import inputs as data
from ragtune.io import write_jsonl
from ragtune.text.analysis import KoreanAnalyzer, check_indexable


@stage
def main() -> None:
    config = params()["data"]
    source = path(config["dir"])
    documents = data.load_documents(source / config["documents"])
    questions = data.load_questions(source / config["eval"])
    # every validation source whose file is present; an absent one (dev_queries.jsonl not placed) is said, not hidden
    sources = {name: path(file) for name, file in sorted((config.get("validation") or {}).items())}
    for name in [name for name, file in sources.items() if not file.exists()]:
        print(f"prepare: validation source {name!r}: {sources.pop(name)} is absent, skipped")
    labelled = data.load_validation(sources, {d["docid"] for d in documents})

    analyzer = KoreanAnalyzer(num_workers=WORKERS)
    morphemes = analyzer.morphemes([d["content"] for d in documents])
    check_indexable(
        source / config["documents"], [d["docid"] for d in documents], [analyzer.select(m) for m in morphemes]
    )

    out = path("data/prepared")
    write_jsonl(out / "documents.jsonl", documents)
    write_jsonl(out / "morphemes.jsonl", ({"docid": d["docid"], "morphemes": m} for d, m in zip(documents, morphemes)))
    write_jsonl(out / "questions.jsonl", questions)
    write_jsonl(out / "labelled.jsonl", labelled)
    counts = ", ".join(f"{name} {sum(row['source'] == name for row in labelled)}" for name in sources)
    print(
        f"prepare: {len(documents)} documents, {len(questions)} questions, {len(labelled)} labelled questions"
        + (f" ({counts})" if counts else "")
    )


if __name__ == "__main__":
    main()
