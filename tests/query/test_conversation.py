"""The offline standalone query: user turns joined oldest first, assistant turns left out."""

from ragtune.query.conversation import standalone_query, user_turns

MSG = [
    {"role": "user", "content": "광합성이 뭐야?"},
    {"role": "assistant", "content": "빛으로 당을 만드는 과정이에요."},
    {"role": "user", "content": "  "},
    {"role": "user", "content": "응"},
    {"role": "user", "content": "그럼 산소는 어디서 나와?"},
]


def test_user_turns_skip_assistant_and_blank_turns():
    assert user_turns(MSG) == ["광합성이 뭐야?", "응", "그럼 산소는 어디서 나와?"]


def test_standalone_query_joins_user_turns():
    assert standalone_query(MSG) == "광합성이 뭐야? 응 그럼 산소는 어디서 나와?"
    assert standalone_query(MSG[-1:]) == "그럼 산소는 어디서 나와?"


def test_is_content_filters_earlier_turns_but_never_the_question():
    assert standalone_query(MSG, lambda turn: turn != "응") == "광합성이 뭐야? 그럼 산소는 어디서 나와?"
    assert standalone_query(MSG, lambda turn: False) == "그럼 산소는 어디서 나와?"
