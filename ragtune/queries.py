"""Synthetic training questions, offline: inverse-cloze sentences and key-phrase questions.

Without an LLM, two kinds of question still teach a retriever what a document is about:
- inverse cloze: one sentence of the document stands in for a question about the rest;
- key-phrase: the document's most specific nouns (TF·IDF over the corpus) in question templates.
Everything is seeded per document, so adding a document never changes another's questions.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from typing import Sequence

NOUN_TAGS = ("NNG", "NNP", "SL")

# {a}, {b}: key phrases; {a_i}: {a} + the topic particle that fits its last syllable, etc.
SINGLE_TEMPLATES = ("{a_i} 무엇인가요?", "{a}에 대해 설명해줘.", "{a}의 특징은 무엇인가?", "{a_i} 왜 중요한가요?",
                    "{a}에 대해 알려줘.")
PAIR_TEMPLATES = ("{a_wa} {b}의 관계는 무엇인가요?", "{a_i} {b}에 어떤 영향을 미치나요?",
                  "{a}에서 {b}의 역할은 무엇인가?", "{a_wa} {b}에 대해 설명해줘.")


def has_final_consonant(word: str) -> bool:
    """True when the last Hangul syllable ends in a consonant (받침), which picks 은/는, 과/와."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - ord("가")) % 28 != 0
    return False


def _fill(template: str, a: str, b: str = "") -> str:
    return template.format(a=a, b=b, a_i=a + ("은" if has_final_consonant(a) else "는"),
                           a_wa=a + ("과" if has_final_consonant(a) else "와"))


def document_rng(docid: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{docid}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def inverse_document_frequency(morphemes: Sequence[Sequence[tuple[str, str]]]) -> dict[str, float]:
    df = Counter()
    for doc in morphemes:
        df.update({form for form, tag in doc if tag in NOUN_TAGS})
    n = len(morphemes)
    return {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}


def key_phrases(morphemes: Sequence[tuple[str, str]], idf: dict[str, float], top: int = 4) -> list[str]:
    """Nouns of two or more characters ranked by TF·IDF; adjacent nouns kept as one compound when both qualify."""
    counts = Counter()
    previous = None
    for form, tag in morphemes:
        if tag in NOUN_TAGS and len(form) >= 2:
            counts[form] += 1
            if previous is not None:
                counts[f"{previous} {form}"] += 0.5  # compounds like "세포 분열" read better than either half
            previous = form
        else:
            previous = None
    scored = {term: tf * min(idf.get(part, 0.0) for part in term.split()) for term, tf in counts.items()}
    ranked = sorted(scored, key=lambda term: (-scored[term], term))
    chosen: list[str] = []
    for term in ranked:
        if not any(term in c or c in term for c in chosen):
            chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def offline_questions(docid: str, sentences: Sequence[str], phrases: Sequence[str], n: int, seed: int) -> list[str]:
    """n distinct questions for one document, alternating inverse-cloze and key-phrase forms."""
    rng = document_rng(docid, seed)
    cloze = [s.rstrip(".!? ") for s in sentences if len(s) >= 15]
    rng.shuffle(cloze)
    made: list[str] = []
    for i in range(n * 3):  # a few spare attempts for duplicates and short documents
        if len(made) == n:
            break
        form = i % 3
        if form == 0 and cloze:
            question = cloze.pop()
        elif form == 2 and len(phrases) >= 2:
            a, b = rng.sample(list(phrases[:4]), 2)
            question = _fill(rng.choice(PAIR_TEMPLATES), a, b)
        elif phrases:
            question = _fill(rng.choice(SINGLE_TEMPLATES), rng.choice(list(phrases[:3])))
        else:
            continue
        if question not in made:
            made.append(question)
    return made


def holdout_documents(docids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """A stable, seeded split by document: its questions validate instead of train."""
    def key(docid: str) -> float:
        return int.from_bytes(hashlib.sha256(f"holdout:{seed}:{docid}".encode()).digest()[:8], "big") / 2**64
    return {d for d in docids if key(d) < fraction}


def round_trip_filter(pairs: Sequence[dict], retrieved: Sequence[Sequence[str]], top_k: int) -> tuple[list[dict], list[dict]]:
    """Keep a (query, docid) pair only when its document is in the query's top-k: the question is answerable."""
    kept, dropped = [], []
    for pair, docids in zip(pairs, retrieved):
        (kept if pair["docid"] in list(docids)[:top_k] else dropped).append(pair)
    return kept, dropped


def with_llm_questions(client, documents: Sequence[dict], offline_pairs: Sequence[dict], n: int,
                       search, round_trip_top_k: int) -> tuple[list[dict], dict]:
    """LLM questions for every document, BM25 round-trip filtered; documents left without a question
    (LLM failure, or every question dropped) keep their offline questions. `search(texts, k)` → hits."""
    from ragtune.llm import generate_questions

    batch = generate_questions(client, [(d["docid"], d["content"]) for d in documents], n)
    generated = [{"query": q, "docid": d["docid"], "source": "llm"} for d in documents for q in batch.questions.get(d["docid"], [])]
    kept, dropped = generated, []
    if round_trip_top_k > 0 and generated:
        hits = search([pair["query"] for pair in generated], round_trip_top_k)
        kept, dropped = round_trip_filter(generated, [[docid for docid, _ in h] for h in hits], round_trip_top_k)
    covered = {pair["docid"] for pair in kept}
    fallback = [pair for pair in offline_pairs if pair["docid"] not in covered]
    order = {d["docid"]: i for i, d in enumerate(documents)}
    pairs = sorted(kept + fallback, key=lambda pair: order[pair["docid"]])  # stable: questions keep their order
    stats = {**{f"llm_{k}": v for k, v in batch.stats.items()}, "llm_failed_documents": len(batch.failed),
             "round_trip_kept": len(kept), "round_trip_dropped": len(dropped), "offline_fallback": len(fallback)}
    return pairs, stats
