"""What every stage script shares: its parameters and a clean failure on bad input."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

import yaml

# This checkout's library, not whichever one the environment installed (an editable install of
# another clone, a `dvc queue` copy, a `ragtune reproduce` worktree).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragtune.config.schema import validate  # noqa: E402
from ragtune.io import UserError, atomic_write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKERS = min(os.cpu_count() or 1, 8)  # threads for analysis; results do not depend on it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def params() -> dict:
    """The resolved parameters DVC tracks (params.yaml, composed from conf/ by `dvc exp run`), checked against
    the schema (ragtune/config/schema.py) before the stage does any work: a bad key or value ends it in one line."""
    with open(ROOT / "params.yaml", encoding="utf-8") as handle:
        values = validate(yaml.safe_load(handle) or {}, source="params.yaml")
    warn_on_data_switch(values["data"]["name"])
    return values


def warn_on_data_switch(name: str) -> None:
    """Loudly, when this run's data group is not the one the workspace ran last (`dvc exp run -S alpha=…`
    after `-S data=competition` composes from conf/ again, i.e. on the default data)."""
    from ragtune.cache.location import cache_root

    previous = record_data_group(cache_root(ROOT), name)
    if previous is not None:
        bar = "!" * 78
        logging.getLogger("ragtune").warning(
            "\n%s\n  this run uses data=%s, but the last run in this workspace used data=%s.\n"
            "  To keep %s for every later run: ragtune use data=%s  (then dvc exp run …)\n%s",
            bar,
            name,
            previous,
            previous,
            previous,
            bar,
        )


def record_data_group(store: Path, name: str) -> str | None:
    """Record `name` as the data group of the workspace's latest run (in the store outside DVC's outputs, shared
    by its experiments and worktrees); return the previous one when it differed."""
    record = store / "last_run.json"
    try:
        previous = json.loads(record.read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous != name:
        try:
            with atomic_write(record) as handle:
                json.dump({"data": name}, handle)
        except OSError:
            pass  # a read-only store must not stop a run: the warning is advice
    return previous if previous not in (None, name) else None


def path(relative: str) -> Path:
    return ROOT / relative


def stage(main):
    """Run a stage's main(); a data or configuration error (ragtune's UserError: DataError, ParamsError,
    LLMError, WriteError, an unreachable model or server) ends it with one clear line and exit status 1.
    Anything else is a bug and keeps its traceback."""

    @functools.wraps(main)
    def run() -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            main()
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)

    return run
