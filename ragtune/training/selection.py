"""Never ship a worse model: base vs fine-tuned dense retrieval on validation questions, by MAP@3.

The choice is made on one validation source (e.g. the conversational questions, closest to the
competition's), falling back to every row when that source is absent. On CPU the corpus can be capped:
the questions' relevant documents plus a seeded sample of the others (the same corpus for both models,
so the comparison is fair, though absolute figures run higher than on the full corpus).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ragtune.cache.encodings import EncodingMemo, encode_together
from ragtune.evaluation import metrics
from ragtune.models import encoders, shared_bottom
from ragtune.query.conversation import standalone_query

Select = Literal["auto", "finetuned", "base"]
KEYS = ("select", "select_on", "select_corpus")  # of the train group


def selection_questions(rows: Sequence[Mapping], source: str | None) -> tuple[list[Mapping], str]:
    """The validation rows of `source` (those with a document to find), or all such rows when none has it."""
    answerable = [row for row in rows if row.get("relevant")]
    chosen = [row for row in answerable if source and row.get("source") == source]
    return (chosen, source) if chosen else (answerable, "all")


def capped_corpus(docids: Sequence[str], relevant: set[str], cap: int, seed: int) -> list[str]:
    """All `docids` when `cap` <= 0 or they fit; else the relevant ones plus a seeded sample, in corpus order."""
    if cap <= 0 or len(docids) <= cap:
        return list(docids)
    others = [d for d in docids if d not in relevant]
    keep = set(relevant) | set(random.Random(seed).sample(others, max(0, min(len(others), cap - len(relevant)))))
    return [d for d in docids if d in keep]


def question_text(row: Mapping) -> str:
    """What a validation row asks: its question, or a conversation's standalone query."""
    return row["msg"] if isinstance(row["msg"], str) else standalone_query(row["msg"])


def dense_map(
    query_vectors: np.ndarray,
    passage_vectors: np.ndarray,
    docids: Sequence[str],
    questions: Sequence[Mapping],
    k: int = 3,
) -> float:
    """MAP@k (the competition's rule, ragtune.evaluation.metrics) of exact dense search over `docids`, the
    `questions`' vectors in their order."""
    scores = query_vectors @ passage_vectors.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, : max(k, 10)]
    run = {str(q["qid"]): {docids[i]: float(scores[row, i]) for i in top[row]} for row, q in enumerate(questions)}
    qrels = {str(q["qid"]): list(q["relevant"]) for q in questions}
    return metrics.evaluate(run, qrels, (f"map@{k}",))[f"map@{k}"]


def choose(select: Select, base_score: float | None, finetuned_score: float | None) -> str:
    """ "finetuned" or "base": forced by `select`, else the fine-tuned model only where it scores strictly higher."""
    if select in ("finetuned", "base"):
        return select
    if select != "auto":
        raise ValueError(f"train.select must be auto, finetuned or base, got {select!r}")
    return (
        "finetuned"
        if finetuned_score is not None and base_score is not None and finetuned_score > base_score
        else "base"
    )


def compare_models(
    rows: Sequence[Mapping],
    documents: Sequence[Mapping],
    models: Mapping[str, Path],
    source: str | None,
    corpus_cap: int,
    seed: int,
    query_max_len: int,
    passage_max_len: int,
    encodings: Path,
    engine=None,
    precision: encoders.Precision = "fp32",
) -> dict:
    """MAP@3 of each of `models` (name → model directory) by dense search on the validation `rows` of `source`
    (`selection_questions`), over the corpus capped by `corpus_cap` (`capped_corpus`); passage vectors are
    remembered in `encodings` (ragtune.cache.encodings); `engine` (ragtune.compute) encodes, None: here; `precision`:
    index.precision, as index encodes. Returns the question source and counts and `{name}_map@3`."""
    questions, chosen_source = selection_questions(rows, source)
    texts = {d["docid"]: d["content"] for d in documents}
    relevant = {docid for q in questions for docid in q["relevant"] if docid in texts}
    docids = capped_corpus([d["docid"] for d in documents], relevant, corpus_cap, seed)
    passages = [texts[d] for d in docids]
    lengths = dict(query_max_length=query_max_len, passage_max_length=passage_max_len, precision=precision)
    arithmetic = encoders.arithmetic_key("none", precision)
    key = ("passage", passage_max_len, arithmetic, encoders.default_device())  # as index keys them: it reuses them
    memos = {name: EncodingMemo(encodings, model_dir, *key) for name, model_dir in models.items()}
    asked = [question_text(q) for q in questions]
    pair = None
    if len(models) == 2:  # a frozen bottom both share runs once for both (ragtune.models.shared_bottom)
        pair = (shared_bottom.load_pair if engine is None else engine.load_pair)(*models.values(), **lengths)
    if pair is not None:  # its encoders serve each model too: none is loaded twice
        encode_together(list(memos.values()), passages, lambda: functools.partial(pair.dense, kind="passage"))
        paired = dict(zip(models, zip((pair.first, pair.second), pair.dense(asked, "query"), strict=True)))
    scores = {}
    for name, model_dir in models.items():  # apart, one model at a time (a BGE-M3 each)
        if pair is not None:
            encoder, queries = paired[name]
        else:
            encoder = (encoders.load_encoder if engine is None else engine.load_encoder)(model_dir, **lengths)
            queries = encoder.encode(asked, kind="query").dense if asked else None
        vectors = memos[name].encode(passages, lambda t, e=encoder: e.encode(t, kind="passage").dense)
        scores[f"{name}_map@3"] = round(dense_map(queries, vectors, docids, questions), 6) if questions else None
    return {"source": chosen_source, "questions": len(questions), "documents": len(docids), **scores}
