"""The training file and conflict-free batches: no positive twice in a batch, nor as another row's negative."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from ragtune.io import DataError, write_jsonl
from ragtune.training.batches import arrange_epochs, batch_conflicts, order_for_unique_positives, read_training_file
from ragtune.training.settings import RunnerSettings


def question_rows(docs: int, per_doc: int, negatives: int = 2, seed: int = 0) -> list[dict]:
    """`per_doc` questions about each of `docs` documents, random other documents as negatives."""
    rng = random.Random(seed)
    texts = [f"document {number}" for number in range(docs)]
    return [
        {"query": f"q{number}-{k}", "pos": [text], "neg": rng.sample([t for t in texts if t != text], negatives)}
        for number, text in enumerate(texts)
        for k in range(per_doc)
    ]


def positives_unique(rows, batch_size) -> bool:
    return all(
        len({row["pos"][0] for row in rows[start : start + batch_size]}) == len(rows[start : start + batch_size])
        for start in range(0, len(rows), batch_size)
    )


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def test_questions_sharing_a_document_land_in_different_batches():
    rows = question_rows(docs=40, per_doc=3)
    assert not positives_unique(rows, 8)  # written document by document: every batch has duplicates
    ordered = order_for_unique_positives(rows, batch_size=8, seed=1)
    assert canonical(ordered) == canonical(rows)  # a permutation: nothing dropped or duplicated
    assert positives_unique(ordered, 8)
    assert batch_conflicts(ordered, 8) == []  # nor is a positive another row's negative


def test_ordering_is_seeded():
    rows = question_rows(docs=40, per_doc=3)
    assert order_for_unique_positives(rows, 8, seed=3) == order_for_unique_positives(rows, 8, seed=3)
    assert order_for_unique_positives(rows, 8, seed=3) != order_for_unique_positives(rows, 8, seed=4)


def test_positive_used_as_another_rows_negative_is_moved_out():
    rows = question_rows(docs=40, per_doc=1, negatives=3)
    assert batch_conflicts(rows, 4)
    for seed in range(5):
        assert batch_conflicts(order_for_unique_positives(rows, 4, seed), 4) == []


def test_partial_last_batch_and_impossible_requests():
    rows = question_rows(docs=7, per_doc=3)  # 21 rows, batches of 4: five full and one of 1
    ordered = order_for_unique_positives(rows, 4, seed=0)
    assert len(ordered) == 21 and positives_unique(ordered, 4)
    with pytest.raises(ValueError, match="share one positive"):
        order_for_unique_positives(question_rows(docs=3, per_doc=5, negatives=1), 4, seed=0)


def test_epochs_are_arranged_separately_on_batch_boundaries():
    rows = question_rows(docs=10, per_doc=3)  # 30 rows
    settings = RunnerSettings(batch_size=4, max_steps=20, seed=0)
    ordered, steps = arrange_epochs(rows, settings)
    assert steps == 20 and len(ordered) >= 80 and len(ordered) % 28 == 0  # 28 = whole batches per epoch
    assert positives_unique(ordered, 4)
    assert Counter(row["query"] for row in ordered[:28]).most_common(1)[0][1] == 1
    assert ordered[:28] != ordered[28:56]


def test_the_world_size_counts_every_node():
    """nnodes × num_gpus processes each take a batch per step: 2 nodes of 1 process arrange as 1 node of 2."""
    rows = question_rows(docs=10, per_doc=3)  # 30 rows: 28 in whole batches of 4, 3.5 steps of 8 rows
    two_nodes = RunnerSettings(batch_size=4, seed=0, nnodes=2, master_addr="10.0.0.1")
    assert arrange_epochs(rows, two_nodes) == arrange_epochs(rows, RunnerSettings(batch_size=4, seed=0, num_gpus=2))
    assert (
        arrange_epochs(rows, two_nodes)[1] == 3 and arrange_epochs(rows, RunnerSettings(batch_size=4, seed=0))[1] == 7
    )


def test_training_file_errors_are_located(tmp_path):
    path = tmp_path / "train.jsonl"
    write_jsonl(path, [{"query": "q", "pos": ["p"], "neg": ["n"]}, {"query": "q", "pos": [], "neg": ["n"]}])
    with pytest.raises(DataError) as error:
        read_training_file(path)
    assert error.value.line == 2 and error.value.field == "pos"
    write_jsonl(path, [{"query": "q", "pos": ["p"], "neg": ["n"], "neg_scores": [1.0, 2.0]}])
    with pytest.raises(DataError, match="neg_scores"):
        read_training_file(path)
