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

from ragtune.io import DataError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKERS = min(os.cpu_count() or 1, 8)  # threads for analysis; results do not depend on it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def params() -> dict:
    """The resolved parameters DVC tracks (params.yaml, composed from conf/ by `dvc exp run`)."""
    with open(ROOT / "params.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def path(relative: str) -> Path:
    return ROOT / relative


def stage(main):
    """Run a stage's main(); a data error ends it with one clear line and exit status 1."""
    @functools.wraps(main)
    def run() -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            main()
        except (DataError, *llm_errors(), ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
    return run


def llm_errors() -> tuple[type[Exception], ...]:
    """LLMError when the stage loaded the LLM layer: importing it here would make every stage depend on ragtune/llm."""
    settings = sys.modules.get("ragtune.llm.settings")
    return (settings.LLMError,) if settings is not None else ()


def model_path(directory: str) -> str:
    """A model directory, or the hub id recorded in its `pointer.json` (real models are not copied into models/)."""
    pointer = path(directory) / "pointer.json"
    if pointer.exists():
        return yaml.safe_load(pointer.read_text(encoding="utf-8"))["name_or_path"]
    return str(path(directory))
