"""LLM settings: the `llm` config group, validated, with the API key read from the environment.

The key lives in a `Secret` whose repr and str are masked, so printing or logging the
settings never shows it; it is revealed only when the HTTP client is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ragtune.io import UserError

PROVIDERS = ("offline", "solar", "openai", "local")


class LLMError(UserError, RuntimeError):
    """A configuration problem, an unreachable endpoint or a failed LLM request; the message never contains
    the API key."""


class Secret:
    """An API key that does not show itself in repr, str, logs or exceptions."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the key masked (for messages built from server replies)."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a cache or a subprocess by accident
        raise TypeError("Secret cannot be pickled")


@dataclass(frozen=True)
class LLMSettings:
    provider: str
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 5
    temperature: float = 0.2
    max_requests: int = 20000
    seed: int | None = None
    # A batch in which a larger share of items fails raises LLMError (naming the endpoint and the first error)
    # instead of silently falling back to the offline path for most of them.
    max_failure_rate: float = 0.2
    # Exponential backoff: base * 2**attempt seconds (jittered), capped at backoff_max.
    # Not in the config files (tests and benchmarks shrink them); Hydra: +llm.backoff_base=...
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    api_key: Secret | None = field(default=None, repr=False, compare=False)

    @property
    def offline(self) -> bool:
        return self.provider == "offline"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> LLMSettings:
        """Validate the `llm` config mapping and read the key from environ[cfg.api_key_env].

        Raises LLMError on an unknown key, a bad value, or a missing API key (naming the
        environment variable), before any work is done.
        """
        environ = os.environ if environ is None else environ
        values = dict(cfg.items())
        known = {name for name in cls.__dataclass_fields__ if name != "api_key"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LLMError(f"llm: unknown setting(s) {unknown}; known: {sorted(known)}")
        provider = values.get("provider")
        if provider not in PROVIDERS:
            raise LLMError(f"llm.provider must be one of {list(PROVIDERS)}, got {provider!r}")
        defaults = {name: f.default for name, f in cls.__dataclass_fields__.items()}
        nullable = {"base_url", "model", "api_key_env", "seed"}
        merged = {
            name: values[name]
            if values.get(name) is not None or name in nullable and name in values
            else defaults[name]
            for name in known
        }
        settings = cls(**_validated(merged))
        if settings.offline:
            return settings
        if not settings.base_url or not settings.model:
            raise LLMError(f"llm.provider={provider} needs llm.base_url and llm.model")
        if settings.api_key_env is None:
            if provider != "local":
                raise LLMError(f"llm.api_key_env is required for provider {provider}")
            key = "EMPTY"  # vLLM and Ollama accept any key
        else:
            key = environ.get(settings.api_key_env, "")
            if not key.strip():
                raise LLMError(
                    f"llm.provider={provider} needs an API key: set the environment variable "
                    f"{settings.api_key_env} (keys are read from the environment only)"
                )
        object.__setattr__(settings, "api_key", Secret(key.strip()))
        return settings


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    def number(name: str, minimum: float, integer: bool = False, optional: bool = False) -> None:
        value = values[name]
        if value is None and optional:
            return
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
            kind = "an integer" if integer else "a number"
            raise LLMError(f"llm.{name} must be {kind} >= {minimum}, got {value!r}")
        values[name] = value if integer else float(value)

    number("concurrency", 1, integer=True)
    number("timeout", 0.001)
    number("max_retries", 0, integer=True)
    number("temperature", 0.0)
    number("max_requests", 0, integer=True)
    number("seed", 0, integer=True, optional=True)
    number("max_failure_rate", 0.0)
    if values["max_failure_rate"] > 1:
        raise LLMError(f"llm.max_failure_rate must be a number in [0, 1], got {values['max_failure_rate']!r}")
    number("backoff_base", 0.0)
    number("backoff_max", 0.0)
    for name in ("base_url", "model", "api_key_env"):
        if values[name] is not None and not isinstance(values[name], str):
            raise LLMError(f"llm.{name} must be a string or null, got {values[name]!r}")
    return values
