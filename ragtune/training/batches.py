"""The training file and its conflict-free batches.

Batches without duplicate positives: several synthetic questions are written about each document,
and M3 uses every passage of a batch as an in-batch negative for every query, so two questions about
one document in the same batch teach the model that the document is both right and wrong.
FlagEmbedding 1.4's default dataset (`AbsEmbedderTrainDataset`) leaves batching to the Hugging Face
Trainer, whose default sampler shuffles; `same_dataset_within_batch` only groups by source file and
shuffles inside it. So the rows are written already arranged into conflict-free batches
(`order_for_unique_positives`, one arrangement per epoch, concatenated: `arrange_epochs`) and the
runner makes one pass with `--train_sampling_strategy sequential`, which makes batch k rows
[k*B, (k+1)*B) of that file (ragtune.training.runner).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.io import DataError, iter_jsonl, require

if TYPE_CHECKING:
    from ragtune.training.settings import RunnerSettings


def read_training_file(path: Path) -> list[dict]:
    """FlagEmbedding's `{"query", "pos": [str], "neg": [str], optional "pos_scores"/"neg_scores"}` rows."""
    rows = []
    nonempty_strings = lambda value: bool(value) and all(isinstance(item, str) for item in value)  # noqa: E731
    for line, row in iter_jsonl(path):
        require(path, line, row, "query", str, lambda value: bool(value.strip()), "must not be empty")
        require(path, line, row, "pos", list, nonempty_strings, "must be a non-empty list of strings")
        require(path, line, row, "neg", list, nonempty_strings, "must be a non-empty list of strings")
        for field, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            if field in row and (not isinstance(row[field], list) or len(row[field]) != len(row[texts])):
                raise DataError(path, f"must be a list as long as '{texts}'", line=line, field=field)
        rows.append(row)
    if not rows:
        raise DataError(path, "no training rows")
    return rows


def _conflict_groups(rows: Sequence[dict]) -> list[list[int]]:
    """Row indices grouped so that rows sharing any positive text are in one group (union-find)."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, row in enumerate(rows):
        for text in row["pos"]:
            if text in owner:
                parent[find(index)] = find(owner[text])
            else:
                owner[text] = index
    groups: dict[int, list[int]] = defaultdict(list)
    for index in range(len(rows)):
        groups[find(index)].append(index)
    return list(groups.values())


def batch_conflicts(rows: Sequence[dict], batch_size: int) -> list[tuple[int, str]]:
    """(batch number, text) for every positive that appears more than once among a batch's passages.

    A batch's passages are all its rows' positives and negatives (M3 scores every query against
    all of them), so a positive is in conflict when it is another row's positive or negative.
    """
    found = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        for index, row in enumerate(batch):
            others = {
                text for other, peer in enumerate(batch) if other != index for text in (*peer["pos"], *peer["neg"])
            }
            found.extend((start // batch_size, text) for text in row["pos"] if text in others)
    return sorted(set(found))


def order_for_unique_positives(rows: list[dict], batch_size: int, seed: int) -> list[dict]:
    """Rows reordered so that consecutive chunks of `batch_size` never hold one positive twice.

    Rows sharing a positive are dealt to distinct batches (largest groups first, seeded tie-break,
    round-robin over batch slots, so every batch but the last is full); then rows whose positive is
    another row's negative in the same batch are swapped with rows of other batches where both fit.
    Raises ValueError when some document has more questions than there are batches.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    rng = random.Random(seed)
    count = len(rows)
    num_batches = max(1, math.ceil(count / batch_size))
    groups = _conflict_groups(rows)
    rng.shuffle(groups)
    groups.sort(key=len, reverse=True)
    largest = len(groups[0]) if groups else 0
    # Dealing round-robin over slots puts a group in distinct batches while it is no larger
    # than the shortest round: all batches, or all but a partial last one.
    shortest_round = num_batches if count % batch_size == 0 else num_batches - 1
    if largest > max(1, shortest_round):
        raise ValueError(
            f"{largest} training rows share one positive but there are only {num_batches} batches "
            f"of {batch_size}: lower the batch size or drop questions"
        )
    capacity = [batch_size] * num_batches
    capacity[-1] = count - batch_size * (num_batches - 1)
    slots = [(slot, batch) for slot in range(batch_size) for batch in range(num_batches) if slot < capacity[batch]]
    batches: list[list[int]] = [[] for _ in range(num_batches)]
    for (_, batch), index in zip(slots, (index for group in groups for index in group)):
        batches[batch].append(index)
    _repair_negative_clashes(rows, batches, rng)
    last = batches.pop()
    rng.shuffle(batches)
    for batch in batches:
        rng.shuffle(batch)
    return [rows[index] for batch in (*batches, last) for index in batch]


def _repair_negative_clashes(rows: Sequence[dict], batches: list[list[int]], rng: random.Random) -> None:
    """Swap rows so that no row's positive is among another row's negatives in the same batch."""
    positives = [set(row["pos"]) for row in rows]
    passages = [set(row["pos"]) | set(row["neg"]) for row in rows]

    def fits(index: int, batch: list[int], leaving: int | None = None) -> bool:
        return all(
            index == other
            or other == leaving
            or not (positives[index] & passages[other] or positives[other] & passages[index])
            for other in batch
        )

    for number, batch in enumerate(batches):
        for position, index in enumerate(batch):
            if fits(index, batch):
                continue
            candidates = [b for b in range(len(batches)) if b != number]
            rng.shuffle(candidates)
            for other_number in candidates:
                other_batch = batches[other_number]
                swap = next(
                    (
                        p
                        for p, other in enumerate(other_batch)
                        if fits(other, batch, leaving=index) and fits(index, other_batch, leaving=other)
                    ),
                    None,
                )
                if swap is not None:
                    batch[position], other_batch[swap] = other_batch[swap], index
                    break


def arrange_epochs(rows: list[dict], settings: RunnerSettings) -> tuple[list[dict], int]:
    """The run's rows in training order and its number of optimiser steps.

    One conflict-free arrangement per epoch (seed + epoch), each cut to whole batches so that the
    next epoch starts on a batch boundary; which rows fall in the cut differs from epoch to epoch.
    """
    # Each device's batch is B consecutive rows; with negatives shared across devices the
    # conflict-free unit is the global batch of B * world_size rows (num_gpus on each of nnodes).
    batch = settings.batch_size * (settings.world_size if settings.negatives_cross_device else 1)
    if len(rows) < batch:
        raise ValueError(f"{len(rows)} training rows are fewer than one batch of {batch}")
    usable = len(rows) - len(rows) % batch
    rows_per_step = settings.batch_size * settings.world_size * settings.gradient_accumulation_steps
    if settings.max_steps > 0:
        max_steps = settings.max_steps
    else:
        max_steps = max(1, int(settings.epochs * usable) // rows_per_step)
    passes = math.ceil(max_steps * rows_per_step / usable)
    ordered: list[dict] = []
    for epoch in range(passes):
        ordered.extend(order_for_unique_positives(rows, batch, settings.seed + epoch)[:usable])
    return ordered, max_steps
