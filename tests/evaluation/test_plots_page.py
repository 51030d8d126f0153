"""The plots page DVC writes (`dvc plots show` / `dvc plots diff`) draws offline: .dvc/config names a page template
with vega, vega-lite and vega-embed inlined (.dvc/plots/offline.html, .dvc/plots/LICENSES.md), at the versions the
installed dvc-render would load from a CDN, so no CDN script is added."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from configobj import ConfigObj

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = re.compile(r"<!-- ([\w-]+)@([\d.]+): [^>]*-->\s*<script>\n(.*?)\n\s*</script>", re.S)
REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.I)


def template_path(root: Path) -> Path:
    """The page `dvc plots` uses: plots.html_template of the committed config, relative to .dvc/ as DVC reads it
    (dvc.commands.plots.CmdPlots._html_template_path)."""
    configured = ConfigObj(str(root / ".dvc" / "config")).get("plots", {}).get("html_template")
    assert configured, ".dvc/config sets no plots.html_template: the page would load vega from a CDN"
    return root / ".dvc" / configured


def inlined(page: str) -> dict[str, tuple[str, str]]:
    """name → (version, script text) of each library the template inlines."""
    return {name: (version, code) for name, version, code in SCRIPT.findall(page)}


def test_the_template_inlines_the_npm_builds_byte_for_byte():
    page = template_path(ROOT).read_text(encoding="utf-8")
    libraries = inlined(page)
    assert sorted(libraries) == ["vega", "vega-embed", "vega-lite"]
    notes = (ROOT / ".dvc" / "plots" / "LICENSES.md").read_text(encoding="utf-8")
    digests = dict(re.findall(r"\| ([\w-]+@[\d.]+) \| \S+ \| ([0-9a-f]{64}) \|", notes))
    for name, (version, code) in libraries.items():
        digest = hashlib.sha256((code + "\n").encode("utf-8")).hexdigest()
        assert digests.get(f"{name}@{version}") == digest, f"{name}@{version}: not the npm file LICENSES.md names"
    assert "{plot_divs}" in page and "{scripts}" not in page  # without the placeholder dvc-render adds no CDN tag
    assert not REMOTE_SCRIPT.search(page)


def dvc(*args: str, cwd: Path) -> None:
    done = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A git + DVC project with this repository's .dvc/config and page template, and one plot file committed."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    root = tmp_path / "project"
    root.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    (root / ".dvc" / "plots").mkdir(parents=True)
    shutil.copy2(ROOT / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copy2(template_path(ROOT), template_path(root))
    (root / "loss.json").write_text(json.dumps([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]))
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "plots"], cwd=root, check=True)
    (root / "loss.json").write_text(json.dumps([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.2}]))
    return root


def test_the_inlined_versions_are_the_ones_dvc_would_load_from_the_cdn(project):
    (project / "bare.html").write_text("{scripts}\n{plot_divs}")  # dvc-render's default scripts, as it writes them
    dvc("plots", "show", "loss.json", "--html-template", "bare.html", "-o", "cdn", cwd=project)
    loaded = re.findall(r"cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+)", (project / "cdn/index.html").read_text())
    ours = {name: version for name, (version, _) in inlined(template_path(ROOT).read_text(encoding="utf-8")).items()}
    assert dict(loaded) == ours, "dvc-render moved: refresh .dvc/plots/offline.html (.dvc/plots/LICENSES.md says how)"


@pytest.mark.parametrize("command", [["show", "loss.json"], ["diff", "HEAD", "--targets", "loss.json"]])
def test_dvc_plots_writes_a_page_that_loads_nothing_from_the_network(project, command):
    dvc("plots", *command, "-o", "page", cwd=project)
    page = (project / "page" / "index.html").read_text(encoding="utf-8")
    assert not REMOTE_SCRIPT.search(page), "a script is loaded from the network"
    assert "cdn.jsdelivr.net" not in page
    assert 'var e="5.20.2"' in page and "vegaEmbed" in page  # vega itself, and the call that draws the plot
    assert "loss.json" in page and (command[0] == "show" or "HEAD" in page)  # diff: both revisions
