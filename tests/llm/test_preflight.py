"""Fail fast: a dead endpoint is caught by one short probe; a batch where most items fail raises."""

from __future__ import annotations

import socket
import time

import pytest

from ragtune.llm import LLMClient, LLMError, LLMSettings, ResponseCache, generate_questions


def dead_url() -> str:
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_a_dead_endpoint_fails_in_seconds_naming_it(make_client, sample_docs):
    url = dead_url()
    client = make_client(base_url=url, max_retries=5, timeout=60, backoff_base=1.0, backoff_max=60.0)
    started = time.perf_counter()
    with pytest.raises(LLMError) as failed:
        generate_questions(client, sample_docs(20), 2)
    elapsed = time.perf_counter() - started
    message = str(failed.value)
    assert url in message and "does not answer" in message and "\n" not in message
    assert "llm=offline" in message
    assert elapsed < 5, f"{elapsed:.1f}s: the probe must not wait for every item's retries"


def test_a_live_endpoint_is_probed_once_and_the_probe_is_not_a_request(make_client, server, sample_docs):
    client = make_client(max_failure_rate=0.2)
    batch = generate_questions(client, sample_docs(6), 2)
    assert not batch.failed
    assert server.requests == 6  # the probe is a GET, not a chat completion


def test_answers_from_the_cache_need_no_endpoint(make_client, server, tmp_path, sample_docs, monkeypatch):
    docs = sample_docs(4)
    generate_questions(make_client("warm.jsonl"), docs, 2)
    monkeypatch.setenv("RAGTUNE_TEST_LLM_KEY", "sk-x")
    replay = make_client("warm.jsonl", base_url=dead_url())
    batch = generate_questions(replay, docs, 2)  # a reproduction from cached answers sends nothing, probe included
    assert not batch.failed and replay.stats.get("sent", 0) == 0


def test_more_failures_than_the_threshold_fail_the_batch_naming_endpoint_and_first_error(
    make_client, server, sample_docs
):
    client = make_client(max_failure_rate=0.2, max_retries=0)
    server.fail_next(*["400"] * 3)  # 3 of 10 items: 30% > 20%
    with pytest.raises(LLMError) as failed:
        generate_questions(client, sample_docs(10), 2)
    message = str(failed.value)
    assert "3 of 10" in message and server.base_url in message and "llm.max_failure_rate=0.2" in message
    assert "first error: http 400" in message


def test_failures_within_the_threshold_fall_back_per_item(make_client, server, sample_docs):
    client = make_client(max_failure_rate=0.2, max_retries=0)
    server.fail_next("400", "400")  # 2 of 10: 20%, not more
    batch = generate_questions(client, sample_docs(10), 2)
    assert len(batch.failed) == 2


def test_budget_refusals_do_not_count_as_failures(make_client, server, sample_docs):
    client = make_client(max_failure_rate=0.2, max_requests=3)
    batch = generate_questions(client, sample_docs(10), 2)  # 7 items refused by the budget: the user's cap
    assert list(batch.failed.values()).count("budget") == 7


def test_max_failure_rate_is_validated(config, monkeypatch):
    monkeypatch.setenv("RAGTUNE_TEST_LLM_KEY", "sk-x")
    with pytest.raises(LLMError, match=r"max_failure_rate must be a number in \[0, 1\]"):
        LLMSettings.from_config(config(max_failure_rate=1.5))


def test_preflight_can_be_called_before_any_work(config, monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTUNE_TEST_LLM_KEY", "sk-x")
    client = LLMClient(
        LLMSettings.from_config(config(base_url=dead_url())), ResponseCache(tmp_path / "c.jsonl"), progress=False
    )
    with pytest.raises(LLMError, match="does not answer"):
        client.preflight()
