"""`ragtune` command line: compose params; tune parameters over dvc experiments; search a built workspace and
export its retriever; release, reproduce, list and compare leaderboard submissions.

Exit codes: 0 success (reproduce: the bytes match); 1 reproduce finished but the bytes differ;
2 refused or failed (the message says why), or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cache(args: argparse.Namespace) -> int:
    """What the stores beside the repository hold; with --prune-unused-days, forget the regenerable entries not
    used for that long (ragtune.cache.stores)."""
    from ragtune.cache import stores
    from ragtune.cache.location import cache_root
    from ragtune.release.vcs import find_dvc_root

    root = cache_root(find_dvc_root(Path.cwd()))
    print(f"stores: {root}")
    print(stores.describe(stores.usage(root)))
    if args.prune_unused_days is not None:
        removed = stores.prune(root, args.prune_unused_days * 86400, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        print(f"\n{verb}, unused for {args.prune_unused_days:g} days or more:")
        print(stores.describe(removed, heading="store"))
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from ragtune.evaluation.compare import compare_runs, describe_comparison, load_documents, load_labels, load_run

    qrels, questions = load_labels(Path(args.qrels))
    result = compare_runs(load_run(args.a), load_run(args.b), qrels, questions, metric=args.metric)
    documents = load_documents(Path(args.documents)) if args.documents and Path(args.documents).is_file() else None
    print(describe_comparison(result, args.a, args.b, limit=args.limit, documents=documents))
    if documents is None and args.documents:
        print(f"\n(no {args.documents}: documents shown by id only; run `dvc repro prepare` or pass --documents)")
    return EXIT_OK


def _plot_sweep(args: argparse.Namespace) -> int:
    """One metric of every finished experiment against a swept parameter (ragtune.evaluation.sweep)."""
    from ragtune.evaluation import sweep
    from ragtune.release.vcs import find_dvc_root

    root = find_dvc_root(Path.cwd())
    found = sweep.collect(sweep.read_experiments(root), args.param, args.metric)
    print(sweep.describe(found, args.param, args.metric))
    # By default under .dvc/tmp/ (ignored), as `ragtune releases` does: the work tree stays clean for a release.
    plot = Path(args.out) if args.out else sweep.default_path(root, args.param, args.metric)
    sweep.plot(found, args.param, args.metric, plot)
    print(f"\nplot: {plot}")
    return EXIT_OK


def _params(args: argparse.Namespace) -> int:
    """Compose conf/ into params.yaml exactly as `dvc exp run -S …` does (DVC's own Hydra composition)."""
    from dvc.utils.hydra import compose_and_dump

    from ragtune.config.schema import validate
    from ragtune.config.workspace import compose

    root = Path.cwd()
    validate(compose(root / "conf", args.overrides), source="conf/ " + " ".join(args.overrides))  # before writing
    compose_and_dump(root / "params.yaml", str((root / "conf").resolve()), None, "config", str(root), args.overrides)
    print(f"wrote params.yaml from conf/ {' '.join(args.overrides)}".rstrip())
    return EXIT_OK


def _use(args: argparse.Namespace) -> int:
    """Record the workspace's standing choices (conf/workspace/choices.yaml), validated by the schema."""
    from ragtune.config import workspace

    conf = Path.cwd() / "conf"
    if args.reset:
        print("workspace choices cleared" if workspace.reset(conf) else "no workspace choices to clear")
    if args.assignments:
        workspace.use(conf, args.assignments)
    if args.show or args.assignments or not args.reset:
        print(workspace.show(conf))
    if args.assignments:
        print("later `dvc exp run -S …` compose on top of these; `ragtune params` writes params.yaml for dvc repro")
    return EXIT_OK


def _tune(args: argparse.Namespace) -> int:
    """An Optuna search, one `dvc exp run` per trial (ragtune.release.tuning)."""
    from ragtune.cache.location import cache_root
    from ragtune.config import workspace
    from ragtune.config.schema import validate
    from ragtune.evaluation.objective import objective
    from ragtune.io import read_json
    from ragtune.release import tuning
    from ragtune.release.vcs import find_dvc_root

    root = find_dvc_root(Path.cwd())
    conf = root / "conf"
    composed = workspace.compose(conf)
    metrics = root / "metrics" / "retrieval.json"
    if args.objective is not None:
        validate(workspace.compose(conf, [tuning.override("tune.objective", args.objective)]), source="--objective")
        if metrics.exists():
            objective(read_json(metrics), args.objective)  # a key the metrics lack fails before the study is made
    if args.spaces:
        tuning.check_spaces(conf, [tuning.parse_space(w) for w in args.spaces])  # before the study is created
    handle = tuning.open_study(
        root, args.study, args.spaces, args.objective, composed["tune"]["objective"], seed=composed["seed"]
    )
    present = tuning.check_spaces(conf, handle.spaces)
    if args.trials and metrics.exists():
        objective(read_json(metrics), handle.objective)  # the study's own, before any trial
    if args.trials:
        ran = tuning.run_trials(handle, args.trials, tuning.dvc_runner(root, _log), present, log=_log)
        _log(f"{ran} trial(s) run; the workspace holds the last one's results")
    print(tuning.describe(handle))
    plots = tuning.plot(handle, cache_root(root) / "tune" / handle.name)
    if plots:
        print("plots: " + ", ".join(str(p) for p in plots))
    best = handle.study.best_trial.user_attrs.get("experiment") if tuning.finished(handle) else None
    if args.apply:
        workspace.use(conf, tuning.best_assignments(handle))
        print(workspace.show(conf))
        print(f"later runs compose these; the best's outputs: dvc exp apply {best}")
    elif best:
        print(
            f"keep the best: ragtune tune --study {handle.name} --apply (ragtune use); its outputs: "
            f"dvc exp apply {best}"
        )
    return EXIT_OK


def _quiet_models() -> None:
    """No progress bars from loading models (the answer is the output), no tokenizer threads warning."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _summary(args: argparse.Namespace) -> int:
    """metrics/summary.json of the workspace, or of a git revision or experiment, as a table."""
    from ragtune.evaluation.summary import SUMMARY_FILE, load, summary_table
    from ragtune.release.vcs import find_dvc_root

    summary, final, objective = load(find_dvc_root(Path.cwd()), args.rev)
    print(f"{SUMMARY_FILE}" + (f" at {args.rev}" if args.rev else " (workspace)"))
    print(summary_table(summary, final, objective))
    return EXIT_OK


def _search(args: argparse.Namespace) -> int:
    """The workspace's final retrieval for one query (ragtune.retrieval.search)."""
    import json

    _quiet_models()
    from ragtune.retrieval.search import WorkspaceSearch, format_results

    results = WorkspaceSearch(Path(args.root)).search(args.query, args.top)
    if args.json:
        print(json.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2))
    else:
        print(format_results(results))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    """The tuned embedder, its FAISS index and the passages, for use outside ragtune (ragtune.models.export)."""
    _quiet_models()
    from ragtune.models.export import export

    written = export(Path(args.root), Path(args.dir), force=args.force, log=_log)
    print(f"wrote {written}: " + ", ".join(sorted(p.name for p in written.iterdir())))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from ragtune.evaluation.sweep import DEFAULT_METRIC

    parser = argparse.ArgumentParser(prog="ragtune", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cac = commands.add_parser(
        "cache",
        help="what the stores beside the repository hold; forget what has long gone unused",
        description="The stores outside DVC's outputs ($RAGTUNE_CACHE_DIR, else .git/ragtune/): entries, size, "
        "last use. --prune-unused-days N removes the candidate searches, offline plans, file digests and lexical "
        "fusions no run has used for N days (each is computed again when needed); LLM answers and tuning studies "
        "are kept. The DVC cache is DVC's: `dvc gc`.",
    )
    cac.add_argument("--prune-unused-days", type=float, metavar="N", help="remove regenerable entries unused N days")
    cac.add_argument("--dry-run", action="store_true", help="with --prune-unused-days: list, remove nothing")
    cac.set_defaults(handler=_cache)

    par = commands.add_parser("params", help="compose conf/ (+ Hydra overrides) into params.yaml, as dvc exp run does")
    par.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=competition alpha=0.6")
    par.set_defaults(handler=_params)

    sm = commands.add_parser(
        "summary",
        help="the figures to read first (metrics/summary.json) as a table",
        description="Print metrics/summary.json, which the evaluate stage writes: per validation source the "
        "submission's retriever's map@3 and mrr@10, dense map@3 before and after training, map@3 per question "
        "kind, chit-chat precision and recall; and the objective.",
    )
    sm.add_argument("rev", nargs="?", help="a git revision or experiment name (default: the workspace)")
    sm.set_defaults(handler=_summary)

    sea = commands.add_parser(
        "search",
        help="rank the workspace's passages for one query, as the retrieve stage would",
        description="Answer QUERY from the built workspace (after `dvc repro`) with the retrieve stage's final "
        "retrieval: offline standalone query, chit-chat detection (chit-chat: no results), lexical and "
        "dense candidates fused as params.yaml says, the tuned cross-encoder when one is configured.",
    )
    sea.add_argument("query")
    sea.add_argument("--top", "-k", type=_positive, default=5, metavar="K", help="results shown (default: %(default)s)")
    sea.add_argument("--json", action="store_true", help="print [{docid, source, title, score, text}] as JSON")
    sea.add_argument("--root", default=".", help="the workspace (default: the current directory)")
    sea.set_defaults(handler=_search)

    exp = commands.add_parser(
        "export",
        help="write the tuned embedder, FAISS index and passages for a RAG application",
        description="Write DIR/embedder (a sentence-transformers model directory), DIR/faiss.index, "
        "DIR/docids.json, DIR/passages.jsonl and DIR/README.md (how to use them) from the built workspace.",
    )
    exp.add_argument("dir", help="the directory to write (refused when it exists and is not empty)")
    exp.add_argument("--force", action="store_true", help="replace DIR even when it is not empty")
    exp.add_argument("--root", default=".", help="the workspace (default: the current directory)")
    exp.set_defaults(handler=_export)

    use = commands.add_parser(
        "use",
        help="record the workspace's choices (groups and keys) under every dvc exp run",
        description="Record KEY=VALUE choices (config groups such as data=competition, or "
        "plain keys such as alpha=0.6) in conf/workspace/choices.yaml, which "
        "conf/config.yaml composes; later `dvc exp run -S …` overrides apply on "
        "top. Values are validated by the parameter schema before anything is "
        "written.",
    )
    use.add_argument("assignments", nargs="*", metavar="KEY=VALUE", help="e.g. data=competition alpha=0.6")
    use.add_argument("--show", action="store_true", help="print the recorded choices (the default with no KEY=VALUE)")
    use.add_argument("--reset", action="store_true", help="forget every recorded choice (before recording new ones)")
    use.set_defaults(handler=_use)

    tun = commands.add_parser(
        "tune",
        help="search parameters with Optuna, one dvc experiment per trial",
        description="Optuna's TPE (seeded by the workspace's seed) proposes values for each SPACE; each trial "
        "runs `dvc exp run --name tune-<study>-<n> -S KEY=VALUE …` and is scored by tune.objective "
        "(conf/config.yaml; --objective). The study is kept in ragtune's store outside DVC's outputs "
        "(<git dir>/ragtune/tune/<study>.db): the same --study again continues it, running only the trials "
        "still missing. Prints every trial and the best; --apply records the best with `ragtune use`.",
    )
    tun.add_argument(
        "spaces",
        nargs="*",
        metavar="SPACE",
        help="KEY=float(low,high[,log]) | KEY=int(low,high[,log]) | KEY=choice(a,b,…), e.g. 'alpha=float(0.3,0.9)' "
        "(optional when continuing a study: its own)",
    )
    tun.add_argument(
        "--trials", type=int, default=0, metavar="N", help="trials the study should have done, in all (default: none)"
    )
    tun.add_argument(
        "--objective",
        default=None,
        metavar="KEY",
        help="a dotted key into metrics/retrieval.json (conversational.hybrid.map@3) or mean:<retriever>.<metric> "
        "over the sources (default: tune.objective)",
    )
    tun.add_argument("--study", default="default", metavar="NAME", help="the study's name (default: %(default)s)")
    tun.add_argument("--apply", action="store_true", help="record the best trial's values with `ragtune use`")
    tun.set_defaults(handler=_tune)

    from ragtune.release.commands import add_release_commands

    add_release_commands(commands)

    swp = commands.add_parser(
        "plot-sweep",
        help="plot one metric of every experiment against a swept parameter",
        description="Read `dvc exp show --json` and plot METRIC of each finished experiment (and of the baseline "
        "commit, marked) against PARAM, each point named by its experiment; prints the points and the PNG's path. "
        "PARAM and METRIC are `dvc exp show` columns: file:dotted.key, or the key alone where one file has it.",
    )
    swp.add_argument("param", metavar="PARAM", help="the swept parameter, e.g. alpha or params.yaml:retrieval.rrf_k")
    swp.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        metavar="KEY",
        help="e.g. metrics/retrieval.json:sample.hybrid.map@3 (default: %(default)s, what ragtune tune maximises)",
    )
    swp.add_argument(
        "--out", default=None, metavar="PATH", help="the PNG (default: .dvc/tmp/sweep-PARAM.png in the DVC root)"
    )
    swp.set_defaults(handler=_plot_sweep)

    cmp_ = commands.add_parser(
        "compare",
        help="per-question wins and losses between two runs",
        description="A and B are runs as the pipeline saves them: a run directory "
        "runs/<split>/<retriever>/ (qids.json, docids.json, ids.npy, scores.npy; "
        "e.g. runs/validation/hybrid), or a JSON file qid -> {docid: score}; "
        "each given as a path or as rev:path (as it was at a git revision or "
        "experiment: git for tracked files, DVC for stage outputs).",
    )
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.add_argument(
        "--qrels",
        default="data/queries/validation.jsonl",
        help="labelled questions JSONL {qid, msg, relevant} (default: %(default)s)",
    )
    cmp_.add_argument(
        "--metric", default="map@3", help="map@k (competition AP), mrr@k, ndcg@k or recall@k (default: %(default)s)"
    )
    cmp_.add_argument("--limit", type=int, default=20, help="questions listed per side (default: %(default)s)")
    cmp_.add_argument(
        "--documents",
        default="data/prepared/documents.jsonl",
        help="documents JSONL {docid, content}, for a snippet of each document named ('' for ids only; "
        "default: the workspace's, %(default)s)",
    )
    cmp_.set_defaults(handler=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ragtune.io import UserError, WriteError
    from ragtune.release.vcs import ReleaseError

    try:
        return args.handler(args)
    except (ReleaseError, UserError, ValueError) as exc:
        print(f"ragtune {args.command}: {exc}", file=sys.stderr)
    except WriteError as exc:
        print(f"ragtune {args.command}: {exc}", file=sys.stderr)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"ragtune {args.command}: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
