"""LLM-written questions: every document's questions from the model, round-trip filtered, with the offline
questions as the fallback where the model gave none that survive."""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.synthetic.roundtrip import round_trip_filter


def with_llm_questions(
    client,
    documents: Sequence[dict],
    offline_pairs: Sequence[dict],
    n: int,
    search,
    round_trip_top_k: int,
    language: str = "ko",
    domain: str = "",
) -> tuple[list[dict], dict]:
    """LLM questions for every document, asked in the corpus's `language` (ko, mixed, en, zh, ja) about its
    `domain` (`queries.domain`, "" for none), BM25 round-trip filtered; documents left without a question
    (LLM failure, or every question dropped) keep their offline questions. `search(texts, k)` → hits."""
    from ragtune.llm import generate_questions

    batch = generate_questions(client, [(d["docid"], d["content"]) for d in documents], n, language, domain)
    generated = [
        {"query": q, "docid": d["docid"], "source": "llm"}
        for d in documents
        for q in batch.questions.get(d["docid"], [])
    ]
    kept, dropped = generated, []
    if round_trip_top_k > 0 and generated:
        hits = search([pair["query"] for pair in generated], round_trip_top_k)
        kept, dropped = round_trip_filter(generated, [[docid for docid, _ in h] for h in hits], round_trip_top_k)
    covered = {pair["docid"] for pair in kept}
    fallback = [pair for pair in offline_pairs if pair["docid"] not in covered]
    order = {d["docid"]: i for i, d in enumerate(documents)}
    pairs = sorted(kept + fallback, key=lambda pair: order[pair["docid"]])  # stable: questions keep their order
    stats = {
        **{f"llm_{k}": v for k, v in batch.stats.items()},
        "llm_failed_documents": len(batch.failed),
        "round_trip_kept": len(kept),
        "round_trip_dropped": len(dropped),
        "offline_fallback": len(fallback),
    }
    return pairs, stats
