"""What the full-corpus fine-tuning studies read from a kept pipeline workspace (`benchmarks/pipeline.py --keep`).

The corpus, the base model's vectors through the index stage's encoding memo, the measured questions (the
conversational knowledge rows and `--dev` seeded dev rows) and the offline training questions; plus the
command-line options the benchmarks share. Used by research/query_tower/query_tower.py and research/passage_side/passage_side.py.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e5_bench import PASSAGE_LEN, QUERY_LEN, log  # noqa: E402

from ragtune.cache.encodings import EncodingMemo  # noqa: E402
from ragtune.io import read_jsonl  # noqa: E402
from ragtune.models import encoders  # noqa: E402


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, required=True, help="a pipeline workspace after its index stage")
    parser.add_argument("--dev", type=int, default=1000, help="seeded dev questions measured (never trained on)")
    parser.add_argument("--temperature", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)


@dataclass
class KeptWorkspace:
    work: Path
    documents: list[dict]
    docids: list[str]
    position: dict[str, int]  # docid -> row of `passages`
    passages: torch.Tensor  # the base model's passage vectors, one row per document
    validation: list[dict]  # labelled validation rows with relevant documents
    measured: dict[str, list[dict]]  # conversational: every knowledge row; dev: a seeded sample
    offline: list[tuple[str, str]]  # (question, docid): the pipeline's offline training questions

    @property
    def base_dir(self) -> Path:
        return self.work / "models" / "base"

    def base_vectors(self, kind: str, texts: list[str], memo_dir: Path) -> torch.Tensor:
        """The base model's vectors of `texts` as queries or passages, remembered in `memo_dir`."""
        memo = EncodingMemo(
            memo_dir,
            self.base_dir,
            kind,
            QUERY_LEN if kind == "query" else PASSAGE_LEN,
            "none",
            encoders.devices_key(None),
        )
        encoder = lambda batch: (  # noqa: E731
            encoders.load_encoder(  # noqa: E731
                self.base_dir, query_max_length=QUERY_LEN, passage_max_length=PASSAGE_LEN
            )
            .encode(batch, kind=kind)
            .dense
        )
        vectors = torch.from_numpy(memo.encode(texts, encoder))
        log(f"{len(texts)} {kind} vectors of the base model ({memo.remembered} remembered)")
        return vectors


def load(args: argparse.Namespace) -> KeptWorkspace:
    work = args.work
    documents = read_jsonl(work / "data/prepared/documents.jsonl")
    docids = [d["docid"] for d in documents]
    validation = [row for row in read_jsonl(work / "data/queries/validation.jsonl") if row.get("relevant")]
    measured = {
        "conversational": [row for row in validation if row.get("source") == "conversational"],
        "dev": random.Random(args.seed).sample([r for r in validation if r.get("source") == "dev"], args.dev),
    }
    workspace = KeptWorkspace(
        work=work,
        documents=documents,
        docids=docids,
        position={d: i for i, d in enumerate(docids)},
        passages=torch.zeros(0),
        validation=validation,
        measured=measured,
        offline=[(row["query"], row["docid"]) for row in read_jsonl(work / "data/queries/train.jsonl")],
    )
    # the index stage's memo: its base passage vectors of the whole corpus are remembered there
    workspace.passages = workspace.base_vectors(
        "passage", [d["content"] for d in documents], work / "models/.encodings"
    )
    return workspace
