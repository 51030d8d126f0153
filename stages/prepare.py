"""prepare: validate and normalise documents, eval questions and labelled questions; analyse the corpus once."""

from common import WORKERS, params, path, stage

from ragtune import data
from ragtune.io import write_jsonl
from ragtune.text import KoreanAnalyzer


@stage
def main() -> None:
    config = params()["data"]
    source = path(config["dir"])
    documents = data.load_documents(source / config["documents"])
    questions = data.load_questions(source / config["eval"])
    labelled_file = source / config["labelled"] if config.get("labelled") else None
    labelled = data.load_labelled(labelled_file, {d["docid"] for d in documents}) \
        if labelled_file is not None and labelled_file.exists() else []

    analyzer = KoreanAnalyzer(num_workers=WORKERS)
    morphemes = analyzer.morphemes([d["content"] for d in documents])

    out = path("data/prepared")
    write_jsonl(out / "documents.jsonl", documents)
    write_jsonl(out / "morphemes.jsonl", ({"docid": d["docid"], "morphemes": m} for d, m in zip(documents, morphemes)))
    write_jsonl(out / "questions.jsonl", questions)
    write_jsonl(out / "labelled.jsonl", labelled)
    print(f"prepare: {len(documents)} documents, {len(questions)} questions, {len(labelled)} labelled questions")


if __name__ == "__main__":
    main()
