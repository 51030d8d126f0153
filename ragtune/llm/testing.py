"""A local OpenAI-compatible chat server with per-request fault injection, for tests and benchmarks.

It speaks POST /v1/chat/completions on 127.0.0.1 (standard library only, one thread per
connection) and answers the pipeline's three prompts with deterministic, valid JSON, so
the real client code path runs end to end without a network or a paid API. Faults:

    "429"            rate limited, with Retry-After: <retry_after> seconds
    "500", "503"     server errors          "400", "401"   client errors
    "hang"           never answers (the client's timeout fires)
    "empty"          a completion with empty content
    "content_filter" finish_reason content_filter, no content
    "malformed"      a completion whose JSON is cut short
    "fenced"         the valid answer inside a ```json fence with stray prose around it
    "latency:<s>"    the normal answer after <s> extra seconds

Faults come from a global queue (`fail_next`), per-prompt queues (`fail_when`), or random
rates (`rates={"500": 0.1}`), checked in that order. GET /stats returns the counters.

Run it in its own process (so its threads do not share the client's interpreter lock):
    python -m ragtune.llm.testing --latency 0.1 --rates 500=0.1,429=0.05
prints the base URL on the first line of stdout and serves until stdin closes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[list[dict]], str]


ENGLISH_CHITCHAT = ("hello", "hi ", "thanks", "thank you", "bored", "tired")
KOREAN_CHITCHAT = ("안녕", "고마워", "반가워", "심심", "힘들")


def default_answer(messages: list[dict]) -> str:
    """A deterministic valid answer to the pipeline's prompts (found by the JSON schema they show), in the
    prompt's language: English prompts (ragtune.llm.prompts) get English answers, Korean ones Korean."""
    prompt = next((m["content"] for m in messages if m["role"] == "user"), "")
    seed = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8], 16)
    english = not re.search(r"[가-힣]", prompt.split("\n\n", 1)[0])  # the instructions, not the quoted text
    if '"questions"' in prompt:
        m = re.search(r"질문 (\d+)개|write (\d+) questions", prompt)
        n = int(m.group(1) or m.group(2)) if m else 3
        document = re.split(r"문서:\n|Document:\n", prompt, maxsplit=1)[-1]
        words = list(dict.fromkeys(re.findall(r"[가-힣A-Za-z]{2,}", document))) or ["document" if english else "과학"]
        forms = ENGLISH_FORMS if english else KOREAN_FORMS
        questions = []
        for i in range(n):
            a = words[(seed + i) % len(words)]
            d = words[(seed + 7 * i + 3) % len(words)]
            questions.append(forms[i % len(forms)].format(a=a, d=d) + f" ({i + 1})" * (i >= len(forms)))
        return json.dumps({"questions": questions}, ensure_ascii=False)
    if '"standalone"' in prompt:
        speaker = "User: " if english else "사용자: "
        lines = [line for line in prompt.splitlines() if line.startswith(speaker)]
        last = lines[-1][len(speaker) :] if lines else ""
        words = ENGLISH_CHITCHAT if english else KOREAN_CHITCHAT
        chitchat = any(word in f"{last.lower()} " for word in words)
        context = lines[-2][len(speaker) :] if len(lines) > 1 else ""
        standalone = f"{context} {last}".strip() if context and not chitchat else last
        return json.dumps({"standalone": standalone, "chitchat": chitchat}, ensure_ascii=False)
    if '"variants"' in prompt:
        m = re.search(r"다른 표현 (\d+)개|as (\d+) other phrasings", prompt)
        n = int(m.group(1) or m.group(2)) if m else 2
        query = re.split(r"질문: |Query: ", prompt)[-1].strip()
        answer: dict = {"variants": [f"{query} {'explained' if english else '설명'} {i + 1}" for i in range(n)]}
        if '"hyde"' in prompt:
            answer["hyde"] = (
                f"This is about {query}. It is explained here step by step."
                if english
                else f"{query}에 대한 설명입니다. 이것은 과학적 원리로 설명됩니다."
            )
        return json.dumps(answer, ensure_ascii=False)
    return "OK"


KOREAN_FORMS = (
    "'{a}'의 뜻은 무엇인가요?",
    "'{a}'의 원리는 왜 중요한가요?",
    "'{a}'의 과정은 어떻게 진행되나요?",
    "'{a}'과 '{d}'의 차이점은?",
    "일상에서 '{a}'의 예는?",
    "'{a}' 관련 원리 설명",
)
ENGLISH_FORMS = (
    "what does '{a}' mean",
    "why is '{a}' important",
    "how does '{a}' work",
    "'{a}' vs '{d}'",
    "'{a}' not working",
    "'{a}' help",
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops connections under a burst

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away (timeout, kill) is normal
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(...) as server:`; point the client at `server.base_url`."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        responder: Responder = default_answer,
        rates: dict[str, float] | None = None,
        retry_after: float = 0.01,
        hang_seconds: float = 30.0,
        seed: int = 0,
    ):
        self.latency, self.responder, self.retry_after, self.hang_seconds = (
            latency,
            responder,
            retry_after,
            hang_seconds,
        )
        self.rates = dict(rates or {})
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self.prompts: Counter[str] = Counter()  # first user message -> requests seen
        self.authorization: set[str] = set()
        self.in_flight = self.max_in_flight = 0
        self._queue: deque[str] = deque()
        self._when: list[tuple[str, deque[str]]] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def fail_next(self, *faults: str) -> None:
        """The next requests, whatever they ask, get these faults in order."""
        with self._lock:
            self._queue.extend(faults)

    def fail_when(self, substring: str, *faults: str) -> None:
        """Requests whose messages contain `substring` get these faults in order."""
        with self._lock:
            self._when.append((substring, deque(faults)))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.faults.clear()
            self.prompts.clear()
            self.max_in_flight = 0

    def snapshot(self) -> dict:
        """Counters as JSON-able data (also served at GET /stats for a server in another process)."""
        with self._lock:
            return {"requests": self.requests, "faults": dict(self.faults), "max_in_flight": self.max_in_flight}

    def _choose_fault(self, messages: list[dict]) -> str | None:
        with self._lock:
            self.requests += 1
            first_user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
            self.prompts[first_user] += 1
            fault = None
            if self._queue:
                fault = self._queue.popleft()
            else:
                text = json.dumps(messages, ensure_ascii=False)
                for substring, queue in self._when:
                    if queue and substring in text:
                        fault = queue.popleft()
                        break
            if fault is None and self.rates:
                draw, edge = self._random.random(), 0.0
                for name, rate in sorted(self.rates.items()):
                    edge += rate
                    if draw < edge:
                        fault = name
                        break
            if fault is not None:
                self.faults[fault] += 1
            return fault

    def __enter__(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/stats":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                self._json(200, server.snapshot())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                with server._lock:
                    server.authorization.add(self.headers.get("authorization", ""))
                try:
                    request = json.loads(body)
                    messages = request["messages"]
                except (ValueError, KeyError):
                    return self._json(400, {"error": {"message": "invalid request body"}})
                fault = server._choose_fault(messages)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(request, messages, fault)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, request: dict, messages: list[dict], fault: str | None) -> None:
                delay = server.latency
                if fault and fault.startswith("latency:"):
                    delay += float(fault.split(":", 1)[1])
                if delay:
                    time.sleep(delay)
                if fault == "hang":
                    server._stop.wait(server.hang_seconds)
                    self.close_connection = True
                    return
                if fault in ("429", "500", "503", "400", "401"):
                    headers = {"retry-after": f"{server.retry_after:g}"} if fault == "429" else {}
                    message = f"injected {fault}"
                    if fault == "401":  # like real providers, echo the rejected key back
                        message = f"Incorrect API key provided: {self.headers.get('authorization', '')}"
                    return self._json(int(fault), {"error": {"message": message, "type": "fault"}}, headers)
                content, finish = server.responder(messages), "stop"
                if fault == "empty":
                    content = ""
                elif fault == "content_filter":
                    content, finish = None, "content_filter"
                elif fault == "malformed":
                    content = content[: max(1, len(content) // 2)]
                elif fault == "fenced":
                    content = f"요청하신 결과입니다.\n```json\n{content}\n```\n도움이 되길 바랍니다."
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-fake-{server.requests}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": request.get("model", "fake"),
                        "choices": [
                            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}
                        ],
                        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                    },
                )

            def _json(self, status: int, obj: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._stop.clear()
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()  # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Fault-injecting OpenAI-compatible test server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--rates", default="", help="random faults, e.g. 500=0.1,429=0.05")
    parser.add_argument("--retry-after", type=float, default=0.1, help="Retry-After seconds sent with a 429")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rates = {name: float(rate) for name, rate in (part.split("=") for part in args.rates.split(",") if part)}
    with FakeOpenAIServer(latency=args.latency, rates=rates, retry_after=args.retry_after, seed=args.seed) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or ends)


if __name__ == "__main__":
    main()
