"""One OpenAI-compatible client for every LLM call: bounded concurrency, owned retry policy, budget, cache.

Retry policy (the openai package's own retries are disabled so there is exactly one):
retry with exponential backoff and jitter on 429 (honouring Retry-After), 5xx, timeouts and
connection errors, up to `max_retries`; fail fast on any other 4xx, on an empty or
content-filtered completion, and on an answer still unparsable after one repair request.
Failures are reported per item so the caller can fall back; they never stop the batch, unless more
than `max_failure_rate` of its items fail (budget refusals aside): then the batch raises LLMError
naming the endpoint and the first error, since falling back for most items would pass an LLM run off as
an offline one. Before the first request is sent, a short probe (GET <base_url>/models, no retries)
checks that the endpoint answers at all, so a dead endpoint fails in seconds, not after every
item's retries; a run answered entirely from the cache sends no probe.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tqdm.auto import tqdm

from ragtune.llm.cache import ResponseCache, request_key
from ragtune.llm.settings import LLMError, LLMSettings

if TYPE_CHECKING:
    import openai  # imported where a request is made: a stage without an LLM (retrieve offline) skips its 0.5 s

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")

PROBE_TIMEOUT = 10.0  # seconds: a live endpoint answers a GET at once, even with an error status

REPAIR_PROMPT = (
    "직전 답변은 요청한 JSON 형식이 아닙니다 ({error}). 설명이나 코드 블록 없이, "
    "요청한 형식의 JSON 객체 하나만 다시 출력하세요."
)


class RequestFailed(LLMError):
    """One item failed for a recorded reason (budget, http 400, empty, unparsable, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Completion:
    content: str
    finish_reason: str | None
    cached: bool


@dataclass
class BatchResult(Generic[T]):
    """Per-item results in input order; `failures` maps an item's index to its reason."""

    values: list[T | None]
    failures: dict[int, str]
    stats: dict[str, int] = field(default_factory=dict)


class LLMClient:
    """Chat completions with the house policy; use `run` to process a batch from sync code.

    One batch at a time per client. Counters in `stats` span the client's lifetime, and
    the budget (`settings.max_requests`, retries included) is per client, i.e. per run.
    """

    def __init__(self, settings: LLMSettings, cache: ResponseCache | None = None, *, progress: bool = True):
        if settings.offline:
            raise LLMError("llm.provider is offline: no LLM client is needed (the stages use offline heuristics)")
        if settings.api_key is None:
            raise LLMError("LLMSettings has no API key: build it with LLMSettings.from_config")
        self.settings, self.cache, self.progress = settings, cache, progress
        self.counts: Counter[str] = Counter()
        self._random = random.Random(settings.seed or 0)  # jitter only; never affects results
        self._api: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._inflight: dict[str, asyncio.Future] = {}
        self._bar = None
        self._reachable = False
        self._probe_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"LLMClient(provider={s.provider!r}, model={s.model!r}, base_url={s.base_url!r})"

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    @property
    def endpoint(self) -> str:
        return f"{self.settings.base_url} (llm={self.settings.provider}, model {self.settings.model})"

    def preflight(self) -> None:
        """Raise LLMError in seconds when the endpoint answers nothing (connection refused, no route, timeout)."""

        async def probe() -> None:
            api = self._new_api()
            try:
                await self._probe(api)
            finally:
                await api.close()

        _run_sync(probe())

    def _new_api(self) -> openai.AsyncOpenAI:
        import openai

        s = self.settings
        return openai.AsyncOpenAI(api_key=s.api_key.reveal(), base_url=s.base_url, timeout=s.timeout, max_retries=0)

    async def _probe(self, api: openai.AsyncOpenAI) -> None:
        import openai

        s = self.settings
        try:
            await api.models.list(timeout=min(s.timeout, PROBE_TIMEOUT))
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:  # (a timeout is a connection error)
            cause = exc.__cause__ or exc
            reason = s.api_key.redact(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__)
            raise LLMError(
                f"LLM endpoint {self.endpoint} does not answer ({reason}): start the server, "
                f"fix llm.base_url, or run with llm=offline"
            ) from None
        except openai.APIError:
            pass  # any HTTP answer (404, 401 …): something is listening; requests report their own errors
        self._reachable = True

    async def _ensure_reachable(self) -> None:
        if self._reachable:
            return
        assert self._probe_lock is not None
        async with self._probe_lock:
            if not self._reachable:  # on the batch's own connection pool: one TLS setup per batch, not two
                await self._probe(self._api)

    # ---- one request -------------------------------------------------------------------

    def params(self, *, max_tokens: int, temperature: float | None = None) -> dict[str, Any]:
        """Sampling parameters sent with a request; they are part of the cache key."""
        params: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": self.settings.temperature if temperature is None else temperature,
        }
        if self.settings.seed is not None:
            params["seed"] = self.settings.seed
        return params

    async def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float | None = None
    ) -> Completion:
        """One chat completion, from the cache when there; raises RequestFailed on a failure."""
        params = self.params(max_tokens=max_tokens, temperature=temperature)
        key = request_key(self.settings.provider, self.settings.model, messages, params)
        record = self.cache.get(key) if self.cache is not None else None
        cached = record is not None
        if cached:
            self.counts["cached"] += 1
        elif key in self._inflight:  # same request already on its way: share its answer
            self.counts["cached"] += 1
            cached, record = True, await asyncio.shield(self._inflight[key])
        else:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" noise
            self._inflight[key] = future
            try:
                record = await self._send(messages, params)
                if self.cache is not None and self.cache.fsyncs:  # in a worker thread: the event loop keeps sending
                    await asyncio.to_thread(self.cache.put, key, record)
                elif self.cache is not None:  # a rename into the answer store: microseconds, where a thread hop
                    self.cache.put(key, record)  # would cost the event loop a GIL hand-over (~5 ms) per answer
                future.set_result(record)
            except BaseException as exc:
                future.set_exception(exc if isinstance(exc, Exception) else RequestFailed("cancelled"))
                raise
            finally:
                del self._inflight[key]
        if record.get("finish_reason") == "content_filter":
            raise RequestFailed("content_filter")
        content = record.get("content") or ""
        if not content.strip():
            raise RequestFailed("empty")
        return Completion(content, record.get("finish_reason"), cached)

    async def complete_json(
        self,
        messages: list[dict[str, str]],
        parse: Callable[[str], T],
        *,
        max_tokens: int,
        temperature: float | None = None,
    ) -> T:
        """Complete and parse; on a parse error (ValueError) ask once to fix the JSON, then give up."""
        first = await self.complete(messages, max_tokens=max_tokens, temperature=temperature)
        try:
            return parse(first.content)
        except ValueError as exc:
            error = str(exc)[:200]
        self.counts["repaired"] += 1
        repair = [
            *messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": REPAIR_PROMPT.format(error=error)},
        ]
        second = await self.complete(repair, max_tokens=max_tokens, temperature=temperature)
        try:
            return parse(second.content)
        except ValueError as exc:
            raise RequestFailed(f"unparsable: {str(exc)[:200]}") from None

    async def _send(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        import openai

        s = self.settings
        assert self._api is not None and self._semaphore is not None, "complete() runs inside LLMClient.run"
        await self._ensure_reachable()
        for attempt in range(s.max_retries + 1):
            if self.counts["sent"] >= s.max_requests:
                self.counts["budget"] += 1
                raise RequestFailed("budget")
            self.counts["sent"] += 1
            retry_after = None
            try:
                async with self._semaphore:
                    response = await self._api.chat.completions.create(model=s.model, messages=messages, **params)
            except openai.APITimeoutError:
                cause = "timeout"
            except openai.APIConnectionError:
                cause = "connection error"
            except openai.APIStatusError as exc:
                if exc.status_code != 429 and exc.status_code < 500:
                    raise RequestFailed(s.api_key.redact(f"http {exc.status_code}: {exc.message}")[:300]) from None
                cause, retry_after = f"http {exc.status_code}", _retry_after(exc.response)
            except openai.APIError as exc:  # e.g. a 200 whose body is not a completion
                raise RequestFailed(s.api_key.redact(f"invalid response: {exc.message}")[:300]) from None
            else:
                choice = response.choices[0] if response.choices else None
                return {
                    "model": s.model,
                    "content": (choice.message.content if choice else None) or "",
                    "finish_reason": choice.finish_reason if choice else None,
                }
            if attempt == s.max_retries:
                raise RequestFailed(f"gave up after {attempt + 1} attempts ({cause})")
            self.counts["retried"] += 1
            self._refresh_bar()
            delay = self._delay(attempt, retry_after)
            log.debug("retry %d/%d in %.2fs after %s", attempt + 1, s.max_retries, delay, cause)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        if retry_after is not None:  # the server said when; add a little jitter to spread the herd
            return retry_after + self._random.uniform(0, s.backoff_base)
        ceiling = min(s.backoff_max, s.backoff_base * 2**attempt)
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    # ---- a batch -----------------------------------------------------------------------

    def run(self, items: Sequence[Item], job: Callable[[Item], Awaitable[T]], *, desc: str = "llm") -> BatchResult[T]:
        """Run the async `job` on every item with bounded concurrency; results in input order.

        A job that raises RequestFailed marks its item failed with the reason; other
        exceptions are bugs and propagate.
        """
        return _run_sync(self._run(list(items), job, desc))

    async def _run(self, items: list[Item], job: Callable[[Item], Awaitable[T]], desc: str) -> BatchResult[T]:
        s = self.settings
        before = Counter(self.counts)
        values: list[T | None] = [None] * len(items)
        failures: dict[int, str] = {}
        self._semaphore = asyncio.Semaphore(s.concurrency)
        self._probe_lock = asyncio.Lock()
        self._api = self._new_api()
        self._bar = tqdm(total=len(items), desc=desc, unit="item", disable=not self.progress, dynamic_ncols=True)
        started = time.perf_counter()

        async def one(index: int, item: Item) -> None:
            try:
                values[index] = await job(item)
                self.counts["done"] += 1
            except RequestFailed as exc:
                failures[index] = exc.reason
                self.counts["failed"] += 1
                log.debug("%s: item %d failed: %s", desc, index, exc.reason)
            self._bar.update(1)
            self._refresh_bar()

        tasks = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(items)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # e.g. the endpoint probe failed: stop the other items quietly, then report
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self._bar.close()
            await self._api.close()
            self._api = self._semaphore = self._bar = None
        stats = {k: v for k, v in (self.counts - before).items()}
        stats["items"] = len(items)
        for name in ("done", "failed", "sent", "cached", "retried", "repaired", "budget"):
            stats.setdefault(name, 0)
        reasons = Counter(reason.split(":")[0] for reason in failures.values())
        log.info(
            "%s: %d items in %.1fs: %d done, %d failed %s, %d requests sent, %d cached, %d retried",
            desc,
            len(items),
            time.perf_counter() - started,
            stats["done"],
            stats["failed"],
            dict(reasons) if reasons else "",
            stats["sent"],
            stats["cached"],
            stats["retried"],
        )
        self._check_failure_rate(desc, len(items), failures)
        return BatchResult(values, failures, stats)

    def _check_failure_rate(self, desc: str, total: int, failures: dict[int, str]) -> None:
        """LLMError when more than max_failure_rate of the items failed (refusals by the budget are a choice)."""
        failed = {i: reason for i, reason in failures.items() if reason != "budget"}
        if not total or len(failed) / total <= self.settings.max_failure_rate:
            return
        first = failed[min(failed)]
        raise LLMError(
            f"{desc}: {len(failed)} of {total} LLM items failed ({len(failed) / total:.0%}, more than "
            f"llm.max_failure_rate={self.settings.max_failure_rate:g}) at {self.endpoint}; "
            f"first error: {first}"
        )

    def _refresh_bar(self) -> None:
        if self._bar is not None and not self._bar.disable:
            c = self.counts
            self._bar.set_postfix_str(
                f"done={c['done']} failed={c['failed']} retried={c['retried']} cached={c['cached']}", refresh=False
            )


def _retry_after(response: Any) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, or Retry-After as seconds or a date)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _run_sync(coroutine: Awaitable[T]) -> T:
    """asyncio.run, also from code that already has a running loop (e.g. a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
