"""DVC config lookups read in process answer as `dvc config --list` does; a worktree gets absolute paths."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from configobj import ConfigObj

from ragtune.release.dvcconfig import cache_dir, default_remote, dvc_config, remotes, share_config
from ragtune.release.vcs import ReleaseError

CONFIG = """\
[core]
    remote = local
['remote "local"']
    url = ../../dvc-remote
['remote "cloud"']
    url = s3://bucket/path
"""
CONFIG_LOCAL = """\
[cache]
    dir = ../../shared-cache
['remote "mine"']
    url = ../../../elsewhere
[core]
    autostage = true
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A DVC project whose config and config.local hold relative paths; no system or global config."""
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    root = tmp_path / "work" / "project"
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc" / "config").write_text(CONFIG)
    (root / ".dvc" / "config.local").write_text(CONFIG_LOCAL)
    return root


def test_relative_paths_resolve_against_the_file_that_holds_them(project, tmp_path):
    config = dvc_config(project)
    assert cache_dir(project, config) == tmp_path / "work" / "shared-cache"
    assert remotes(config) == {
        "local": str(tmp_path / "work" / "dvc-remote"),
        "cloud": "s3://bucket/path",
        "mine": str(tmp_path / "elsewhere"),
    }
    assert default_remote(project, config) == "local"


def test_the_defaults_without_a_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    (tmp_path / ".dvc").mkdir()
    assert cache_dir(tmp_path) == tmp_path / ".dvc" / "cache"
    assert default_remote(tmp_path) is None and remotes(dvc_config(tmp_path)) == {}


def test_a_corrupt_config_is_a_release_error(project):
    (project / ".dvc" / "config").write_text("[core\n")
    with pytest.raises(ReleaseError, match="cannot read the DVC config"):
        dvc_config(project)


def test_the_answers_are_those_of_dvc_config_list(project):
    dvc = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    listed = subprocess.run([dvc, "config", "--list"], cwd=project, capture_output=True, text=True, check=True).stdout
    settings = dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)  # later levels win
    config = dvc_config(project)
    assert str(cache_dir(project, config)) == settings["cache.dir"]
    assert default_remote(project, config) == settings["core.remote"]
    assert remotes(config) == {
        key[len("remote.") : -len(".url")]: value
        for key, value in settings.items()
        if key.startswith("remote.") and key.endswith(".url")
    }


def test_share_config_gives_the_worktree_absolute_cache_and_local_remotes(project, tmp_path):
    tree = tmp_path / "scratch" / "worktree"
    (tree / ".dvc").mkdir(parents=True)
    share_config(project, tree, dvc_config(project))
    written = ConfigObj(str(tree / ".dvc" / "config.local"))
    assert written["cache"]["dir"] == str(tmp_path / "work" / "shared-cache")
    assert written['remote "local"']["url"] == str(tmp_path / "work" / "dvc-remote")
    assert written['remote "mine"']["url"] == str(tmp_path / "elsewhere")
    assert 'remote "cloud"' not in written  # a cloud URL means the same thing from the worktree
    assert written["core"]["autostage"] == "true"  # the rest of the main config.local comes along
    config = dvc_config(tree)
    assert cache_dir(tree, config) == tmp_path / "work" / "shared-cache"
