"""executor=ray on a GPU machine: a replica asked for with `executor.num_gpus=1` gets a GPU and computes on it.

configs/executor/ray.yaml composed with num_gpus=1 builds the executor; a local Ray cluster (started by
the executor, as `bench executor=ray` does) places the replica's actor on the GPU, whose probe
reranker (tests/gpu/fakes.py) raises unless Ray assigned it a GPU and torch sees CUDA, and scores on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="executor=ray needs Ray (pip install 'bench[ray]'); this Python has none")

from hydra.utils import instantiate  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from bench.data.records import Dataset, Document  # noqa: E402
from bench.rerank.scoring import score_candidates  # noqa: E402
from tests.gpu.fakes import CudaProbeReranker, length_score  # noqa: E402

pytestmark = pytest.mark.gpu

REPO = Path(__file__).resolve().parents[2]


def test_a_replica_with_num_gpus_1_sees_cuda(compose):
    cfg = compose("executor=ray", "executor.num_gpus=1", "executor.replicas=1", "executor.local_num_cpus=2")
    paths = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    with open_dict(cfg):  # the actors import tests.gpu.fakes (and whatever this process's PYTHONPATH adds)
        cfg.executor.runtime_env = {"env_vars": {"PYTHONPATH": paths, "HF_HUB_OFFLINE": "1"}}
    executor = instantiate(cfg.executor)
    assert executor.num_gpus == 1
    corpus = {f"d{i}": Document(f"d{i}", f"title {i}", "text " * (i + 1)) for i in range(6)}
    queries = {f"q{i}": f"query number {i}" for i in range(3)}
    dataset = Dataset("toy", "test", corpus, queries, {q: {} for q in queries})
    candidates = {f"q{i}": {f"d{2 * i + j}": float(2 - j) for j in range(2)} for i in range(3)}
    try:
        scored = score_candidates(CudaProbeReranker(), dataset, candidates, identity=None, shard_queries=1,
                                  executor=executor, replica=CudaProbeReranker)
    finally:
        executor.close()
    assert executor.info()["num_gpus"] == 1 and executor.info()["actor_restarts"] == 0
    for q, docs in candidates.items():
        for d in docs:
            expected = length_score(dataset.queries[q], dataset.corpus[d].full_text)
            assert scored.run[q][d] == pytest.approx(expected)
