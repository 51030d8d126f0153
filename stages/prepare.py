"""prepare: validate and normalise documents, eval questions and every validation source; analyse the corpus once."""

from common import ROOT, WORKERS, WORKSPACE, params, stage

from ragtune.data import inputs
from ragtune.io import write_jsonl
from ragtune.text.analysis import KoreanAnalyzer, check_indexable


@stage
def main() -> None:
    data = params().data
    source = ROOT / data.path
    documents = inputs.load_documents(source / data.documents)
    questions = inputs.load_questions(source / data.eval)
    # every validation source whose file is present; an absent one (dev_queries.jsonl not placed) is said, not hidden
    sources = {name: ROOT / file for name, file in sorted((data.validation or {}).items())}
    for name in [name for name, file in sources.items() if not file.exists()]:
        print(f"prepare: validation source {name!r}: {sources.pop(name)} is absent, skipped")
    labelled = inputs.load_validation(sources, {d["docid"] for d in documents})
    analyzer = KoreanAnalyzer(num_workers=WORKERS)
    morphemes = analyzer.morphemes([d["content"] for d in documents])
    check_indexable(source / data.documents, [d["docid"] for d in documents], [analyzer.select(m) for m in morphemes])
    write_jsonl(WORKSPACE.documents, documents)
    write_jsonl(WORKSPACE.morphemes, ({"docid": d["docid"], "morphemes": m} for d, m in zip(documents, morphemes)))
    write_jsonl(WORKSPACE.questions, questions)
    write_jsonl(WORKSPACE.labelled, labelled)
    counts = ", ".join(f"{name} {sum(row['source'] == name for row in labelled)}" for name in sources)
    print(
        f"prepare: {len(documents)} documents, {len(questions)} questions, {len(labelled)} labelled questions"
        + (f" ({counts})" if counts else "")
    )


if __name__ == "__main__":
    main()
