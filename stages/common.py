"""What every stage script shares: its parameters, its inputs checked, a clean failure on bad input or a signal."""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path

# This checkout's library, not whichever one the environment installed (an editable install of
# another clone, a `dvc queue` copy, a `ragtune reproduce` worktree).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragtune.kernels import native_for, set_ceiling  # noqa: E402

# One instruction-set ceiling for the CPU kernels (ragtune.kernels), set before torch loads here and in the training
# runner's process (`cpu_kernels: portable`, the default): an AVX-512 machine takes the AVX2 paths, so it encodes
# the bytes an AVX2 machine does, on any core count (a fine-tuning across vendors may differ in its weights' last
# bits: docs/reproducibility.md). A value the user sets wins. None is set for a stage on native kernels
# (`native_for`: cpu_kernels=native, index.precision=bf16): their bytes depend on the CPU kind.
if not native_for(Path(sys.argv[0]).stem, Path(__file__).resolve().parents[1]):
    set_ceiling()

from ragtune.cache.location import cache_root  # noqa: E402
from ragtune.config import preflight  # noqa: E402
from ragtune.config.paths import Workspace  # noqa: E402
from ragtune.config.pipeline import dvc_stages, missing_input  # noqa: E402
from ragtune.config.restore import read_params  # noqa: E402
from ragtune.config.schema import Params  # noqa: E402
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


@functools.cache
def params() -> Params:
    """The resolved parameters DVC tracks (params.yaml, composed from conf/ by `dvc exp run`), typed and checked
    against the schema (ragtune/config/schema.py) before the stage does any work: a bad key ends it in one line,
    and a rejected key `dvc exp run -S` changed gets its committed value back (ragtune/config/restore.py), so the
    next `dvc repro` does not fail on it too."""
    values = read_params(ROOT / "params.yaml")
    warn_on_data_switch(cache_root(ROOT), values.data.name)
    return values


def stage(main):
    """Run a stage's main(); a data or configuration error (ragtune's UserError: DataError, ParamsError,
    LLMError, WriteError, an unreachable model or server) ends it with one clear line and exit status 1.
    So does an input another stage makes that is not there yet (it names that stage), and, before main(), what
    the preflight finds missing for this stage and the ones after it (ragtune/config/preflight.py: services,
    cache directory, disk space). Ctrl-C or SIGTERM end it with `<stage>: interrupted` and 130 / 143, after
    temporary and staging directories are removed. Anything else is a bug and keeps its traceback."""
    name = Path(main.__code__.co_filename).stem

    @functools.wraps(main)
    def run() -> None:
        terminate_raises()
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            missing = missing_input(name, ROOT)
            if missing:
                print(missing, file=sys.stderr)
                sys.exit(1)
            # what this stage and the ones after it need from outside, before any work (ragtune/config/preflight.py)
            preflight.check(
                params(), name, list(dvc_stages(ROOT)), ROOT, warn=lambda line: print(line, file=sys.stderr)
            )
            main()
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
        except (KeyboardInterrupt, Terminated) as exc:
            print(f"{name}: interrupted", file=sys.stderr)
            sys.exit(interrupted_status(exc))

    return run
