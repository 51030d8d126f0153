"""The three prompts in the corpus's language, with and without a domain, and the local test server
answering English prompts end to end."""

import re

import pytest

from ragtune.llm import expand_queries, generate_questions, judge_conversations
from ragtune.llm.prompts import PROMPT_LANGUAGES
from ragtune.llm.tasks import expansion_messages, judge_messages, question_messages

HANGUL = re.compile(r"[가-힣]")
DOMAIN = "a thermostat's help centre"
CONVERSATION = [
    {"role": "user", "content": "my thermostat shows E4"},
    {"role": "assistant", "content": "That is a common wire problem."},
    {"role": "user", "content": "how do I fix it"},
]


def all_messages(language, domain=""):
    return {
        "question": question_messages("The T2 needs a common wire.", 3, language, domain),
        "judge": judge_messages("User: hi", language, domain),
        "expand": expansion_messages("c wire", 2, True, language, domain),
    }


@pytest.mark.parametrize("language", PROMPT_LANGUAGES)
@pytest.mark.parametrize("domain", ["", DOMAIN])
def test_no_prompt_assumes_science_and_the_domain_is_said_once(language, domain):
    for task, messages in all_messages(language, domain).items():
        text = "\n".join(m["content"] for m in messages)
        assert not any(word in text.lower() for word in ("과학", "상식", "백과사전", "science", "encyclop")), task
        assert text.count(DOMAIN) == (1 if domain else 0), task
        assert ('"questions"' in text) == (task == "question") and ('"variants"' in text) == (task == "expand")


def test_english_prompts_are_english_with_the_domain_in_the_system_message():
    for task, (system, user) in all_messages("en", DOMAIN).items():
        assert not HANGUL.search(system["content"] + user["content"]), task
        assert system["content"].endswith(f"The document collection: {DOMAIN}."), task
    question = all_messages("en")["question"][1]["content"]
    assert "write 3 questions in English" in question and "Document:\nThe T2 needs a common wire." in question
    assert all_messages("zh")["question"][1]["content"].count("in Chinese") == 1


def test_korean_prompts_keep_korean_and_mixed_allows_english_terms():
    korean = all_messages("ko")
    assert "한국어 질문 3개" in korean["question"][1]["content"] and "영어" not in korean["question"][1]["content"]
    assert "검색 대상 문서 모음" not in korean["question"][0]["content"]
    assert all_messages("ko", DOMAIN)["judge"][0]["content"].endswith(f"검색 대상 문서 모음: {DOMAIN}.")
    mixed = all_messages("mixed")
    for task, (_, user) in mixed.items():
        assert HANGUL.search(user["content"]) and "영어" in user["content"], task


def test_unknown_prompt_language_is_refused():
    with pytest.raises(ValueError, match="prompt language"):
        question_messages("x", 1, "fr")


def test_the_test_server_answers_english_prompts(make_client, server):
    document = "The T2 needs a common wire. Without one, the Nimbus Link powers it from the heating circuit."
    batch = generate_questions(make_client(), [("wiring", document)], 3, "en", DOMAIN)
    assert not batch.failed and len(batch.questions["wiring"]) == 3
    assert not any(HANGUL.search(q) for q in batch.questions["wiring"])
    judged = judge_conversations(make_client(), [CONVERSATION, [{"role": "user", "content": "hello there"}]], "en")
    assert judged[0].chitchat is False and judged[0].standalone == "my thermostat shows E4 how do I fix it"
    assert judged[1].chitchat is True
    (expansion,) = expand_queries(make_client(), ["c wire missing"], 2, True, "en", DOMAIN)
    assert expansion.variants == ["c wire missing explained 1", "c wire missing explained 2"]
    assert expansion.hyde and not HANGUL.search(expansion.hyde)
    first_user = next(iter(server.prompts))
    assert first_user.startswith("Read the document below")
