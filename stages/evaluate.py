"""evaluate: MAP@3 (competition rule), MRR, nDCG, recall per retriever; recall curves, MAP bars; failure report."""

from common import params, path, stage

from ragtune import metrics, report
from ragtune.conversation import standalone_query
from ragtune.io import atomic_write, read_jsonl, write_json
from ragtune.runs import load_runs


@stage
def main() -> None:
    p = params()
    validation = read_jsonl(path("data/queries/validation.jsonl"))
    qrels = {q["qid"]: q["relevant"] for q in validation}
    runs = load_runs(path("runs/validation"))

    scores = {name: metrics.evaluate(run, qrels) for name, run in runs.items()}
    write_json(path("metrics/retrieval.json"), scores)
    # One bar per retriever; `dvc plots diff` over experiments sets them side by side.
    write_json(path("plots/map.json"), [{"retriever": name, "map@3": values["map@3"], "mrr@10": values["mrr@10"]}
                                        for name, values in sorted(scores.items())])
    curves = {name: metrics.recall_curve(run, qrels) for name, run in runs.items()}
    write_json(path("plots/recall.json"),
               [{"retriever": name, **row} for name, rows in curves.items() for row in rows])
    report.plot_recall_curves(curves, path("plots/recall.png"))

    documents = {d["docid"]: d["content"] for d in read_jsonl(path("data/prepared/documents.jsonl"))}
    questions = {q["qid"]: standalone_query(q["msg"]) for q in validation}
    text = report.failure_report(questions, qrels, runs, final="hybrid", docs=documents,
                                 limit=p["evaluation"]["report_limit"])
    with atomic_write(path("reports/failures.md")) as handle:
        handle.write(text)
    for name, values in scores.items():
        print(f"evaluate: {name:<12} " + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
