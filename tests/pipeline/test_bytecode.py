"""Python bytecode never makes the pipeline stale: `.dvcignore` keeps `__pycache__/` out of folder deps.

Stages depend on whole folders of the library (`ragtune/llm`, ...). A Python that writes bytecode (the
default; this project's machines often set PYTHONDONTWRITEBYTECODE=1, so it is unset here on purpose)
puts `__pycache__/*.pyc` inside them on the first import; were DVC to hash those, `dvc status` would
report every such stage changed after merely importing the library.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from pipeline_support import environment, sh

pytestmark = pytest.mark.slow

IMPORT_EVERYTHING = r"""
import importlib, importlib.util, pkgutil, sys
from pathlib import Path

import ragtune

for module in pkgutil.walk_packages(ragtune.__path__, "ragtune."):
    importlib.import_module(module.name)
sys.path.insert(0, "stages")
for script in sorted(Path("stages").glob("*.py")):  # each stage script imported, as `dvc repro` runs it
    spec = importlib.util.spec_from_file_location(f"_stage_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
"""


def test_bytecode_in_folder_deps_leaves_the_pipeline_up_to_date(pipeline_reference, tmp_path):
    repo = tmp_path / "ragtune"
    shutil.copytree(pipeline_reference.repo, repo, symlinks=True)
    assert not list((repo / "ragtune").rglob("__pycache__"))  # the copy starts without bytecode

    env = environment(repo)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode writing on
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=repo, env=env, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]
    cached = {path.parent.parent.relative_to(repo).as_posix() for path in (repo / "ragtune").rglob("__pycache__/*.pyc")}
    assert {"ragtune/llm", "ragtune/retrieval", "ragtune/training"} <= cached, sorted(cached)
    assert list((repo / "stages" / "__pycache__").glob("*.pyc"))  # `stages/common.py`, imported by the scripts

    status = sh("dvc", "status", cwd=repo)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout

    # the control: without those two patterns, the same bytecode makes the stages that load ragtune/llm changed
    ignore = repo / ".dvcignore"
    ignore.write_text("".join(line for line in ignore.read_text().splitlines(True) if "pyc" not in line))
    status = sh("dvc", "status", cwd=repo)
    assert "changed deps" in status.stdout and "ragtune/llm" in status.stdout, status.stdout
