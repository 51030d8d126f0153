"""The validation split: the labelled questions when there are any, else the questions about held-out documents."""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.seeding import keyed_fraction


def holdout_documents(docids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """A stable, seeded split by document: its questions validate instead of train."""
    return {d for d in docids if keyed_fraction(d, seed, "holdout") < fraction}


def split_validation(
    pairs: Sequence[dict], labelled: Sequence[dict], docids: Sequence[str], holdout_fraction: float, seed: int
) -> tuple[list[dict], list[dict], dict]:
    """(training pairs, validation rows, their counts). The labelled questions validate when there are any;
    without labels the questions about held-out documents (`holdout_documents`) validate, and never train."""
    if labelled:
        train, validation = list(pairs), list(labelled)
    else:
        held_out = holdout_documents(docids, holdout_fraction, seed)
        validation = [
            {
                "qid": f"holdout-{i:06d}",
                "msg": [{"role": "user", "content": pair["query"]}],
                "relevant": [pair["docid"]],
                "source": "holdout",
            }
            for i, pair in enumerate(pairs)
            if pair["docid"] in held_out
        ]
        train = [pair for pair in pairs if pair["docid"] not in held_out]
    stats = {
        "train_questions": len(train),
        "validation_questions": len(validation),
        "validation_source": "labelled" if labelled else "held-out documents",
        **{
            f"validation_{name}": sum(q["source"] == name for q in validation)
            for name in sorted({q["source"] for q in validation})
        },
    }
    return train, validation, stats
