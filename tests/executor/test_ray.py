"""executor=ray: the same numbers as executor=local, a killed actor replaced without losing or repeating a
shard, the reranker's own exceptions (ModelUnavailable) reaching the caller as themselves.

One local Ray cluster (2 CPUs) serves the whole module: starting one takes seconds. Each executor
connects to it by address, as it would to a real cluster.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from omegaconf import open_dict  # noqa: E402

from bench.data.records import Dataset, Document  # noqa: E402
from bench.errors import ModelUnavailable  # noqa: E402
from bench.executor.base import Executor  # noqa: E402
from bench.executor.ray import MISSING_RAY, RayExecutor  # noqa: E402
from bench.first_stage.run_file import read_trec_run  # noqa: E402
from bench.pipeline import make_executor, run  # noqa: E402
from bench.rerank.scoring import score_candidates  # noqa: E402
from tests.checkpoints import make_bert_checkpoint  # noqa: E402
from tests.executor.fakes import CrashingReranker, FailingReranker, UnavailableReranker, length_score  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: what every actor in this module gets: the repo root (for `tests.executor.fakes`), and no model hub
ENV_VARS = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def cluster_address():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        yield cluster.address
    finally:
        import ray

        ray.shutdown()  # a test that failed before close() may have left this process connected
        cluster.shutdown()


def executor(address: str, **kwargs) -> RayExecutor:
    return RayExecutor(address=address, runtime_env={"env_vars": ENV_VARS}, **kwargs)


def toy_dataset(queries: int = 6, docs: int = 3) -> tuple[Dataset, dict[str, dict[str, float]]]:
    """`queries` queries with `docs` candidates each: with shard_queries=1, one shard per query."""
    corpus = {f"d{i}": Document(f"d{i}", f"title {i}", "text " * (i + 1)) for i in range(queries * docs)}
    dataset = Dataset("toy", "test", corpus, {f"q{i}": f"query number {i}" for i in range(queries)},
                      {f"q{i}": {f"d{i * docs}": 1} for i in range(queries)})
    candidates = {f"q{i}": {f"d{i * docs + j}": float(docs - j) for j in range(docs)} for i in range(queries)}
    return dataset, candidates


# -- the real pipeline ----------------------------------------------------------------------------------------


def test_ray_pipeline_equals_local(compose, tmp_path, monkeypatch, cluster_address):
    """The shipped demo set (40 queries), top 10 reranked by a tiny random BERT, one query per shard."""
    ranker = make_bert_checkpoint(tmp_path / "tiny-ce")
    common = ["dataset=demo", "first_stage=bm25", "top_k=10", "reranker=[minilm-l6]",
              f"reranker.minilm-l6.model={ranker}", "device=cpu", "shard.queries=1"]
    outs = {}
    for kind, extra in {
        "local": ["executor=local"],
        "ray": ["executor=ray", "executor.replicas=2", f"executor.address={cluster_address}",
                f"executor.runtime_env={{env_vars:{{PYTHONPATH:'{REPO}',HF_HUB_OFFLINE:'1'}}}}"],
    }.items():
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / f"cache-{kind}"))  # the ray run must not reuse shards
        outs[kind] = tmp_path / kind
        run(compose(*common, *extra), out_dir=outs[kind])

    local, ray_ = (pd.read_csv(outs[k] / "metrics.csv").set_index(["system", "measure"]).value for k in outs)
    assert sorted(local.index) == sorted(ray_.index) and ("bm25>>minilm-l6", "nDCG@10") in local.index
    assert (local - ray_.loc[local.index]).abs().max() <= 1e-6
    manifests = {k: json.loads((outs[k] / "manifest.json").read_text()) for k in outs}
    executor_info = manifests["ray"]["executor"]
    assert executor_info["kind"] == "ray" and executor_info["replicas"] == 2 and executor_info["actor_restarts"] == 0
    assert manifests["local"]["executor"] == {"kind": "local"}
    shards = manifests["ray"]["systems"]["bm25>>minilm-l6"]["shards"]
    assert shards["total"] > 10 and shards["computed"] == shards["total"] and shards["reused"] == 0
    assert manifests["local"]["systems"]["bm25>>minilm-l6"]["shards"] == shards
    # the driver wrote every shard to the store
    assert len(list((tmp_path / "cache-ray" / "scores").glob("*/shard-*/data.npy"))) == shards["total"]
    # the same scores, pair by pair
    runs = {k: read_trec_run(outs[k] / "runs" / "bm25__minilm-l6.trec") for k in outs}
    assert runs["local"].keys() == runs["ray"].keys()
    for q, docs in runs["local"].items():
        assert runs["ray"][q] == pytest.approx(docs, abs=1e-5)


def test_model_unavailable_in_an_actor_skips_the_reranker(compose, tiny_beir, tmp_path, cluster_address):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none",
                  "executor=ray", f"executor.address={cluster_address}",
                  f"executor.runtime_env={{env_vars:{{PYTHONPATH:'{REPO}'}}}}")
    with open_dict(cfg):
        cfg.reranker = {"fake": {"_target_": "tests.executor.fakes.UnavailableReranker", "name": "fake",
                                 "driver_pid": os.getpid(), "when": "load"}}
    metrics = run(cfg, out_dir=tmp_path / "out")
    assert set(metrics.system) == {"bm25"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    [skip] = manifest["skipped"]
    assert skip["system"] == "fake" and skip["reason"] == "not in this worker's cache"
    assert skip["fix"] == "download it first"


# -- score_candidates with a RayExecutor ----------------------------------------------------------------------


class CountingOnDone:
    """Wraps an executor and records the shard of every on_done call (made in this, the driver, process)."""

    def __init__(self, inner: RayExecutor) -> None:
        self.inner, self.name, self.calls = inner, inner.name, []

    def score(self, tasks, *, reranker, replica, on_done):
        def counted(task, scores):
            assert os.getpid() == driver
            self.calls.append(task.shard)
            on_done(task, scores)

        driver = os.getpid()
        self.inner.score(tasks, reranker=reranker, replica=replica, on_done=counted)

    def info(self):
        return self.inner.info()


def test_a_killed_actor_is_replaced_and_no_shard_is_lost_or_repeated(tmp_path, cluster_address):
    dataset, candidates = toy_dataset(queries=6)
    markers = tmp_path / "markers"
    markers.mkdir()
    reranker = CrashingReranker(die_on=["query number 1", "query number 4"], marker_dir=str(markers))
    ex = executor(cluster_address, replicas=2)
    counting = CountingOnDone(ex)
    try:
        scored = score_candidates(reranker, dataset, candidates, identity={"fake": "crashing"}, shard_queries=1,
                                  executor=counting, replica=lambda: CrashingReranker(reranker.die_on, str(markers)))
    finally:
        ex.close()
    assert len(list(markers.iterdir())) == 2  # both shards did kill their first actor
    assert sorted(counting.calls) == list(range(6))  # on_done once per shard, in the driver
    assert scored.counts.total == 6 and scored.counts.computed == 6 and scored.counts.reused == 0
    for q, docs in candidates.items():
        assert scored.run[q] == {d: length_score(dataset.queries[q], dataset.corpus[d].full_text) for d in docs}
    assert ex.info()["actor_restarts"] >= 2
    assert ex.info()["kind"] == "ray"


def test_an_actor_that_keeps_dying_stops_the_run_after_max_restarts(cluster_address):
    dataset, candidates = toy_dataset(queries=2)
    ex = executor(cluster_address, replicas=1, max_restarts=1)
    try:
        with pytest.raises(RuntimeError, match="max_restarts=1"):
            score_candidates(CrashingReranker([]), dataset, candidates, identity=None, shard_queries=1, executor=ex,
                             replica=lambda: CrashingReranker(["query number 1"]))
    finally:
        ex.close()
    assert ex.info()["actor_restarts"] == 1


@pytest.mark.parametrize("when", ["load", "score"])
def test_model_unavailable_in_an_actor_reaches_the_caller_as_itself(cluster_address, when):
    dataset, candidates = toy_dataset(queries=3)
    driver = os.getpid()
    ex = executor(cluster_address, replicas=2)
    try:
        with pytest.raises(ModelUnavailable) as caught:
            score_candidates(UnavailableReranker(driver, when), dataset, candidates, identity=None, shard_queries=1,
                             executor=ex, replica=lambda: UnavailableReranker(driver, when))
    finally:
        ex.close()
    assert type(caught.value) is ModelUnavailable
    assert caught.value.model == "fake/model" and caught.value.fix
    assert ex.info()["actor_restarts"] == 0


def test_other_reranker_errors_keep_their_type(cluster_address):
    dataset, candidates = toy_dataset(queries=2)
    ex = executor(cluster_address)
    try:
        with pytest.raises(ValueError, match="cannot score 3 pairs"):
            score_candidates(FailingReranker(), dataset, candidates, identity=None, shard_queries=1, executor=ex,
                             replica=FailingReranker)
    finally:
        ex.close()


# -- no cluster -----------------------------------------------------------------------------------------------


def test_ray_config_builds_the_executor_without_starting_ray(compose):
    import ray

    was = ray.is_initialized()
    ex = make_executor(compose("executor=ray", "executor.replicas=3"))
    assert isinstance(ex, RayExecutor) and isinstance(ex, Executor)
    assert ex.info() | {"ray_version": None} == {
        "kind": "ray", "address": None, "replicas": 3, "num_cpus": 1, "num_gpus": 0, "actor_restarts": 0,
        "ray_version": None}
    assert ray.is_initialized() == was
    ex.close()


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'bench\[ray\]'") as caught:
        RayExecutor(replicas=2)
    assert str(caught.value) == MISSING_RAY


@pytest.mark.parametrize("kwargs", [{"replicas": 0}, {"max_restarts": -1}, {"num_cpus": -1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        RayExecutor(**kwargs)
