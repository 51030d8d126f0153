"""What the code imports is declared in pyproject.toml, and the hashed locks pin what it declares.

Imports are read from the source (every `import`, lazy ones inside functions too), not from a run:
a backend or an option imports its library only on its own path. An import is declared when one of
the distributions that installed the module (importlib.metadata) is named in pyproject.toml:
the library and the stages may use `dependencies` and the runtime extras (cpu, gpu, fast); the
benchmarks and the tests may use `dev` too.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME_EXTRAS = ("cpu", "gpu", "fast", "ray")  # ray: compute=ray (ragtune/compute)
# Each lock: the dependencies plus these extras (Makefile: `make lock`); torch stays outside both.
LOCKS = {"requirements-cpu.txt": ("cpu", "fast", "dev"), "requirements-gpu.txt": ("gpu", "fast", "dev")}
UNLOCKED = {"torch"}


def requirements(*extras: str) -> list[Requirement]:
    listed = PYPROJECT["dependencies"] + [r for extra in extras for r in PYPROJECT["optional-dependencies"][extra]]
    return [Requirement(r) for r in listed]


def imported_modules(directory: Path) -> dict[str, set[str]]:
    """{top-level module: files importing it}, absolute imports only, every function body included."""
    found: dict[str, set[str]] = {}
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def local_modules() -> set[str]:
    """Modules of this repository (stages and benchmarks import their siblings by plain name)."""
    names = {"ragtune"}
    for directory in ("ragtune", "stages", "benchmarks", "tests"):
        names |= {path.stem for path in (ROOT / directory).rglob("*.py")}
    return names


def third_party_imports(directory: str) -> dict[str, set[str]]:
    skip = set(sys.stdlib_module_names) | local_modules() | {"__future__"}
    return {name: files for name, files in imported_modules(ROOT / directory).items() if name not in skip}


def pins(lock: str) -> dict[str, tuple[str, str]]:
    """{canonical name: (version, marker)} of a uv/pip-compile requirements file with hashes."""
    text = (ROOT / lock).read_text(encoding="utf-8")
    found = {}
    for block in re.split(r"\n(?=\S)", text):
        line = block.splitlines()[0]
        if line.startswith("#") or not line.strip():
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        assert match, f"{lock}: not a pinned requirement: {line!r}"
        assert "--hash=sha256:" in block, f"{lock}: {match[1]} has no hash"
        found[canonicalize_name(match[1])] = (match[2], match[3] or "")
    return found


def test_sibling_modules_and_stdlib_are_not_third_party():
    assert {"common", "prepare"} <= local_modules()  # stages/common.py, stages/prepare.py
    assert "json" not in third_party_imports("stages")


@pytest.mark.parametrize(
    "directory, extras",
    [
        ("ragtune", RUNTIME_EXTRAS),
        ("stages", RUNTIME_EXTRAS),
        ("benchmarks", (*RUNTIME_EXTRAS, "dev")),
        ("tests", (*RUNTIME_EXTRAS, "dev")),
    ],
)
def test_every_third_party_import_is_declared(directory, extras):
    declared = {canonicalize_name(r.name) for r in requirements(*extras)}
    providers = packages_distributions()
    undeclared = {}
    for module, files in sorted(third_party_imports(directory).items()):
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & declared:
            undeclared[module] = (sorted(distributions) or "not installed", sorted(files)[:3])
    assert not undeclared, f"imported in {directory}/ but not declared in pyproject.toml {extras}: {undeclared}"


def test_dev_only_libraries_stay_out_of_the_runtime():
    dev_only = {canonicalize_name(r.name) for r in requirements("dev")} - {
        canonicalize_name(r.name) for r in requirements(*RUNTIME_EXTRAS)
    }
    assert canonicalize_name("ranx") in dev_only
    providers = packages_distributions()
    for directory in ("ragtune", "stages"):
        for module in third_party_imports(directory):
            assert not {canonicalize_name(d) for d in providers.get(module, [])} & dev_only, (directory, module)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_pins_what_pyproject_requires(lock):
    pinned = pins(lock)
    for requirement in requirements(*LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        if name in UNLOCKED:
            assert name not in pinned, f"{lock} pins {name}: its CPU and CUDA builds differ (Makefile)"
            continue
        assert name in pinned, f"{lock} lacks {requirement} (make lock)"
        version = pinned[name][0]
        assert requirement.specifier.contains(version, prereleases=True), f"{lock}: {name}=={version} vs {requirement}"


def test_the_gpu_lock_is_the_cpu_lock_with_faiss_gpu():
    cpu, gpu = pins("requirements-cpu.txt"), pins("requirements-gpu.txt")
    # Both wheels install the `faiss` package: a lock holding both would leave whichever unpacked last.
    assert "faiss-cpu" in cpu and "faiss-gpu" not in cpu
    assert "faiss-gpu" in gpu and "faiss-cpu" not in gpu
    assert {name: cpu[name] for name in cpu.keys() & gpu.keys()} == {
        name: gpu[name] for name in cpu.keys() & gpu.keys()
    }


def test_the_makefile_torch_fits_pyproject():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    version = re.search(r"^TORCH_VERSION\s*\?=\s*(\S+)", makefile, re.M)[1]
    torch = next(r for r in requirements() if r.name == "torch")
    assert torch.specifier.contains(version), (version, str(torch))


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="ruamel.yaml.clib is CPython's")
def test_dvc_parses_its_yaml_in_c():
    # DVC reads dvc.yaml and dvc.lock some fifty times a `dvc exp run`: the C parser is a declared dependency
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__name__ == "CParser", "pip install ruamel.yaml.clib (pyproject.toml)"
