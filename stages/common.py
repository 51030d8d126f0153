"""What every stage script shares: its parameters and a clean failure on bad input."""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path

import yaml

# This checkout's library, not whichever one the environment installed (an editable install of
# another clone, a `dvc queue` copy, a `ragtune reproduce` worktree).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragtune.cache.location import cache_root  # noqa: E402
from ragtune.config.paths import Workspace  # noqa: E402
from ragtune.config.schema import Params, load  # noqa: E402
from ragtune.config.workspace import warn_on_data_switch  # noqa: E402
from ragtune.io import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = Workspace(ROOT)
WORKERS = min(os.cpu_count() or 1, 8)  # threads for analysis; results do not depend on it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def params() -> Params:
    """The resolved parameters DVC tracks (params.yaml, composed from conf/ by `dvc exp run`), typed and checked
    against the schema (ragtune/config/schema.py) before the stage does any work: a bad key ends it in one line."""
    with open(ROOT / "params.yaml", encoding="utf-8") as handle:
        values = load(yaml.safe_load(handle) or {}, source="params.yaml")
    warn_on_data_switch(cache_root(ROOT), values.data.name)
    return values


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
