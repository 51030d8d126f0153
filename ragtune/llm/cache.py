"""Response cache: one JSONL line per LLM response, appended and fsynced the moment it arrives.

The file is a tracked pipeline output, so a rerun, a rerun after a crash, or a
reproduction from a git tag answers every cached request without the network.
Keys are sha256 digests of (provider, model, messages, parameters) — never the API key.
A kill can leave a truncated last line; it is ignored on load and cut off before the
next append. `compact()` rewrites the file sorted by key for a deterministic artifact.

With an `AnswerStore` (one file per answer, outside any pipeline output) the store is where
an answer is kept the moment it arrives, and the JSONL file is written by `compact()` only:
`dvc exp run` restores a persisted output to its committed state before a stage runs, which
would erase answers appended to it by a killed run; the store survives that, and one
rename per answer costs no fsync on the request path.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ragtune.io import DataError, atomic_write, dumps


def request_key(provider: str, model: str, messages: list[Mapping[str, str]], params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that determines the answer."""
    payload = {"provider": provider, "model": model, "messages": [dict(m) for m in messages], "params": dict(params)}
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AnswerStore:
    """Content-addressed answers, `directory/<key[:2]>/<key>.json`, each written by a rename.

    Shared by every run, experiment and clone pointed at it; a key is a digest of the request,
    so an answer can never be served for another request. Records hold the answer only
    (model, content, finish_reason): API keys live in the environment, never here. A file a
    crash left unreadable counts as absent and is rewritten by the next answer.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def _file(self, key: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"answer store: not a sha256 key: {key!r}")
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key and "content" in record else None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Write one answer: a temporary sibling renamed into place (a kill leaves the old state or the new,
        never half a file). No fsync: a killed process loses nothing the kernel already holds."""
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(
                dumps({"key": key, **{k: v for k, v in record.items() if k != "key"}}) + "\n", encoding="utf-8"
            )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))

    def __repr__(self) -> str:
        return f"AnswerStore({str(self.directory)!r})"


class ResponseCache:
    """Append-only JSONL store of {"key", "model", "content", "finish_reason"} records.

    With `store`, answers missing from the file are looked up there, new answers go there at once,
    and the file is written by `compact()` (every answer this cache loaded or used, sorted by key).
    """

    def __init__(self, path: str | os.PathLike, store: AnswerStore | None = None):
        self.path = Path(path)
        self.store = store
        self._records: dict[str, dict[str, Any]] = {}
        self._good_size = 0  # bytes up to the end of the last complete line
        self._handle = None
        self._lock = threading.Lock()  # put() may run in worker threads, to keep fsync off the event loop
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, raw in enumerate(lines, start=1):
            last = number == len(lines)
            if last and not raw:
                break
            try:
                record = json.loads(raw.decode("utf-8")) if raw.strip() else None
                if record is not None and not (
                    isinstance(record, dict) and isinstance(record.get("key"), str) and "content" in record
                ):
                    raise ValueError("not a cache record")
            except (ValueError, UnicodeDecodeError) as exc:
                if last:  # a line cut short by a kill: drop it, the request is simply re-sent
                    break
                raise DataError(self.path, f"corrupt cache line ({exc})", line=number) from None
            if last:  # complete JSON but no newline: keep it, terminate it before appending
                if record is not None:
                    self._records.setdefault(record["key"], record)
                break
            if record is not None:
                self._records.setdefault(record["key"], record)
            offset += len(raw) + 1
        self._good_size = offset
        self._unterminated = data[offset:]

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, key: str) -> dict[str, Any] | None:
        record = self._records.get(key)
        if record is None and self.store is not None:
            record = self.store.get(key)
            if record is not None:
                with self._lock:
                    record = self._records.setdefault(key, record)
        return record

    @property
    def fsyncs(self) -> bool:
        """Whether `put` waits for the disk (the JSONL file, fsynced); with a store it is one rename, no fsync."""
        return self.store is None

    def keys(self) -> Iterator[str]:
        return iter(self._records)

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Store and persist one response now (in the store; else append, flush, fsync); thread-safe."""
        entry = {"key": key, **{k: v for k, v in record.items() if k != "key"}}
        if self.store is not None:
            if key not in self._records:  # first answer wins
                self.store.put(key, entry)
                with self._lock:
                    self._records.setdefault(key, entry)
            return
        with self._lock:
            if key in self._records:
                return
            handle = self._open()
            handle.write((dumps(entry) + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            self._records[key] = entry

    def _open(self):
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "ab")
            tail = getattr(self, "_unterminated", b"")
            if tail:
                handle.truncate(self._good_size)  # cut the partial line a kill left behind
                try:
                    json.loads(tail.decode("utf-8"))
                    handle.write(tail + b"\n")  # it was complete, only its newline was missing
                except (ValueError, UnicodeDecodeError):
                    pass
                self._unterminated = b""
            self._handle = handle
        return self._handle

    def compact(self) -> None:
        """Rewrite the file atomically with one line per key, sorted by key."""
        with self._lock:
            self._close()
            with atomic_write(self.path) as handle:
                for key in sorted(self._records):
                    handle.write(dumps(self._records[key]) + "\n")
                if not self._records:
                    handle.write("\n")  # an empty cache as ragtune.io.start_jsonl makes it: DVC warns about 0 bytes
            self._good_size, self._unterminated = self.path.stat().st_size, b""

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, {len(self)} responses)"
