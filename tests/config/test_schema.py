"""The parameter schema: every composed key is known, typed and in range, and errors name key, value, range."""

from __future__ import annotations

import copy
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ragtune.config.schema import ParamsError, schema_keys, validate
from ragtune.config.workspace import compose, groups

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def every_combination() -> list[list[str]]:
    names = groups(CONF)
    return [[f"{g}={o}" for g, o in zip(names, chosen)] for chosen in itertools.product(*(options(g) for g in names))]


def flat_keys(node, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in node.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and key not in ("faiss_options", "validation"):  # free-form maps
            keys |= flat_keys(value, f"{prefix}{key}.")
    return keys


@pytest.fixture(scope="module")
def composed() -> dict:
    return compose(CONF)


def test_every_option_composes_and_validates():
    """The fast tier's share of the next test: the default, and each option of each group on it (Hydra composes in
    ~0.15 s; every combination takes half a minute)."""
    names = groups(CONF)
    checked = [[]] + [[f"{g}={o}"] for g in names for o in options(g)]
    assert len(checked) == 1 + sum(len(options(g)) for g in names)
    for overrides in checked:
        params = compose(CONF, overrides)
        validate(params, source=" ".join(overrides) or "the default")
        missing = flat_keys(params) - schema_keys()
        assert not missing, f"{overrides}: keys without a schema entry: {sorted(missing)}"


@pytest.mark.slow  # 144 Hydra compositions
def test_every_group_combination_composes_and_validates():
    """A key added to conf/ without a schema entry (or with a value out of its range) fails here."""
    combinations = every_combination()
    assert len(combinations) >= 2 * 4 * 2 * 2 * 3
    for overrides in combinations:
        params = compose(CONF, overrides)
        validate(params, source=" ".join(overrides))
        missing = flat_keys(params) - schema_keys()
        assert not missing, f"{overrides}: keys without a schema entry: {sorted(missing)}"


def test_every_model_group_sets_the_same_train_keys():
    """`-S train.<key>=…` (no `+`) needs the key in the chosen group: each model group sets every train key."""
    keys = {
        option: set(yaml.safe_load((CONF / "model" / f"{option}.yaml").read_text(encoding="utf-8"))["train"])
        for option in options("model")
    }
    union = set().union(*keys.values())
    assert {option: sorted(union - present) for option, present in keys.items() if union - present} == {}


def test_the_committed_params_yaml_validates():
    validate(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "change, key, allowed",
    [
        ({"alpha": "abc"}, "alpha", "'abc' is not allowed: must be a number in [0, 1]"),
        ({"alpha": 1.5}, "alpha", "1.5 is not allowed: must be a number in [0, 1]"),
        ({"alpha": -0.1}, "alpha", "-0.1 is not allowed: must be a number in [0, 1]"),
        ({"rrf_k": 0}, "rrf_k", "0 is not allowed: must be a number >= 1"),
        ({"negatives.k": -1}, "negatives.k", "-1 is not allowed: must be an integer >= 1"),
        ({"queries.per_document": 0}, "queries.per_document", "0 is not allowed: must be an integer >= 1"),
        ({"retrieval.fusion": "max"}, "retrieval.fusion", "must be one of 'hybrid', 'rrf'"),
        ({"llm.seed": "x"}, "llm.seed", "must be an integer >= 0 or null"),
        ({"retrieval.colbert": 1}, "retrieval.colbert", "must be true or false"),
        ({"queries.holdout_fraction": 1}, "queries.holdout_fraction", "must be a number in (0, 1)"),
        ({"llm.max_failure_rate": 2}, "llm.max_failure_rate", "must be a number in [0, 1]"),
        ({"index.devices": []}, "index.devices", "[] is not allowed: must be a list of 1+ strings or a string or null"),
        ({"index.devices": 0}, "index.devices", "0 is not allowed: must be a list of 1+ strings or a string or null"),
        ({"retrieval.llm_sources": "dev"}, "retrieval.llm_sources", "must be a list of strings or null"),
    ],
)
def test_a_bad_value_names_key_value_and_what_is_allowed(composed, change, key, allowed):
    params = copy.deepcopy(composed)
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    with pytest.raises(ParamsError) as failed:
        validate(params)
    message = str(failed.value)
    assert message.startswith(f"params.yaml: field '{key}' = ") and allowed in message and "\n" not in message
    assert failed.value.key == key


@pytest.mark.parametrize(
    "change, key, problem",
    [
        ({"nnodes": 2, "node_rank": 2, "master_addr": "10.0.0.1"}, "train.node_rank", "= 2 is not allowed: must be in"),
        ({"nnodes": 1, "node_rank": 1}, "train.node_rank", "= 1 is not allowed: must be in [0, nnodes - 1] = [0, 0]"),
        ({"nnodes": 2}, "train.master_addr", "is required with nnodes = 2"),
        (
            {"nnodes": 2, "master_addr": "10.0.0.1", "targeted_round": True},
            "train.targeted_round",
            "runs on node 0 alone",
        ),
    ],
)
def test_the_across_machines_keys_are_checked_together(composed, change, key, problem):
    params = copy.deepcopy(composed)
    params["train"].update(change)
    with pytest.raises(ParamsError) as failed:
        validate(params)
    message = str(failed.value)
    assert message.startswith(f"params.yaml: field '{key}' ") and problem in message and "\n" not in message
    params["train"].update(node_rank=1, nnodes=2, master_addr="10.0.0.1", targeted_round=False)
    validate(params)


def test_a_union_key_is_one_problem_and_devices_take_a_device_or_a_list(composed):
    params = copy.deepcopy(composed)
    params["index"]["devices"] = 0
    with pytest.raises(ParamsError) as failed:
        validate(params)
    assert "more" not in str(failed.value)  # pydantic reports each union member; the key is named once
    for devices in (None, "cuda:1", ["cuda:0", "cuda:1"]):
        params["index"]["devices"] = devices
        validate(params)


def test_unknown_keys_are_rejected_listing_the_known_ones(composed):
    params = copy.deepcopy(composed)
    params["retrieval"]["alpah"] = 0.5
    with pytest.raises(ParamsError, match=r"field 'retrieval.alpah' is not a known parameter \(known here: .*fusion"):
        validate(params)
    params = copy.deepcopy(composed)
    params["typo"] = 1
    with pytest.raises(ParamsError, match="field 'typo' is not a known parameter"):
        validate(params)


def test_a_missing_key_is_named(composed):
    params = copy.deepcopy(composed)
    del params["negatives"]["k"]
    with pytest.raises(ParamsError, match="field 'negatives.k' is missing"):
        validate(params)


@pytest.mark.parametrize("value, shown", [("abc", "'abc'"), ("2", "2")])
def test_ragtune_params_refuses_a_bad_override_and_leaves_params_yaml_alone(tmp_path, value, shown):
    (tmp_path / "conf").symlink_to(CONF)
    (tmp_path / "params.yaml").write_text("untouched\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "params", f"alpha={value}"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 2
    assert (
        run.stderr.count("\n") == 1
        and f"field 'alpha' = {shown} is not allowed: must be a number in [0, 1]" in run.stderr
    )
    assert (tmp_path / "params.yaml").read_text(encoding="utf-8") == "untouched\n"


def test_a_stage_stops_on_a_bad_parameter_before_any_work(tmp_path):
    """stages/common.params() validates: the stage ends with one line and writes nothing."""
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    shutil.copytree(ROOT / "ragtune", tmp_path / "ragtune", ignore=shutil.ignore_patterns("__pycache__"))
    params = compose(CONF)
    params["alpha"] = 1.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "stages/prepare.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RAGTUNE_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == "error: params.yaml: field 'alpha' = 1.5 is not allowed: must be a number in [0, 1]"
    assert not (tmp_path / "data").exists()
