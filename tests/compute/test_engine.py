"""ragtune.compute.engine: the local engine (one in-process batch, a task loaded once), the Ray engine's settings and
its missing-Ray line; the compute group in the schema and in conf/."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import compose_and_dump

from ragtune.compute.engine import LocalEngine, RayEngine, RayMissing, engine_for
from ragtune.config.schema import Compute, ParamsError, load
from ragtune.io import UserError

ROOT = Path(__file__).resolve().parents[2]
LOADS = []


@dataclasses.dataclass(frozen=True)
class Doubling:
    def load(self):
        LOADS.append(self)
        return lambda columns, factor=2: [value * factor for value in columns["value"]]


def test_the_local_engine_runs_the_whole_input_as_one_batch_loading_the_task_once():
    LOADS.clear()
    pool = LocalEngine().pool(Doubling())
    assert pool.map_batches({"value": [1, 2, 3]}, batch_size=1) == [[2, 4, 6]]
    assert pool.map_batches({"value": (4,)}, options={"factor": 3}) == [[12]]
    assert len(LOADS) == 1


def test_the_engine_is_named_in_the_log_once(capsys):
    engine = LocalEngine()
    pool = engine.pool(Doubling())
    pool.map_batches({"value": [1]})
    pool.map_batches({"value": [1]})
    assert capsys.readouterr().out == "compute: local\n"
    assert str(RayEngine(workers=2)) == "ray: 2 workers, local cluster"
    assert (
        str(RayEngine("ray://head:10001", 4, gpus_per_worker=1))
        == "ray: 4 workers, 1 GPU each, cluster at ray://head:10001"
    )


def test_engine_for_the_compute_group():
    assert isinstance(engine_for(None, threads=3), LocalEngine) and engine_for(None, threads=3).threads == 3
    assert isinstance(engine_for(Compute()), LocalEngine)
    ray = engine_for(Compute(engine="ray", workers=2, gpus_per_worker=1, batch_size=256, restarts=1))
    assert isinstance(ray, RayEngine) and ray.distributed
    assert (ray.address, ray.workers, ray.gpus_per_worker, ray.batch_size, ray.restarts) == (None, 2, 1, 256, 1)


def test_without_ray_compute_ray_ends_in_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(RayMissing) as error:
        RayEngine(workers=2).pool(Doubling()).map_batches({"value": [1]})
    assert isinstance(error.value, UserError)
    assert str(error.value) == 'compute=ray needs Ray, which is not installed: pip install -e ".[ray]"'


def _params(**compute) -> dict:
    values = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    return {**values, "compute": {**values["compute"], **compute}}


def test_the_ray_option_and_a_key_override_compose_as_dvc_exp_run_composes_them(tmp_path):
    """`dvc exp run -S compute=ray -S compute.workers=2`: the group option, then its key."""
    out = tmp_path / "params.yaml"
    compose_and_dump(out, str(ROOT / "conf"), None, "config", str(ROOT), ["compute=ray", "compute.workers=2"])
    engine = engine_for(load(yaml.safe_load(out.read_text(encoding="utf-8"))).compute)
    assert isinstance(engine, RayEngine) and (engine.workers, engine.address) == (2, None)
    assert load(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))).compute.engine == "local"


@pytest.mark.parametrize("address", [None, "auto", "ray://head-svc:10001", "10.0.0.5:6379"])
def test_cluster_addresses_are_accepted(address):
    assert load(_params(engine="ray", address=address)).compute.address == address


@pytest.mark.parametrize(
    "key, value",
    [("address", "http://head"), ("workers", 0), ("gpus_per_worker", -1), ("batch_size", 0), ("engine", "dask")],
)
def test_bad_compute_settings_end_in_one_line_naming_the_key(key, value):
    with pytest.raises(ParamsError) as error:
        load(_params(**{key: value}))
    assert error.value.key == f"compute.{key}"
    assert "\n" not in str(error.value)


def test_params_without_a_compute_group_run_here():
    values = _params()
    del values["compute"]
    assert load(values).compute == Compute()


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Answers which load of it ran each batch: a fresh id per `load()` (per actor)."""

    name: str

    def load(self):
        import uuid

        load_id = f"{self.name}-{uuid.uuid4().hex}"
        return lambda columns: [load_id] * len(columns["value"])


@pytest.mark.slow
def test_ray_actors_load_a_task_once_and_are_kept_between_calls(ray_cluster):
    """A corpus encoded chunk after chunk must not reload its model each chunk; another task's actors end first
    (the engine never holds more than compute.workers actors: a second model never waits for the first's GPUs)."""
    import ray

    engine = RayEngine(workers=2)
    first, second = engine.pool(Loaded("a")), engine.pool(Loaded("a"))  # equal tasks share actors
    calls = [first.map_batches({"value": list(range(6))}, batch_size=1) for _ in range(2)]
    calls.append(second.map_batches({"value": list(range(4))}, batch_size=2))
    loads = {load_id for call in calls for batch in call for load_id in batch}
    assert len(loads) == 2 and all(load_id.startswith("a-") for load_id in loads)
    assert [len(batch) for batch in calls[2]] == [2, 2]  # batches as cut, in order
    held = list(engine.held[1])
    other = engine.pool(Loaded("b")).map_batches({"value": [1, 2, 3]})
    assert other[0][0].startswith("b-") and len(engine.held[1]) == 1
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(held[0].run.remote(pickle.dumps({"value": [1]}), {}), timeout=60)


@dataclasses.dataclass(frozen=True)
class DiesOnce:
    """Its first batch ends the actor's process, as a lost node or an out-of-memory kill would; `marker` says so."""

    marker: str

    def load(self):
        import os

        def run(columns):
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os._exit(1)
            return [value * 2 for value in columns["value"]]

        return run


@pytest.mark.slow
def test_a_lost_ray_actor_is_started_again_and_its_batch_rerun(ray_cluster, tmp_path):
    import ray

    results = RayEngine(workers=2).pool(DiesOnce(str(tmp_path / "died"))).map_batches({"value": [1, 2, 3, 4]}, 2)
    assert results == [[2, 4], [6, 8]] and (tmp_path / "died").exists()
    with pytest.raises(ray.exceptions.RayActorError):  # compute.restarts=0: the loss ends the call
        RayEngine(workers=2, restarts=0).pool(DiesOnce(str(tmp_path / "again"))).map_batches({"value": [1, 2]}, 1)
