"""The extension point for executors: score shards of (query, document) pairs somewhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from bench.rerank.base import Reranker


@dataclass(frozen=True)
class ScoreTask:
    """One shard's pairs: (query text, document text), in the shard's fixed order."""

    shard: int
    pairs: list[tuple[str, str]]


#: called once per finished task with its scores (one float per pair, in order)
OnDone = Callable[[ScoreTask, np.ndarray], None]


@runtime_checkable
class Executor(Protocol):
    """Runs every task once and calls `on_done` for each as it finishes (in any order).

    `reranker` is the caller's instance (an in-process executor uses it); `replica` builds a fresh,
    equivalent reranker (a distributed executor builds one per worker, so each loads its own model).
    A `ModelUnavailable` raised while building or scoring reaches the caller as itself.
    """

    name: str

    def score(self, tasks: Sequence[ScoreTask], *, reranker: Reranker, replica: Callable[[], Reranker],
              on_done: OnDone) -> None: ...

    def info(self) -> dict[str, object]: ...
