"""What every stage script shares: its parameters, its inputs checked, a clean failure on bad input or a signal."""

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
from ragtune.io import (  # noqa: E402
    Terminated,
    UserError,
    interrupted_status,
    quiet_third_party_logs,
    terminate_raises,
)

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = Workspace(ROOT)
WORKERS = min(os.cpu_count() or 1, 8)  # threads for analysis; results do not depend on it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
quiet_third_party_logs()  # before the stage imports them; RAGTUNE_VERBOSE=1 keeps every library's lines


def params() -> Params:
    """The resolved parameters DVC tracks (params.yaml, composed from conf/ by `dvc exp run`), typed and checked
    against the schema (ragtune/config/schema.py) before the stage does any work: a bad key ends it in one line."""
    with open(ROOT / "params.yaml", encoding="utf-8") as handle:
        values = load(yaml.safe_load(handle) or {}, source="params.yaml")
    warn_on_data_switch(cache_root(ROOT), values.data.name)
    return values


def missing_input(name: str, root: Path = ROOT) -> str | None:
    """None, or one line naming an input of stage `name` that another stage makes (dvc.yaml: its deps among the
    outs) and that does not exist yet, with the stage to run: of the missing ones, the one made last in the DAG
    (`dvc repro <it>` makes the others too). Without a dvc.yaml (a bare copy of stages/) nothing is checked."""
    if not (root / "dvc.yaml").is_file():
        return None
    stages = (yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages", {})
    outs = {
        str(next(iter(out)) if isinstance(out, dict) else out).rstrip("/"): producer
        for producer, spec in stages.items()
        if producer != name
        for out in spec.get("outs", [])
    }
    missing = []  # (position of the producer in the DAG, path, producer)
    for dep in (str(dep).rstrip("/") for dep in stages.get(name, {}).get("deps", [])):
        # the dep inside another stage's out (data/prepared/documents.jsonl), or outs inside the dep (data/queries)
        made = [(dep, s) for out, s in outs.items() if (dep + "/").startswith(out + "/")]
        made = made or [(out, s) for out, s in outs.items() if out.startswith(dep + "/")]
        missing += [(list(stages).index(s), path, s) for path, s in made if not (root / path).exists()]
    if not missing:
        return None
    _, path, producer = max(missing, key=lambda item: item[0])
    more = f" (and {len(missing) - 1} more of its inputs)" if len(missing) > 1 else ""
    return f"{name}: {path} is missing{more} — run `dvc repro` (or `dvc repro {producer}`) first"


def stage(main):
    """Run a stage's main(); a data or configuration error (ragtune's UserError: DataError, ParamsError,
    LLMError, WriteError, an unreachable model or server) ends it with one clear line and exit status 1.
    So does an input another stage makes that is not there yet (it names that stage). Ctrl-C or SIGTERM end it
    with `<stage>: interrupted` and 130 / 143, after temporary and staging directories are removed. Anything
    else is a bug and keeps its traceback."""
    name = Path(main.__code__.co_filename).stem

    @functools.wraps(main)
    def run() -> None:
        terminate_raises()
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            missing = missing_input(name)
            if missing:
                print(missing, file=sys.stderr)
                sys.exit(1)
            main()
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
        except (KeyboardInterrupt, Terminated) as exc:
            print(f"{name}: interrupted", file=sys.stderr)
            sys.exit(interrupted_status(exc))

    return run
