"""submit: the competition submission from the eval-question run, validated before it is written."""

from common import WORKSPACE, params, stage

from ragtune.data import submission
from ragtune.io import read_jsonl


@stage
def main() -> None:
    settings = params().submission
    documents = {d["docid"]: d["content"] for d in read_jsonl(WORKSPACE.documents)}
    questions = read_jsonl(WORKSPACE.questions)
    run = submission.load_run(WORKSPACE.runs("eval"), settings.retriever)  # any run retrieve wrote
    standalone = {row["qid"]: row["standalone"] for row in read_jsonl(WORKSPACE.runs("eval") / "queries.jsonl")}
    rows = submission.build_rows(questions, standalone, run, documents, settings.reference_chars)
    submission.validate(rows, questions, set(documents))
    submission.write_submission(WORKSPACE.submission, rows)
    empty = sum(not row["topk"] for row in rows)
    print(f"submit: {len(rows)} rows ({empty} with an empty topk) → {WORKSPACE.submission.relative_to(WORKSPACE.root)}")


if __name__ == "__main__":
    main()
