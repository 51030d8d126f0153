"""Files in and out: JSONL with line-numbered errors, stable JSON, atomic writes; an interrupted run that
unwinds (`Terminated`, `terminate_raises`), so staging directories are cleaned up; quiet third-party logs
(`quiet_third_party_logs`).

Every artifact ragtune writes goes through `atomic_write` (temporary file in the
same directory, fsync, rename), or for a directory such as a model `staged_directory`,
so a killed stage never leaves a half-written output for DVC to cache.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


class UserError(Exception):
    """A problem the user fixes (bad input, a bad setting, an unreachable service), not a bug: its message
    says what and where, so stages and the CLI report it in one line without a traceback."""


class DataError(UserError, ValueError):
    """Bad input, located precisely: file, line (1-based) and field."""

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = str(path), line, field
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}")


class WriteError(OSError, UserError):
    """An artifact could not be written; its message names the path and the reason, nothing else."""

    def __init__(self, path: str | os.PathLike, code: int, reason: str | None = None):
        super().__init__(code, reason or os.strerror(code), str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class Terminated(BaseException):
    """SIGTERM, raised where the program is, like KeyboardInterrupt for SIGINT: `with` blocks and `finally`
    clauses run (temporary and staging directories are removed; a child process is killed by subprocess.run)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def terminate_raises() -> None:
    """Make SIGTERM raise `Terminated` in the main thread (the default would end the process without cleanup)."""
    import signal

    signal.signal(signal.SIGTERM, _raise_terminated)


def interrupted_status(exc: BaseException) -> int:
    """The exit status of a run ended by `exc` (KeyboardInterrupt or Terminated): 128 + the signal."""
    import signal

    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


# Libraries whose INFO lines (FlagEmbedding's TrainingArguments and model config, faiss.loader's attempts,
# transformers' notices) bury ragtune's own; their warnings and errors still show.
THIRD_PARTY_LOGGERS = (
    "FlagEmbedding",
    "accelerate",
    "datasets",
    "faiss",
    "filelock",
    "httpx",
    "huggingface_hub",
    "sentence_transformers",
    "torch",
    "transformers",
    "urllib3",
)
_QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",  # read when transformers configures its logger (here and in the runners)
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # hub downloads and transformers' "Loading weights" bar
}


def verbose() -> bool:
    """RAGTUNE_VERBOSE=1: every library's logs and progress bars, as they come."""
    return os.environ.get("RAGTUNE_VERBOSE", "").strip().lower() not in ("", "0", "false", "no", "off")


def quiet_third_party_logs() -> None:
    """The console policy of stages and the fine-tuning runners: third-party loggers at WARNING, transformers and
    datasets at ERROR without progress bars; ragtune's own INFO lines and the encoding and training progress
    stay. Call it before those libraries are imported (the environment variables are read at import, and
    child processes inherit them). Nothing changes under RAGTUNE_VERBOSE=1."""
    import logging
    import sys
    import warnings

    if verbose():
        return
    for key, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"(transformers|FlagEmbedding)(\.|$)")  # notices, not problems
    if "transformers" in sys.modules:  # imported already: its logger was configured before the variable was set
        sys.modules["transformers"].logging.set_verbosity_error()


# Errors that can only come from writing the file itself (a full disk may surface at write, flush or fsync).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary siblings of `path` left by a writer that was killed (its pid no longer runs).

    They would otherwise stay inside an output or dependency directory and change the hash DVC
    records for it, so a rerun after a kill would not reproduce an uninterrupted run.
    """
    prefix = _temp_prefix(path)
    for leftover in path.parent.glob(f"{glob.escape(prefix)}*{_TEMP_SUFFIX}"):
        pid = leftover.name[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def _create_temp(path: Path) -> tuple[int, Path]:
    """An exclusive new sibling `.<name>.<pid>.<random>.tmp`, created with mode 0666 so the umask
    applies as for a plain open() (tempfile.mkstemp would force 0600)."""
    for _ in range(100):
        tmp = path.parent / f"{_temp_prefix(path)}{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name next to {path}")


def _write_error(path: Path, exc: OSError) -> WriteError:
    if isinstance(exc, (NotADirectoryError, FileExistsError)) or exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return WriteError(path, errno.ENOTDIR, f"{blocker} is not a directory")
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (disk full: free some space and rerun)"
    return WriteError(path, exc.errno or errno.EIO, reason)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of `path`; rename it over `path` only if the block succeeds.

    The file gets the permissions a plain open() would give (0666 less the umask). A failure to
    create, write or rename it (unwritable directory, full disk) raises `WriteError` naming `path`,
    and leaves neither `path` changed nor a temporary file behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(path)
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": "\n"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_error(path, exc) from exc
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in _WRITE_ERRNOS:
            raise _write_error(path, exc) from exc
        raise


@contextlib.contextmanager
def staged_directory(out_dir: Path) -> Iterator[Path]:
    """Yield an empty sibling directory; it replaces `out_dir` only if the block succeeds."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    stage.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a model directory is as readable as any file
    try:
        try:
            yield stage
        except Exception as exc:
            code = _write_errno(exc)
            if code is None:
                raise
            raise _write_error(out_dir, OSError(code, os.strerror(code))) from exc
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(stage, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_errno(exc: BaseException) -> int | None:
    """The errno of a failed write (full disk, quota, read-only filesystem), also when a library reports it in its
    own exception: safetensors' SafetensorError says "I/O error: No space left on device (os error 28)"."""
    if isinstance(exc, OSError) and not isinstance(exc, WriteError):
        return exc.errno if exc.errno in _WRITE_ERRNOS else None
    found = re.search(r"\(os error (\d+)\)", str(exc)) if type(exc).__name__ == "SafetensorError" else None
    return int(found.group(1)) if found and int(found.group(1)) in _WRITE_ERRNOS else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(directory: Path) -> None:
    """Give every file under `directory` the mode a plain `open` would (temporary files are 0600)."""
    mask = _umask()
    for path in [Path(directory), *Path(directory).rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def human_size(count: int) -> str:
    """A byte count as a person reads it: "1.5 GiB", "300 MiB", "12 KiB", "80 B"."""
    if count >= 1 << 30:
        return f"{count / (1 << 30):.1f} GiB"
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.0f} {unit}"
    return f"{count} B"


def dumps(obj: Any) -> str:
    """Stable, human-readable JSON: UTF-8 kept as is, keys in insertion order."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_write(path) as handle:
        if isinstance(obj, list) and obj and all(type(item) in _SCALARS for item in obj):
            # A flat list (a run's 19k question ids) in the very bytes of indent=2, through json's C encoder: the
            # indenting one is pure Python, a fifth of a second per table.
            handle.write("[\n  " + json.dumps(obj, ensure_ascii=False, separators=(",\n  ", ": "))[1:-1] + "\n]")
        else:
            json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")


_SCALARS = (str, int, float, bool, type(None))


def read_json(path: str | os.PathLike) -> Any:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a BOM (Windows tools write one) is not content
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(dumps(row) + "\n")
            count += 1
    return count


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; malformed lines raise DataError."""
    if not Path(path).exists():
        raise DataError(path, "file not found")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:  # line by line, so an encoding error names its line; a BOM on the first line is not content
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    path,
                    f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8",
                    line=number,
                ) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                # a line cut short fails at its end: never point past its last character
                column = max(1, min(exc.pos + 1, len(line.rstrip("\r\n"))))
                raise DataError(path, f"malformed JSON ({exc.msg}, column {column})", line=number) from None
            if not isinstance(obj, dict):
                raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", line=number)
            yield number, obj


def start_jsonl(path: str | os.PathLike) -> None:
    """`path` as an empty JSONL file, unless it holds lines already: one newline, which readers skip, rather than
    0 bytes, which DVC warns about ("is empty") on every command that hashes the output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size == 0:
        path.write_bytes(b"\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Every object of the file, in order. A well-formed file is read line by line as iter_jsonl reads it, each line
    parsed by json's C scanner alone (a quarter less time over a sweep's 19k-line files); anything else is read
    again by iter_jsonl, whose error names the line."""
    rows = _well_formed_rows(Path(path))
    return rows if rows is not None else [obj for _, obj in iter_jsonl(path)]


def _well_formed_rows(path: Path) -> list[dict] | None:
    """The file's objects, or None at the first thing iter_jsonl would report (or read more carefully). Streamed: a
    large corpus is never held as text besides its objects."""
    rows = []
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle):
                body = raw.decode("utf-8-sig" if number == 0 else "utf-8").strip(_JSON_SPACE)  # json.loads skips these
                if not body:
                    continue
                row, end = _DECODER.raw_decode(body)
                if end != len(body) or type(row) is not dict:
                    return None
                rows.append(row)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rows


_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def require(
    path: str | os.PathLike,
    line: int,
    obj: Mapping[str, Any],
    field: str,
    kind: type | tuple[type, ...],
    check: Callable[[Any], bool] | None = None,
    problem: str = "is invalid",
) -> Any:
    """Return obj[field], raising a located DataError when it is missing, mistyped or fails `check`."""
    if field not in obj:
        raise DataError(path, "is missing", line=line, field=field)
    value = obj[field]
    if (
        not isinstance(value, kind)
        or isinstance(value, bool)
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DataError(path, f"must be {names}, got {type(value).__name__}", line=line, field=field)
    if check is not None and not check(value):
        raise DataError(path, problem, line=line, field=field)
    return value
