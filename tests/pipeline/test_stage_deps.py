"""Each stage's code deps in dvc.yaml are exactly the project files its script loads.

A stage's closure: the repository files in `sys.modules` after importing its script (in a fresh
interpreter, `main` not run), plus, to a fixed point, the modules imported inside functions of
any file in the closure (lazy imports run only on some paths, e.g. a backend or an option, so
they count) — of functions whose name some file of the closure mentions (one nobody mentions is
never called: `ragtune.synthetic.llm.with_llm_questions` does not make negatives depend on the LLM
client). A closure file missing from the stage's deps means a change there leaves stale
outputs that DVC calls up to date; a listed file the stage does not load, or a listed directory
whose files it mostly does not load, reruns the stage for nothing.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import ast, importlib, importlib.util, json, sys
from pathlib import Path
root, script, module = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
sys.path[:0] = [str(root / "stages"), str(root)]
if script:
    spec = importlib.util.spec_from_file_location("_stage_under_test", root / script)
    stage = sys.modules["_stage_under_test"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
if module:
    importlib.import_module(module)

def project_files():
    files = set()
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if not (f and Path(f).is_absolute() and Path(f).resolve().is_relative_to(root)):
            continue
        if ".venv" not in Path(f).resolve().relative_to(root).parts:
            files.add(Path(f).resolve().relative_to(root).as_posix())
    return files

def parse(file, trees={}):
    if file not in trees:
        trees[file] = ast.parse((root / file).read_text(encoding="utf-8"))
    return trees[file]

def referenced(file):
    # every name the file uses: a function whose name no loaded file mentions is never called
    names = set()
    for node in ast.walk(parse(file)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
    return names

def lazy_modules(file, called):
    # modules imported inside the body of a function that may be called (module-level
    # `if TYPE_CHECKING:` imports never run)
    package = file.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    if not file.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    names = []
    for function in ast.walk(parse(file)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if function.name not in called and not function.name.startswith("__"):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names.append(base)
                names += [f"{base}.{alias.name}" for alias in node.names]
    local = {p.stem for p in (root / "stages").glob("*.py")}
    return [n for n in names if n.split(".")[0] == "ragtune" or (file.startswith("stages/") and n in local)]

done = False
while not done:
    done = True
    files = sorted(project_files())
    called = set().union(*(referenced(file) for file in files))
    for file in files:
        for name in lazy_modules(file, called):
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
                done = False
            except ImportError:  # `from package import attribute`, or an optional library absent here
                pass
print(json.dumps(sorted(project_files())))
"""


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def entry_point(cmd: str) -> tuple[str, str]:
    """(script, module) a stage's command runs: `python stages/x.py` or `python -m package.module`."""
    words = shlex.split(cmd)
    if "-m" in words:
        return "", words[words.index("-m") + 1]
    script = next((w for w in words if w.endswith(".py")), "")
    return script, ""


def closure(cmd: str) -> set[str]:
    script, module = entry_point(cmd)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), script, module], cwd=ROOT, text=True, capture_output=True, timeout=600
    )
    assert done.returncode == 0, f"importing {script or module} failed:\n{done.stderr[-3000:]}"
    return set(json.loads(done.stdout.splitlines()[-1]))


def python_files(directory: Path) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in directory.rglob("*.py") if "__pycache__" not in p.parts}


def code_deps(stage: dict) -> list[str]:
    """The deps that are project code: .py files and directories holding .py files."""
    code = []
    for dep in stage.get("deps", []):
        target = ROOT / dep
        if "${" in dep or not target.exists():
            continue
        if (target.is_file() and dep.endswith(".py")) or (target.is_dir() and python_files(target)):
            code.append(dep.rstrip("/"))
    return code


def problems(name: str, stage: dict, loaded: set[str]) -> list[str]:
    """What to change in dvc.yaml, one line each, in words another helper can act on."""
    deps = code_deps(stage)
    files = {d for d in deps if d.endswith(".py")}
    directories = [d for d in deps if d not in files]
    found = []
    missing = sorted(f for f in loaded if f not in files and not any(f.startswith(f"{d}/") for d in directories))
    packages: dict[str, list[str]] = {}  # a package the stage mostly loads is listed as its directory
    for file in missing:
        folder = file.rpartition("/")[0]
        mostly = folder not in ("ragtune", "stages", "") and 2 * len(python_files(ROOT / folder) & loaded) >= len(
            python_files(ROOT / folder)
        )
        packages.setdefault(folder if mostly else file, []).append(file)
    for line, covered in sorted(packages.items()):
        found.append(f"dvc.yaml: stage {name!r} loads {', '.join(covered)}: add `      - {line}` to stages.{name}.deps")
    for file in sorted(files - loaded):
        found.append(f"dvc.yaml: stage {name!r} does not load {file}: remove `      - {file}` from stages.{name}.deps")
    for directory in directories:
        inside = python_files(ROOT / directory)
        used = inside & loaded
        if 2 * len(used) < len(inside):
            lines = "".join(f"\n      - {f}" for f in sorted(used))
            found.append(
                f"dvc.yaml: stage {name!r} loads {len(used)} of the {len(inside)} files under {directory}/: "
                f"replace `      - {directory}` in stages.{name}.deps by{lines or ' nothing'}"
            )
    return found


PYTHON_STAGES = sorted(name for name, stage in stages().items() if "python" in str(stage.get("cmd", "")))


@pytest.mark.parametrize("name", PYTHON_STAGES)
def test_code_deps_are_exactly_the_files_the_stage_loads(name):
    stage = stages()[name]
    found = problems(name, stage, closure(stage["cmd"]))
    assert not found, "\n".join(found)


def test_prepare_does_not_depend_on_the_llm_client():
    loaded = closure(stages()["prepare"]["cmd"])
    assert not any(f.startswith("ragtune/llm/") for f in loaded), sorted(loaded)


def test_problems_name_the_line_to_add_and_the_directory_to_narrow(tmp_path):
    stage = {"deps": ["stages/prepare.py", "ragtune/llm"]}
    found = problems("prepare", stage, {"stages/prepare.py", "ragtune/io.py", "ragtune/llm/settings.py"})
    assert "add `      - ragtune/io.py` to stages.prepare.deps" in found[0]
    assert "files under ragtune/llm/: replace `      - ragtune/llm`" in found[1]
    assert "- ragtune/llm/settings.py" in found[1]
