"""submit: the competition submission from the eval-question run, validated before it is written."""

from common import params, path, stage

from ragtune.data import submission
from ragtune.io import read_jsonl


@stage
def main() -> None:
    config = params()["submission"]
    documents = {d["docid"]: d["content"] for d in read_jsonl(path("data/prepared/documents.jsonl"))}
    questions = read_jsonl(path("data/prepared/questions.jsonl"))
    run = submission.load_run(path("runs/eval"), config["retriever"])  # any run retrieve wrote
    standalone = {row["qid"]: row["standalone"] for row in read_jsonl(path("runs/eval/queries.jsonl"))}

    rows = submission.build_rows(questions, standalone, run, documents, config["reference_chars"])
    submission.validate(rows, questions, set(documents))
    submission.write_submission(path("submissions/submission.csv"), rows)
    empty = sum(not row["topk"] for row in rows)
    print(f"submit: {len(rows)} rows ({empty} with an empty topk) → submissions/submission.csv")


if __name__ == "__main__":
    main()
