"""The preflight (issue #24): whichever stage runs first finds a dead Elasticsearch, an unwritable cache, a full
disk, in one line naming the setting or path, before any work; nothing remote configured, no network."""

from __future__ import annotations

import errno
import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

from ragtune.config import preflight
from ragtune.config.preflight import PreflightError, check
from ragtune.config.schema import load

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["prepare", "queries", "base", "negatives", "train", "index", "retrieve", "evaluate", "submit"]


def params(**groups):
    """The project's params.yaml with whole groups' keys changed: params(sparse={"backend": "elasticsearch"})."""
    values = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for group, changes in groups.items():
        values[group].update(changes)
    return load(values)


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ES_URL", raising=False)
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


def test_nothing_remote_configured_uses_no_network(workspace, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", None)  # any network use would fail
    settings = params()
    for stage in ORDER:
        assert check(settings, stage, ORDER, workspace) is None


@pytest.mark.parametrize("stage, checked", [("prepare", True), ("retrieve", True), ("evaluate", False)])
def test_a_dead_elasticsearch_stops_the_first_stage_that_runs_naming_es_url(workspace, monkeypatch, stage, checked):
    url = f"http://127.0.0.1:{dead_port()}"
    monkeypatch.setenv("ES_URL", url)
    settings = params(sparse={"backend": "elasticsearch", "index_prefix": "ragtune", "api_key_env": "ES_API_KEY"})
    if not checked:  # evaluate and submit never ask it
        check(settings, stage, ORDER, workspace)
        return
    with pytest.raises(PreflightError) as failed:
        check(settings, stage, ORDER, workspace)
    message = str(failed.value)
    assert message.startswith(f"ES_URL={url}: no Elasticsearch answers there within 2 s") and "\n" not in message
    assert "docker compose up -d elasticsearch" in message and "sparse=bm25s" in message


def test_es_url_unset_is_named(workspace):
    settings = params(sparse={"backend": "elasticsearch", "index_prefix": "ragtune"})
    with pytest.raises(PreflightError, match="ES_URL is not set: sparse=elasticsearch needs the server's URL"):
        check(settings, "prepare", ORDER, workspace)


class FakeElasticsearch(http.server.BaseHTTPRequestHandler):
    """GET / as an Elasticsearch 8 node answers it (the client checks the product header)."""

    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"name": "fake", "version": {"number": "8.15.0"}, "tagline": "You Know, for Search"})
        self.send_response(self.status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 401])
def test_a_live_elasticsearch_passes_and_a_refused_key_is_named(workspace, monkeypatch, status):
    handler = type("Handler", (FakeElasticsearch,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ES_URL", f"http://127.0.0.1:{server.server_address[1]}")
        settings = params(sparse={"backend": "elasticsearch", "index_prefix": "ragtune", "api_key_env": "MY_ES_KEY"})
        if status == 200:
            check(settings, "prepare", ORDER, workspace)
        else:
            with pytest.raises(PreflightError, match=r"refused the connection \(HTTP 401\).*MY_ES_KEY"):
                check(settings, "prepare", ORDER, workspace)
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_llm_is_one_warning_line_and_a_listening_one_none(workspace):
    url = f"http://127.0.0.1:{dead_port()}/v1"
    settings = params(llm={"provider": "local", "base_url": url, "model": "m", "api_key_env": None})
    warnings = []
    check(settings, "prepare", ORDER, workspace, warn=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: llm.base_url={url} (llm=local) does not accept")
    assert "llm=offline" in warnings[0] and "\n" not in warnings[0]
    check(settings, "evaluate", ORDER, workspace, warn=warnings.append)  # no stage ahead asks it
    assert len(warnings) == 1
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert preflight.llm_unreachable(f"http://127.0.0.1:{listening.getsockname()[1]}/v1", "local") is None


def test_a_read_only_cache_dir_is_named(workspace, tmp_path, monkeypatch):
    if os.geteuid() == 0:  # root writes through permissions: answer as the kernel would for anyone else

        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o500)
    try:
        with pytest.raises(
            PreflightError, match=rf"RAGTUNE_CACHE_DIR={tmp_path / 'cache'} cannot be written \(Permission"
        ):
            check(params(), "prepare", ORDER, workspace)
    finally:
        (tmp_path / "cache").chmod(0o700)


def test_a_cache_dir_under_a_file_is_named(workspace, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RAGTUNE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with pytest.raises(PreflightError) as failed:
        check(params(), "prepare", ORDER, workspace)
    assert str(failed.value) == (
        f"RAGTUNE_CACHE_DIR={tmp_path / 'file' / 'cache'} cannot be written (Not a directory): make it writable, "
        "or set RAGTUNE_CACHE_DIR to a writable directory"
    )


@pytest.mark.parametrize("stage, model, needs", [("base", "e5-small", 256 + 470 + 940), ("evaluate", "e5-small", 256)])
def test_a_nearly_full_disk_says_how_much_the_stages_ahead_need(workspace, monkeypatch, stage, model, needs):
    free = 200 << 20
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 40, (1 << 40) - free, free))
    with pytest.raises(PreflightError) as failed:
        check(params(model={"name": model}), stage, ORDER, workspace)
    message = str(failed.value)
    assert message.startswith("disk: 200 MiB free for the workspace") and "RAGTUNE_CACHE_DIR" in message
    needed = needs + 100  # the cache is on the same filesystem here
    shown = f"{needed / 1024:.1f} GiB" if needed >= 1024 else f"{needed} MiB"
    assert f"need about {shown} there" in message and "free some space" in message and "\n" not in message
