"""Where a study's shards are computed: in this process (`local`, the default) or on a Ray cluster (`ray`).

An executor only decides *where* shards run; which shards need running, and writing each result
to the shard store, stay with the scoring step (`bench.rerank.scoring`), so every executor
resumes and verifies the same way.
"""

from bench.executor.base import Executor, ScoreTask
from bench.executor.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "ScoreTask"]
