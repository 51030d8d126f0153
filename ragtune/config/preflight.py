"""What the pipeline needs from outside before any stage works: checked by whichever stage runs first.

`dvc repro` runs the stages in dvc.yaml's order, so each stage checks what it and every later stage will need:
prepare already finds that `sparse=elasticsearch` has no server (index and retrieve need it), before prepare,
base and train spend their minutes. Checked: ragtune's cache directory can be written (`RAGTUNE_CACHE_DIR`);
the workspace and cache filesystems have the space the stages ahead write (a model's size for base and train);
Elasticsearch answers (`ES_URL`, with the client the backend uses, a 2 s timeout) when sparse=elasticsearch;
the LLM endpoint accepts a connection (llm.base_url) when llm is not offline. Each problem is one line naming
the setting, the environment variable or the path, and what to do. Nothing remote configured: no network, a
few milliseconds.

An unreachable LLM is a warning, not an error: a run answered entirely from the response cache needs no endpoint
(ragtune/llm/client.py), and the stage that does ask it still fails in seconds naming it.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from ragtune.cache.location import ENV as CACHE_ENV
from ragtune.cache.location import cache_root
from ragtune.config.schema import Params
from ragtune.io import UserError, human_size

MiB = 1 << 20
TIMEOUT = 2.0  # seconds for a server to answer; a live one on the network answers in milliseconds
WORKSPACE_FLOOR = 256 * MiB  # data, indexes and runs of a stage (the sample's are a few MiB)
CACHE_FLOOR = 100 * MiB  # LLM answers and candidate searches
# What a model directory takes on disk (fp32 safetensors + tokenizer); other names are BGE-M3's size.
MODEL_BYTES = {"tiny": 20 * MiB, "e5-small": 470 * MiB}
BGE_M3_BYTES = 2300 * MiB
# Stages that need a service (a later stage in dvc.yaml's order needs it checked now).
ELASTICSEARCH_STAGES = ("index", "retrieve")
LLM_STAGES = ("queries", "retrieve")
_ES_HINT = "start one with `docker compose up -d elasticsearch` (see docs/elasticsearch.md)"


class PreflightError(UserError):
    """A service, directory or filesystem the stages ahead need is not there; one line says which and what to do."""


def ahead(stage: str, order: Sequence[str]) -> list[str]:
    """`stage` and the stages dvc.yaml lists after it (what a `dvc repro` that runs `stage` may run next)."""
    return list(order[order.index(stage) :]) if stage in order else [stage]


def check(
    params: Params, stage: str, order: Sequence[str], root: Path, warn: Callable[[str], None] | None = None
) -> None:
    """Raise PreflightError naming the first problem for `stage` and the stages after it; `warn(line)` gets
    what does not stop the run (an unreachable LLM endpoint)."""
    coming = set(ahead(stage, order))
    cache = cache_root(root)
    check_writable(cache)
    check_space(root, cache, workspace_need(params, coming))
    if params.sparse.backend == "elasticsearch" and coming & set(ELASTICSEARCH_STAGES):
        check_elasticsearch(os.environ.get("ES_URL"), params.sparse.api_key_env or "ES_API_KEY")
    if params.llm.provider != "offline" and params.llm.base_url and coming & set(LLM_STAGES):
        problem = llm_unreachable(params.llm.base_url, params.llm.provider)
        if problem and warn is not None:
            warn(problem)


def check_writable(cache: Path) -> None:
    """ragtune's cache directory exists (made if need be) and takes a file."""
    where = f"RAGTUNE_CACHE_DIR={cache}" if os.environ.get(CACHE_ENV) else f"ragtune's cache directory {cache}"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PreflightError(
            f"{where} cannot be written ({reason}): make it writable, or set {CACHE_ENV} to a writable directory"
        ) from None


def workspace_need(params: Params, coming: set[str]) -> int:
    """Bytes the stages in `coming` write into the workspace: the floor, plus the model base makes (tiny and
    e5-small are local directories; a hub model is a pointer) and the fine-tuned one train saves."""
    size = MODEL_BYTES.get(params.model.name, BGE_M3_BYTES)
    need = WORKSPACE_FLOOR
    if "base" in coming and params.model.name in MODEL_BYTES:
        need += size
    if "train" in coming:
        need += 2 * size  # the runner's output, then the model staged beside the old one
    return need


def check_space(root: Path, cache: Path, need: int) -> None:
    """The workspace's filesystem has `need` bytes free, the cache's CACHE_FLOOR (both, when they are one)."""
    wanted = {}  # device -> (bytes, [what])
    for path, size, what in ((root, need, "the workspace"), (cache, CACHE_FLOOR, CACHE_ENV)):
        device = os.stat(path).st_dev
        total, names = wanted.get(device, (0, []))
        wanted[device] = (total + size, [*names, (path, what)])
    for size, names in wanted.values():
        path = names[0][0]
        free = shutil.disk_usage(path).free
        if free < size:
            places = " and ".join(f"{what} ({where})" for where, what in names)
            raise PreflightError(
                f"disk: {human_size(free)} free for {places}; the stages ahead need about {human_size(size)} there "
                f"(a model's weights for base and train): free some space"
                + (f" or set {CACHE_ENV} to a disk with room" if len(names) > 1 else "")
            )


def check_elasticsearch(url: str | None, api_key_env: str) -> None:
    """Elasticsearch answers at ES_URL within TIMEOUT (the client ragtune/retrieval/sparse/elastic.py uses)."""
    if not url:
        raise PreflightError(
            f"ES_URL is not set: sparse=elasticsearch needs the server's URL (e.g. export "
            f"ES_URL=http://localhost:9200); {_ES_HINT}, or run with sparse=bm25s"
        )
    import elastic_transport
    from elasticsearch import ApiError, Elasticsearch

    shown = _redact(url)
    client = Elasticsearch(url, api_key=os.environ.get(api_key_env) or None)
    try:
        client.options(request_timeout=TIMEOUT, max_retries=0, retry_on_timeout=False).info()
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise PreflightError(
            f"ES_URL={shown}: no Elasticsearch answers there within {TIMEOUT:g} s ({type(exc).__name__}); "
            f"set ES_URL to a running server, {_ES_HINT}, or run with sparse=bm25s"
        ) from None
    except ApiError as exc:
        if exc.meta.status in (401, 403):
            raise PreflightError(
                f"ES_URL={shown} refused the connection (HTTP {exc.meta.status}): "
                f"set the API key in the environment variable {api_key_env}"
            ) from None
    finally:
        client.close()


def llm_unreachable(base_url: str, provider: str) -> str | None:
    """None when something accepts a connection at llm.base_url's host and port within TIMEOUT, else one line."""
    parts = urllib.parse.urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=TIMEOUT):
            return None
    except OSError as exc:
        reason = (
            "timed out" if isinstance(exc, TimeoutError) else exc.strerror or errno.errorcode.get(exc.errno, str(exc))
        )
        return (
            f"warning: llm.base_url={_redact(base_url)} (llm={provider}) does not accept a connection ({reason}): "
            f"the queries and retrieve stages fail unless every answer is cached; start the server, fix "
            f"llm.base_url, or run with llm=offline"
        )


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
