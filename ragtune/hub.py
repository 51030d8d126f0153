"""Is a model reachable? Checked in seconds before any work, instead of after minutes of hub retries.

`require_model(name_or_path)` accepts a local directory, a hub id already in the Hugging Face cache
(looked up with local files only, so it works offline), or a hub id the hub answers for within a short
timeout. Otherwise it raises `ModelUnavailable`: one line naming the model, the hub and what to set instead.
`HF_HUB_OFFLINE=1` skips the network probe: only local copies and the cache count.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragtune.io import UserError

PROBE_TIMEOUT = 5.0  # seconds; the hub answers a metadata request in well under one


class ModelUnavailable(UserError):
    """A configured model is neither a local directory, nor cached, nor reachable on the hub."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    """Hub ids are `org/name` or `name`; anything else is meant as a local directory."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def require_model(name_or_path: str | None, setting: str = "model.embedder", revision: str | None = None,
                  timeout: float = PROBE_TIMEOUT) -> str:
    """`name_or_path` when it can be loaded; where it is found ("local", "cache", "hub"). None: nothing to check."""
    if name_or_path is None:
        return "none"
    if Path(name_or_path).expanduser().is_dir():
        return "local"
    if _looks_like_path(name_or_path):
        raise ModelUnavailable(f"model {name_or_path} ({setting}): no such local directory; set {setting} to a "
                               f"model directory or a hub id")
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(try_to_load_from_cache(name_or_path, "config.json", revision=revision), str):
        return "cache"
    hub = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    instead = (f"set {setting}=/path/to/a/local/copy, or download it where the hub is reachable "
               f"(hf download {name_or_path}) and run with HF_HUB_OFFLINE=1")
    if _offline():
        raise ModelUnavailable(f"model {name_or_path} ({setting}) is not in the Hugging Face cache and "
                               f"HF_HUB_OFFLINE is set, so the hub {hub} is not asked: {instead}")
    try:
        HfApi(endpoint=hub).model_info(name_or_path, revision=revision, timeout=timeout)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelUnavailable(f"model {name_or_path} ({setting}) does not exist on the hub {hub} "
                               f"({type(exc).__name__}): check the id, or {instead}") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise ModelUnavailable(f"model {name_or_path} ({setting}): the hub {hub} answered "
                               f"{status or type(exc).__name__}; {instead}") from None
    except Exception as exc:  # connection refused, DNS failure, timeout: the transports raise many types
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelUnavailable(f"model {name_or_path} ({setting}): the hub {hub} cannot be reached within "
                               f"{timeout:g} s ({type(exc).__name__}: {reason}); {instead}") from None
    return "hub"
