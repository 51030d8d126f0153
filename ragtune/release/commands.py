"""`ragtune release`, `ragtune reproduce`, `ragtune releases`: the leaderboard submissions' commands, added to
the `ragtune` parser by ragtune.cli."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ragtune.cli import EXIT_MISMATCH, EXIT_OK

RELEASES_PLOT = ".dvc/tmp/releases.png"  # under the DVC root; ignored by .dvc/.gitignore


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _release(args: argparse.Namespace) -> int:
    from ragtune.release.tag import release
    from ragtune.release.vcs import find_dvc_root

    made = release(
        find_dvc_root(Path.cwd()),
        score=args.score,
        note=args.note,
        submission=args.submission,
        push=args.push,
        log=log,
    )
    print(made.message.split("\n--- ragtune release record", 1)[0].rstrip())
    print(f"\ncreated tag {made.tag}" + (f"; DVC artifacts pushed to '{made.pushed_to}'" if made.pushed_to else ""))
    print(f"share it with: git push origin {made.tag}")
    return EXIT_OK


def _reproduce(args: argparse.Namespace) -> int:
    from ragtune.release.reproduce import describe_reproduction, reproduce
    from ragtune.release.vcs import find_dvc_root

    result = reproduce(
        find_dvc_root(Path.cwd()), args.tag, keep=args.keep, jobs=args.jobs, regenerate=args.regenerate, log=log
    )
    print(describe_reproduction(result))
    return EXIT_OK if result.matched else EXIT_MISMATCH


def _releases(args: argparse.Namespace) -> int:
    from ragtune.release.leaderboard import describe, list_releases, plot_local_vs_leaderboard, rank_correlations
    from ragtune.release.vcs import find_dvc_root

    root = find_dvc_root(Path.cwd())
    releases = list_releases(root)
    correlations = rank_correlations(releases)
    print(describe(releases, correlations))
    # By default under .dvc/tmp/ (ignored): a PNG in the work tree would leave it dirty and the next
    # `ragtune release` would refuse it.
    plot = root / RELEASES_PLOT if args.plot is None else args.plot
    if releases and plot:
        plot_local_vs_leaderboard(releases, plot)
        print(f"\nplot: {plot}")
    return EXIT_OK


def add_release_commands(commands: argparse._SubParsersAction) -> None:
    rel = commands.add_parser(
        "release",
        help="tag a leaderboard-scored submission so it can be reproduced",
        description="Record a submission that was scored on the leaderboard as an annotated "
        "git tag lb/YYYYMMDD-<score>; refuses a dirty workspace, a stale pipeline "
        "or a submission that is not the output recorded in dvc.lock.",
    )
    rel.add_argument("--score", type=float, required=True, metavar="MAP", help="the leaderboard score it got")
    rel.add_argument("--note", default="", help="free text kept in the tag (what changed, why)")
    rel.add_argument(
        "--submission", default="submissions/submission.csv", help="the submitted file (default: %(default)s)"
    )
    rel.add_argument(
        "--push",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="dvc push to the default remote before tagging (default: on, skipped when no remote)",
    )
    rel.set_defaults(handler=_release)

    rep = commands.add_parser(
        "reproduce",
        help="regenerate a released submission from its tag and check its bytes",
        description="Check TAG out in a temporary git worktree sharing this checkout's DVC "
        "cache, dvc pull, dvc repro, and compare the submission's sha256 with the "
        "recorded one. Exit 0 on a match, 1 on a mismatch, 2 on failure.",
    )
    rep.add_argument("tag", help="a tag made by `ragtune release`, e.g. lb/20250101-0.9123")
    rep.add_argument("--keep", action="store_true", help="keep the worktree for inspection")
    rep.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="parallel transfers for dvc pull")
    rep.add_argument(
        "--regenerate",
        "--force",
        dest="regenerate",
        action="store_true",
        help="rerun every stage (dvc repro --force) instead of restoring cached outputs; "
        "the output says which happened (restored / regenerated)",
    )
    rep.set_defaults(handler=_reproduce)

    rls = commands.add_parser(
        "releases",
        help="every lb/* release: leaderboard score, local metrics, Spearman",
        description="List every lb/* tag with its leaderboard score and the local metrics per "
        "source it was released with; with three or more, the Spearman "
        "correlation of each local figure with the leaderboard score.",
    )
    rls.add_argument(
        "--plot",
        default=None,
        help=f"PNG of local figures vs leaderboard score ('' for none; default: {RELEASES_PLOT} in the DVC root, "
        "which git ignores, so the work tree stays clean for the next release)",
    )
    rls.set_defaults(handler=_releases)
