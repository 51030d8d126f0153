"""Where ragtune keeps what must outlive a stage's outputs (LLM answers, candidate searches).

`dvc exp run` restores a stage's persisted outputs to their committed state before it runs, so a
cache kept only inside an output loses whatever a killed or unsaved experiment added. These
content-addressed stores live beside the repository instead: `$RAGTUNE_CACHE_DIR` when set, else
`ragtune/` in the git common directory (shared by the workspace, its experiments and worktrees such
as `ragtune reproduce`'s, removed with the clone), else `~/.cache/ragtune`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV = "RAGTUNE_CACHE_DIR"


def cache_root(repository: str | os.PathLike, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(ENV):
        return Path(environ[ENV]).expanduser()
    common = git_common_dir(Path(repository))
    if common is not None:
        return common / "ragtune"
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragtune"


def git_common_dir(repository: Path) -> Path | None:
    """The `.git` directory shared by a repository's worktrees (read from the files; no git process)."""
    for folder in (repository.resolve(), *repository.resolve().parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>", which names its commondir
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = (folder / text.removeprefix("gitdir:").strip()).resolve()
            common = gitdir / "commondir"
            if common.is_file():
                return (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
            return gitdir
    return None
