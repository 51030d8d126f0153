"""dvc.yaml's stages: the order `dvc repro` runs them in, and the inputs one stage takes from another."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml


@functools.cache
def dvc_stages(root: Path) -> dict:
    """dvc.yaml's stages, in its order (the order `dvc repro` runs them); {} without a dvc.yaml."""
    if not (root / "dvc.yaml").is_file():
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: milliseconds, not tens of them
    return (yaml.load((root / "dvc.yaml").read_text(encoding="utf-8"), Loader=loader) or {}).get("stages", {})


def missing_input(name: str, root: Path) -> str | None:
    """None, or one line naming an input of stage `name` that another stage makes (dvc.yaml: its deps among the
    outs) and that does not exist yet, with the stage to run: of the missing ones, the one made last in the DAG
    (`dvc repro <it>` makes the others too). Without a dvc.yaml (a bare copy of stages/) nothing is checked."""
    if not (root / "dvc.yaml").is_file():
        return None
    stages = dvc_stages(root)
    outs = {
        str(next(iter(out)) if isinstance(out, dict) else out).rstrip("/"): producer
        for producer, spec in stages.items()
        if producer != name
        for out in spec.get("outs", [])
    }
    missing = []  # (position of the producer in the DAG, path, producer)
    for dep in (str(dep).rstrip("/") for dep in stages.get(name, {}).get("deps", [])):
        # the dep inside another stage's out (data/prepared/documents.jsonl), or outs inside the dep (data/queries)
        made = [(dep, s) for out, s in outs.items() if (dep + "/").startswith(out + "/")]
        made = made or [(out, s) for out, s in outs.items() if out.startswith(dep + "/")]
        missing += [(list(stages).index(s), path, s) for path, s in made if not (root / path).exists()]
    if not missing:
        return None
    _, path, producer = max(missing, key=lambda item: item[0])
    more = f" (and {len(missing) - 1} more of its inputs)" if len(missing) > 1 else ""
    return f"{name}: {path} is missing{more} — run `dvc repro` (or `dvc repro {producer}`) first"
