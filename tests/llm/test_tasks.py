"""Prompts' answers: tolerant parsing, validation, dedup, copy dropping; the three tasks end to end."""

import json

import pytest

from ragtune.llm import ConversationJudgement, QueryExpansion, expand_queries, generate_questions, judge_conversations
from ragtune.llm.tasks import clean_questions, parse_expansion, parse_json_object, parse_judgement, question_messages

DOCUMENT = (
    "광합성은 식물이 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다. "
    "이 과정은 엽록체의 틸라코이드 막과 스트로마에서 두 단계로 나뉘어 일어난다."
)


@pytest.mark.parametrize(
    "answer",
    [
        '{"questions": ["a"]}',
        '```json\n{"questions": ["a"]}\n```',
        '다음은 질문입니다:\n```\n{"questions": ["a"]}\n```\n도움이 되었나요?',
        'Sure! {"questions": ["a"]} Hope this helps {not json}',
        '{잘못된 중괄호} {"questions": ["a"]}',
    ],
)
def test_json_is_found_inside_fences_and_stray_text(answer):
    assert parse_json_object(answer) == {"questions": ["a"]}


@pytest.mark.parametrize("answer", ["", "질문을 만들 수 없습니다.", '{"questions": ["a"', "[1, 2]"])
def test_no_json_object_is_a_value_error(answer):
    with pytest.raises(ValueError):
        parse_json_object(answer)


def test_questions_are_deduplicated_and_copies_of_document_sentences_dropped():
    candidates = [
        "광합성은 어떤 에너지를 이용하나요?",
        "광합성은  어떤 에너지를 이용하나요 ?",  # duplicate after normalisation
        "광합성은 식물이 빛 에너지를 이용해 이산화탄소와 물로 포도당을 만드는 과정이다?",  # a copied sentence
        "이 과정은 엽록체의 틸라코이드 막과 스트로마에서",  # a verbatim stretch of the document
        "?",  # nothing left after normalisation
        "엽록체 안에서 광합성 두 단계는 어디서 일어나?",
        "포도당은 어떻게 만들어지나요?",
        "식물에게 빛이 필요한 이유는?",
    ]
    kept, dropped = clean_questions(candidates, DOCUMENT, n=3)
    assert kept == [
        "광합성은 어떤 에너지를 이용하나요?",
        "엽록체 안에서 광합성 두 단계는 어디서 일어나?",
        "포도당은 어떻게 만들어지나요?",
    ]
    assert dropped == {"dropped_dup": 1, "dropped_copy": 2, "dropped_invalid": 1, "dropped_extra": 1}


def test_question_prompt_is_korean_json_and_uses_the_opening_of_the_document():
    messages = question_messages("가" * 5000, 4)
    prompt = messages[-1]["content"]
    assert '{"questions"' in prompt and "질문 4개" in prompt and "가" * 1000 in prompt and "가" * 1001 not in prompt


def test_generation_drops_copies_and_duplicates_and_reports_them(make_client, server):
    sentence = DOCUMENT.split(". ")[0] + "."
    server.responder = lambda messages: json.dumps(
        {"questions": ["광합성에 필요한 것은?", "광합성에 필요한 것은?", sentence, "포도당은 어디서 생기나?"]},
        ensure_ascii=False,
    )
    batch = generate_questions(make_client(), [("d1", DOCUMENT)], 3)
    assert batch.questions == {"d1": ["광합성에 필요한 것은?", "포도당은 어디서 생기나?"]}
    assert batch.stats["dropped_dup"] == 1 and batch.stats["dropped_copy"] == 1 and batch.stats["short"] == 1


def test_generation_with_no_usable_question_fails_for_fallback(make_client, server):
    server.responder = lambda messages: json.dumps({"questions": [DOCUMENT.split(". ")[0]]}, ensure_ascii=False)
    batch = generate_questions(make_client(), [("d1", DOCUMENT)], 2)
    assert batch.failed == {"d1": "no usable questions"} and batch.questions == {}
    assert server.requests == 1  # a valid but useless answer is not retried


def test_fenced_answers_need_no_repair(make_client, server, sample_docs):
    server.fail_next("fenced")
    batch = generate_questions(make_client(concurrency=1), sample_docs(1), 2)
    assert not batch.failed and server.requests == 1 and batch.stats["repaired"] == 0


def test_duplicate_docids_are_refused(make_client):
    with pytest.raises(ValueError, match="duplicate docid 'x'"):
        generate_questions(make_client(), [("x", "a"), ("x", "b")], 2)


def test_judgement_parsing():
    assert parse_judgement(
        '{"standalone": "블랙홀은 어떻게 생기나?", "chitchat": false}', "그건?"
    ) == ConversationJudgement("블랙홀은 어떻게 생기나?", False)
    assert parse_judgement('```json\n{"standalone": "", "chitchat": "true"}\n```', "안녕") == ConversationJudgement(
        "안녕", True
    )
    for bad in ('{"standalone": "x"}', '{"standalone": "", "chitchat": false}', '{"standalone": "x", "chitchat": 1}'):
        with pytest.raises(ValueError):
            parse_judgement(bad, "q")


def test_conversations_are_judged_in_order_with_failures_as_none(make_client, server):
    conversations = [
        [{"role": "user", "content": "안녕 반가워"}],
        [
            {"role": "user", "content": "블랙홀은 뭐야?"},
            {"role": "assistant", "content": "별의 잔해입니다."},
            {"role": "user", "content": "그건 어떻게 생겨?"},
        ],
        [{"role": "user", "content": "DNA 구조 알려줘"}],
    ]
    server.fail_when("DNA", "400")
    judged = judge_conversations(make_client(), conversations)
    assert judged[0] == ConversationJudgement("안녕 반가워", True)
    assert judged[1].chitchat is False and "블랙홀" in judged[1].standalone
    assert judged[2] is None
    with pytest.raises(ValueError, match="conversation 0"):
        judge_conversations(make_client(), [[{"role": "robot", "content": "x"}]])


def test_expansion_parsing_dedups_and_requires_hyde_when_asked():
    answer = (
        '{"variants": ["광합성 원리", "광합성이란?", "광합성 원리 ", "식물의 양분 생성"], "hyde": " 광합성은  빛으로 "}'
    )
    assert parse_expansion(answer, "광합성이란?", 3, True) == QueryExpansion(
        ["광합성 원리", "식물의 양분 생성"], "광합성은 빛으로"
    )
    assert parse_expansion(answer, "광합성이란?", 1, False) == QueryExpansion(["광합성 원리"], None)
    with pytest.raises(ValueError):
        parse_expansion('{"variants": ["a"]}', "q", 1, True)
    with pytest.raises(ValueError):
        parse_expansion('{"variants": ["q"]}', "q", 1, False)


def test_queries_are_expanded_in_order(make_client, server):
    queries = ["광합성이란?", "블랙홀은 왜 검은가?", "효소의 역할"]
    server.fail_when("블랙홀", "content_filter")
    expansions = expand_queries(make_client(), queries, 2, hyde=True)
    assert expansions[0].variants == ["광합성이란? 설명 1", "광합성이란? 설명 2"] and expansions[0].hyde
    assert expansions[1] is None and len(expansions[2].variants) == 2
    assert expand_queries(make_client(), queries, 0, hyde=False) == [QueryExpansion([], None)] * 3
