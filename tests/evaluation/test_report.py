import pytest

from ragtune.evaluation.metrics import chitchat_scores
from ragtune.evaluation.report import (
    chitchat_figure,
    failure_report,
    plot_chitchat_scores,
    plot_map_by_retriever,
    plot_recall_curves,
    summary_lines,
)

QUESTIONS = {
    "2": "광합성은 어디에서 일어나나요?",
    "10": "Why is the sky blue?",
    "11": "안녕, 오늘 기분 어때?",
    "12": "What is entropy?",
    "13": "고마워!",
}
QRELS = {"2": ["leaf"], "10": ["sky", "rayleigh"], "11": [], "12": ["entropy"], "13": []}
DOCS = {
    "leaf": "엽록체는 식물 세포에서 광합성이 일어나는 장소이다. " * 10,
    "sky": "The sky looks blue because shorter wavelengths scatter more strongly. " * 5,
    "rayleigh": "Rayleigh scattering | intensity ~ 1/lambda^4.",
    "entropy": "Entropy measures the number of microscopic configurations.",
    "moon": "The moon orbits the earth.",
    "sun": "The sun is a star.",
    "rock": "Igneous rocks form from magma.",
}
RUNS = {
    "hybrid": {
        "2": {"leaf": 0.9, "moon": 0.1},
        "10": {"moon": 0.9, "sun": 0.8, "rock": 0.7, "sky": 0.2},  # sky at rank 4: missed in top 3
        "11": {},
        "12": {},  # judged chit-chat, left unanswered: the detector's false positive
        "13": {"sun": 0.5},  # chit-chat answered: the detector's false negative
    },
    "bm25": {
        "2": {"moon": 1.0, "leaf": 0.5},
        "10": {"rayleigh": 2.0, "moon": 1.0},
        "12": {"entropy": 1.0},
        "13": {},
    },
}


def test_summary_counts_misses_and_chit_chat_errors_per_retriever():
    report = failure_report(QUESTIONS, QRELS, RUNS, final="hybrid", docs=DOCS)
    assert "5 questions (3 need retrieval, 2 chit-chat)" in report
    # hybrid: AP = 1, 0, 1, 0, 0 -> 0.4;  bm25: 0.5, 1, 1 (11 missing = empty answer = right), 1, 1 -> 0.9
    assert "| `bm25` | 0.9000 | 0 | 0 | 0 |" in report
    assert "| `hybrid` (final) | 0.4000 | 1 | 1 | 1 |" in report


def test_missed_question_shows_text_expected_docs_returned_docs_and_ranks():
    report = failure_report(QUESTIONS, QRELS, RUNS, final="hybrid", docs=DOCS)
    missed = report.split("### 10\n", 1)[1].split("\n## ", 1)[0]
    assert "> Why is the sky blue?" in missed
    assert "- `sky` — The sky looks blue" in missed
    assert "- `rayleigh` — Rayleigh scattering \\| intensity" in missed  # pipes escaped for tables
    assert "…" in missed  # long expected text is cut at 150 characters
    assert "1. `moon` — The moon orbits the earth." in missed
    assert "3. `rock`" in missed and "`sky` — The sky" in missed
    assert "| retriever | `rayleigh` | `sky` |"  # expected docs in docid order
    assert "| `bm25` | 1 | not in top 2 |" in missed
    assert "| `hybrid` | not in top 4 | 4 |" in missed
    assert "### 2\n" not in report  # hybrid found it


def test_chit_chat_errors_have_their_own_section():
    report = failure_report(QUESTIONS, QRELS, RUNS, final="hybrid", docs=DOCS)
    chit_chat = report.split("## Chit-chat errors", 1)[1]
    answered, unanswered = chit_chat.split("### Chit-chat answered", 1)[1].split("### Questions left unanswered")
    assert "the detector missed it (false negatives) (1)" in answered
    assert "- **13**: 고마워! — returned: `sun`" in answered
    assert "judged chit-chat (false positives) (1)" in unanswered
    assert "- **12**: What is entropy? — expected: `entropy`" in unanswered


def test_report_and_printout_use_the_detectors_terms():
    """Positive = judged chit-chat, as `chitchat_scores` counts: a real question left unanswered is a false
    positive, a chit-chat answered a false negative — in the report's columns and in evaluate's printout."""
    report = failure_report(QUESTIONS, QRELS, RUNS, final="hybrid", docs=DOCS)
    assert (
        "| chit-chat answered (missed by the detector: FN) | questions left unanswered (judged chit-chat: FP) |"
        in report
    )
    assert "(FP)" not in report and "(FN)" not in report
    judged = {qid: not RUNS["hybrid"][qid] for qid in QRELS}  # 11 and 12 judged chit-chat
    scores = chitchat_scores(judged, QRELS)
    assert scores["false_positives"] == 1 and scores["false_negatives"] == 1  # 12 and 13, as the report says
    (line,) = summary_lines({"sample": {"chitchat": scores}})
    assert line.startswith("evaluate: sample          chitchat     questions=5")
    assert "false_positives=1 (questions judged chit-chat, left unanswered)" in line
    assert "false_negatives=1 (chit-chat the detector missed, answered)" in line
    assert "precision=0.5000" in line


def test_report_is_deterministic_in_natural_order_and_respects_limit():
    runs = {"hybrid": {qid: {"moon": 1.0} for qid in QRELS}}
    report = failure_report(QUESTIONS, QRELS, runs, final="hybrid", docs=DOCS)
    assert report.index("### 2\n") < report.index("### 10\n") < report.index("### 12\n")
    assert report == failure_report(
        dict(reversed(QUESTIONS.items())), dict(reversed(QRELS.items())), runs, final="hybrid", docs=DOCS
    )
    limited = failure_report(QUESTIONS, QRELS, runs, final="hybrid", docs=DOCS, limit=1)
    assert "### 2\n" in limited and "### 10\n" not in limited and "… and 2 more not shown." in limited


def test_unknown_final_retriever_is_rejected():
    with pytest.raises(ValueError, match="final retriever 'dense'"):
        failure_report(QUESTIONS, QRELS, RUNS, final="dense", docs=DOCS)


def test_plots_are_written_and_byte_identical_across_calls(tmp_path):
    curves = {
        "bm25": [{"k": 1, "recall": 0.4}, {"k": 10, "recall": 0.7}, {"k": 100, "recall": 0.9}],
        "hybrid": [{"k": 1, "recall": 0.6}, {"k": 10, "recall": 0.85}, {"k": 100, "recall": 0.97}],
    }
    metrics = {"bm25": {"map@3": 0.61}, "hybrid": {"map@3": 0.83}}
    for name, draw, data in (("recall", plot_recall_curves, curves), ("map", plot_map_by_retriever, metrics)):
        first, second = tmp_path / f"{name}1.png", tmp_path / "sub" / f"{name}2.png"
        draw(data, first)
        draw(data, second)
        assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["map1.png", "map2.png", "recall1.png", "recall2.png", "sub"]


def test_map_plot_names_retrievers_missing_the_metric(tmp_path):
    with pytest.raises(ValueError, match="missing for retriever.*dense"):
        plot_map_by_retriever({"dense": {"mrr@10": 0.5}}, tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()


def test_failure_report_title_names_the_source():
    report = failure_report(QUESTIONS, QRELS, RUNS, final="hybrid", docs=DOCS, title="source `conversational`")
    assert report.startswith("# Retrieval failure report: source `conversational`\n")


PLANS = {
    "2": {"chitchat_probability": 0.02, "source": "offline"},
    "10": {"chitchat_probability": 0.31, "source": "offline"},
    "11": {"chitchat_probability": 0.97, "source": "offline"},
    "12": {"chitchat_probability": 0.56, "source": "llm"},
    "13": {"chitchat_probability": 0.58, "source": "offline"},
}
RULE = {"threshold": 0.55, "margin": 0.03, "language": "ko"}


def test_chitchat_figure_separates_the_labels_and_draws_the_decision_rule():
    axes = chitchat_figure(PLANS, QRELS, RULE, title="Chit-chat detector scores: sample").axes[0]
    labels = axes.get_legend_handles_labels()[1]
    assert labels == [
        "chit-chat (2)",  # 11, 13: no relevant document
        "knowledge (3)",
        "unsure band: chit-chat only without a corpus term",
        "threshold 0.55 (margin 0.03)",
    ]
    counts = [sum(patch.get_height() for patch in container) for container in axes.containers]
    assert counts == [2, 3]
    band = axes.patches[-1].get_x(), axes.patches[-1].get_x() + axes.patches[-1].get_width()
    assert band == pytest.approx((0.55, 0.58))
    assert axes.get_title() == "Chit-chat detector scores: sample\n1 of 5 judged by the LLM, not by this score"


def test_chitchat_plot_is_byte_identical_and_names_a_question_without_a_plan(tmp_path):
    plot_chitchat_scores(PLANS, QRELS, RULE, tmp_path / "a.png")
    plot_chitchat_scores(PLANS, QRELS, RULE, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with pytest.raises(ValueError, match="1 labelled question.*no retrieval plan.*'13'"):
        plot_chitchat_scores({k: v for k, v in PLANS.items() if k != "13"}, QRELS, RULE, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_a_closing_turn_is_drawn_by_the_score_that_decided_it():
    closed = {"chitchat_probability": 0.22, "last_turn_probability": 0.9, "closing": True, "source": "offline"}
    axes = chitchat_figure({**PLANS, "13": closed}, QRELS, RULE).axes[0]
    (chitchat_bars, _) = axes.containers
    top_bin = [patch.get_height() for patch in chitchat_bars if patch.get_x() >= 0.85]
    assert sum(top_bin) == 2  # 11 at 0.97 and 13 by its last turn's 0.9, not its joined text's 0.22
    assert axes.get_title().endswith("\n1 closing turn(s) drawn by the last turn's score")
