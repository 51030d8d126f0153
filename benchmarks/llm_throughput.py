"""LLM layer throughput and reliability, against the local fault-injecting OpenAI-compatible
server (`python -m ragtune.llm.testing`, run in its own process like a real remote server).

Question generation over the competition corpus (4,272 documents from ../shared; a synthetic
corpus of the same size when absent), server latency 100 ms per request:

  1. concurrency 16 over the whole corpus vs concurrency 1 (timed on a subset, extrapolated);
  2. a forced rerun on the same cache (expected: 0 requests);
  3. with 10% HTTP 500 and 5% HTTP 429 injected (total requests vs a clean run; target <= 1.3x);
  4. a run SIGKILLed at ~50% and restarted (total requests vs a clean run; target <= 1.1x).

Through the pipeline (`--stage`): the queries stage on the shipped sample (120 documents, one request
each) via `dvc exp run -S llm=local …` in a temporary clone of the committed repository (`--rev`):

  5. concurrency 16 vs 1: the stage's LLM phase (the client's own timing) and the whole `dvc exp run`
     (target >= 8x on the LLM phase);
  6. `dvc exp run` SIGKILLed at ~50% of the requests and run again: requests sent in total vs a clean
     run (target <= 1.1x; before the answer store, the experiment's restore of the persisted
     data/queries/llm_cache.jsonl erased the killed run's answers and every request was sent again).

    .venv/bin/python benchmarks/llm_throughput.py [--docs 4272] [--latency 0.1] [--subset 200]
    .venv/bin/python benchmarks/llm_throughput.py --stage [--rev HEAD] [--latency 0.1] [--repeats 3] [--no-kill]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ragtune.io import read_jsonl, write_jsonl
from ragtune.llm import LLMClient, LLMSettings, ResponseCache, generate_questions

COMPETITION = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "competition"
KEY_ENV = "RAGTUNE_BENCH_LLM_KEY"  # a fake key for the local server; no real secret is involved
QUESTIONS_PER_DOC = 3

CHILD = """
import sys
from ragtune.io import read_jsonl
from ragtune.llm import LLMClient, LLMSettings, ResponseCache, generate_questions
docs = [(row["docid"], row["content"]) for row in read_jsonl(sys.argv[3])]
settings = LLMSettings.from_config({"provider": "local", "base_url": sys.argv[1], "model": "bench-model",
    "api_key_env": "%s", "concurrency": 16, "timeout": 10})
generate_questions(LLMClient(settings, ResponseCache(sys.argv[2]), progress=False), docs, %d)
""" % (KEY_ENV, QUESTIONS_PER_DOC)  # noqa: UP031


def load_docs(limit: int) -> tuple[list[tuple[str, str]], str]:
    path = COMPETITION / "documents.jsonl"
    if path.exists():
        docs = [(row["docid"], row["content"]) for row in read_jsonl(path)][:limit]
        return docs, f"competition corpus ({path.name})"
    topics = ["광합성", "블랙홀", "전자기 유도", "세포 분열", "판 구조론", "효소", "초전도체", "항생제"]
    docs = [
        (
            f"synthetic-{i:05d}",
            f"{topics[i % 8]}은(는) 과학의 중요한 주제이다. 문서 {i}번은 "
            f"{topics[(i + 3) % 8]}와의 관계를 설명한다. " * 4,
        )
        for i in range(limit)
    ]
    return docs, "synthetic corpus (../shared absent)"


class ServerProcess:
    """The fake server in its own process, like a real remote server (no shared interpreter lock)."""

    def __init__(self, latency: float, rates: str = ""):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ragtune.llm.testing",
                "--latency",
                str(latency),
                "--rates",
                rates,
                "--retry-after",
                "0.1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self.process.stdout.readline().strip()

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/stats") as response:
            return json.load(response)

    @property
    def requests(self) -> int:
        return self.stats()["requests"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@contextlib.contextmanager
def serving(latency: float, rates: str = ""):
    server = ServerProcess(latency, rates)
    try:
        yield server
    finally:
        server.close()


def generate(server: ServerProcess, docs, cache_path: Path, concurrency: int, backoff_base: float = 0.1):
    settings = LLMSettings.from_config(
        {
            "provider": "local",
            "base_url": server.base_url,
            "model": "bench-model",
            "api_key_env": KEY_ENV,
            "concurrency": concurrency,
            "timeout": 10,
            "backoff_base": backoff_base,
            "backoff_max": 2.0,
        }
    )
    with ResponseCache(cache_path) as cache:
        started = time.perf_counter()
        batch = generate_questions(LLMClient(settings, cache, progress=False), docs, QUESTIONS_PER_DOC)
        return time.perf_counter() - started, batch


ROOT = Path(__file__).resolve().parents[1]


def stage_clone(target: Path, rev: str) -> dict[str, str]:
    """A clone of the repository at `rev` with prepare and the offline queries stage run and committed
    (the experiment's baseline: an empty tracked LLM cache); returns the environment to run DVC in."""
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(target),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@b",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@b",
        OPENAI_API_KEY="bench-not-a-secret",
    )

    def run(*cmd):
        return subprocess.run(cmd, cwd=target, env=env, check=True, capture_output=True, text=True)

    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    run("git", "checkout", "-q", rev)
    run(sys.executable, "-m", "ragtune.cli", "params")
    run("dvc", "repro", "queries")
    run("git", "add", "-f", "params.yaml", "dvc.lock")
    run("git", "commit", "-q", "-m", "baseline", "--allow-empty")
    return env


def reset(clone: Path, env: dict) -> None:
    """The workspace back at the baseline (an experiment leaves its dvc.lock and outputs there)."""
    subprocess.run(["git", "checkout", "-q", "--", "dvc.lock", "params.yaml"], cwd=clone, env=env, check=True)
    subprocess.run(
        ["dvc", "checkout", "-q", "--force", "prepare", "queries"], cwd=clone, env=env, check=True, capture_output=True
    )


def exp_run(
    clone: Path,
    env: dict,
    server: ServerProcess,
    concurrency: int,
    store: Path,
    kill_at: int = 0,
    extra: tuple[str, ...] = (),
):
    """`dvc exp run -S llm=local … queries`; with kill_at, SIGKILL its process group after that many requests.
    Returns (wall seconds, LLM-phase seconds as the client logged them or None, requests the server saw)."""
    before = server.requests
    if not kill_at and "--force" in extra:  # a timed run starts from the baseline's empty tracked cache
        reset(clone, env)
    cmd = [
        "dvc",
        "exp",
        "run",
        "-S",
        "llm=local",
        "-S",
        f"llm.base_url={server.base_url}",
        "-S",
        f"llm.concurrency={concurrency}",
        *extra,
        "queries",
    ]
    started = time.perf_counter()
    child = subprocess.Popen(
        cmd,
        cwd=clone,
        env=dict(env, RAGTUNE_CACHE_DIR=str(store)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if kill_at:
        while child.poll() is None and server.requests - before < kill_at:
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return time.perf_counter() - started, None, server.requests - before
    output, _ = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"dvc exp run failed:\n{output[-3000:]}")
    phase = re.search(r"questions: \d+ items in ([0-9.]+)s", output)
    return wall, float(phase.group(1)) if phase else None, server.requests - before


def stage_main(args) -> None:
    with tempfile.TemporaryDirectory(prefix="ragtune-llm-stage-") as tmp:
        tmp = Path(tmp)
        clone = tmp / "repo"
        env = stage_clone(clone, args.rev)
        print(
            f"queries stage via dvc exp run, sample corpus, rev {args.rev}, server latency {args.latency * 1000:.0f} ms"
        )
        runs: dict[int, list[tuple]] = {1: [], 16: []}
        with serving(args.latency) as server:
            # --force: concurrency is no param (it changes no answer), so DVC's run cache would restore the first.
            # Repeats alternate 1 and 16 (a fresh store each: every request is sent), so both see the same load.
            for repeat in range(args.repeats):
                for c in runs:
                    runs[c].append(exp_run(clone, env, server, c, tmp / f"store-c{c}-{repeat}", extra=("--force",)))
        timings = {c: tuple(statistics.median(values) for values in zip(*done)) for c, done in runs.items()}
        for c, (wall, phase, sent) in timings.items():
            each = f" (median of {args.repeats}: {', '.join(f'{r[1]:.2f}' for r in runs[c])})" * (args.repeats > 1)
            line = f"[5] concurrency {c:>2}: {sent:.0f} requests, LLM phase {phase:.2f} s{each}"
            print(f"{line}, dvc exp run {wall:.1f} s")
        (w1, p1, _), (w16, p16, clean) = timings[1], timings[16]
        clean = int(clean)
        print(f"    speed-up 16 vs 1: LLM phase {p1 / p16:.1f}x (target >= 8x), whole dvc exp run {w1 / w16:.1f}x")
        if args.no_kill:
            return

        with serving(args.latency) as server:
            store = tmp / "store-kill"
            reset(clone, env)
            other = ("-S", "llm.temperature=0.3")  # not in the run cache: the rerun must really run
            _, _, at_kill = exp_run(clone, env, server, 1, store, kill_at=clean // 2, extra=other)
            shutil.rmtree(clone / ".dvc" / "tmp" / "rwlock", ignore_errors=True)  # the killed run's lock
            (clone / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)
            kept = len(list((store / "llm").glob("??/*.json")))
            _, _, rerun = exp_run(clone, env, server, 16, store, extra=other)
        total = at_kill + rerun
        print(
            f"[6] dvc exp run killed after {at_kill} requests ({kept} answers in the store); the rerun sent {rerun}; "
            f"total {total} = {total / clean:.2f}x a clean run (target <= 1.1x)"
        )
        tracked = (clone / "data" / "queries" / "llm_cache.jsonl").read_text(encoding="utf-8").splitlines()
        leaked = any(env["OPENAI_API_KEY"] in path.read_text(encoding="utf-8") for path in store.rglob("*.json"))
        print(
            f"    tracked data/queries/llm_cache.jsonl: {len(tracked)} answers, filled from the store; "
            f"the API key in the store: {'yes' if leaked else 'no'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=4272, help="documents to generate for")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request (s)")
    parser.add_argument("--subset", type=int, default=200, help="documents timed at concurrency 1")
    parser.add_argument("--stage", action="store_true", help="measure through `dvc exp run` of the queries stage")
    parser.add_argument("--rev", default="HEAD", help="(--stage) the committed revision to clone")
    parser.add_argument("--repeats", type=int, default=1, help="(--stage) timed runs per concurrency; medians shown")
    parser.add_argument("--no-kill", action="store_true", help="(--stage) the timings only, not the kill and rerun")
    args = parser.parse_args()
    if args.stage:
        return stage_main(args)
    os.environ.setdefault(KEY_ENV, "bench-not-a-secret")
    docs, source = load_docs(args.docs)
    n = len(docs)
    print(
        f"corpus: {n} documents, {source}; {QUESTIONS_PER_DOC} questions each; "
        f"server latency {args.latency * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        # 1. throughput
        with serving(args.latency) as server:
            t16, clean = generate(server, docs, tmp / "c16.jsonl", 16)
            stats = server.stats()
        clean_requests = stats["requests"]
        print(
            f"\n[1] concurrency 16: {n} docs in {t16:.1f} s ({n / t16:.0f} docs/s), {clean_requests} requests, "
            f"{len(clean.failed)} failed, max in flight {stats['max_in_flight']}"
        )
        subset = docs[: min(args.subset, n)]
        with serving(args.latency) as server:
            t1_subset, _ = generate(server, subset, tmp / "c1.jsonl", 1)
        t1 = t1_subset * n / len(subset)
        print(
            f"    concurrency 1: {len(subset)} docs in {t1_subset:.1f} s ({len(subset) / t1_subset:.1f} docs/s); "
            f"extrapolated to {n} docs: {t1:.0f} s (timed on a {len(subset)}-doc subset, scaled linearly)"
        )
        print(f"    speed-up at concurrency 16: {t1 / t16:.1f}x (target >= 10x)")

        # 2. forced rerun on the same cache
        with serving(args.latency) as server:
            t_rerun, rerun = generate(server, docs, tmp / "c16.jsonl", 16)
            sent = server.requests
        print(
            f"\n[2] forced rerun on the cache: {sent} requests sent (target 0), "
            f"{rerun.stats['cached']} answered from cache in {t_rerun:.1f} s; "
            f"output identical: {rerun.questions == clean.questions}"
        )

        # 3. injected faults
        with serving(args.latency, "500=0.10,429=0.05") as server:
            t_faults, faulty = generate(server, docs, tmp / "faults.jsonl", 16)
            stats = server.stats()
        ratio = stats["requests"] / clean_requests
        print(
            f"\n[3] with 10% HTTP 500 + 5% HTTP 429 (Retry-After 0.1 s): {stats['requests']} requests "
            f"= {ratio:.3f}x a clean run (target <= 1.3x); injected {stats['faults']}; "
            f"{faulty.stats['retried']} retried, {len(faulty.failed)} failed, {t_faults:.1f} s; "
            f"output identical: {faulty.questions == clean.questions}"
        )

        # 4. SIGKILL at ~50%, then restart
        corpus_path, cache_path = tmp / "docs.jsonl", tmp / "killed.jsonl"
        write_jsonl(corpus_path, ({"docid": d, "content": c} for d, c in docs))
        with serving(args.latency) as server:
            child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(cache_path), str(corpus_path)])
            while child.poll() is None:
                if cache_path.exists() and cache_path.read_bytes().count(b"\n") >= clean_requests // 2:
                    break
                time.sleep(0.05)
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            before_kill = server.requests
            with ResponseCache(cache_path) as cache:
                kept = len(cache)
            t_restart, restarted = generate(server, docs, cache_path, 16)
            total = server.requests
        print(
            f"\n[4] killed at {before_kill} requests ({kept} responses kept in the cache, "
            f"{before_kill - kept} lost in flight); restart sent {total - before_kill} in {t_restart:.1f} s; "
            f"total {total} = {total / clean_requests:.3f}x a clean run (target <= 1.1x); "
            f"output identical: {restarted.questions == clean.questions}"
        )


if __name__ == "__main__":
    main()
