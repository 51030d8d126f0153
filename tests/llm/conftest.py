"""Fixtures: a fault-injecting OpenAI-compatible server on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

import pytest

from ragtune.llm import LLMClient, LLMSettings, ResponseCache
from ragtune.llm.testing import FakeOpenAIServer

FAKE_KEY = "sk-FAKE-ragtune-test-key-7f3a9c"


@pytest.fixture
def server():
    with FakeOpenAIServer(retry_after=0.01, hang_seconds=5) as running:
        yield running


def llm_config(server: FakeOpenAIServer, **overrides) -> dict:
    config = {
        "provider": "local",
        "base_url": server.base_url,
        "model": "fake-model",
        "api_key_env": "RAGTUNE_TEST_LLM_KEY",
        "concurrency": 4,
        "timeout": 1.5,
        "max_retries": 3,
        "temperature": 0.2,
        "max_requests": 1000,
        "seed": 7,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
        "max_failure_rate": 1.0,
    }  # per-item failure tests inject faults into most items; the rate has its own tests
    config.update(overrides)
    return config


@pytest.fixture
def make_client(server, tmp_path, monkeypatch):
    """make_client(cache_name="cache.jsonl", **llm overrides) -> LLMClient with a cache under tmp_path."""
    monkeypatch.setenv("RAGTUNE_TEST_LLM_KEY", FAKE_KEY)

    def make(cache_name: str | None = "cache.jsonl", **overrides) -> LLMClient:
        settings = LLMSettings.from_config(llm_config(server, **overrides))
        cache = ResponseCache(tmp_path / cache_name) if cache_name else None
        return LLMClient(settings, cache=cache, progress=False)

    return make


@pytest.fixture
def fake_key() -> str:
    return FAKE_KEY


@pytest.fixture
def config(server):
    """config(**overrides) -> an `llm` config mapping for the local server."""
    return lambda **overrides: llm_config(server, **overrides)


@pytest.fixture
def sample_docs():
    return make_docs


def make_docs(count: int) -> list[tuple[str, str]]:
    topics = ["광합성", "블랙홀", "전자기 유도", "세포 분열", "판 구조론", "효소", "초전도체", "항생제"]
    return [
        (
            f"doc-{i:03d}",
            f"{topics[i % len(topics)]}은(는) 과학의 중요한 주제이다. 문서 {i}번은 "
            f"{topics[(i + 3) % len(topics)]}와의 관계를 자세히 설명하며 여러 실험 결과를 소개한다.",
        )
        for i in range(count)
    ]
