"""Shards scored on a Ray cluster (`executor=ray`): one actor per model replica, shards handed out as actors free up.

Why actors: a reranker's model is loaded once per replica (in the actor, from the picklable
`replica` builder) and then scores shard after shard, instead of being loaded for every shard.
Each actor holds at most IN_FLIGHT_PER_ACTOR shards at a time, so a fast replica takes more shards
than a slow one and a dead one loses little.

Why the driver writes the store: the actors only return scores; `on_done` runs here, in the
driver, so the shard store has one writer and the merge (by shard index) stays deterministic
whatever order shards finish in.

An actor that dies (its process killed, its node lost) is replaced and the shards it held go back
to the queue, up to `max_restarts` replacements per executor; an exception raised by the reranker
itself (ModelUnavailable, ValueError, ...) reaches the caller as that same exception.

Ray is imported only when this executor is built; install it with `pip install 'bench[ray]'`.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.console import stage
from bench.errors import ModelUnavailable
from bench.executor.base import OnDone, ScoreTask
from bench.rerank.base import Reranker

#: shards one actor holds at once: one scoring, one waiting (its pairs already shipped)
IN_FLIGHT_PER_ACTOR = 2

MISSING_RAY = "executor=ray needs Ray: pip install 'bench[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # also sys.modules["ray"] = None
        raise ImportError(MISSING_RAY) from exc
    return ray


def _plain(value: Any) -> Any:
    """Hydra hands nested config as DictConfig/ListConfig; Ray wants plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def _quiet_worker() -> None:
    """As the pipeline does in the driver: no weight-loading progress bars (Ray forwards them to the console)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


class _Replica:
    """The actor's body: builds its reranker once (`load`), then scores shard after shard."""

    def __init__(self) -> None:
        self.reranker: Reranker | None = None

    def load(self, replica: Callable[[], Reranker]) -> dict[str, object]:
        # A method, not __init__: an error building the model (ModelUnavailable) then comes back
        # as a task error with the original exception, not as a dead actor.
        _quiet_worker()
        try:
            self.reranker = replica()
        except Exception as exc:
            # hydra.utils.instantiate (the pipeline's replica) wraps it in an InstantiationException
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, ModelUnavailable):
                cause = cause.__cause__
            if cause is None:
                raise
            raise cause from exc
        return {"pid": os.getpid()}

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        assert self.reranker is not None, "load() runs before score()"
        return np.asarray(self.reranker.score(pairs), dtype=np.float64).reshape(-1)


@dataclass(eq=False)
class _Slot:
    """One replica's place: its current actor, whether its model is loaded, the shards it holds."""

    number: int
    actor: Any = None
    loaded: bool = False
    held: dict[Any, ScoreTask] = field(default_factory=dict)  # ObjectRef -> task


class RayExecutor:
    """Spread shards over Ray actors (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        replicas: int = 1,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_restarts: int = 3,
        local_num_cpus: int | None = None,
        runtime_env: Mapping[str, Any] | None = None,
    ) -> None:
        _import_ray()  # fail at configuration time, before any first stage runs
        if int(replicas) < 1:
            raise ValueError(f"executor.replicas must be at least 1, got {replicas}")
        if int(max_restarts) < 0:
            raise ValueError(f"executor.max_restarts must be 0 or more, got {max_restarts}")
        if num_cpus < 0 or num_gpus < 0:
            raise ValueError(f"executor.num_cpus and num_gpus must not be negative, got {num_cpus}, {num_gpus}")
        self.address = None if address in (None, "", "local") else str(address)
        self.replicas = int(replicas)
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_restarts = int(max_restarts)
        self.local_num_cpus = None if local_num_cpus is None else int(local_num_cpus)
        self.runtime_env = _plain(runtime_env) if runtime_env else None
        self.restarts = 0
        self._connected = False
        self._owns_connection = False  # this executor called ray.init (so close() calls ray.shutdown)
        self._started_cluster = False  # ... and that started a local cluster

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        ray = _import_ray()
        if self._connected:
            return ray
        if ray.is_initialized():
            # this process is already a Ray driver (a notebook, a test, an outer script): use that
            pass
        elif self.address is None:
            stage("starting a local Ray cluster (%s CPUs)", self.local_num_cpus or "all")
            ray.init(num_cpus=self.local_num_cpus, include_dashboard=False)
            self._owns_connection = self._started_cluster = True
        else:
            stage("connecting to the Ray cluster at %s", self.address)
            ray.init(address=self.address)
            self._owns_connection = True
        self._connected = True
        self._check_resources(ray)
        return ray

    def _check_resources(self, ray: Any) -> None:
        total = ray.cluster_resources()
        cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        if self.num_cpus > cpus or self.num_gpus > gpus:
            message = (f"each Ray actor asks for num_cpus={self.num_cpus}, num_gpus={self.num_gpus} but the cluster "
                       f"has {cpus:g} CPUs and {gpus:g} GPUs")
            if self._started_cluster:
                raise ValueError(f"{message}: lower executor.num_cpus/num_gpus or raise executor.local_num_cpus")
            stage("%s: actors wait until the cluster grows", message)
        elif self.replicas * self.num_cpus > cpus or self.replicas * self.num_gpus > gpus:
            stage("the Ray cluster (%g CPUs, %g GPUs) fits fewer than replicas=%d actors at once; the rest wait",
                  cpus, gpus, self.replicas)

    # -- scoring ------------------------------------------------------------------------------

    def score(self, tasks: Sequence[ScoreTask], *, reranker: Reranker, replica: Callable[[], Reranker],
              on_done: OnDone) -> None:
        if not tasks:
            return
        ray = self._connect()
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                   "max_restarts": 0, "max_task_retries": 0}
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        actor_class = ray.remote(_Replica).options(**options)
        replica_ref = ray.put(replica)  # shipped once, not once per actor
        _Dispatch(self, ray, tasks, actor_class.remote, replica_ref,
                  getattr(reranker, "name", "the reranker"), on_done).run()

    def info(self) -> dict[str, object]:
        try:
            import ray

            version = ray.__version__
        except ImportError:
            version = None
        return {"kind": "ray", "address": self.address, "replicas": self.replicas, "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus, "actor_restarts": self.restarts, "ray_version": version}

    def close(self) -> None:
        """Shut down the local cluster this executor started; a cluster it connected to is only disconnected from."""
        if self._owns_connection:
            import ray

            ray.shutdown()
        self._connected = self._owns_connection = self._started_cluster = False


class _Dispatch:
    """One `RayExecutor.score` call: actors started, shards handed out as actors free up, dead actors replaced.

    `run` waits on one result at a time: a loaded model (the actor may take shards), a shard's
    scores (handed to `on_done`), a reranker's exception (raised as is) or a dead actor (replaced,
    its unfinished shards queued again).
    """

    def __init__(self, executor: RayExecutor, ray: Any, tasks: Sequence[ScoreTask], new_actor: Callable[[], Any],
                 replica_ref: Any, label: str, on_done: OnDone) -> None:
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        self.executor, self.ray, self.new_actor, self.replica_ref = executor, ray, new_actor, replica_ref
        self.label, self.on_done = label, on_done
        self.raised = RayTaskError  # the reranker raised inside the actor
        self.died = (RayActorError, WorkerCrashedError, getattr(ray.exceptions, "OutOfMemoryError", RayActorError))
        self.pending: deque[ScoreTask] = deque(tasks)
        self.waiting: dict[Any, tuple[_Slot, ScoreTask | None]] = {}  # ObjectRef -> (slot, task; None for load)
        self.slots = [_Slot(n) for n in range(min(executor.replicas, len(tasks)))]
        self.remaining = len(tasks)

    def run(self) -> None:
        try:
            for slot in self.slots:
                self.start(slot)
            while self.remaining:
                self.hand_out()
                self.take_one()
        finally:
            for slot in self.slots:
                if slot.actor is not None:
                    with contextlib.suppress(Exception):  # already gone
                        self.ray.kill(slot.actor, no_restart=True)

    def start(self, slot: _Slot) -> None:
        slot.actor, slot.loaded, slot.held = self.new_actor(), False, {}
        self.waiting[slot.actor.load.remote(self.replica_ref)] = (slot, None)

    def hand_out(self) -> None:
        """Give every loaded actor shards until it holds IN_FLIGHT_PER_ACTOR."""
        for slot in self.slots:
            while slot.loaded and self.pending and len(slot.held) < IN_FLIGHT_PER_ACTOR:
                task = self.pending.popleft()
                ref = slot.actor.score.remote(task.pairs)
                slot.held[ref] = task
                self.waiting[ref] = (slot, task)

    def take_one(self) -> None:
        """Wait for the next result and act on it."""
        [ref], _ = self.ray.wait(list(self.waiting), num_returns=1)
        slot, task = self.waiting.pop(ref)
        try:
            value = self.ray.get(ref)
        except self.raised as exc:  # the reranker raised: the caller sees the same exception
            raise _original(exc, self.label) from exc
        except self.died as exc:
            self.replace(slot, exc)  # `ref` is still among slot.held: replace() queues its task again
            return
        if task is None:
            slot.loaded = True
        else:
            del slot.held[ref]
            self.deliver(task, value)

    def deliver(self, task: ScoreTask, scores: np.ndarray) -> None:
        self.remaining -= 1
        self.on_done(task, scores)

    def replace(self, slot: _Slot, error: BaseException) -> None:
        """`slot`'s actor is dead: keep what it finished, queue the rest again, start another actor."""
        lost = self.salvage(slot)
        self.pending.extendleft(sorted(lost, key=lambda t: t.shard, reverse=True))
        self.ray.kill(slot.actor, no_restart=True)
        shards = ", ".join(str(t.shard) for t in sorted(lost, key=lambda t: t.shard)) or "none"
        executor = self.executor
        if getattr(error, "actor_init_failed", False):
            raise RuntimeError(f"a Ray actor for {self.label} failed while starting (not retried); can the Ray "
                               "workers import bench (installed in their Python, or on PYTHONPATH through "
                               f"executor.runtime_env)? {error}") from error
        if executor.restarts >= executor.max_restarts:
            raise RuntimeError(
                f"Ray actors died {executor.restarts + 1} times, more than executor.max_restarts="
                f"{executor.max_restarts} allows; shards not finished: {len(self.pending)} (the last actor held "
                f"shards {shards}). Last error: {error}") from error
        executor.restarts += 1
        stage("a Ray actor died holding shards %s; replacing it (restart %d of at most %d): %s", shards,
              executor.restarts, executor.max_restarts,
              str(error).splitlines()[0] if str(error) else type(error).__name__)
        self.start(slot)

    def salvage(self, slot: _Slot) -> list[ScoreTask]:
        """Deliver the shards a dead actor finished; return the ones it did not (its load() call is dropped)."""
        lost: list[ScoreTask] = []
        for ref, task in list(slot.held.items()):
            self.waiting.pop(ref, None)
            ready, _ = self.ray.wait([ref], timeout=0)
            try:
                if not ready:
                    raise RuntimeError("not finished")
                scores = self.ray.get(ref)
            except Exception:
                lost.append(task)
            else:
                self.deliver(task, scores)
        for ref in [r for r, (s, _) in self.waiting.items() if s is slot]:
            del self.waiting[ref]
        return lost


def _original(exc: Any, label: str) -> BaseException:
    """The exception the reranker raised inside the actor (RayTaskError.cause), or the best stand-in."""
    from ray.exceptions import RaySystemError

    cause = getattr(exc, "cause", None)
    if isinstance(cause, RaySystemError):  # Ray's own failure in the worker, typically unpickling the replica
        first = str(cause).splitlines()[0]
        hint = (" The workers import the reranker's module and bench from their own Python and sys.path: install "
                "bench there, or add the folder with executor.runtime_env={env_vars: {PYTHONPATH: ...}}."
                if "No module named" in str(cause) else "")
        return RuntimeError(f"a Ray worker could not run {label}: {first}.{hint}")
    if isinstance(cause, BaseException):
        return cause
    return exc.as_instanceof_cause()
