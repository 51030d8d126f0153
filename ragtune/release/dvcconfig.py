"""A DVC project's effective configuration (cache directory, remotes, default remote), and a git worktree
pointed at the main checkout's cache and remotes.

Read with `dvc.config.Config`, the loader `dvc config --list` itself runs: every level merged
(system, global, repo, local), relative paths resolved against the file that holds them. In
process it answers the same as the command line, in a fraction of its start-up time.
"""

from __future__ import annotations

from pathlib import Path

from ragtune.io import atomic_write
from ragtune.release.vcs import ReleaseError


def dvc_config(dvc_root: Path) -> dict:
    """The merged DVC config of the project at `dvc_root`, unvalidated as `dvc config --list` reads it."""
    from dvc.config import Config, ConfigError  # dvc imports slowly; only releases and reproductions need it

    try:
        return Config(dvc_dir=str(Path(dvc_root) / ".dvc"), validate=False)
    except ConfigError as exc:
        raise ReleaseError(f"cannot read the DVC config of {dvc_root}: {exc}") from exc


def cache_dir(dvc_root: Path, config: dict | None = None) -> Path:
    config = dvc_config(dvc_root) if config is None else config
    return Path(config["cache"].get("dir") or Path(dvc_root) / ".dvc" / "cache")


def remotes(config: dict) -> dict[str, str]:
    """Remote name -> URL (local paths already absolute)."""
    return {name: str(settings["url"]) for name, settings in config["remote"].items() if "url" in settings}


def default_remote(dvc_root: Path, config: dict | None = None) -> str | None:
    config = dvc_config(dvc_root) if config is None else config
    return config["core"].get("remote") or None


def share_config(main_root: Path, tree_root: Path, config: dict) -> None:
    """Point the worktree at the main checkout's DVC cache and local remotes.

    A worktree gets the tracked .dvc/config but neither .dvc/cache nor .dvc/config.local (both
    gitignored), and DVC resolves a relative path in a config file against that file's directory,
    which for the worktree is elsewhere: a relative remote such as `../../dvc-remote` would point
    next to the worktree. So the worktree's config.local gets the main checkout's config.local plus
    the absolute cache dir and local remote URLs the main checkout resolves. It is written with
    configobj, the library DVC itself reads and writes its config files with (one `dvc config`
    call per setting would cost a second each).
    """
    from configobj import ConfigObj

    main_local = main_root / ".dvc" / "config.local"
    written = ConfigObj(str(main_local)) if main_local.exists() else ConfigObj()
    written.setdefault("cache", {})["dir"] = str(cache_dir(main_root, config))
    for name, url in sorted(remotes(config).items()):
        if "://" in url or not Path(url).is_absolute():
            continue  # a cloud URL means the same thing everywhere
        written.setdefault(f'remote "{name}"', {})["url"] = url
    written.filename = None
    with atomic_write(tree_root / ".dvc" / "config.local", "wb", encoding=None) as handle:
        written.write(handle)
