"""Shards scored one after another in this process, with the caller's reranker (the default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.executor.base import OnDone, ScoreTask
from bench.rerank.base import Reranker


class LocalExecutor:
    name = "local"

    def score(self, tasks: Sequence[ScoreTask], *, reranker: Reranker, replica: Callable[[], Reranker],
              on_done: OnDone) -> None:
        for task in tasks:
            on_done(task, np.asarray(reranker.score(task.pairs), dtype=np.float64))

    def info(self) -> dict[str, object]:
        return {"kind": "local"}
