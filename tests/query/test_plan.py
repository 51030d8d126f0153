"""Offline query plans: bare reactions left out of the standalone query, chit-chat judged on what is left."""

import numpy as np
import pytest

from ragtune.query.chitchat import ChitchatDetector, shipped_calibration
from ragtune.query.plan import (
    REACTION_WORDS,
    answered,
    closing_turns,
    offline_standalone,
    plan_queries,
    reaction_filter,
)


@pytest.fixture(scope="module")
def detector():
    return ChitchatDetector().fit(*shipped_calibration())


def turns(*texts):
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


@pytest.mark.parametrize("reaction", ["고마워", "응", "그렇구나", "아 그렇구나", "ㅋㅋ"])
def test_bare_reactions_are_left_out(detector, reaction):
    msg = turns("광합성이 뭐야?", "빛으로 당을 만드는 과정이에요.", reaction, "네.", "그럼 산소는 어디서 나와?")
    assert offline_standalone(msg, detector) == "광합성이 뭐야? 그럼 산소는 어디서 나와?"


def test_content_turns_stay_even_when_they_read_like_chitchat(detector):
    # a statement that names the topic: longer than a reaction, so kept whatever the detector says of it
    statement = "어제 밤에 별똥별 엄청 많이 떨어지는 거 봤어!"
    assert len(statement.split()) > REACTION_WORDS and reaction_filter(detector)(statement)
    msg = turns(statement, "유성우였나 봐요.", "그 떨어지는 알갱이들은 원래 어디서 온 거야?")
    assert offline_standalone(msg, detector) == statement + " 그 떨어지는 알갱이들은 원래 어디서 온 거야?"
    assert reaction_filter(detector)("광합성")  # one content word is no reaction


def test_the_last_turn_is_always_the_query(detector):
    assert offline_standalone(turns("광합성이 뭐야?", "…", "고마워"), detector) == "광합성이 뭐야? 고마워"


def test_plans_judge_chitchat_on_the_standalone_query(detector):
    plans = plan_queries(
        [
            ("q1", turns("지구 나이는 어떻게 알아내?")),
            ("q2", turns("고마워 덕분에 숙제 다 끝냈다")),
            ("q3", turns("광합성이 뭐야?", "…", "응", "…", "산소는 어디서 나와?")),
        ],
        detector,
    )
    assert [(p.qid, p.chitchat) for p in plans] == [("q1", False), ("q2", True), ("q3", False)]
    assert plans[2].variants == [plans[2].standalone] == ["광합성이 뭐야? 산소는 어디서 나와?"]
    assert plans[1].as_dict() == {
        "qid": "q2",
        "standalone": "고마워 덕분에 숙제 다 끝냈다",
        "chitchat": True,
        "chitchat_probability": round(plans[1].chitchat_probability, 6),
        "variants": ["고마워 덕분에 숙제 다 끝냈다"],
        "source": "offline",
        "last_turn_probability": None,  # a single turn: nothing answered before it
        "closing": False,
    }


class FixedDetector(ChitchatDetector):
    """Probabilities from a table and words split on spaces: what closing_turns decides, without a classifier."""

    def __init__(self, table: dict[str, float]):
        super().__init__(threshold=0.55, margin=0.03, language="en")
        self.table, self._chitchat_examples = table, ["thanks a lot"]
        self._analyze = lambda texts: [t.split() for t in texts]

    def probability(self, texts):
        return np.array([self.table.get(t, 0.1) for t in texts])


def test_an_answered_conversation_closing_with_chitchat_is_chitchat():
    detector = FixedDetector({"thanks a lot": 0.9, "and oxygen": 0.7, "that is enough": 0.6})
    conversations = [
        ("closing", turns("what is photosynthesis", "light to sugar", "thanks a lot")),
        ("follow-up", turns("what is photosynthesis", "light to sugar", "and oxygen")),  # names the corpus
        ("enough", turns("what is photosynthesis", "light to sugar", "that is enough")),
        ("single", turns("thanks a lot")),  # nothing answered: the standalone judgement alone
        ("unanswered", [{"role": "user", "content": "hi"}, {"role": "user", "content": "thanks a lot"}]),
    ]
    vocabulary = {"photosynthesis", "oxygen", "light", "sugar"}
    assert [answered(msg) for _, msg in conversations] == [True, True, True, False, False]
    assert closing_turns(conversations, detector, vocabulary) == [
        (0.9, True),
        (0.7, False),  # strict: a corpus term keeps a follow-up searched however sure the classifier is
        (0.6, True),
        (None, False),
        (None, False),
    ]
    assert [closes for _, closes in closing_turns(conversations, detector, None)] == [False] * 5  # no vocabulary
    plans = plan_queries(conversations[:2], detector, vocabulary=vocabulary)
    assert [(p.chitchat, p.closing, p.last_turn_probability) for p in plans] == [(True, True, 0.9), (False, False, 0.7)]
    assert plans[0].chitchat_probability == 0.1  # the joined text reads like the question it began with


def test_an_llm_judgement_replaces_the_closing_rule(monkeypatch):
    from ragtune.llm import ConversationJudgement

    answers = [ConversationJudgement("photosynthesis, again", False), None]  # the second: the LLM failed
    monkeypatch.setattr("ragtune.llm.judge_conversations", lambda client, conversations, language, domain: answers)
    detector = FixedDetector({"thanks a lot": 0.9})
    closing = turns("what is photosynthesis", "light to sugar", "thanks a lot")
    plans = plan_queries([("a", closing), ("b", closing)], detector, client=object(), vocabulary={"photosynthesis"})
    assert [(p.source, p.chitchat, p.closing) for p in plans] == [("llm", False, False), ("offline", True, True)]
