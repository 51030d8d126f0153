"""Reliability of the client against the fault-injecting local server: retries, fail-fast, budget, cache."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from ragtune.llm import LLMError, LLMSettings, RequestFailed, generate_questions
from ragtune.llm.client import _retry_after


def test_happy_path_returns_questions_in_input_order(make_client, server, sample_docs):
    docs = sample_docs(12)
    server.fail_when("문서 3번", "latency:0.1")  # finishes last, must still come out in place
    batch = generate_questions(make_client(), docs, 3)
    assert list(batch.questions) == [docid for docid, _ in docs]
    assert all(len(q) == 3 for q in batch.questions.values()) and not batch.failed
    assert server.requests == 12 and batch.stats["sent"] == 12 and batch.stats["retried"] == 0
    assert server.max_in_flight <= 4  # llm.concurrency


@pytest.mark.parametrize("fault", ["429", "500", "503", "hang"])
def test_retryable_faults_are_retried_then_succeed(make_client, server, sample_docs, fault):
    server.fail_next(fault, fault)
    # A short timeout only where the fault is a hang: a loaded CI machine must not time out good answers.
    batch = generate_questions(make_client(concurrency=1, timeout=0.3 if fault == "hang" else 5.0), sample_docs(1), 2)
    assert not batch.failed and len(batch.questions["doc-000"]) == 2
    assert server.requests == 3 and batch.stats["retried"] == 2 and batch.stats["sent"] == 3


def test_retries_stop_at_max_retries(make_client, server, sample_docs):
    server.fail_next(*["500"] * 10)
    batch = generate_questions(make_client(max_retries=2, concurrency=1), sample_docs(1), 2)
    assert batch.failed == {"doc-000": "gave up after 3 attempts (http 500)"}
    assert server.requests == 3


@pytest.mark.parametrize(
    "fault, reason",
    [("400", "http 400"), ("401", "http 401"), ("empty", "empty"), ("content_filter", "content_filter")],
)
def test_non_retryable_faults_fail_fast_with_one_request(make_client, server, sample_docs, fault, reason):
    docs = sample_docs(3)
    server.fail_when("문서 1번", fault)
    batch = generate_questions(make_client(), docs, 2)
    assert list(batch.failed) == ["doc-001"] and batch.failed["doc-001"].startswith(reason)
    assert list(batch.questions) == ["doc-000", "doc-002"]
    assert server.requests == 3 and batch.stats["retried"] == 0


def test_unparsable_answer_gets_exactly_one_repair_request(make_client, server, sample_docs):
    server.fail_next("malformed")
    batch = generate_questions(make_client(concurrency=1), sample_docs(1), 2)
    assert not batch.failed and server.requests == 2 and batch.stats["repaired"] == 1
    # the repair request carries the broken answer and asks for the JSON again
    assert len(server.prompts) == 1 and next(iter(server.prompts.values())) == 2


def test_still_unparsable_after_repair_fails_without_more_requests(make_client, server, sample_docs):
    server.fail_next("malformed", "malformed", "malformed")
    batch = generate_questions(make_client(concurrency=1), sample_docs(1), 2)
    assert batch.failed["doc-000"].startswith("unparsable")
    assert server.requests == 2


def test_budget_caps_requests_and_fails_the_rest_fast(make_client, server, sample_docs):
    batch = generate_questions(make_client(max_requests=5), sample_docs(9), 2)
    assert server.requests == 5
    assert len(batch.questions) == 5 and set(batch.failed.values()) == {"budget"} and len(batch.failed) == 4


def test_retries_count_against_the_budget(make_client, server, sample_docs):
    server.fail_next("500", "500", "500")
    batch = generate_questions(make_client(max_requests=4, concurrency=1), sample_docs(3), 2)
    assert server.requests == 4
    assert list(batch.questions) == ["doc-000"] and set(batch.failed.values()) == {"budget"}


def test_a_cached_run_sends_no_request(make_client, server, sample_docs, tmp_path):
    docs = sample_docs(8)
    server.fail_next("malformed")  # the repair exchange is cached too
    first = generate_questions(make_client(), docs, 3)
    server.reset_counts()
    again = generate_questions(make_client(), docs, 3)  # a new client on the same cache file
    assert server.requests == 0 and again.stats["sent"] == 0 and again.stats["cached"] == 9
    assert again.questions == first.questions


def test_identical_requests_in_one_batch_are_sent_once(make_client, server):
    docs = [("a", "같은 내용의 문서입니다. 광합성을 설명한다."), ("b", "같은 내용의 문서입니다. 광합성을 설명한다.")]
    batch = generate_questions(make_client(), docs, 2)
    assert server.requests == 1 and batch.questions["a"] == batch.questions["b"]


def test_restart_after_partial_run_sends_only_the_missing_requests(make_client, server, sample_docs):
    docs = sample_docs(20)
    clean = generate_questions(make_client("clean.jsonl"), docs, 3)
    server.reset_counts()
    generate_questions(make_client("resumed.jsonl"), docs[:8], 3)  # the "killed" first half
    generate_questions(make_client("resumed.jsonl", max_requests=4), docs, 3)  # a run cut short by budget
    server.reset_counts()
    resumed = generate_questions(make_client("resumed.jsonl"), docs, 3)
    assert server.requests == 20 - 8 - 4 and resumed.stats["cached"] == 12
    assert resumed.questions == clean.questions and list(resumed.questions) == list(clean.questions)


KILLED_RUN = """
import sys
from ragtune.llm import LLMClient, LLMSettings, ResponseCache, generate_questions
docs = [(f"doc-{i:03d}", f"문서 {i}번은 광합성과 엽록체의 관계를 설명하는 과학 문서이다.") for i in range(40)]
settings = LLMSettings.from_config({"provider": "local", "base_url": sys.argv[1], "model": "fake-model",
    "api_key_env": "RAGTUNE_TEST_LLM_KEY", "concurrency": 2, "timeout": 5, "seed": 7})
generate_questions(LLMClient(settings, ResponseCache(sys.argv[2]), progress=False), docs, 3)
"""


def test_a_killed_run_restarts_with_only_the_missing_requests(make_client, server, tmp_path, fake_key):
    docs = [(f"doc-{i:03d}", f"문서 {i}번은 광합성과 엽록체의 관계를 설명하는 과학 문서이다.") for i in range(40)]
    clean = generate_questions(make_client("clean.jsonl", timeout=5), docs, 3)
    server.latency = 0.05
    server.reset_counts()
    cache_path = tmp_path / "killed.jsonl"
    env = {**os.environ, "RAGTUNE_TEST_LLM_KEY": fake_key}
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, server.base_url, str(cache_path)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if cache_path.exists() and cache_path.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    sent_before_kill = server.requests
    assert 10 <= sent_before_kill < 40
    server.latency = 0.0
    resumed_client = make_client("killed.jsonl", timeout=5)
    cached = len(resumed_client.cache)
    resumed = generate_questions(resumed_client, docs, 3)
    assert resumed.stats["sent"] == 40 - cached and resumed.stats["cached"] == cached
    assert server.requests - sent_before_kill == 40 - cached
    assert sent_before_kill - cached <= 2  # at most the in-flight requests were lost (concurrency 2)
    assert resumed.questions == clean.questions


def test_the_key_never_leaks(make_client, server, sample_docs, tmp_path, caplog, fake_key, config):
    caplog.set_level(logging.DEBUG)
    server.fail_when("문서 0번", "401")  # the server echoes the rejected key, as real providers do
    server.fail_when("문서 1번", "400")
    server.fail_when("문서 2번", "500", "429", "malformed")
    client = make_client()
    batch = generate_questions(client, sample_docs(4), 2)
    assert f"Bearer {fake_key}" in server.authorization  # it was sent where it belongs
    assert "***" in batch.failed["doc-000"]
    try:
        LLMSettings.from_config(config(api_key_env="RAGTUNE_UNSET_KEY_VARIABLE"), environ={})
    except LLMError as exc:
        config_error = exc
    texts = [
        (tmp_path / "cache.jsonl").read_text(encoding="utf-8"),
        caplog.text,
        repr(client.settings),
        repr(client),
        str(config_error),
        json.dumps(batch.failed, ensure_ascii=False),
        str(RequestFailed(batch.failed["doc-000"])),
    ]
    assert caplog.text  # the logs were captured, so the check below means something
    for text in texts:
        assert fake_key not in text


def test_retry_after_header_forms():
    class Response:
        def __init__(self, **headers):
            self.headers = headers

    assert _retry_after(Response(**{"retry-after": "2"})) == 2.0
    assert _retry_after(Response(**{"retry-after": "0.25"})) == 0.25
    assert _retry_after(Response(**{"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert (
        50
        < _retry_after(
            Response(**{"retry-after": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))})
        )
        <= 60
    )
    assert _retry_after(Response()) is None and _retry_after(Response(**{"retry-after": "soon"})) is None


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after(make_client):
    client = make_client(backoff_base=1.0, backoff_max=8.0)
    delays = [client._delay(attempt, None) for attempt in range(6)]
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert 3.0 <= client._delay(0, 3.0) <= 4.0
