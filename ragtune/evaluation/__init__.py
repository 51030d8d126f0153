"""Measuring runs: the competition's MAP@3 and standard IR metrics, failure reports and plots, run comparison,
a sweep's experiments side by side, the summary read first.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["compare", "metrics", "objective", "report", "summary", "sweep"],
    submod_attrs={
        "compare": ["compare_runs", "describe_comparison", "load_documents", "load_labels", "load_run"],
        "metrics": [
            "competition_ap",
            "evaluate",
            "evaluate_runs",
            "evaluate_with_curve",
            "judge",
            "per_query",
            "ranking",
            "recall_curve",
        ],
        "report": [
            "chitchat_figure",
            "failure_report",
            "plot_chitchat_scores",
            "plot_map_by_retriever",
            "plot_recall_curves",
            "source_plots",
            "summary_lines",
        ],
        "summary": ["by_kind", "summarize", "summary_table"],
    },
)
