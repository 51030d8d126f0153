# ruff: noqa: E501  (prompts are prose for the model: not wrapped, as in ragtune/llm/tasks.py)
"""The three LLM prompts in the corpus's language, about the collection's domain.

`language` is the corpus's (`data.language`): `ko` → Korean prompts; `mixed` → the Korean prompts with a
line allowing English terms (product names, settings, technical words) as written; `en` → English prompts;
`zh`, `ja` → the English prompts asking for answers in Chinese or Japanese. `domain` (`queries.domain`,
e.g. "a thermostat's help centre") adds one sentence saying what the collection is about; "" adds none,
and no prompt assumes a subject of its own. The JSON answer formats are the same in every language, so one
parser reads them all (ragtune.llm.tasks).
"""

from __future__ import annotations

from collections.abc import Mapping

PROMPT_LANGUAGES = ("ko", "mixed", "en", "zh", "ja")
ANSWER_LANGUAGE = {"en": "English", "zh": "Chinese", "ja": "Japanese"}

KO = {
    "question_system": "당신은 문서 검색 시스템의 평가용 질문을 만드는 출제자입니다. 항상 JSON 객체 하나만 출력합니다.",
    "question": """아래 문서를 읽고, 이 문서가 답이 되는 한국어 질문 {n}개를 만드세요.
- 문서를 보지 않은 사용자가 검색창에 입력할 법한 자연스러운 질문으로 쓰세요.
- 형식을 다양하게 섞으세요: 무엇·왜·어떻게를 묻는 질문, 비교 질문, 짧은 키워드형 질문, 일상 상황에서 나온 질문.
- 문서의 문장을 그대로 옮기지 말고 자신의 말로 바꾸어 쓰세요.
- 질문끼리 내용이 겹치지 않게, 각 질문은 한 문장으로 쓰세요.{mixed}
출력 형식: {{"questions": ["질문1", "질문2"]}}

문서:
{document}""",
    "judge_system": "당신은 문서 검색 시스템의 질의 분석기입니다. 항상 JSON 객체 하나만 출력합니다.",
    "judge": """다음은 사용자와 어시스턴트의 대화입니다. 마지막 사용자 발화를 분석하세요.
1. standalone: 마지막 사용자 발화를 대화 맥락 없이도 이해되는 검색용 질문 한 문장으로 다시 쓰세요. 대명사와 생략된 대상은 앞 대화에서 찾아 채우세요.{mixed}
2. chitchat: 인사, 잡담, 감정 표현, 어시스턴트 자신에 대한 질문처럼 문서에서 정보를 찾을 필요가 없으면 true, 검색이 필요하면 false.
출력 형식: {{"standalone": "검색용 질문", "chitchat": false}}

대화:
{conversation}""",
    "roles": {"user": "사용자", "assistant": "어시스턴트", "system": "시스템"},
    "expand_system": "당신은 문서 검색을 돕는 질의 확장기입니다. 항상 JSON 객체 하나만 출력합니다.",
    "expand": """다음 검색 질문을 같은 뜻의 다른 표현 {n}개로 바꾸어 쓰세요. 동의어, 다른 어순, 더 구체적이거나 더 일반적인 표현을 섞으세요.{mixed}{hyde_instruction}
출력 형식: {schema}

질문: {query}""",
    "hyde": '\n그리고 이 질문에 답하는 문서에 있을 법한 문단 하나(3~5문장)를 "hyde"에 쓰세요.',
    "schema": ('{"variants": ["표현1", "표현2"]', ', "hyde": "문단"}'),
    "domain": " 검색 대상 문서 모음: {domain}.",
    "mixed": "\n- 문서에 나오는 영어 용어(제품명, 메뉴 이름, 기술 용어)는 영어 그대로 써도 됩니다.",
}

EN = {
    "question_system": "You write evaluation questions for a document search system. Always output exactly one JSON object.",
    "question": """Read the document below and write {n} questions in {answer_language} that this document answers.
- Write them the way a user who has not seen the document would type them into a search box.
- Mix the forms: what, why and how questions, comparisons, short keyword queries, questions from an everyday situation or a problem the user has.
- Do not copy sentences from the document; put them in your own words.
- Questions must not overlap; write each question as one sentence.
Output format: {{"questions": ["question 1", "question 2"]}}

Document:
{document}""",
    "judge_system": "You analyse queries for a document search system. Always output exactly one JSON object.",
    "judge": """Below is a conversation between a user and an assistant. Analyse the user's last message.
1. standalone: rewrite the user's last message as one search query in {answer_language} that can be understood without the conversation. Fill in pronouns and omitted subjects from the earlier turns.
2. chitchat: true when nothing needs to be looked up in the documents (greetings, small talk, feelings, questions about the assistant itself), false when a search is needed.
Output format: {{"standalone": "search query", "chitchat": false}}

Conversation:
{conversation}""",
    "roles": {"user": "User", "assistant": "Assistant", "system": "System"},
    "expand_system": "You expand queries for a document search system. Always output exactly one JSON object.",
    "expand": """Rewrite the search query below as {n} other phrasings in {answer_language} with the same meaning. Mix synonyms, a different word order, and more specific or more general wording.{hyde_instruction}
Output format: {schema}

Query: {query}""",
    "hyde": '\nAlso write under "hyde" one paragraph (3 to 5 sentences) that a document answering this query could contain.',
    "schema": ('{"variants": ["phrasing 1", "phrasing 2"]', ', "hyde": "paragraph"}'),
    "domain": " The document collection: {domain}.",
}


def prompt_set(language: str) -> Mapping:
    if language not in PROMPT_LANGUAGES:
        raise ValueError(f"prompt language must be one of {', '.join(PROMPT_LANGUAGES)}, got {language!r}")
    return KO if language in ("ko", "mixed") else EN


def _fields(language: str) -> dict[str, str]:
    """What the templates fill in besides the task's own values."""
    mixed = KO["mixed"] if language == "mixed" else ""
    return {"mixed": mixed, "answer_language": ANSWER_LANGUAGE.get(language, "")}


def _system(texts: Mapping, key: str, domain: str) -> str:
    domain = " ".join(domain.split()).rstrip(".")
    return texts[key] + (texts["domain"].format(domain=domain) if domain else "")


def question_messages(excerpt: str, n: int, language: str = "ko", domain: str = "") -> list[dict[str, str]]:
    texts = prompt_set(language)
    prompt = texts["question"].format(n=n, document=excerpt, **_fields(language))
    return [
        {"role": "system", "content": _system(texts, "question_system", domain)},
        {"role": "user", "content": prompt},
    ]


def role_names(language: str = "ko") -> Mapping[str, str]:
    return prompt_set(language)["roles"]


def judge_messages(conversation: str, language: str = "ko", domain: str = "") -> list[dict[str, str]]:
    texts = prompt_set(language)
    fields = _fields(language)
    if fields["mixed"]:
        fields["mixed"] = " 영어 용어는 영어 그대로 두세요."
    prompt = texts["judge"].format(conversation=conversation, **fields)
    return [{"role": "system", "content": _system(texts, "judge_system", domain)}, {"role": "user", "content": prompt}]


def expansion_messages(
    query: str, n_variants: int, hyde: bool, language: str = "ko", domain: str = ""
) -> list[dict[str, str]]:
    texts = prompt_set(language)
    fields = _fields(language)
    if fields["mixed"]:
        fields["mixed"] = " 영어 용어는 영어 그대로 써도 됩니다."
    schema = texts["schema"][0] + (texts["schema"][1] if hyde else "}")
    prompt = texts["expand"].format(
        n=n_variants, query=query, schema=schema, hyde_instruction=texts["hyde"] if hyde else "", **fields
    )
    return [{"role": "system", "content": _system(texts, "expand_system", domain)}, {"role": "user", "content": prompt}]
