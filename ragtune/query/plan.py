"""What retrieval does for each question: no retrieval (chit-chat) or these query texts.

Offline, the standalone query joins the conversation's user turns, leaving out earlier turns that are
bare reactions ("응", "고마워", "그렇구나": at most `REACTION_WORDS` words that the chit-chat detector
flags); the detector then judges the standalone query. A conversation that closes with chit-chat after an
answer ("광합성 재료가 뭐야?" … "굿 그거면 충분해 수고했어") is chit-chat too, though its joined text reads like
the question it began with: its last turn alone is judged, strictly (`closing_turns`). With an LLM client, its
rewrite and judgement replace the offline plan where it answered, and its query variants (multi-query, HyDE)
are added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ragtune.query.chitchat import ChitchatDetector, decide
from ragtune.query.conversation import standalone_query, user_turns

# Longer turns carry content even when they read like chit-chat ("어제 밤에 별똥별 엄청 많이 떨어지는
# 거 봤어!" before "그 알갱이들은 어디서 온 거야?"): on the 42 multi-turn rows of the conversational set,
# the detector alone (threshold 0.55) drops 4 such first turns and BM25's map@3 falls 0.722 → 0.694;
# with this bound no standalone query changes there (0.722).
REACTION_WORDS = 2


@dataclass
class QueryPlan:
    """What retrieval does for one question: no retrieval (chit-chat) or these query texts."""

    qid: str
    standalone: str
    chitchat: bool
    chitchat_probability: float
    variants: list[str]  # the standalone query first, then multi-query / HyDE texts
    source: str = "offline"  # offline | llm: who wrote the standalone query and the judgement
    last_turn_probability: float | None = None  # an answered conversation's last turn alone (`closing_turns`)
    closing: bool = False  # chit-chat because that last turn closes the conversation (its joined text was not)

    def as_dict(self) -> dict:
        last = self.last_turn_probability
        return {
            "qid": self.qid,
            "standalone": self.standalone,
            "chitchat": self.chitchat,
            "chitchat_probability": round(self.chitchat_probability, 6),
            "variants": self.variants,
            "source": self.source,
            "last_turn_probability": None if last is None else round(last, 6),
            "closing": self.closing,
        }


def reaction_filter(detector: ChitchatDetector):
    """is_content(turn) for `standalone_query`: False for a bare reaction (short, and flagged as chit-chat)."""

    def is_content(turn: str) -> bool:
        return len(turn.split()) > REACTION_WORDS or not detector.is_chitchat([turn])[0]

    return is_content


def offline_standalone(msg: list[dict], detector: ChitchatDetector) -> str:
    return standalone_query(msg, reaction_filter(detector))


def answered(msg: list[dict]) -> bool:
    """The last user turn follows an assistant's answer: a follow-up, or a conversation's closing words."""
    roles = [t["role"] for t in msg if t["content"].strip()]
    return len(roles) >= 2 and roles[-1] == "user" and "assistant" in roles[:-1]


def closing_turns(
    conversations: Sequence[tuple[str, list[dict]]],
    detector: ChitchatDetector,
    vocabulary: Collection[str] | None,
) -> list[tuple[float | None, bool]]:
    """Per conversation: the chit-chat probability of its last user turn alone (None where unanswered), and
    whether that turn closes an answered conversation as chit-chat: flagged by the classifier and naming nothing
    the corpus knows, however sure the classifier is (a follow-up like "번역 말고 다른 일도 해?" can score
    0.69 alone). Strict because the turns before it were a question. Without a vocabulary nothing is a closing."""
    last = {i: user_turns(msg)[-1] for i, (_, msg) in enumerate(conversations) if answered(msg)}
    probability = dict(zip(last, detector.probability(list(last.values()))))
    closing = dict.fromkeys(last, False)
    if vocabulary is not None and last:
        analyze = detector.analyzer()
        candidates = [i for i in last if probability[i] >= detector.threshold]
        terms = analyze([last[i] for i in candidates]) if candidates else []
        flags = decide(
            [probability[i] for i in candidates], terms, vocabulary, detector.threshold, math.inf,
            detector.chat_terms(analyze),
        )  # fmt: skip
        closing.update(zip(candidates, flags))
    return [(float(probability[i]), closing[i]) if i in last else (None, False) for i in range(len(conversations))]


def plan_queries(
    conversations: Sequence[tuple[str, list[dict]]],
    detector: ChitchatDetector | None,
    client=None,
    multi_query: int = 0,
    hyde: bool = False,
    vocabulary: Collection[str] | None = None,
    language: str = "ko",
    domain: str = "",
) -> list[QueryPlan]:
    """Offline plans for every conversation; with an LLM client, its rewrite and judgement replace them
    where it answered, and its query variants are added. A failed LLM answer keeps the offline plan.
    `detector` None (retrieval.chitchat off): nothing is judged chit-chat; `vocabulary` (the corpus's terms):
    a question near the threshold naming something the corpus knows is searched (ChitchatDetector.judge).
    The LLM is prompted in the corpus's `language` (ko, mixed, en, zh, ja) about its `domain` ("" for none)."""
    if detector is None:
        texts = [standalone_query(msg) for _, msg in conversations]
        plans = [QueryPlan(qid, text, False, 0.0, [text]) for (qid, _), text in zip(conversations, texts)]
    else:
        standalone = [offline_standalone(msg, detector) for _, msg in conversations]
        probability = detector.probability(standalone)
        judged = detector.judge_probabilities(standalone, probability, vocabulary)
        plans = [
            QueryPlan(
                qid,
                text,
                chitchat or closes,
                float(p),
                [text],
                last_turn_probability=last,
                closing=closes and not chitchat,
            )
            for (qid, _), text, p, chitchat, (last, closes) in zip(
                conversations, standalone, probability, judged, closing_turns(conversations, detector, vocabulary)
            )
        ]
    if client is None:
        return plans
    from ragtune.llm import expand_queries, judge_conversations

    for plan, judgement in zip(plans, judge_conversations(client, [msg for _, msg in conversations], language, domain)):
        if judgement is not None:
            chitchat = judgement.chitchat and detector is not None
            plan.standalone, plan.chitchat, plan.source = judgement.standalone, chitchat, "llm"
            plan.closing = False  # the LLM judged the whole conversation
            plan.variants = [judgement.standalone]
    active = [plan for plan in plans if not plan.chitchat]
    if multi_query > 0 or hyde:
        for plan, expansion in zip(
            active, expand_queries(client, [p.standalone for p in active], multi_query, hyde, language, domain)
        ):
            if expansion is not None:
                plan.variants += expansion.variants + ([expansion.hyde] if expansion.hyde else [])
    return plans


def plan_routed(
    conversations: Sequence[tuple[str, list[dict]]],
    detector: ChitchatDetector | None,
    client=None,
    through_llm: Callable[[str], bool] = lambda qid: True,
    multi_query: int = 0,
    hyde: bool = False,
    vocabulary: Collection[str] | None = None,
    language: str = "ko",
    domain: str = "",
) -> list[QueryPlan]:
    """Plans in input order: the questions `through_llm` selects take the LLM path when a client is given (the eval
    questions always, validation sources listed in `retrieval.llm_sources`, so what is tuned is what is submitted),
    the others the offline plan."""
    routed = [item for item in conversations if client is not None and through_llm(item[0])]
    offline = [item for item in conversations if not (client is not None and through_llm(item[0]))]
    planned = {
        plan.qid: plan
        for group, use_llm in ((routed, client), (offline, None))
        if group
        for plan in plan_queries(group, detector, use_llm, multi_query, hyde, vocabulary, language, domain)
    }
    return [planned[qid] for qid, _ in conversations]
