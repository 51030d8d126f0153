"""The README's Experiments section, run as written on a copy of the reference run (sample data, tiny model):
every command of its sh blocks exits 0, no sort key is unknown, the read-only ones change no tracked file, and
the sweep's `ragtune use` choice survives a later `dvc exp run -S rrf_k=60`. A README edit that breaks a
recipe breaks this test."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pipeline_support import ROOT, environment, experiments, sh, wait_for_queue

from ragtune.cache.location import ENV

pytestmark = pytest.mark.slow
SECTION = "## Experiments"
# What runs instead of the README's words, and why; each must still be in the section (else the README drifted).
SUBSTITUTIONS = {
    "'alpha=range(0.3,0.9,0.1)'": "'alpha=choice(0.6,0.4)'",  # 2 experiments, not 7 (0.6, the default, reruns nothing)
    "--trials 20": "--trials 1",  # one trial of the study, not 20
    "--trials 30": "--trials 1",  # ... and the continuation has none left to run
}
SWEPT_ALPHA = 0.4  # <best> and <alpha>: the swept value that is not the default, so that keeping it means something
# Placeholders: <exp> the experiment the last `dvc exp run` made; <exp-a>, <exp-b> the sweep's (alpha 0.6, 0.4);
# <best> the sweep's alpha-0.4 experiment; <alpha> its alpha.
READ_ONLY = (
    "ragtune summary",
    "ragtune compare",
    "dvc exp show",
    "dvc metrics show",
    "dvc metrics diff",
    "dvc plots diff",
    "dvc queue status",
)
TIMEOUT_S = 900


def section_commands(readme: str) -> list[str]:
    """The command lines of the section's sh blocks, continuation lines joined, substitutions made."""
    section = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert blocks, f"no sh block under {SECTION!r} in README.md"
    text = "\n".join(blocks).replace("\\\n", " ")
    for old, new in SUBSTITUTIONS.items():
        assert old in text, f"README's {SECTION} no longer holds {old!r}: update SUBSTITUTIONS in {__file__}"
        text = text.replace(old, new)
    return [line for line in text.splitlines() if shlex.split(line, comments=True)]


def test_the_section_is_found_and_ends_the_sweep_with_a_standing_choice():
    commands = section_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(line.startswith("ragtune use alpha=<alpha>") for line in commands)
    assert not any("git commit" in line for line in commands), "a commit without `ragtune use` is undone later"
    sorted_by = [w for line in commands for w in re.findall(r"--sort-by (\S+)", line)]
    assert sorted_by and all(key.startswith(("metrics/objective.json:", "metrics/summary.json:")) for key in sorted_by)


def tracked_changes(repo: Path) -> str:
    return sh("git", "status", "--porcelain", "--untracked-files=no", cwd=repo).stdout


def run(words: list[str], repo: Path, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        words,
        cwd=repo,
        env={**environment(repo), ENV: str(store), "COLUMNS": "200"},
        text=True,
        capture_output=True,
        timeout=TIMEOUT_S,
    )


def test_the_experiments_section_runs_as_written_on_the_sample(pipeline_reference, tmp_path):
    repo = tmp_path / "ragtune"
    shutil.copytree(pipeline_reference.repo, repo, symlinks=True)
    store = tmp_path / "store"  # the tune study's own, not the machine's
    names: dict[str, str] = {"<alpha>": str(SWEPT_ALPHA)}
    before_queue: set[str] = set()
    try:
        for line in section_commands((ROOT / "README.md").read_text(encoding="utf-8")):
            words = shlex.split(line, comments=True)
            for placeholder in {p for word in words for p in re.findall(r"<[a-z-]+>", word)}:
                assert placeholder in names, f"{placeholder} has no value yet at: {line}"
                words = [word.replace(placeholder, names[placeholder]) for word in words]
            line = shlex.join(words)
            before = tracked_changes(repo)
            if words[:3] == ["dvc", "exp", "run"] and "--queue" in words:
                before_queue = set(experiments(json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout)))
            if words[:3] == ["dvc", "queue", "status"]:
                wait_for_queue(repo, TIMEOUT_S)
            done = run(words, repo, store)
            said = done.stdout + done.stderr
            assert done.returncode == 0, f"{line}\n{said[-4000:]}"
            assert "Unknown sort column" not in said, f"{line}\n{said[-2000:]}"
            if line.startswith(READ_ONLY):
                assert tracked_changes(repo) == before, f"{line} changed tracked files"
            if words[:3] == ["dvc", "exp", "run"] and "--queue" not in words:
                names["<exp>"] = re.search(r"Ran experiment\(s\): (\S+)", said).group(1)
            if words[:3] == ["dvc", "queue", "status"]:
                found = experiments(json.loads(sh("dvc", "exp", "show", "--json", cwd=repo).stdout))
                swept = {exp["alpha"]: name for name, exp in found.items() if name not in before_queue}
                assert sorted(swept) == [SWEPT_ALPHA, 0.6], found
                assert all(found[name]["state"] == "success" for name in swept.values()), found
                names.update({"<exp-a>": swept[0.6], "<exp-b>": swept[SWEPT_ALPHA], "<best>": swept[SWEPT_ALPHA]})
            if words[:2] == ["ragtune", "use"]:
                kept = run(["dvc", "exp", "run", "-S", "rrf_k=60"], repo, store)
                assert kept.returncode == 0, kept.stdout[-2000:] + kept.stderr[-2000:]
                params = yaml.safe_load((repo / "params.yaml").read_text())
                assert (params["alpha"], params["rrf_k"]) == (SWEPT_ALPHA, 60), "the standing choice was undone"
    finally:
        sh("dvc", "queue", "stop", cwd=repo, check=False)
