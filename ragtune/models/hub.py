"""Hub models: is one reachable, which revision a pointer pins, and that revision's files on disk.

`require_model(name_or_path)` accepts a local directory, a hub id already in the Hugging Face cache
(looked up with local files only, so it works offline), or a hub id the hub answers for within a short
timeout. Otherwise it raises `ModelUnavailable`: one line naming the model, the hub and what to set instead.
`HF_HUB_OFFLINE=1` skips the network probe: only local copies and the cache count.

A pointer directory (`pointer.json`: `{"name_or_path": id, "revision": commit}`) stands for a model kept
elsewhere; its revision (`model.revision`, `reranker.revision`: the conf groups pin BGE-M3's and
bge-reranker-v2-m3's commits) is part of the pointer's bytes, so memo keys over a model directory change
with it. FlagEmbedding's loaders take no revision, so `pinned_snapshot` gives them that commit's snapshot
directory (from the cache, else downloaded once).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ragtune.io import UserError, staged_directory, write_json

PROBE_TIMEOUT = 5.0  # seconds; the hub answers a metadata request in well under one
POINTER_FILE = "pointer.json"
# What a snapshot leaves out: exports and pictures FlagEmbedding never loads (BGE-M3's ONNX copy is 2.3 GB).
SNAPSHOT_IGNORE = ["onnx/*", "imgs/*", "*.onnx", "*.onnx_data", "flax_model.msgpack", "rust_model.ot", "tf_model.h5"]


class ModelUnavailable(UserError):
    """A configured model is neither a local directory, nor cached, nor reachable on the hub."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    """Hub ids are `org/name` or `name`; anything else is meant as a local directory."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def require_model(
    name_or_path: str | None,
    setting: str = "model.embedder",
    revision: str | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> str:
    """`name_or_path` when it can be loaded; where it is found ("local", "cache", "hub"). None: nothing to check."""
    if name_or_path is None:
        return "none"
    if Path(name_or_path).expanduser().is_dir():
        return "local"
    if _looks_like_path(name_or_path):
        raise ModelUnavailable(
            f"model {name_or_path} ({setting}): no such local directory; set {setting} to a model directory or a hub id"
        )
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(try_to_load_from_cache(name_or_path, "config.json", revision=revision), str):
        return "cache"
    hub = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    instead = (
        f"set {setting}=/path/to/a/local/copy, or download it where the hub is reachable "
        f"(hf download {name_or_path}) and run with HF_HUB_OFFLINE=1"
    )
    if _offline():
        raise ModelUnavailable(
            f"model {name_or_path} ({setting}) is not in the Hugging Face cache and "
            f"HF_HUB_OFFLINE is set, so the hub {hub} is not asked: {instead}"
        )
    try:
        HfApi(endpoint=hub).model_info(name_or_path, revision=revision, timeout=timeout)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelUnavailable(
            f"model {name_or_path} ({setting}) does not exist on the hub {hub} "
            f"({type(exc).__name__}): check the id, or {instead}"
        ) from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise ModelUnavailable(
            f"model {name_or_path} ({setting}): the hub {hub} answered {status or type(exc).__name__}; {instead}"
        ) from None
    except Exception as exc:  # connection refused, DNS failure, timeout: the transports raise many types
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelUnavailable(
            f"model {name_or_path} ({setting}): the hub {hub} cannot be reached within "
            f"{timeout:g} s ({type(exc).__name__}: {reason}); {instead}"
        ) from None
    return "hub"


def read_pointer(model_dir: str | Path) -> tuple[str | None, str | None] | None:
    """(name_or_path, revision) of a pointer directory (revision None: the hub's main); None: not a pointer."""
    file = Path(model_dir) / POINTER_FILE
    if not file.is_file():
        return None
    pointer = json.loads(file.read_text(encoding="utf-8"))
    return pointer["name_or_path"], pointer.get("revision")


def write_pointer(out_dir: str | Path, name_or_path: str | None, revision: str | None = None) -> None:
    """Make `out_dir` a pointer to a model kept elsewhere (a hub id, pinned to `revision` when given; None: no
    model). The revision is written only when pinned, so unpinned pointers keep their bytes (and memo keys)."""
    with staged_directory(Path(out_dir)) as stage:
        write_json(stage / POINTER_FILE, {"name_or_path": name_or_path, **({"revision": revision} if revision else {})})


def pinned_snapshot(hub_id: str, revision: str, setting: str = "model.embedder") -> str:
    """The local directory of `hub_id` at `revision`: the Hugging Face cache's snapshot, else downloaded
    (after `require_model`'s short probe); `HF_HUB_OFFLINE=1`: the cache only. ModelUnavailable otherwise."""
    from huggingface_hub import snapshot_download

    options = dict(repo_id=hub_id, revision=revision, ignore_patterns=SNAPSHOT_IGNORE)
    try:
        return snapshot_download(local_files_only=True, **options)
    except Exception:  # not cached (LocalEntryNotFoundError and kin)
        pass
    if _offline():
        raise ModelUnavailable(
            f"model {hub_id} at revision {revision} ({setting}) is not in the Hugging Face "
            f"cache and HF_HUB_OFFLINE is set: download it where the hub is reachable "
            f"(hf download {hub_id} --revision {revision}), or set {setting}=/path/to/a/local/copy"
        )
    require_model(hub_id, setting, revision)
    return snapshot_download(etag_timeout=PROBE_TIMEOUT, **options)


def resolve_model(model_dir: str | Path, setting: str = "model.embedder") -> str:
    """What loads the model of `model_dir`: the directory itself, or the hub id / path its `pointer.json`
    names; a hub id pinned to a revision resolves to that revision's snapshot directory (`setting` is
    the key its errors name)."""
    pointer = read_pointer(model_dir)
    if pointer is None:
        return str(model_dir)
    target, revision = pointer
    if target is None:
        raise ValueError(f"{Path(model_dir) / POINTER_FILE}: points at no model")
    if revision and not Path(target).is_dir():
        return pinned_snapshot(target, revision, setting)
    return str(target)
