"""Test-only rerankers for executor tests; Ray workers import them as `tests.executor.fakes.<Name>`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from bench.errors import ModelUnavailable


def length_score(query: str, document: str) -> float:
    """A deterministic score any process computes the same way."""
    return len(query) + len(document) / 1000


class CrashingReranker:
    """Scores by `length_score`, but its process exits (os._exit(1), as if killed) on some shards.

    It dies on a shard whose pairs mention a query in `die_on`, the first time it sees those pairs:
    a marker file per shard under `marker_dir` (created atomically) lets the next attempt succeed.
    marker_dir None: it dies every time (a shard no replica survives).
    """

    name = "crashing"

    def __init__(self, die_on: Sequence[str], marker_dir: str | None = None) -> None:
        self.die_on = set(die_on)
        self.marker_dir = marker_dir

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if self.die_on & {q for q, _ in pairs}:
            if self.marker_dir is None:
                os._exit(1)
            digest = hashlib.sha256(repr(list(pairs)).encode()).hexdigest()[:16]
            try:
                (Path(self.marker_dir) / digest).open("x").close()
            except FileExistsError:
                pass  # an earlier attempt died here already
            else:
                os._exit(1)
        return [length_score(q, d) for q, d in pairs]

    def info(self) -> dict[str, object]:
        return {"kind": "crashing"}


class UnavailableReranker:
    """Builds fine in the driver (pid `driver_pid`), then cannot get its model in a worker.

    when="load": the worker's constructor raises ModelUnavailable; when="score": scoring does.
    """

    def __init__(self, driver_pid: int, when: str = "score", name: str = "unavailable") -> None:
        self.name = name
        self.driver_pid = driver_pid
        self.when = when
        if when == "load" and os.getpid() != driver_pid:
            raise ModelUnavailable("fake/model", "not in this worker's cache", "download it first")

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if os.getpid() != self.driver_pid:
            raise ModelUnavailable("fake/model", "gated on the hub", "accept the licence")
        return [length_score(q, d) for q, d in pairs]

    def info(self) -> dict[str, object]:
        return {"kind": "unavailable"}


class FailingReranker:
    """Raises ValueError while scoring (a bug in a reranker, not a dead process)."""

    name = "failing"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        raise ValueError(f"cannot score {len(pairs)} pairs")

    def info(self) -> dict[str, object]:
        return {"kind": "failing"}
