"""What went wrong, for a person to read: a Markdown failure report and pictures (recall, MAP, chit-chat scores).

Runs and qrels have the shapes described in `ragtune.evaluation.metrics`. Plots are drawn on a bare
matplotlib Figure and written by ragtune.charts.save_png (identical inputs, identical PNG bytes); matplotlib loads at
the first picture, so a process that only writes the report (evaluate, whose pictures a `ragtune.charts.Painter`
draws) never loads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragtune.charts import Painter, save_png
from ragtune.evaluation.metrics import QrelsDict, RunDict, judge
from ragtune.io import write_json
from ragtune.runs import RankedRun, as_ranked

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _natural(qid: str) -> tuple:
    """Sort key that puts "2" before "10" (competition eval ids are integers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", qid) if part)


def _snippet(text: str | None, length: int) -> str:
    if text is None:
        return "*(not in the collection)*"
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= length else flat[:length] + "…"


def _quote(text: str | None) -> str:
    lines = (text or "*(question text unavailable)*").strip().splitlines() or [""]
    return "\n".join("> " + line for line in lines)


def _rank_of(docid: str, order: list[str]) -> str:
    if docid in order:
        return str(order.index(docid) + 1)
    return f"not in top {len(order)}" if order else "no results"


# The chit-chat detector's terms, as `metrics.chitchat_scores` counts them (positive = judged chit-chat):
# a chit-chat question answered is one the detector missed (a false negative); a real question left
# unanswered is one it judged chit-chat (a false positive).
CHITCHAT_ANSWERED = "chit-chat answered (missed by the detector: FN)"
QUESTION_UNANSWERED = "questions left unanswered (judged chit-chat: FP)"
CHITCHAT_GLOSS = {
    "false_positives": "questions judged chit-chat, left unanswered",
    "false_negatives": "chit-chat the detector missed, answered",
}


def _outcome(topk: list[str], relevant: list[str]) -> str:
    """hit, miss (answered, nothing relevant in top-k), chitchat_answered (the detector's false negative) or
    question_unanswered (its false positive)."""
    if not relevant:
        return "chitchat_answered" if topk else "hit"
    if not topk:
        return "question_unanswered"
    return "hit" if set(topk) & set(relevant) else "miss"


def _limited(qids: list[str], limit: int | None) -> tuple[list[str], str]:
    if limit is None or len(qids) <= limit:
        return qids, ""
    return qids[:limit], f"\n*… and {len(qids) - limit} more not shown.*\n"


def _top_k(run: RankedRun, row_of: Mapping[str, int], qids: Sequence[str], k: int) -> dict[str, list[str]]:
    """Each question's top-k docids, read from the run's arrays at once (19k questions × every retriever: a
    question at a time took a second); a question the run lacks answers nothing."""
    rows = np.asarray([row_of.get(qid, -1) for qid in qids], np.int64)
    if not len(run.qids):
        return {qid: [] for qid in qids}
    ids = run.ids[np.maximum(rows, 0), :k]
    names = np.asarray(run.docids, dtype=object)[np.maximum(ids, 0)]
    kept = (ids >= 0) & (rows[:, None] >= 0)
    return {qid: names[i][kept[i]].tolist() for i, qid in enumerate(qids)}


def failure_report(
    questions: dict[str, str],
    qrels: QrelsDict,
    runs: dict[str, RankedRun | RunDict],
    final: str,
    docs: dict[str, str],
    k: int = 3,
    limit: int | None = None,
    title: str | None = None,
) -> str:
    """Markdown: per-retriever summary, then every question `final` missed in its top-k.

    A miss is a question with relevant documents whose answer is non-empty but holds none of
    them in its top-k. Chit-chat errors are listed apart: answering a question that needs no
    retrieval (false positive) and answering nothing when retrieval was needed (false negative).
    `limit` caps the questions detailed per section. Questions are in natural qid order. `title`
    (e.g. the validation source) is added to the heading.
    """
    if final not in runs:
        raise ValueError(f"final retriever {final!r} is not among the runs: {sorted(runs)}")
    qids = sorted(qrels, key=_natural)
    names = sorted(runs)
    ranked = {name: as_ranked(run) for name, run in runs.items()}
    rows = {name: {qid: row for row, qid in enumerate(run.qids)} for name, run in ranked.items()}

    def ranking(name: str, qid: str, depth: int | None = None) -> list[str]:
        row = rows[name].get(qid)
        return [] if row is None else ranked[name].ranking(row, depth)

    topks = {final: _top_k(ranked[final], rows[final], qids, k)}  # the lists it details: the final run's
    outcomes = {final: {qid: _outcome(topks[final][qid], qrels[qid]) for qid in qids}}
    ordered = {qid: qrels[qid] for qid in qids}

    chit_chat = sum(1 for qid in qids if not qrels[qid])
    out = [
        "# Retrieval failure report" + (f": {title}" if title else ""),
        "",
        f"{len(qids)} questions ({len(qids) - chit_chat} need retrieval, {chit_chat} chit-chat); "
        f"final retriever `{final}`, top-{k}.",
        "",
        f"| retriever | MAP@{k} | misses in top-{k} | {CHITCHAT_ANSWERED} | {QUESTION_UNANSWERED} |",
        "|---|---|---|---|---|",
    ]
    tallies = judge(ranked, ordered, k)  # every run's, on arrays, as `_outcome` tells them
    needs = np.asarray([bool(qrels[qid]) for qid in qids], bool)
    for name in names:
        ap, hit, answered = tallies[name]
        counts = {
            "miss": int((needs & answered & ~hit).sum()),
            "chitchat_answered": int((~needs & answered).sum()),
            "question_unanswered": int((needs & ~answered).sum()),
        }
        mean_ap = sum(ap.tolist()) / len(qids) if qids else 0.0
        label = f"`{name}`" + (" (final)" if name == final else "")
        out.append(
            f"| {label} | {mean_ap:.4f} | {counts['miss']} | {counts['chitchat_answered']} "
            f"| {counts['question_unanswered']} |"
        )

    missed = [qid for qid in qids if outcomes[final][qid] == "miss"]
    shown, more = _limited(missed, limit)
    out += ["", f"## Questions `{final}` missed in its top-{k} ({len(missed)})"]
    for qid in shown:
        relevant = sorted(set(qrels[qid]))
        out += ["", f"### {qid}", "", _quote(questions.get(qid)), "", "Expected:"]
        out += [f"- `{docid}` — {_snippet(docs.get(docid), 150)}" for docid in relevant]
        out += ["", f"Returned by `{final}`:"]
        out += [
            f"{i}. `{docid}` — {_snippet(docs.get(docid), 80)}" for i, docid in enumerate(topks[final][qid], start=1)
        ]
        out += [
            "",
            "Rank of each expected document:",
            "",
            "| retriever | " + " | ".join(f"`{docid}`" for docid in relevant) + " |",
            "|---|" + "---|" * len(relevant),
        ]
        orders = {name: ranking(name, qid) for name in names}
        out += [
            f"| `{name}` | " + " | ".join(_rank_of(docid, orders[name]) for docid in relevant) + " |" for name in names
        ]
    out.append(more)

    out += ["## Chit-chat errors", ""]
    for kind, title in (
        ("chitchat_answered", "Chit-chat answered: the detector missed it (false negatives)"),
        ("question_unanswered", "Questions left unanswered: judged chit-chat (false positives)"),
    ):
        wrong = [qid for qid in qids if outcomes[final][qid] == kind]
        shown, more = _limited(wrong, limit)
        out += [f"### {title} ({len(wrong)})", ""]
        for qid in shown:
            listed = topks[final][qid] if kind == "chitchat_answered" else sorted(set(qrels[qid]))
            what = "returned" if kind == "chitchat_answered" else "expected"
            out += [
                f"- **{qid}**: {_snippet(questions.get(qid, ''), 150)} — {what}: "
                + ", ".join(f"`{docid}`" for docid in listed)
            ]
        out += [more] if more else [""]
    return "\n".join(out).rstrip("\n") + "\n"


def _cell(key: str, value) -> str:
    return f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}"


def summary_lines(scores: dict[str, dict[str, dict]]) -> list[str]:
    """evaluate's printout: a line per source and retriever; the chit-chat line glosses the detector's
    false positives and negatives in words, so they read the same as the failure report's columns; then,
    where the questions declare kinds (`kinds`: kind -> {retriever: {...}, "questions": n}), a line per kind
    and retriever."""
    lines = []
    for source, section in scores.items():
        for name, values in section.items():
            if name == "kinds":
                continue
            cells = []
            for key, value in values.items():
                cells.append(_cell(key, value))
                if name == "chitchat" and key in CHITCHAT_GLOSS:
                    cells[-1] += f" ({CHITCHAT_GLOSS[key]})"
            lines.append(f"evaluate: {source:<15} {name:<12} " + "  ".join(cells))
        for kind, per_retriever in section.get("kinds", {}).items():
            count = per_retriever.get("questions", 0)
            for name, values in per_retriever.items():
                if name != "questions":
                    cells = [f"kind={kind}", f"questions={count}", *(_cell(k, v) for k, v in values.items())]
                    lines.append(f"evaluate: {source:<15} {name:<12} " + "  ".join(cells))
    return lines


def source_plots(
    painter: Painter,
    plots: Callable[[str], Path],
    source: str,
    curves: dict[str, list[dict]],
    retrievers: dict[str, dict[str, float]],
    plans: Mapping[str, Mapping],
    qrels: Mapping[str, Sequence[str]],
    rule: Mapping[str, float] | None,
) -> None:
    """A validation source's plots: the data `dvc plots diff` sets side by side across experiments (one MAP bar and
    one recall curve per retriever: `plots("map/<source>.json")`, `plots("recall/<source>.json")`) and, through
    `painter`, the pictures: recall curves, MAP per retriever and, where the source has chit-chat to tell apart
    and a rule decided it (`rule` None: detection was off), the detector's scores (`plot_chitchat_scores`)."""
    rows = [{"retriever": name, "map@3": v["map@3"], "mrr@10": v["mrr@10"]} for name, v in retrievers.items()]
    write_json(plots(f"map/{source}.json"), rows)
    write_json(plots(f"recall/{source}.json"), [{"retriever": n, **row} for n, rows in curves.items() for row in rows])
    title = f"Recall by cutoff: {source}"
    painter.draw(plot_recall_curves, curves, plots(f"images/recall_{source}.png"), title=title)
    painter.draw(plot_map_by_retriever, retrievers, plots(f"images/map_{source}.png"))
    if rule and not all(qrels.values()):
        asked = {qid: plans[qid] for qid in qrels if qid in plans}  # a missing plan fails in the drawing
        title = f"Chit-chat detector scores: {source}"
        painter.draw(plot_chitchat_scores, asked, qrels, rule, plots(f"images/chitchat_{source}.png"), title=title)


def _figure(**settings) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**settings)


def plot_recall_curves(curves: dict[str, list[dict]], path: str | os.PathLike, title: str = "Recall by cutoff") -> None:
    """One recall@k line per retriever (rows {"k", "recall"} from `metrics.recall_curve`)."""
    figure = _figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    ks = sorted({row["k"] for rows in curves.values() for row in rows})
    for name in sorted(curves):
        rows = sorted(curves[name], key=lambda row: row["k"])
        axes.plot([row["k"] for row in rows], [row["recall"] for row in rows], marker="o", label=name)
    if ks:
        axes.set_xscale("log")
        axes.set_xticks(ks, [str(k) for k in ks])
        axes.minorticks_off()
    axes.set(xlabel="k", ylabel="recall@k", ylim=(0, 1.02), title=title)
    axes.grid(True, alpha=0.3)
    if curves:
        axes.legend(loc="lower right")
    save_png(figure, path)


def plot_map_by_retriever(metrics: dict[str, dict[str, float]], path: str | os.PathLike, metric: str = "map@3") -> None:
    """Bar chart of one metric (default the competition's MAP@3) per retriever, value on each bar."""
    missing = sorted(name for name in metrics if metric not in metrics[name])
    if missing:
        raise ValueError(f"metric {metric!r} missing for retriever(s): {', '.join(missing)}")
    names = sorted(metrics)
    values = [metrics[name][metric] for name in names]
    figure = _figure(figsize=(max(4.0, 1.2 * len(names) + 2), 4.2), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.bar(names, values, color="tab:blue")
    axes.bar_label(bars, labels=[f"{value:.4f}" for value in values], padding=2)
    axes.set(ylabel=metric, ylim=(0, 1.08), title=f"{metric} by retriever")
    axes.grid(True, axis="y", alpha=0.3)
    save_png(figure, path)


CHITCHAT_BINS = 40  # probability bins of 0.025: wider ones than the Korean margin (0.03) would blur its band


def plot_chitchat_scores(
    plans: Mapping[str, Mapping],
    qrels: Mapping[str, Sequence[str]],
    rule: Mapping[str, float],
    path: str | os.PathLike,
    title: str = "Chit-chat detector scores",
) -> None:
    """`chitchat_figure` as a PNG."""
    save_png(chitchat_figure(plans, qrels, rule, title), path)


def chitchat_figure(
    plans: Mapping[str, Mapping],
    qrels: Mapping[str, Sequence[str]],
    rule: Mapping[str, float],
    title: str = "Chit-chat detector scores",
) -> Figure:
    """Histograms of the detector's P(chit-chat) for the chit-chat questions (no relevant document in `qrels`) and
    the knowledge questions, with its decision rule (`rule`: threshold, margin): chit-chat at threshold + margin and
    above; between threshold and threshold + margin only when the question names no corpus term (the unsure band).
    `plans`: qid → the retrieve stage's plan (runs/<split>/queries.jsonl rows: chitchat_probability, source); a
    question the LLM judged (source llm) is drawn by its detector score but counted apart, as the score did not
    decide it; a conversation closed by its last turn (`closing`: ragtune.query.plan.closing_turns) is drawn by
    that turn's score, which decided it, and counted apart too."""
    missing = sorted(qid for qid in qrels if qid not in plans)
    if missing:
        raise ValueError(f"{len(missing)} labelled question(s) have no retrieval plan, e.g. {missing[0]!r}")
    threshold, margin = rule["threshold"], rule["margin"]

    def score(plan: Mapping) -> float:
        return plan["last_turn_probability"] if plan.get("closing") else plan["chitchat_probability"]

    groups = {
        "chit-chat": [score(plans[qid]) for qid in qrels if not qrels[qid]],
        "knowledge": [score(plans[qid]) for qid in qrels if qrels[qid]],
    }
    figure = _figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.add_subplot()
    bins = [i / CHITCHAT_BINS for i in range(CHITCHAT_BINS + 1)]
    for (name, scores), colour in zip(groups.items(), ("tab:orange", "tab:blue")):
        axes.hist(scores, bins=bins, alpha=0.6, color=colour, label=f"{name} ({len(scores)})")
    band = "unsure band: chit-chat only without a corpus term"
    axes.axvspan(threshold, min(threshold + margin, 1.0), color="grey", alpha=0.25, label=band)
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g} (margin {margin:g})")
    by_llm = sum(1 for qid in qrels if plans[qid].get("source") == "llm")
    closed = sum(1 for qid in qrels if plans[qid].get("closing"))
    note = f"\n{by_llm} of {len(qrels)} judged by the LLM, not by this score" if by_llm else ""
    note += f"\n{closed} closing turn(s) drawn by the last turn's score" if closed else ""
    axes.set(xlabel="P(chit-chat)", ylabel="questions", xlim=(0, 1), title=title + note)
    axes.legend(loc="best", fontsize="small")
    return figure
