"""atomic_write: permissions like open(), clear errors naming the path, nothing half-written or left behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from ragtune.io import WriteError, atomic_write, staged_directory, write_json, write_jsonl


@pytest.fixture
def umask():
    saved = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(saved)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_0666_less_the_umask_like_open(tmp_path, umask, mask, expected):
    umask(mask)
    write_json(tmp_path / "atomic.json", {"a": 1})
    with open(tmp_path / "plain.json", "w"):
        pass
    assert (tmp_path / "atomic.json").stat().st_mode & 0o777 == expected
    assert (tmp_path / "plain.json").stat().st_mode & 0o777 == expected


def test_a_failing_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "rows.jsonl"
    write_jsonl(target, [{"n": 1}])
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write('{"n": 2}\n')
            raise RuntimeError("stage failed half-way")
    assert target.read_text() == '{"n": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, where):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    target = tmp_path / "out" / "rows.jsonl"
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", full)
        rows = [{"n": 1}]
    else:

        def rows():  # the error surfaces while the rows are written
            yield {"n": 1}
            full()

        rows = rows()
    with pytest.raises(WriteError) as caught:
        write_jsonl(target, rows)
    assert str(caught.value) == f"cannot write {target}: No space left on device (disk full: free some space and rerun)"
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list(target.parent.iterdir()) == []


def test_a_full_disk_while_a_model_is_saved_names_the_model_and_leaves_nothing(tmp_path):
    with pytest.raises(WriteError) as caught:
        with staged_directory(tmp_path / "models" / "base") as stage:
            (stage / "config.json").write_text("{}")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'models' / 'base'}: No space left on device (disk full: free some space and rerun)"
    )
    assert list((tmp_path / "models").iterdir()) == []


SAFETENSORS_TOO_LARGE = """
import resource, signal, sys
import numpy as np
from safetensors.numpy import save_file
from ragtune.io import WriteError, staged_directory

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    with staged_directory(sys.argv[1]) as stage:
        save_file({"w": np.zeros(100_000, dtype=np.float32)}, str(stage / "model.safetensors"))
except WriteError as exc:
    print(exc)
"""


def test_safetensors_reporting_a_failed_write_is_one_write_error(tmp_path):
    """safetensors raises its own SafetensorError ("I/O error: … (os error 27)"), not an OSError."""
    out = tmp_path / "models" / "base"
    done = subprocess.run([sys.executable, "-c", SAFETENSORS_TOO_LARGE, str(out)], capture_output=True, text=True)
    assert done.stdout == f"cannot write {out}: File too large\n", done.stderr
    assert list(out.parent.iterdir()) == []


def test_an_unwritable_directory_names_the_file(tmp_path, monkeypatch):
    if os.geteuid() == 0:  # root writes through permissions: answer as the kernel would for anyone else

        def refuse(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

        monkeypatch.setattr(os, "open", refuse)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(WriteError) as caught:
            write_json(locked / "metrics.json", {})
    finally:
        locked.chmod(0o755)
    assert str(caught.value) == f"cannot write {locked / 'metrics.json'}: Permission denied"
    assert list(locked.iterdir()) == []


def test_a_file_in_the_way_of_the_directory_is_named(tmp_path):
    (tmp_path / "runs").write_text("")
    with pytest.raises(
        WriteError, match=f"cannot write {tmp_path}/runs/eval/x.json: {tmp_path}/runs is not a directory"
    ):
        write_json(tmp_path / "runs" / "eval" / "x.json", {})


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    script = (
        "import sys, time\nfrom ragtune.io import atomic_write\n"
        "with atomic_write(sys.argv[1]) as h:\n"
        "    h.write('partial'); h.flush(); print('ready', flush=True); time.sleep(60)\n"
    )
    target = tmp_path / "file.txt"
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(tmp_path.iterdir())
    assert not target.exists() and len(left) == 1 and left[0].name.startswith(".file.txt.")

    with atomic_write(target) as handle:
        handle.write("complete")
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"] and target.read_text() == "complete"


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "file.txt"
    with atomic_write(target) as outer:
        outer.write("outer")
        with atomic_write(target) as inner:  # same process, still writing: its temporary must survive
            inner.write("inner")
    assert target.read_text() == "outer"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


# ---- the console policy (quiet third-party logs, RAGTUNE_VERBOSE) ----------------------------------------


@pytest.fixture
def clean_console(monkeypatch):
    """Each logger, warning filter and environment variable the policy touches, restored afterwards."""
    import logging
    import warnings

    from ragtune.io import _QUIET_ENVIRONMENT, THIRD_PARTY_LOGGERS

    for key in (*_QUIET_ENVIRONMENT, "RAGTUNE_VERBOSE"):
        monkeypatch.delenv(key, raising=False)
    levels = {name: logging.getLogger(name).level for name in THIRD_PARTY_LOGGERS}
    with warnings.catch_warnings():
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_third_party_logs_are_quiet_by_default(clean_console):
    import logging

    from ragtune.io import quiet_third_party_logs

    quiet_third_party_logs()
    for name in ("faiss.loader", "FlagEmbedding.abc.finetune.embedder.AbsRunner", "datasets"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    assert logging.getLogger("ragtune").level == logging.NOTSET  # ragtune's own INFO lines stay
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error" and os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"


def test_ragtune_verbose_keeps_every_library_line(clean_console, monkeypatch):
    import logging

    from ragtune.io import quiet_third_party_logs

    monkeypatch.setenv("RAGTUNE_VERBOSE", "1")
    before = logging.getLogger("faiss").level
    quiet_third_party_logs()
    assert logging.getLogger("faiss").level == before and "TRANSFORMERS_VERBOSITY" not in os.environ


def test_start_jsonl_makes_an_empty_jsonl_dvc_tracks_without_warning_and_keeps_lines(tmp_path):
    from ragtune.io import read_jsonl, start_jsonl

    path = tmp_path / "runs" / "cache.jsonl"
    start_jsonl(path)
    assert path.read_bytes() == b"\n" and read_jsonl(path) == []  # not 0 bytes: DVC warns "is empty" about those
    path.write_text('{"a": 1}\n')
    start_jsonl(path)
    assert read_jsonl(path) == [{"a": 1}]


def test_human_size_picks_the_unit_a_person_reads():
    from ragtune.io import human_size

    assert [human_size(n) for n in (80, 12 * 1024, 300 * (1 << 20), 3 * (1 << 29))] == [
        "80 B",
        "12 KiB",
        "300 MiB",
        "1.5 GiB",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b'\xef\xbb\xbf{"a": 1}\r\n\r\n  {"b": [1, {"c": "\\u2028 \xed\x95\x9c"}]}  \n',  # BOM, CRLF, blank, nesting
        b'{"a": 1}\n\x0c\n{"b": 2}',  # a form feed alone is blank to str.strip, not to JSON
        b"\n",
    ],
)
def test_read_jsonl_reads_what_iter_jsonl_reads(tmp_path, content):
    from ragtune.io import iter_jsonl, read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    assert read_jsonl(path) == [obj for _, obj in iter_jsonl(path)]


@pytest.mark.parametrize(
    "content, line",
    [
        (b'{"a": [1\n2]}, {"b": 3}\n', 1),  # lines that are one array when joined are still two bad lines
        (b'{"a": 1}\n[1]\n', 2),
        (b'{"a": 1}\n{"a": \xff}\n', 2),
        (b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n', 2),  # a BOM is content past the first line
    ],
)
def test_read_jsonl_names_the_line_of_a_bad_file(tmp_path, content, line):
    from ragtune.io import DataError, read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f":{line}:"):
        read_jsonl(path)


@pytest.mark.parametrize("items", [["q1", 'say "hi"\n', "한국어", "\u2028"], [1, -0.0, 2.5e300, True, None, "x"], []])
def test_write_json_writes_a_flat_list_as_indented_json(tmp_path, items):
    import json

    write_json(tmp_path / "list.json", items)
    assert (tmp_path / "list.json").read_text(encoding="utf-8") == json.dumps(
        items, ensure_ascii=False, indent=2, sort_keys=True
    ) + "\n"
