"""ElasticsearchRetriever against a fake Elasticsearch: a node class that answers in memory.

elasticsearch-py sends every request through `elastic_transport`; a `BaseNode`
subclass passed as `node_class` receives the raw method/target/body and returns
`(ApiResponseMeta, bytes)`, so the real client, serializers, bulk helper and
error mapping all run — only the socket is replaced.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse

import elastic_transport
import pytest
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse  # what BaseNode.perform_request returns
from elasticsearch import Elasticsearch

from ragtune.io import DataError
from ragtune.retrieval.sparse import SparseRetriever, load_retriever
from ragtune.retrieval.sparse.elastic import MANIFEST_NAME, ElasticsearchBackendError, ElasticsearchRetriever
from ragtune.retrieval.sparse.elastic_settings import (
    ANALYZER_NAME,
    DEFAULT_STOPTAGS,
    corpus_fingerprint,
    default_analysis,
    index_name_for,
)

DOCIDS = ["d3", "d1", "d2", "d4"]
TEXTS = ["광합성 엽록체 빛", "광합성 이산화탄소", "지구 자전 하루", "광합성 엽록체"]


class FakeElasticsearch:
    """Just enough of the REST API for the backend; scores = matching whitespace tokens."""

    def __init__(self, nori_installed: bool = True, reachable: bool = True, status: int | None = None):
        self.nori_installed, self.reachable, self.forced_status = nori_installed, reachable, status
        self.indices: dict[str, dict] = {}
        self.requests: list[tuple[str, str, object]] = []
        self.authorization: list[str | None] = []
        self.msearch_override: dict | None = None
        self.rejected_docids: set[str] = set()

    def node_class(self) -> type[BaseNode]:
        server = self

        class FakeNode(BaseNode):
            def perform_request(self, method, target, body=None, headers=None, request_timeout=None):
                if not server.reachable:
                    raise elastic_transport.ConnectionError("Connection refused")
                server.authorization.append((headers or {}).get("authorization"))
                status, payload = server.handle(method, target, body)
                meta = ApiResponseMeta(
                    status=status,
                    http_version="1.1",
                    headers=HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"}),
                    duration=0.0,
                    node=self.config,
                )
                raw = b"" if method == "HEAD" else json.dumps(payload).encode()
                return NodeApiResponse(meta, raw)

        return FakeNode

    def client(self) -> Elasticsearch:
        # max_retries=0: an unreachable fake fails at once instead of being retried.
        return Elasticsearch("http://es.test:9200", node_class=self.node_class(), max_retries=0)

    # -- request handling ------------------------------------------------------

    def handle(self, method: str, target: str, raw: bytes | None):
        path = urllib.parse.urlsplit(target).path
        text = raw.decode("utf-8") if raw else ""
        if path.endswith(("/_bulk", "/_msearch")):
            body = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            body = json.loads(text) if text else None
        self.requests.append((method, path, body))
        if self.forced_status:
            return self.forced_status, {"error": {"type": "security_exception", "reason": "missing authentication"}}
        parts = [part for part in path.split("/") if part]
        name = parts[0] if parts else ""
        action = parts[1] if len(parts) > 1 else ""
        if "_bulk" in parts:  # /_bulk, the index named per action
            return self._bulk(body)
        if method == "HEAD" and not action:
            return (200 if name in self.indices else 404), None
        if method == "DELETE" and not action:
            self.indices.pop(name, None)
            return 200, {"acknowledged": True}
        if method == "PUT" and not action:
            return self._create(name, body)
        if action == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if action == "_mapping" and method == "PUT":
            self.indices[name]["mappings"]["_meta"] = body["_meta"]
            return 200, {"acknowledged": True}
        if name not in self.indices:
            return 404, self._not_found(name)
        if action == "_mapping":
            return 200, {name: {"mappings": self.indices[name]["mappings"]}}
        if action == "_analyze":
            tokens = [{"token": token} for token in body["text"].split()]
            return 200, {"tokens": tokens}
        if action == "_count":
            return 200, {"count": len(self.indices[name]["docs"])}
        if action == "_msearch":
            return 200, self.msearch_override or self._msearch(name, body)
        raise AssertionError(f"unexpected request {method} {target}")

    @staticmethod
    def _not_found(name: str) -> dict:
        error = {"type": "index_not_found_exception", "reason": f"no such index [{name}]"}
        return {"error": {**error, "root_cause": [error]}, "status": 404}

    def _create(self, name: str, body: dict):
        if name in self.indices:
            return 400, {"error": {"type": "resource_already_exists_exception", "reason": "exists"}, "status": 400}
        if not self.nori_installed:
            reason = "Unknown tokenizer type [nori_tokenizer] for [ragtune_nori]"
            error = {"type": "illegal_argument_exception", "reason": reason}
            return 400, {"error": {**error, "root_cause": [error]}, "status": 400}
        self.indices[name] = {"settings": body["settings"], "mappings": dict(body["mappings"]), "docs": {}}
        return 200, {"acknowledged": True, "index": name}

    def _bulk(self, lines: list[dict]):
        items = []
        for header, source in zip(lines[::2], lines[1::2]):
            meta = header["index"]
            index = meta["_index"]
            if meta["_id"] in self.rejected_docids:
                error = {"type": "document_parsing_exception", "reason": "failed to parse field [content]"}
                items.append({"index": {"_index": index, "_id": meta["_id"], "status": 400, "error": error}})
                continue
            self.indices[index]["docs"][meta["_id"]] = source
            items.append({"index": {"_index": index, "_id": meta["_id"], "status": 201}})
        return 200, {"took": 1, "errors": any("error" in item["index"] for item in items), "items": items}

    def _msearch(self, name: str, lines: list[dict]):
        responses = []
        for _header, request in zip(lines[::2], lines[1::2]):
            terms = request["query"]["match"]["content"]["query"].split()
            scored = []
            for docid, source in self.indices[name]["docs"].items():
                tokens = source["content"].split()
                score = float(sum(tokens.count(term) for term in terms))
                if score > 0:
                    scored.append((docid, score))
            scored.sort(key=lambda hit: (-hit[1], hit[0]))  # what the requested sort asks for
            hits = [{"_id": docid, "_score": score, "sort": [score, docid]} for docid, score in scored]
            responses.append({"hits": {"hits": hits[: request["size"]]}, "status": 200})
        return {"took": 1, "responses": responses}

    def sent(self, method: str, pattern: str) -> list:
        return [body for m, path, body in self.requests if m == method and re.fullmatch(pattern, path)]


@pytest.fixture
def server() -> FakeElasticsearch:
    return FakeElasticsearch()


def use_fake_node(monkeypatch, server: FakeElasticsearch) -> None:
    """Clients the backend builds itself (from ES_URL) talk to the fake too."""
    real_init = Elasticsearch.__init__
    monkeypatch.setattr(
        Elasticsearch, "__init__", lambda self, *a, **kw: real_init(self, *a, node_class=server.node_class(), **kw)
    )


def indexed(server: FakeElasticsearch, **kwargs) -> ElasticsearchRetriever:
    retriever = ElasticsearchRetriever("docs", client=server.client(), **kwargs)
    retriever.index(DOCIDS, TEXTS)
    return retriever


def test_implements_the_sparse_retriever_protocol():
    assert isinstance(ElasticsearchRetriever("x", client=FakeElasticsearch().client()), SparseRetriever)
    assert ElasticsearchRetriever.name == "elasticsearch"


def test_load_retriever_dispatches_on_the_manifest(server, tmp_path, monkeypatch):
    indexed(server).save(tmp_path)
    monkeypatch.setenv("ES_URL", "http://es.test:9200")
    use_fake_node(monkeypatch, server)
    assert isinstance(load_retriever(tmp_path), ElasticsearchRetriever)


def test_index_settings_use_nori_stoptags_and_bm25_parameters(server):
    indexed(server, k1=0.9, b=0.4)
    (body,) = server.sent("PUT", "/docs")
    analysis = body["settings"]["analysis"]
    assert analysis["tokenizer"]["ragtune_nori"] == {
        "type": "nori_tokenizer",
        "decompound_mode": "mixed",
        "discard_punctuation": True,
    }
    stop = analysis["filter"]["ragtune_pos_stop"]
    assert stop["type"] == "nori_part_of_speech"
    function_tags = "E J IC MAJ SC SE SF SP SSC SSO XPN XSA XSN XSV VCP VCN".split()
    assert set(function_tags) <= set(stop["stoptags"])
    assert {"NNG", "NNP", "VV", "VA", "SL", "SN"}.isdisjoint(stop["stoptags"])  # content words stay
    assert analysis["analyzer"][ANALYZER_NAME]["filter"] == ["ragtune_pos_stop", "lowercase"]
    similarity = body["settings"]["similarity"]["ragtune_bm25"]
    assert similarity == {"type": "BM25", "k1": 0.9, "b": 0.4}
    assert body["settings"]["index"]["number_of_shards"] == 1
    properties = body["mappings"]["properties"]
    assert properties["docid"] == {"type": "keyword"}
    assert properties["content"] == {"type": "text", "analyzer": ANALYZER_NAME, "similarity": "ragtune_bm25"}


def test_index_recreates_the_index_and_bulk_sends_every_document(server):
    retriever = indexed(server, bulk_chunk_size=3)
    first_run = list(server.requests)
    retriever.index(DOCIDS[:2], TEXTS[:2])  # second run: the old index is dropped, not appended to
    calls = [(method, path) for method, path, _ in first_run]
    assert calls == [
        ("DELETE", "/docs"),
        ("PUT", "/docs"),
        ("PUT", "/_bulk"),
        ("PUT", "/_bulk"),
        ("POST", "/docs/_refresh"),
        ("PUT", "/docs/_mapping"),  # the commit marker comes last
    ]
    bulks = [body for _, path, body in first_run if path == "/_bulk"]
    assert [len(body) // 2 for body in bulks] == [3, 1]  # batches of bulk_chunk_size
    lines = [line for body in bulks for line in body]
    assert [line["index"] for line in lines[::2]] == [{"_index": "docs", "_id": docid} for docid in DOCIDS]
    assert lines[1::2] == [{"docid": d, "content": t} for d, t in zip(DOCIDS, TEXTS)]
    assert sorted(server.indices["docs"]["docs"]) == ["d1", "d3"]


def test_index_without_refresh_skips_it(server):
    indexed(server, refresh=False)
    assert not server.sent("POST", "/docs/_refresh")


def test_index_rejects_bad_input(server):
    retriever = ElasticsearchRetriever("docs", client=server.client())
    with pytest.raises(ValueError, match="duplicate docid 'a'"):
        retriever.index(["a", "a"], ["x", "y"])
    with pytest.raises(ValueError, match="2 docids but 1 texts"):
        retriever.index(["a", "b"], ["x"])
    assert server.requests == []  # nothing touched on the server


def test_msearch_body_per_query_and_batches(server):
    retriever = indexed(server, msearch_batch_size=2)
    server.requests.clear()
    retriever.search(["광합성", "지구", "엽록체"], k=2)
    batches = server.sent("POST", "/docs/_msearch")
    assert [len(body) // 2 for body in batches] == [2, 1]
    requests = [line for body in batches for line in body[1::2]]
    assert requests[0] == {
        "query": {"match": {"content": {"query": "광합성"}}},
        "size": 2,
        "sort": [{"_score": {"order": "desc"}}, {"docid": {"order": "asc"}}],
        "track_scores": True,
        "track_total_hits": False,
        "_source": False,
    }
    assert [r["query"]["match"]["content"]["query"] for r in requests] == ["광합성", "지구", "엽록체"]


def test_search_results_best_first_ties_by_docid(server):
    retriever = indexed(server)
    results = retriever.search(["광합성 엽록체", "지구", "없는말"], k=3)
    assert results == [[("d3", 2.0), ("d4", 2.0), ("d1", 1.0)], [("d2", 1.0)], []]


def test_search_parsing_reorders_server_ties(server):
    retriever = indexed(server)
    hits = [{"_id": "b", "_score": 1.5}, {"_id": "c", "_score": 2.0}, {"_id": "a", "_score": 1.5}]
    server.msearch_override = {"responses": [{"hits": {"hits": hits}, "status": 200}]}
    assert retriever.search(["q"], k=3) == [[("c", 2.0), ("a", 1.5), ("b", 1.5)]]


def test_failed_query_in_msearch_is_reported(server):
    retriever = indexed(server)
    error = {"type": "search_phase_execution_exception", "reason": "all shards failed"}
    server.msearch_override = {"responses": [{"hits": {"hits": []}, "status": 200}, {"error": error, "status": 500}]}
    with pytest.raises(ElasticsearchBackendError, match="query 1 .*HTTP 500: all shards failed"):
        retriever.search(["a", "b"], k=1)


def test_rejected_documents_are_reported_not_dropped(server):
    server.rejected_docids = {"d2"}
    with pytest.raises(ElasticsearchBackendError, match="rejected 1 document.*failed to parse field"):
        indexed(server)


def test_analyze_asks_the_index_analyzer(server):
    assert indexed(server).analyze("광합성 엽록체") == ["광합성", "엽록체"]
    (body,) = server.sent("POST", "/docs/_analyze")
    assert body == {"analyzer": ANALYZER_NAME, "text": "광합성 엽록체"}


def test_search_rejects_bad_k(server):
    with pytest.raises(ValueError, match="k must be at least 1"):
        indexed(server).search(["광합성"], k=0)


def test_save_load_round_trip_and_manifest_has_no_secret(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ES_API_KEY", "s3cr3t-key-value")
    retriever = ElasticsearchRetriever("docs", url="http://user:hunter2@es.test:9200", client=server.client())
    retriever.index(DOCIDS, TEXTS)
    retriever.save(tmp_path)
    text = (tmp_path / MANIFEST_NAME).read_text(encoding="utf-8")
    for secret in ("s3cr3t-key-value", "hunter2"):
        assert secret not in text and secret not in repr(retriever)
    manifest = json.loads(text)
    assert manifest["backend"] == "elasticsearch"
    assert manifest["index_name"] == "docs"
    assert manifest["doc_count"] == 4
    assert manifest["fingerprint"] == corpus_fingerprint(DOCIDS, TEXTS)
    assert manifest["settings"]["k1"] == 1.2 and manifest["settings"]["b"] == 0.75
    assert manifest["settings"]["analysis"]["filter"]["ragtune_pos_stop"]["stoptags"] == list(DEFAULT_STOPTAGS)
    assert "url" not in manifest  # where the server lives is the environment's business

    loaded = ElasticsearchRetriever.load(tmp_path, client=server.client())
    assert (loaded.index_name, loaded.k1, loaded.b) == ("docs", 1.2, 0.75)
    assert loaded.search(["광합성"], k=2) == retriever.search(["광합성"], k=2)
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / MANIFEST_NAME).read_bytes() == text.encode("utf-8")


def test_save_is_deterministic_and_fingerprint_ignores_document_order(server, tmp_path):
    indexed(server).save(tmp_path / "a")
    retriever = ElasticsearchRetriever("docs", client=server.client())
    retriever.index(DOCIDS[::-1], TEXTS[::-1])
    retriever.save(tmp_path / "b")
    assert (tmp_path / "a" / MANIFEST_NAME).read_bytes() == (tmp_path / "b" / MANIFEST_NAME).read_bytes()
    assert corpus_fingerprint(["a"], ["x"]) != corpus_fingerprint(["a"], ["y"])


def test_load_uses_es_url(server, tmp_path, monkeypatch):
    indexed(server).save(tmp_path)
    monkeypatch.setenv("ES_URL", "http://from-env.test:9200")
    use_fake_node(monkeypatch, server)
    loaded = ElasticsearchRetriever.load(tmp_path)
    assert loaded.url == "http://from-env.test:9200"
    assert loaded.search(["지구"], k=1) == [[("d2", 1.0)]]


def test_load_refuses_a_missing_or_different_index(server, tmp_path):
    indexed(server).save(tmp_path)
    server.indices["docs"]["docs"].pop("d4")
    with pytest.raises(ElasticsearchBackendError, match="holds 3 documents, the manifest says 4.*rerun the index"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())

    other = ElasticsearchRetriever("docs", client=server.client())
    other.index(DOCIDS, ["다른 내용"] * 4)  # same count, other documents
    with pytest.raises(ElasticsearchBackendError, match="other documents.*rerun the index stage"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())

    ElasticsearchRetriever("docs", client=server.client(), k1=2.0).index(DOCIDS, TEXTS)
    with pytest.raises(ElasticsearchBackendError, match="other BM25/analyzer settings"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())

    del server.indices["docs"]
    with pytest.raises(ElasticsearchBackendError, match="'docs' does not exist.*rerun the index stage"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())


def test_load_without_manifest_or_with_wrong_backend(tmp_path, server):
    with pytest.raises(DataError, match="rerun the index stage"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"backend": "bm25s"}), encoding="utf-8")
    with pytest.raises(DataError, match="index_name"):
        ElasticsearchRetriever.load(tmp_path, client=server.client())


def test_search_on_missing_index_says_rerun(server):
    retriever = ElasticsearchRetriever("nothing-here", client=server.client())
    with pytest.raises(ElasticsearchBackendError, match="rerun the index stage"):
        retriever.search(["광합성"], k=1)


def test_save_before_index_is_an_error(server, tmp_path):
    with pytest.raises(ElasticsearchBackendError, match="call index"):
        ElasticsearchRetriever("docs", client=server.client()).save(tmp_path)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_unreachable_server_names_url_and_docker_compose():
    server = FakeElasticsearch(reachable=False)
    retriever = ElasticsearchRetriever("docs", client=server.client())
    unreachable = r"cannot reach Elasticsearch at http://es\.test:9200.*docker compose"
    with pytest.raises(ElasticsearchBackendError, match=unreachable):
        retriever.index(DOCIDS, TEXTS)


def test_missing_nori_plugin_says_install_analysis_nori():
    server = FakeElasticsearch(nori_installed=False)
    with pytest.raises(ElasticsearchBackendError, match="install analysis-nori") as caught:
        ElasticsearchRetriever("docs", client=server.client()).index(DOCIDS, TEXTS)
    assert "Unknown tokenizer type [nori_tokenizer]" in str(caught.value)


def test_authentication_failure_names_the_api_key_variable():
    server = FakeElasticsearch(status=401)
    retriever = ElasticsearchRetriever("docs", client=server.client(), api_key_env="MY_ES_KEY")
    with pytest.raises(ElasticsearchBackendError, match="HTTP 401.*MY_ES_KEY"):
        retriever.search(["광합성"], k=1)


def test_no_url_anywhere_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ES_URL", raising=False)
    with pytest.raises(ElasticsearchBackendError, match="set ES_URL"):
        ElasticsearchRetriever("docs")


def test_api_key_comes_from_the_named_environment_variable(server, monkeypatch):
    monkeypatch.setenv("MY_ES_KEY", "abc123")
    use_fake_node(monkeypatch, server)
    retriever = ElasticsearchRetriever("docs", url="http://es.test:9200", api_key_env="MY_ES_KEY")
    retriever.index(DOCIDS, TEXTS)
    assert set(server.authorization) == {"ApiKey abc123"}
    assert "abc123" not in repr(retriever)


def test_index_name_for_follows_documents_and_settings():
    fingerprint = corpus_fingerprint(DOCIDS, TEXTS)
    name = index_name_for("RagTune", fingerprint, 1.2, 0.75, default_analysis())
    assert re.fullmatch(r"ragtune-[0-9a-f]{12}", name)
    assert name == index_name_for("ragtune", fingerprint, 1.2, 0.75, default_analysis())
    assert name != index_name_for("ragtune", fingerprint, 1.5, 0.75, default_analysis())
    assert name != index_name_for("ragtune", fingerprint, 1.2, 0.75, default_analysis(decompound_mode="none"))
    assert name != index_name_for("ragtune", corpus_fingerprint(DOCIDS[:1], TEXTS[:1]), 1.2, 0.75, default_analysis())
    ElasticsearchRetriever(name, client=FakeElasticsearch().client())  # a valid index name


def test_invalid_arguments():
    client = FakeElasticsearch().client()
    with pytest.raises(ValueError, match="index name"):
        ElasticsearchRetriever("Docs", client=client)
    with pytest.raises(ValueError, match="0 <= b <= 1"):
        ElasticsearchRetriever("docs", client=client, b=1.5)
    with pytest.raises(ValueError, match=ANALYZER_NAME):
        ElasticsearchRetriever("docs", client=client, analyzer={"analyzer": {"other": {}}})


def test_the_index_settings_need_no_client():
    # The stages name an index (and the tests read its settings) without loading the Elasticsearch client.
    probe = (
        "import sys, ragtune.retrieval.sparse.elastic_settings; "
        "print(sorted(m for m in sys.modules if m.startswith('elastic')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
