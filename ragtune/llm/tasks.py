"""The three LLM tasks of the pipeline: prompts (ragtune.llm.prompts: the corpus's language, its domain),
answer parsing and validation.

Each task sends one JSON-answer request per item through `LLMClient.run`, returns results
in input order, and reports failed items (None or a `failed` entry) for the caller's
offline fallback. Parsers tolerate code fences and stray text around the JSON object.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragtune.llm.client import LLMClient, RequestFailed
from ragtune.llm.prompts import expansion_messages as _expansion_messages
from ragtune.llm.prompts import judge_messages, role_names
from ragtune.llm.prompts import question_messages as _question_messages

DOCUMENT_CHARS = 1000  # questions are written from the opening of each document
MIN_QUESTION_CHARS = 4  # normalised characters
MIN_COPIED_SENTENCE_CHARS = 20  # shorter "sentences" (headings, fragments) may legitimately recur


@dataclass
class QuestionBatch:
    questions: dict[str, list[str]]  # docid -> validated questions, in input order
    failed: dict[str, str]  # docid -> reason; the caller falls back to the offline generator
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationJudgement:
    standalone: str
    chitchat: bool


@dataclass(frozen=True)
class QueryExpansion:
    variants: list[str]
    hyde: str | None


# ---- parsing helpers --------------------------------------------------------------------

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in `text`, inside a code fence or surrounded by stray prose."""
    decoder = json.JSONDecoder()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for match in re.finditer(r"\{", candidate):
            try:
                obj, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ValueError("no JSON object in the answer")


def normalise(text: str) -> str:
    """Comparison form: NFKC, case-folded, letters and digits only (whitespace and punctuation dropped)."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def _sentences(document: str) -> list[str]:
    parts = re.split(r"(?<=[.?!。])\s+|\n+", document)
    return [s for s in (normalise(p) for p in parts) if len(s) >= MIN_COPIED_SENTENCE_CHARS]


def _strings(obj: Mapping[str, Any], name: str) -> list[str]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise ValueError(f'"{name}" must be a list of strings')
    out = []
    for entry in value:
        if isinstance(entry, dict):  # [{"question": "..."}] is a common variation
            entry = next((v for v in entry.values() if isinstance(v, str)), None)
        if isinstance(entry, str):
            out.append(" ".join(entry.split()))
    return out


def clean_questions(candidates: Sequence[str], document: str, n: int) -> tuple[list[str], Counter[str]]:
    """Keep up to n distinct questions that do not copy a sentence of the document.

    A copy is a question containing a whole document sentence, or a question that is
    itself a verbatim stretch of the document (compared after normalisation).
    """
    dropped: Counter[str] = Counter()
    document_form, sentences = normalise(document), _sentences(document)
    kept, seen = [], set()
    for question in candidates:
        form = normalise(question)
        if len(form) < MIN_QUESTION_CHARS:
            dropped["dropped_invalid"] += 1
        elif form in seen:
            dropped["dropped_dup"] += 1
        elif (len(form) >= MIN_COPIED_SENTENCE_CHARS and form in document_form) or any(s in form for s in sentences):
            dropped["dropped_copy"] += 1
        elif len(kept) >= n:
            dropped["dropped_extra"] += 1
        else:
            seen.add(form)
            kept.append(question)
    return kept, dropped


# ---- 1) synthetic questions -------------------------------------------------------------


def question_messages(document: str, n: int, language: str = "ko", domain: str = "") -> list[dict[str, str]]:
    """The question prompt for a document's opening (its first `DOCUMENT_CHARS` characters)."""
    return _question_messages(document[:DOCUMENT_CHARS].strip(), n, language, domain)


def generate_questions(
    client: LLMClient, docs: list[tuple[str, str]], n: int, language: str = "ko", domain: str = ""
) -> QuestionBatch:
    """n questions per (docid, text) from its first ~1000 characters, asked in the corpus's `language`
    about its `domain` (ragtune.llm.prompts); failures listed for fallback."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    docids = [docid for docid, _ in docs]
    if len(set(docids)) != len(docids):
        duplicate = next(d for d, c in Counter(docids).items() if c > 1)
        raise ValueError(f"duplicate docid {duplicate!r} in docs")
    drops: Counter[str] = Counter()

    async def job(doc: tuple[str, str]) -> list[str]:
        docid, text = doc
        candidates = await client.complete_json(
            question_messages(text, n, language, domain),
            lambda answer: _strings(parse_json_object(answer), "questions"),
            max_tokens=120 * n + 100,
        )
        kept, dropped = clean_questions(candidates, text[:DOCUMENT_CHARS], n)
        drops.update(dropped)
        if not kept:
            raise RequestFailed("no usable questions")
        return kept

    result = client.run(docs, job, desc="questions")
    questions = {docids[i]: value for i, value in enumerate(result.values) if i not in result.failures}
    failed = {docids[i]: reason for i, reason in sorted(result.failures.items())}
    stats = {
        "requested": len(docs),
        **result.stats,
        "dropped_copy": 0,
        "dropped_dup": 0,
        "dropped_invalid": 0,
        "dropped_extra": 0,
        **drops,
        "questions": sum(len(q) for q in questions.values()),
        "short": sum(len(q) < n for q in questions.values()),
    }
    return QuestionBatch(questions, failed, stats)


# ---- 2) conversations: standalone query + chit-chat -------------------------------------


def _conversation_text(conversation: list[Mapping[str, str]], index: int, language: str = "ko") -> str:
    roles = role_names(language)
    if not conversation or not all(
        isinstance(m, Mapping) and isinstance(m.get("content"), str) and m.get("role") in roles for m in conversation
    ):
        raise ValueError(f"conversation {index}: expected a non-empty list of {{'role', 'content'}} messages")
    return "\n".join(f"{roles[m['role']]}: {m['content']}" for m in conversation)


def parse_judgement(answer: str, last_user: str) -> ConversationJudgement:
    obj = parse_json_object(answer)
    chitchat = obj.get("chitchat")
    if isinstance(chitchat, str) and chitchat.strip().lower() in ("true", "false"):
        chitchat = chitchat.strip().lower() == "true"
    if not isinstance(chitchat, bool):
        raise ValueError('"chitchat" must be true or false')
    standalone = obj.get("standalone")
    standalone = " ".join(standalone.split()) if isinstance(standalone, str) else ""
    if not standalone:
        if not chitchat:
            raise ValueError('"standalone" must be a non-empty string')
        standalone = last_user
    return ConversationJudgement(standalone, chitchat)


def judge_conversations(
    client: LLMClient, conversations: list[list[dict]], language: str = "ko", domain: str = ""
) -> list[ConversationJudgement | None]:
    """One request per conversation, in the corpus's `language` about its `domain`; None where it failed
    (the caller falls back)."""
    texts = [_conversation_text(c, i, language) for i, c in enumerate(conversations)]

    async def job(index: int) -> ConversationJudgement:
        last_user = next((m["content"] for m in reversed(conversations[index]) if m["role"] == "user"), "")
        messages = judge_messages(texts[index], language, domain)
        return await client.complete_json(
            messages, lambda answer: parse_judgement(answer, last_user), max_tokens=256, temperature=0.0
        )

    result = client.run(range(len(conversations)), job, desc="conversations")
    return [None if i in result.failures else value for i, value in enumerate(result.values)]


# ---- 3) query variants and HyDE passages for fusion --------------------------------------


def parse_expansion(answer: str, query: str, n_variants: int, hyde: bool) -> QueryExpansion:
    obj = parse_json_object(answer)
    variants = _strings(obj, "variants") if n_variants else []
    seen, kept = {normalise(query)}, []
    for variant in variants:
        form = normalise(variant)
        if form and form not in seen and len(kept) < n_variants:
            seen.add(form)
            kept.append(variant)
    if n_variants and not kept:
        raise ValueError('"variants" has no new phrasing of the question')
    passage = None
    if hyde:
        passage = obj.get("hyde")
        passage = " ".join(passage.split()) if isinstance(passage, str) else ""
        if not passage:
            raise ValueError('"hyde" must be a non-empty string')
    return QueryExpansion(kept, passage)


def expansion_messages(
    query: str, n_variants: int, hyde: bool, language: str = "ko", domain: str = ""
) -> list[dict[str, str]]:
    return _expansion_messages(query, n_variants, hyde, language, domain)


def expand_queries(
    client: LLMClient, queries: list[str], n_variants: int, hyde: bool, language: str = "ko", domain: str = ""
) -> list[QueryExpansion | None]:
    """n_variants paraphrases (and a HyDE passage when asked) per query, in the corpus's `language` about
    its `domain`; None where it failed."""
    if n_variants < 0:
        raise ValueError(f"n_variants must be >= 0, got {n_variants}")
    if n_variants == 0 and not hyde:
        return [QueryExpansion([], None) for _ in queries]

    async def job(query: str) -> QueryExpansion:
        return await client.complete_json(
            expansion_messages(query, n_variants, hyde, language, domain),
            lambda answer: parse_expansion(answer, query, n_variants, hyde),
            max_tokens=80 * n_variants + (500 if hyde else 0) + 60,
        )

    result = client.run(queries, job, desc="query variants")
    return [None if i in result.failures else value for i, value in enumerate(result.values)]
