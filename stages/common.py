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
from ragtune.llm import LLMError  # noqa: E402

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
        except (DataError, LLMError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)
    return run


def model_path(directory: str) -> str:
    """A model directory, or the hub id recorded in its `pointer.json` (real models are not copied into models/)."""
    pointer = path(directory) / "pointer.json"
    if pointer.exists():
        return yaml.safe_load(pointer.read_text(encoding="utf-8"))["name_or_path"]
    return str(path(directory))


def embedded_bm25(config: dict, analyzer_workers: int = WORKERS):
    """bm25s over Kiwi with the sparse group's analysis and k1/b, not yet indexed (whatever the backend:
    mining hard negatives needs no server)."""
    from ragtune.sparse.bm25 import BM25Retriever
    from ragtune.text import KoreanAnalyzer
    return BM25Retriever(KoreanAnalyzer.from_config(config["analyzer"], num_workers=analyzer_workers),
                         k1=config["k1"], b=config["b"])


def sparse_retriever(config: dict, documents: list[dict] | None = None, analyzer_workers: int = WORKERS):
    """The configured lexical backend, not yet indexed. Elasticsearch index names derive from the
    documents and settings, so experiments queued side by side never overwrite each other's index."""
    if config["backend"] == "bm25s":
        return embedded_bm25(config, analyzer_workers)
    if config["backend"] == "elasticsearch":
        from ragtune.sparse import elastic
        analysis = elastic.default_analysis(config["decompound_mode"], config["stoptags"] or elastic.DEFAULT_STOPTAGS)
        name = config["index_prefix"]
        if documents is not None:
            fingerprint = elastic.corpus_fingerprint([d["docid"] for d in documents], [d["content"] for d in documents])
            name = elastic.index_name_for(config["index_prefix"], fingerprint, config["k1"], config["b"], analysis)
        return elastic.ElasticsearchRetriever(index_name=name, api_key_env=config["api_key_env"], k1=config["k1"],
                                              b=config["b"], analyzer=analysis)
    raise ValueError(f"params.yaml: sparse.backend must be bm25s or elasticsearch, got {config['backend']!r}")
