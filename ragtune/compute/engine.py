"""Engines that map a task's batch function over rows, in order: in this process, or on a Ray cluster.

`engine_for(settings)` turns the `compute` group (ragtune.config.schema.Compute) into one. `Engine.pool(task)` gives a
`Pool` whose `map_batches(columns, batch_size)` returns one result per batch, in row order:
- `LocalEngine` (compute=local): the whole input is one batch, run here by the task's function, loaded once per
  pool — exactly what the stages did before engines existed;
- `RayEngine` (compute=ray): an actor pool of `compute.workers` Ray actors (`num_gpus=compute.gpus_per_worker`
  each), each loading the task's function once, in its `__init__`, and kept between calls: a corpus encoded
  16,384 passages a call loads its model once per actor, not once per call. `ray.util.ActorPool` hands each
  batch, exactly as cut here, to a free actor and gives the results back in order. The engine holds one task's
  actors at a time (another task's are ended first), so two models never wait on each other's GPUs. An actor
  lost with its node or to the out-of-memory killer is started again and reruns its batch (`compute.restarts`
  times), so a preempted node costs a model load, not the stage.

Tasks carry paths and settings, never live models, so an actor loads the very files the local path loads.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ragtune.io import UserError
from ragtune.kernels import kernel_environment

PACKAGE = Path(__file__).resolve().parents[1]  # the ragtune package the actors import
Columns = Mapping[str, Sequence[Any]]
BatchFunction = Callable[..., Any]  # (columns: dict[str, list], **options) -> the batch's result


class Task(Protocol):
    """A picklable description of a batch function: `load()` builds it (a model, an analyzer) where it runs."""

    def load(self) -> BatchFunction: ...


class Pool(Protocol):
    def map_batches(self, columns: Columns, batch_size: int | None = None, options: Mapping | None = None) -> list:
        """The task's function on each batch of `columns` (with keyword `options`): one result per batch, in order."""


class Engine:
    distributed = False  # True: batches run elsewhere, in the sizes the caller cuts
    threads = 1  # threads a task may use for itself (Kiwi's workers)
    batch_size = 1024  # rows per remote batch (compute.batch_size)

    def pool(self, task: Task) -> Pool:
        raise NotImplementedError

    def load_encoder(self, model_dir, **options):
        """`ragtune.models.encoders.load_encoder(model_dir, **options)`'s interface, encoding on this engine."""
        from ragtune.compute.models import PooledEncoder

        return PooledEncoder(self, model_dir, **options)

    def load_pair(self, first_dir, second_dir, **options):
        """`ragtune.models.shared_bottom.load_pair(first_dir, second_dir, **options)`'s pair, encoding on this
        engine; None where the two models share no bottom."""
        from ragtune.compute.models import pooled_pair

        return pooled_pair(self, first_dir, second_dir, **options)

    def load_reranker(self, model_path, **options):
        """`ragtune.retrieval.rerank.CrossEncoderReranker(model_path, **options)`'s rankings, scored on this engine."""
        from ragtune.compute.models import PooledReranker

        return PooledReranker(self, model_path, **options)

    def announce(self) -> None:
        """Names the engine in the log, once."""
        if not getattr(self, "_announced", False):
            self._announced = True
            print(f"compute: {self}", flush=True)


class LocalEngine(Engine):
    def __init__(self, threads: int = 1):
        self.threads = threads

    def pool(self, task: Task) -> LocalPool:
        return LocalPool(self, task)

    def __str__(self) -> str:
        return "local"


class LocalPool:
    """The task's function loaded here once (at the first batch), applied to the whole input as one batch."""

    def __init__(self, engine: LocalEngine, task: Task):
        self.engine, self.task = engine, task

    @functools.cached_property
    def function(self) -> BatchFunction:
        return self.task.load()

    def map_batches(self, columns: Columns, batch_size: int | None = None, options: Mapping | None = None) -> list:
        self.engine.announce()
        return [self.function({name: list(values) for name, values in columns.items()}, **(options or {}))]


class RayEngine(Engine):
    """Actor pools on a local Ray (`address` None: started here with `workers` × `cpus_per_worker` CPUs) or on a
    running cluster (`auto`, `ray://host:port`, `host:port`)."""

    distributed = True

    def __init__(
        self,
        address: str | None = None,
        workers: int = 1,
        cpus_per_worker: float = 1,
        gpus_per_worker: float = 0,
        batch_size: int = 1024,
        restarts: int = 3,
    ):
        self.address, self.workers, self.batch_size, self.restarts = address, workers, batch_size, restarts
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self.threads = max(1, int(cpus_per_worker))
        self.held: tuple[Task, list] | None = None  # the task whose actors are up, and their handles

    def __str__(self) -> str:
        where = "local cluster" if self.address is None else f"cluster at {self.address}"
        gpus = f", {self.gpus_per_worker:g} GPU each" if self.gpus_per_worker else ""
        return f"ray: {self.workers} worker{'s' if self.workers != 1 else ''}{gpus}, {where}"

    def pool(self, task: Task) -> RayPool:
        return RayPool(self, task)

    def start(self):
        """The ray module, connected: to the Ray this process already joined (a test's), else as configured."""
        ray, verbose = _ray(), bool(os.environ.get("RAGTUNE_VERBOSE"))
        if not ray.is_initialized():
            if self.address is None:  # workers import this checkout's ragtune, like the stage does
                path = os.pathsep.join(filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")]))
                ray.init(
                    address="local",  # a new Ray of our own, never another process's local one
                    num_cpus=math.ceil(self.workers * self.cpus_per_worker),
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=verbose,  # the actors' model-loading lines
                    runtime_env={"env_vars": {"PYTHONPATH": path, **kernel_environment()}},  # the stage's kernels
                )
            else:  # the cluster has the dependencies (its image); ragtune's code travels with the job
                ray.init(
                    address=self.address,
                    logging_level=logging.WARNING,
                    log_to_driver=verbose,
                    runtime_env={"py_modules": [str(PACKAGE)], "env_vars": kernel_environment()},
                )
        self.announce()
        return ray

    def actors(self, task: Task, count: int) -> list:
        """`count` actors (at most compute.workers) that have loaded `task`: those already up for it, and new ones for
        the rest. Another task's actors are ended first: their CPUs and GPUs go to this task's."""
        ray = self.start()
        if self.held is not None and self.held[0] != task:
            for actor in self.held[1]:
                ray.kill(actor)
            self.held = None
        actors = self.held[1] if self.held is not None else []
        remote = ray.remote(TaskActor).options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            # a lost actor (its node, its memory) loads the task again and reruns the batch it had: a batch's
            # result does not depend on which actor ran it, so the outputs stay the same
            max_restarts=self.restarts,
            max_task_retries=self.restarts,
        )
        actors += [remote.remote(task) for _ in range(min(count, self.workers) - len(actors))]
        self.held = (task, actors)
        return actors


class RayPool:
    def __init__(self, engine: RayEngine, task: Task):
        self.engine, self.task = engine, task

    def map_batches(self, columns: Columns, batch_size: int | None = None, options: Mapping | None = None) -> list:
        """One result per batch of `batch_size` rows (the engine's compute.batch_size by default), in order. Each
        batch goes to an actor whole, exactly as cut here (what same-results needs: ragtune.compute.models)."""
        size = batch_size or self.engine.batch_size
        rows = len(next(iter(columns.values()), ()))
        if rows == 0:
            return []
        starts = range(0, rows, size)
        actors = self.engine.actors(self.task, len(starts))
        from ray.util import ActorPool  # Ray is there: the engine started it

        options = dict(options or {})
        batches = (
            _dumps({name: list(values[start : start + size]) for name, values in columns.items()}) for start in starts
        )
        results = ActorPool(actors).map(lambda actor, batch: actor.run.remote(batch, options), batches)
        return [pickle.loads(result) for result in results]


class TaskActor:
    """A Ray actor: the task's function, loaded once in `__init__`; `run` applies it to one batch. Batches and
    results travel pickled, so the caller gets arrays of its own (not read-only views of Ray's object store)."""

    def __init__(self, task: Task):
        self.function = task.load()

    def run(self, batch: bytes, options: Mapping) -> bytes:
        return _dumps(self.function(pickle.loads(batch), **options))


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


class RayMissing(UserError, ImportError):
    """compute=ray where Ray is not installed: one line naming the extra that installs it."""


def _ray():
    try:
        import ray
        import ray.util
    except ImportError as error:
        raise RayMissing('compute=ray needs Ray, which is not installed: pip install -e ".[ray]"') from error
    return ray


def engine_for(settings: Any = None, threads: int = 1) -> Engine:
    """The engine of the `compute` group (None or compute.engine=local: this process; `threads` for its tasks)."""
    if settings is None or settings.engine == "local":
        return LocalEngine(threads)
    return RayEngine(
        settings.address,
        settings.workers,
        settings.cpus_per_worker,
        settings.gpus_per_worker,
        settings.batch_size,
        settings.restarts,
    )
