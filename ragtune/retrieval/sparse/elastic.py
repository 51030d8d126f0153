"""BM25 on an Elasticsearch server, with the nori Korean analyzer: the client.

This module talks to the server; what the index is made of (analysis chain, similarity,
mappings, query) is `ragtune.retrieval.sparse.elastic_settings`. The server holds the index; `save()`
writes only a manifest (settings and a fingerprint of the indexed documents) so that a later
`load()` can check that the server still holds the very index this run built.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import BulkIndexError, streaming_bulk
from tqdm import tqdm

from ragtune.io import DataError, UserError, read_json, write_json
from ragtune.retrieval.sparse.base import Hits, ordered
from ragtune.retrieval.sparse.elastic_settings import (
    ANALYZER_NAME,
    check_scoring,
    corpus_fingerprint,
    default_analysis,
    index_body,
    search_body,
    settings_fingerprint,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

_START_HINT = "start one with `docker compose up -d elasticsearch` (see docs/elasticsearch.md)"
_NORI_HINT = (
    "the Elasticsearch server lacks the nori Korean analyzer: install analysis-nori "
    "(`bin/elasticsearch-plugin install analysis-nori`, then restart the node) "
    "or use the image built from docker/elasticsearch"
)


class ElasticsearchBackendError(UserError, RuntimeError):
    """The server cannot do what the backend needs; the message says what to do."""


def _redact(url: str) -> str:
    """The URL without user:password, so it can go into messages and reprs."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _error_reasons(exc: ApiError) -> str:
    """The server's own words: root causes and reason from the error body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", exc.message)
    if not isinstance(error, dict):
        return str(error)
    reasons = [cause.get("reason", "") for cause in error.get("root_cause", []) if isinstance(cause, dict)]
    reasons.append(error.get("reason", ""))
    return "; ".join(dict.fromkeys(reason for reason in reasons if reason)) or str(error.get("type", exc.message))


def _error_type(exc: ApiError) -> str:
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def _is_missing_nori(reason: str) -> bool:
    reason = reason.lower()
    return "nori" in reason and ("unknown" in reason or "failed to find" in reason)


class ElasticsearchRetriever:
    """BM25 retrieval served by Elasticsearch; implements `ragtune.retrieval.sparse.base.SparseRetriever`."""

    name = "elasticsearch"

    def __init__(
        self,
        index_name: str,
        url: str | None = None,
        api_key_env: str = "ES_API_KEY",
        client: Elasticsearch | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        analyzer: dict[str, Any] | None = None,
        refresh: bool = True,
        bulk_chunk_size: int = 500,
        msearch_batch_size: int = 100,
        request_timeout: float = 120.0,
    ):
        if not index_name or index_name != index_name.lower() or index_name.startswith(("_", "-", "+")):
            raise ValueError(f"invalid Elasticsearch index name {index_name!r}: lowercase, not starting with _ - +")
        if bulk_chunk_size < 1 or msearch_batch_size < 1:
            raise ValueError("bulk_chunk_size and msearch_batch_size must be positive")
        self.analysis = analyzer if analyzer is not None else default_analysis()
        check_scoring(k1, b, self.analysis)
        self.index_name = index_name
        self.api_key_env = api_key_env
        self.k1, self.b = float(k1), float(b)
        self.refresh = refresh
        self.bulk_chunk_size = bulk_chunk_size
        self.msearch_batch_size = msearch_batch_size
        self._doc_count: int | None = None
        self._fingerprint: str | None = None
        if client is not None:
            self.client = client
            self.url = _redact(url) if url else self._client_url(client)
            return
        url = url or os.environ.get("ES_URL")
        if not url:
            raise ElasticsearchBackendError(
                f"ES_URL is not set: sparse=elasticsearch needs the server's URL (pass url= or set ES_URL, e.g. "
                f"export ES_URL=http://localhost:9200); "
                f"{_START_HINT}"
            )
        self.url = _redact(url)
        api_key = os.environ.get(api_key_env) or None
        self.client = Elasticsearch(url, api_key=api_key, request_timeout=request_timeout, retry_on_timeout=True)

    @staticmethod
    def _client_url(client: Elasticsearch) -> str:
        nodes = client.transport.node_pool.all()
        return ", ".join(sorted(node.base_url for node in nodes)) or "<unknown>"

    def __repr__(self) -> str:
        return f"ElasticsearchRetriever(index_name={self.index_name!r}, url={self.url!r}, k1={self.k1}, b={self.b})"

    # -- settings and connection ---------------------------------------------

    def settings(self) -> dict[str, Any]:
        """What decides the scores: BM25 parameters and the analysis chain."""
        return {"k1": self.k1, "b": self.b, "analysis": self.analysis}

    def check_reachable(self, timeout: float = 5.0) -> None:
        """Raise ElasticsearchBackendError within `timeout` seconds when the server does not answer (before any
        work is done with it), naming ES_URL."""
        try:
            self.client.options(request_timeout=timeout, max_retries=0, retry_on_timeout=False).info()
        except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
            raise ElasticsearchBackendError(
                f"ES_URL={self.url}: no Elasticsearch answers there within {timeout:g} s "
                f"({type(exc).__name__}); set ES_URL to a running server or "
                f"{_START_HINT}"
            ) from None
        except ApiError as exc:
            if exc.meta.status in (401, 403):
                raise ElasticsearchBackendError(
                    f"ES_URL={self.url} refused the connection (HTTP {exc.meta.status}): "
                    f"set the API key in the environment variable {self.api_key_env}"
                ) from None

    # -- errors ----------------------------------------------------------------

    @contextlib.contextmanager
    def _server(self, action: str) -> Iterator[None]:
        """Turn transport and API failures into messages that say what to do."""
        where = f"Elasticsearch at {self.url}"
        try:
            yield
        except ElasticsearchBackendError:
            raise
        except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
            raise ElasticsearchBackendError(f"cannot reach {where} while {action}: {exc}; {_START_HINT}") from exc
        except BulkIndexError as exc:
            first = exc.errors[0] if exc.errors else {}
            detail = next(iter(first.values()), {}) if isinstance(first, dict) else {}
            detail_text = json.dumps(detail, ensure_ascii=False)[:500]
            raise ElasticsearchBackendError(
                f"{where} rejected {len(exc.errors)} document(s) while {action}; first: {detail_text}"
            ) from exc
        except ApiError as exc:
            reason = _error_reasons(exc)
            if _is_missing_nori(reason):
                raise ElasticsearchBackendError(f"{_NORI_HINT} ({where}: {reason})") from exc
            if _error_type(exc) == "index_not_found_exception":
                raise ElasticsearchBackendError(
                    f"index '{self.index_name}' does not exist at {self.url}; rerun the index stage"
                ) from exc
            if exc.meta.status in (401, 403):
                raise ElasticsearchBackendError(
                    f"{where} refused the request while {action} (HTTP {exc.meta.status}: {reason}); "
                    f"set the API key in the environment variable {self.api_key_env}"
                ) from exc
            raise ElasticsearchBackendError(
                f"{where} failed while {action} (HTTP {exc.meta.status}: {reason})"
            ) from exc

    # -- the SparseRetriever interface ----------------------------------------

    def index(self, docids: Sequence[str], texts: Sequence[str]) -> None:
        """Recreate the index from scratch and fill it with the documents."""
        if len(docids) != len(texts):
            raise ValueError(f"{len(docids)} docids but {len(texts)} texts")
        seen: set[str] = set()
        for position, (docid, text) in enumerate(zip(docids, texts)):
            if not isinstance(docid, str) or not docid:
                raise ValueError(f"document {position}: docid must be a non-empty string, got {docid!r}")
            if not isinstance(text, str):
                raise ValueError(f"document {docid!r}: text must be a string, got {type(text).__name__}")
            if docid in seen:
                raise ValueError(f"duplicate docid {docid!r}: each document must be indexed once")
            seen.add(docid)
        fingerprint = corpus_fingerprint(docids, texts)
        actions = (
            {"_index": self.index_name, "_id": docid, "_source": {"docid": docid, "content": text}}
            for docid, text in zip(docids, texts)
        )
        with self._server(f"recreating index '{self.index_name}'"):
            self.client.indices.delete(index=self.index_name, ignore_unavailable=True)
            self.client.indices.create(index=self.index_name, **index_body(self.k1, self.b, self.analysis))
        with self._server(f"bulk-indexing into '{self.index_name}'"):
            progress = tqdm(total=len(docids), desc=f"es index {self.index_name}", unit="doc", disable=None)
            with progress:
                for _ok, _item in streaming_bulk(self.client, actions, chunk_size=self.bulk_chunk_size):
                    progress.update(1)
        with self._server(f"finishing index '{self.index_name}'"):
            if self.refresh:
                self.client.indices.refresh(index=self.index_name)
            # Written last, as a commit marker: load() trusts an index only if this matches its manifest.
            self.client.indices.put_mapping(
                index=self.index_name,
                meta={
                    "ragtune_fingerprint": fingerprint,
                    "ragtune_settings": settings_fingerprint(self.settings()),
                    "ragtune_doc_count": len(docids),
                },
            )
        self._doc_count, self._fingerprint = len(docids), fingerprint

    def analyze(self, text: str) -> list[str]:
        """The terms the index's analyzer makes of `text` (to inspect what nori keeps)."""
        with self._server(f"analyzing with index '{self.index_name}'"):
            response = self.client.indices.analyze(index=self.index_name, analyzer=ANALYZER_NAME, text=text)
        return [token["token"] for token in response["tokens"]]

    def search(self, queries: Sequence[str], k: int) -> list[Hits]:
        """Per query, the top k (docid, score), best first, equal scores in docid order."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        results: list[Hits] = []
        progress = tqdm(total=len(queries), desc=f"es search {self.index_name}", unit="q", disable=None)
        with progress:
            for start in range(0, len(queries), self.msearch_batch_size):
                batch = queries[start : start + self.msearch_batch_size]
                searches: list[dict[str, Any]] = []
                for query in batch:
                    searches += [{}, search_body(query, k)]
                with self._server(f"searching index '{self.index_name}'"):
                    response = self.client.msearch(index=self.index_name, searches=searches)
                for offset, item in enumerate(response["responses"]):
                    results.append(self._parse_hits(item, start + offset))
                progress.update(len(batch))
        return results

    def _parse_hits(self, item: dict[str, Any], query_number: int) -> Hits:
        if "error" in item:
            error = item["error"]
            reason = error.get("reason", error.get("type", "")) if isinstance(error, dict) else str(error)
            if isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                raise ElasticsearchBackendError(
                    f"index '{self.index_name}' does not exist at {self.url}; rerun the index stage"
                )
            raise ElasticsearchBackendError(
                f"Elasticsearch at {self.url} failed on query {query_number} (HTTP {item.get('status')}: {reason})"
            )
        hits = [(hit["_id"], float(hit["_score"] if hit.get("_score") is not None else hit["sort"][0]))
                for hit in item["hits"]["hits"]]  # fmt: skip
        return ordered(hits)

    # -- persistence -------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        if self._fingerprint is None or self._doc_count is None:
            raise ElasticsearchBackendError("nothing to save: call index() (or load()) first")
        return {
            "backend": self.name,
            "format": MANIFEST_FORMAT,
            "index_name": self.index_name,
            "doc_count": self._doc_count,
            "fingerprint": self._fingerprint,
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "settings": self.settings(),
        }

    def save(self, directory: Path) -> None:
        """Write `directory/manifest.json`; the index itself stays on the server."""
        write_json(Path(directory) / MANIFEST_NAME, self.manifest())

    @classmethod
    def load(
        cls, directory: Path, url: str | None = None, client: Elasticsearch | None = None
    ) -> ElasticsearchRetriever:
        """Reconnect (ES_URL unless url/client given) and check the server holds the saved index."""
        path = Path(directory) / MANIFEST_NAME
        if not path.exists():
            raise DataError(path, "no Elasticsearch manifest here; rerun the index stage")
        manifest = read_json(path)
        for field in ("backend", "index_name", "doc_count", "fingerprint", "settings"):
            if field not in manifest:
                raise DataError(path, "missing", field=field)
        if manifest["backend"] != cls.name:
            raise DataError(path, f"expected '{cls.name}', found {manifest['backend']!r}", field="backend")
        settings = manifest["settings"]
        retriever = cls(
            manifest["index_name"],
            url=url,
            api_key_env=manifest.get("api_key_env", "ES_API_KEY"),
            client=client,
            k1=settings["k1"],
            b=settings["b"],
            analyzer=settings["analysis"],
        )
        retriever._check_server_index(manifest)
        retriever._doc_count, retriever._fingerprint = manifest["doc_count"], manifest["fingerprint"]
        return retriever

    def _check_server_index(self, manifest: dict[str, Any]) -> None:
        stale = f"; rerun the index stage to rebuild '{self.index_name}' at {self.url}"
        with self._server(f"checking index '{self.index_name}'"):
            if not self.client.indices.exists(index=self.index_name):
                raise ElasticsearchBackendError(f"index '{self.index_name}' does not exist" + stale)
            count = self.client.count(index=self.index_name)["count"]
            mapping = self.client.indices.get_mapping(index=self.index_name)
        if count != manifest["doc_count"]:
            raise ElasticsearchBackendError(
                f"index '{self.index_name}' holds {count} documents, the manifest says {manifest['doc_count']}" + stale
            )
        meta = next(iter(mapping.body.values()), {}).get("mappings", {}).get("_meta", {})
        if meta.get("ragtune_fingerprint") != manifest["fingerprint"]:
            raise ElasticsearchBackendError(
                f"index '{self.index_name}' was built from other documents than the manifest records" + stale
            )
        if meta.get("ragtune_settings") != settings_fingerprint(self.settings()):
            raise ElasticsearchBackendError(
                f"index '{self.index_name}' was built with other BM25/analyzer settings than the manifest records"
                + stale
            )
