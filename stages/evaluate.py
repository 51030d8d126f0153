"""evaluate, per validation source: MAP@3 (competition rule), MRR, nDCG, recall per retriever and chit-chat
precision/recall (per question kind too, where the labels declare kinds); recall curves, MAP bars, the chit-chat
detector's scores; one failure report with a section per source; metrics/summary.json, the few figures a person
reads first."""

from common import WORKSPACE, params, stage

from ragtune.charts import Painter
from ragtune.evaluation import metrics, report, summary
from ragtune.evaluation.objective import objective
from ragtune.io import UserError, atomic_write, read_json, read_jsonl, write_json
from ragtune.query.conversation import standalone_query
from ragtune.runs import load_runs


@stage
def main() -> None:
    p = params()
    painter = Painter()  # pictures are drawn in a second process; it loads matplotlib while the runs load
    validation = read_jsonl(WORKSPACE.validation)
    runs = load_runs(WORKSPACE.runs("validation"))
    plans = {plan["qid"]: plan for plan in read_jsonl(WORKSPACE.runs("validation") / "queries.jsonl")}
    judged = {qid: plan["chitchat"] for qid, plan in plans.items()}
    rule = read_json(WORKSPACE.chitchat_rule("validation"))  # null: chit-chat detection was off
    documents = {d["docid"]: d["content"] for d in read_jsonl(WORKSPACE.documents)}
    questions = {q["qid"]: standalone_query(q["msg"]) for q in validation}
    kinds = {q["qid"]: q["kind"] for q in validation if "kind" in q}  # single | multi-turn | chitchat
    final = p.submission.retriever  # the failure report details the misses of the run that is submitted
    if final not in runs:
        raise UserError(f"params.yaml: submission.retriever {final!r} is not a retriever; runs: {', '.join(runs)}")

    scores, reports = {}, []
    with painter:  # leaving it waits for the pictures
        for source in sorted({q["source"] for q in validation}):
            qrels = {q["qid"]: q["relevant"] for q in validation if q["source"] == source}
            measured = metrics.evaluate_runs(dict(sorted(runs.items())), qrels)
            section = {name: values for name, (values, _) in measured.items()}
            section["chitchat"] = metrics.chitchat_scores(judged, qrels)
            if by_kind := summary.by_kind(runs, qrels, kinds):
                section["kinds"] = by_kind
            scores[source] = section
            curves = {name: curve for name, (_, curve) in measured.items()}
            retrievers = {name: section[name] for name in sorted(runs)}
            report.source_plots(painter, WORKSPACE.plots, source, curves, retrievers, plans, qrels, rule)
            reports.append(
                report.failure_report(
                    questions,
                    qrels,
                    runs,
                    final=final,
                    docs=documents,
                    limit=p.evaluation.report_limit,
                    title=f"source `{source}`",
                )
            )
    write_json(WORKSPACE.metrics("retrieval"), scores)
    score = objective(scores, p.tune.objective)  # what `ragtune tune` maximises
    write_json(WORKSPACE.metrics("objective"), {"objective": score})
    write_json(WORKSPACE.metrics("summary"), summary.summarize(scores, final))
    with atomic_write(WORKSPACE.failure_report) as handle:
        handle.write("\n".join(reports))
    print("\n".join(report.summary_lines(scores)))
    print(f"evaluate: objective {p.tune.objective} = {score:.4f}")


if __name__ == "__main__":
    main()
