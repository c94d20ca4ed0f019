"""Scale benchmark: every stage of a bench run from 10k to 1M documents, and what full BEIR would cost.

    python reports/benchmarks/scale.py                       # 10k/100k/1M documents, 100/1k/10k queries
    python reports/benchmarks/scale.py --quick               # 2k and 10k documents: a smoke run (minutes)
    python reports/benchmarks/scale.py --sizes 1000,2000 --queries 10,20 --repeats 1 --zoo-pairs 0

For each size a deterministic synthetic collection (bench.data.synthetic) is written, then each
stage runs in a fresh interpreter (this script with --worker), so that its peak resident memory is
its own: load (bench.data.sources.local), BM25 index + top-100 search (bench.first_stage.bm25.BM25,
cache off), dense encoding + search (bench.first_stage.dense.Dense over a small random-weight
sentence-transformers encoder, cold cache), reranking with jina-reranker-v1-tiny-en's architecture
(random weights from configs/reranker/jina-tiny.yaml's facts) on a fixed number of BM25 pairs, and
evaluation (bench.evaluate.measures.evaluate over the BM25 run). Times are wall-clock seconds of
the stage alone (the interpreter start and the untimed set-up, e.g. loading the dataset before
indexing it, are left out); memory is the peak RSS (VmHWM, reset at the start of each phase) and
its rise over the RSS at the start of the phase.

Then: the growth exponent of time and memory with collection size (least-squares slope of
log(value) against log(documents)); the cost of sharding and of resuming (dense encoding in 10
shards against one, reranking with one query per shard against one shard, interleaved, repeated);
the reranker zoo's throughput on this machine (random weights, same pairs); and a worked plan
for the whole zoo on full BEIR. Everything goes to one markdown file (--out).

Stages that would not finish in reasonable time on a small machine measure a prefix and
extrapolate linearly; the tables mark every such number (see --max-search-queries and
--dense-max-docs).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a file from anywhere: the package is the repository's
    sys.path.insert(0, str(REPO))

from bench.paths import CONFIG_DIR, REPO_ROOT  # noqa: E402 - after the path set-up above
from bench.profile.stats import median  # noqa: E402

DEFAULT_SIZES = "10000,100000,1000000"
DEFAULT_QUERIES = "100,1000,10000"
QUICK_SIZES = "2000,10000"
QUICK_QUERIES = "20,100"
TOP_K = 100
SIZE_STAGES = ("load", "bm25", "dense", "rerank", "evaluate")
#: the small random encoder of the dense stage (a sentence-transformers model: BERT + mean pooling)
ENCODER = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "max_seq_length": 128}
#: the zoo's cross-encoders with shape facts (configs/reranker/<name>.yaml) measured with random weights
ZOO = ["jina-tiny", "jina-turbo", "minilm-l4", "minilm-l6", "mxbai-xsmall", "mxbai-base", "bge-base"]
#: peak dense tensor-core throughput, FLOP/s, FP16/BF16 without sparsity (vendor data sheets)
GPU_PEAK = {
    "H100 SXM (BF16)": 989e12,
    "A100 SXM (BF16)": 312e12,
    "L4 (BF16)": 121e12,
    "T4 (FP16)": 65e12,
}
#: assumed model FLOPs utilisation of cross-encoder inference on a GPU (large sorted batches, fp16)
GPU_MFU = 0.25
OVERNIGHT_HOURS = 12.0
SHARD_TARGET = 1.05


# ================================================================================================
# Worker side: one stage in a fresh interpreter, printing one JSON line.


def _status_mb(name: str) -> float:
    found = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


class PhasePeak:
    """Peak RSS of this process since start(): VmHWM reset through /proc/self/clear_refs (Linux).

    bench.profile.measure.ProcessPeak does the same but imports torch, which would add seconds to
    every stage that does not need it; where clear_refs cannot be written this falls back to
    sampling VmRSS every millisecond, as ProcessPeak does.
    """

    def __init__(self) -> None:
        self.baseline_mb = 0.0
        self.method = ""
        self._sampled = 0.0
        self._stop = False
        self._thread = None

    def start(self) -> None:
        self.baseline_mb = _status_mb("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM reset through /proc/self/clear_refs"
        except OSError:
            import threading

            self.method = "VmRSS sampled every 1 ms"
            self._sampled = self.baseline_mb
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop:
            self._sampled = max(self._sampled, _status_mb("VmRSS"))
            time.sleep(0.001)

    def stop(self) -> float:
        """The peak's rise over the RSS at start() (MB)."""
        if self._thread is None:
            peak = _status_mb("VmHWM")
        else:
            self._stop = True
            self._thread.join()
            peak = max(self._sampled, _status_mb("VmRSS"))
        return peak - self.baseline_mb


@contextmanager
def phase(result: dict[str, Any], name: str) -> Iterator[None]:
    """Time a phase and take its peak RSS (VmHWM reset at its start) and the rise over its start."""
    import resource

    gc.collect()
    probe = PhasePeak()
    probe.start()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    rise = probe.stop()
    result.setdefault("phases", {})[name] = {
        "seconds": seconds, "rss_before_mb": probe.baseline_mb, "peak_rss_mb": probe.baseline_mb + rise,
        "rise_mb": rise, "method": probe.method,
        # CPU time of this process (all its threads): unlike wall time, it does not count waiting for a
        # core that another job holds, so it is the steadier measure on a shared machine
        "cpu_s": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
        "sys_s": after.ru_stime - usage.ru_stime,
        "minor_faults": after.ru_minflt - usage.ru_minflt, "major_faults": after.ru_majflt - usage.ru_majflt,
    }


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _queries_prefix(queries: dict[str, str], limit: int | None) -> dict[str, str]:
    if limit is None or limit >= len(queries):
        return queries
    return dict(list(queries.items())[:limit])


def _read_qrels(folder: Path) -> dict[str, dict[str, int]]:
    from bench.data.beir import read_qrels

    qrels: dict[str, dict[str, int]] = {}
    for j in read_qrels(folder / "qrels" / "test.tsv"):
        qrels.setdefault(j.query_id, {})[j.doc_id] = j.score
    return qrels


def _candidates(run: dict[str, dict[str, float]], *, pairs: int, depth: int) -> dict[str, dict[str, float]]:
    """The first queries' top-`depth` documents (query order as in the run file), cut at `pairs` pairs."""
    out: dict[str, dict[str, float]] = {}
    left = pairs
    for qid, docs in run.items():
        if left <= 0:
            break
        ranked = sorted(docs.items(), key=lambda x: (-x[1], x[0]))[: min(depth, left)]
        if ranked:
            out[qid] = dict(ranked)
            left -= len(ranked)
    return out


def _subset_dataset(dataset, candidates):
    """The dataset restricted to the candidates' queries and documents (fingerprints stay cheap)."""
    from bench.data.records import Dataset

    docs = {d for ranked in candidates.values() for d in ranked}
    return Dataset(dataset.name, dataset.split, {d: dataset.corpus[d] for d in sorted(docs)},
                   {q: dataset.queries[q] for q in candidates}, {q: dataset.qrels.get(q, {}) for q in candidates})


def _reranker(folder: str, name: str, node: dict[str, Any]):
    from bench.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(name=name, model=folder, max_length=int(node.get("max_length", 512)),
                                batch_size=int(node.get("batch_size", 32)),
                                token_budget=node.get("token_budget", "auto"), device="cpu", dtype="float32")


def _mean_tokens(reranker, pairs) -> float:
    tokenizer = reranker.load().tokenizer
    lengths = [len(tokenizer(q, d, truncation=True, max_length=reranker.max_length)["input_ids"]) for q, d in pairs]
    return statistics.fmean(lengths) if lengths else 0.0


def stage_load(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.sources import local

    result: dict[str, Any] = {}
    with phase(result, "load"):
        dataset = local(spec["folder"])
    result["documents"] = len(dataset.corpus)
    result["queries"] = len(dataset.queries)
    result["report_problems"] = {k: v for k, v in dataset.report.as_dict().items()
                                 if k not in ("checksum", "examples") and v}
    return result


def stage_bm25(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.sources import local
    from bench.evaluate.measures import aggregate, evaluate
    from bench.first_stage.bm25 import BM25

    dataset = local(spec["folder"])
    queries = _queries_prefix(dataset.queries, spec.get("max_queries"))
    result: dict[str, Any] = {"documents": len(dataset.corpus), "queries_total": len(dataset.queries),
                              "queries_searched": len(queries)}
    bm25 = BM25(cache=False)
    with phase(result, "index"):
        bm25.index(dataset.corpus)
    with phase(result, "search"):
        run = bm25.search(queries, top_k=TOP_K)
    Path(spec["run_path"]).write_text(json.dumps(run))
    qrels = {q: dataset.qrels[q] for q in queries}
    result["ndcg10"] = aggregate(evaluate(qrels, run, ["nDCG@10"]))["nDCG@10"]
    result["retrieved"] = sum(len(d) for d in run.values())
    with tempfile.TemporaryDirectory(prefix="bm25-size-") as tmp:  # the index's size on disk, untimed
        bm25._retriever.save(tmp, show_progress=False)
        result["index_bytes"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return result


def stage_dense(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.sources import local
    from bench.first_stage.dense import Dense
    from bench.models.sentence import load_sentence_transformer

    _set_threads(spec["threads"])
    dataset = local(spec["folder"])
    ids = sorted(dataset.corpus)
    limit = spec.get("max_documents")
    if limit is not None and limit < len(ids):
        ids = ids[:limit]
    corpus = {d: dataset.corpus[d] for d in ids}
    result: dict[str, Any] = {"documents_total": len(dataset.corpus), "documents_encoded": len(corpus),
                              "queries": len(dataset.queries)}
    load_sentence_transformer(spec["encoder"], device="cpu")  # loaded once per process: not the stage's work
    dense = Dense(model=spec["encoder"], shard_documents=spec["shard_documents"], device="cpu", cache=True,
                  batch_size=64)
    with phase(result, "encode"):
        dense.index(corpus)
    with phase(result, "search"):
        run = dense.search(dataset.queries, top_k=TOP_K)
    result["retrieved"] = sum(len(d) for d in run.values())
    result["shards"] = dense.info()["shards"]
    return result


def stage_rerank(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.sources import local
    from bench.rerank.scoring import score_candidates

    _set_threads(spec["threads"])
    dataset = local(spec["folder"])
    run = json.loads(Path(spec["run_path"]).read_text())
    candidates = _candidates(run, pairs=spec["pairs"], depth=TOP_K)
    pairs = [(dataset.queries[q], dataset.corpus[d].full_text) for q, ranked in candidates.items() for d in ranked]
    reranker = _reranker(spec["checkpoint"], "jina-tiny", spec["node"])
    result: dict[str, Any] = {"pairs": len(pairs), "queries": len(candidates)}
    with phase(result, "model_load"):  # and 4 warm-up pairs: kernels started, memory-mapped weights paged in
        reranker.load()
        reranker.score(pairs[:4])
    with phase(result, "score"):
        scored = score_candidates(reranker, dataset, candidates, identity=None, cache=False, label="jina-tiny")
    assert sum(len(d) for d in scored.run.values()) == len(pairs)
    result["pairs_per_s"] = len(pairs) / result["phases"]["score"]["seconds"]
    result["mean_tokens"] = _mean_tokens(reranker, pairs)
    result["max_length"] = reranker.max_length
    return result


def stage_evaluate(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.evaluate.measures import DEFAULT_MEASURES, aggregate, evaluate

    qrels = _read_qrels(Path(spec["folder"]))
    run = json.loads(Path(spec["run_path"]).read_text())
    qrels = {q: qrels[q] for q in run if q in qrels}
    result: dict[str, Any] = {"queries": len(qrels), "retrieved": sum(len(d) for d in run.values())}
    with phase(result, "evaluate"):
        values = evaluate(qrels, run, list(DEFAULT_MEASURES))
    result["ndcg10"] = aggregate(values)["nDCG@10"]
    return result


class StoreClock:
    """Seconds spent inside the shard store (ArrayShards.save / reopen / load), by method.

    Installed by wrapping the class's methods in this worker process only, so that a sharded
    variant's extra time can be split into the store's share and everything else.
    """

    METHODS = ("save", "reopen", "load")

    def __init__(self) -> None:
        from bench.store.shards import ArrayShards

        self.seconds = dict.fromkeys(self.METHODS, 0.0)
        self.calls = dict.fromkeys(self.METHODS, 0)
        for name in self.METHODS:
            original = getattr(ArrayShards, name)

            def timed(store, *args, _original=original, _name=name, **kwargs):
                started = time.perf_counter()
                try:
                    return _original(store, *args, **kwargs)
                finally:
                    self.seconds[_name] += time.perf_counter() - started
                    self.calls[_name] += 1

            setattr(ArrayShards, name, timed)

    def take(self) -> dict[str, Any]:
        """What was counted since the last take, then start again from zero."""
        out = {"seconds": dict(self.seconds), "calls": dict(self.calls), "total_s": sum(self.seconds.values())}
        self.seconds = dict.fromkeys(self.METHODS, 0.0)
        self.calls = dict.fromkeys(self.METHODS, 0)
        return out


def stage_dense_shard(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.sources import local
    from bench.first_stage.dense import Dense
    from bench.models.sentence import load_sentence_transformer

    _set_threads(spec["threads"])
    dataset = local(spec["folder"])
    load_sentence_transformer(spec["encoder"], device="cpu")
    result: dict[str, Any] = {"documents": len(dataset.corpus), "shard_documents": spec["shard_documents"]}
    clock = StoreClock()
    cold = Dense(model=spec["encoder"], shard_documents=spec["shard_documents"], device="cpu", cache=True)
    with phase(result, "cold"):
        cold.index(dataset.corpus)
    result["cold_store"] = clock.take()
    warm = Dense(model=spec["encoder"], shard_documents=spec["shard_documents"], device="cpu", cache=True)
    with phase(result, "warm"):  # resume with every shard done: verification and memory-mapping only
        warm.index(dataset.corpus)
    result["warm_store"] = clock.take()
    result["cold_shards"] = cold.info()["shards"]
    result["warm_shards"] = warm.info()["shards"]
    return result


def stage_rerank_shard(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.data.cache import cache_dir
    from bench.data.sources import local
    from bench.rerank.scoring import score_candidates

    _set_threads(spec["threads"])
    dataset = local(spec["folder"])
    run = json.loads(Path(spec["run_path"]).read_text())
    candidates = _candidates(dict(list(run.items())[: spec["queries"]]), pairs=spec["queries"] * spec["depth"],
                             depth=spec["depth"])
    subset = _subset_dataset(dataset, candidates)
    del dataset
    reranker = _reranker(spec["checkpoint"], "jina-tiny", spec["node"])
    reranker.load()
    first = next(iter(candidates))
    reranker.score([(subset.queries[first], subset.corpus[d].full_text) for d in list(candidates[first])[:4]])
    identity = {"name": "jina-tiny-random", "checkpoint": spec["checkpoint"]}
    result: dict[str, Any] = {"pairs": sum(len(d) for d in candidates.values()), "queries": len(candidates),
                              "shard_queries": spec["shard_queries"]}
    clock = StoreClock()
    with phase(result, "cold"):
        cold = score_candidates(reranker, subset, candidates, identity=identity, shard_queries=spec["shard_queries"],
                                cache=True, label="jina-tiny")
    result["cold_store"] = clock.take()
    with phase(result, "warm"):
        warm = score_candidates(reranker, subset, candidates, identity=identity, shard_queries=spec["shard_queries"],
                                cache=True, label="jina-tiny")
    result["warm_store"] = clock.take()
    result["cold_shards"] = cold.counts.as_dict()
    result["warm_shards"] = warm.counts.as_dict()
    folder = cache_dir() / "scores"
    result["cache_bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    result["cache_entries"] = sum(1 for p in folder.rglob("entry.json"))
    return result


def stage_zoo(spec: dict[str, Any]) -> dict[str, Any]:
    """One zoo model from the checkpoint the orchestrator built (building it here would leave the
    freed construction memory in this process and hide the loaded model's own memory)."""
    _set_threads(spec["threads"])
    pairs = [tuple(p) for p in json.loads(Path(spec["pairs_path"]).read_text())][: spec["pairs"] + 4]
    result: dict[str, Any] = {"model": spec["name"]}
    reranker = _reranker(spec["checkpoint"], spec["name"], spec["node"])
    with phase(result, "model_load"):  # and 4 warm-up pairs, which page in the (memory-mapped) weights
        loaded = reranker.load()
        reranker.score(pairs[:4])
    measured = pairs[4:]
    with phase(result, "score"):
        reranker.score(measured)
    result["pairs"] = len(measured)
    result["pairs_per_s"] = len(measured) / result["phases"]["score"]["seconds"]
    result["parameters"] = sum(p.numel() for p in loaded.model.parameters())
    result["mean_tokens"] = _mean_tokens(reranker, measured)
    result["max_length"] = reranker.max_length
    return result


def stage_minilm(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.models.sentence import encode, load_sentence_transformer

    _set_threads(spec["threads"])
    texts = json.loads(Path(spec["texts_path"]).read_text())[: spec["documents"] + 8]
    result: dict[str, Any] = {}
    with phase(result, "model_load"):
        encoder, where = load_sentence_transformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
        encode(encoder, texts[:8], batch_size=64)
    with phase(result, "encode"):
        vectors = encode(encoder, texts[8:], batch_size=64)
    result["documents"] = int(vectors.shape[0])
    result["dimension"] = int(vectors.shape[1])
    result["docs_per_s"] = vectors.shape[0] / result["phases"]["encode"]["seconds"]
    result["source"] = where.source
    tokenizer = encoder.tokenizer
    result["mean_tokens"] = statistics.fmean(
        min(len(tokenizer(t)["input_ids"]), encoder.max_seq_length) for t in texts[8:])
    result["max_seq_length"] = encoder.max_seq_length
    return result


STAGES = {
    "load": stage_load, "bm25": stage_bm25, "dense": stage_dense, "rerank": stage_rerank,
    "evaluate": stage_evaluate, "dense_shard": stage_dense_shard, "rerank_shard": stage_rerank_shard,
    "zoo": stage_zoo, "minilm": stage_minilm,
}


def worker(spec_path: str) -> int:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("bench").setLevel(logging.WARNING)
    spec = json.loads(Path(spec_path).read_text())
    started = time.perf_counter()
    result = STAGES[spec["stage"]](spec)
    result["worker_s"] = time.perf_counter() - started
    print(json.dumps(result, default=str))
    return 0


# ================================================================================================
# Orchestrator side.


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    threads: int
    logs: Path
    calls: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self, stage: str, spec: dict[str, Any], *, cache: Path | None = None, label: str = "",
            threads: int | None = None) -> dict | None:
        """Run one stage in a fresh interpreter; None (and a recorded failure) when it fails."""
        self.calls += 1
        threads = threads or self.threads
        spec = {"stage": stage, "threads": threads, **spec}
        spec_path = self.workdir / f"spec-{self.calls:03d}-{stage}.json"
        spec_path.write_text(json.dumps(spec, default=str))
        cache = cache or Path(tempfile.mkdtemp(prefix="cache-", dir=self.workdir))
        env = dict(os.environ, BENCH_CACHE=str(cache), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   TRANSFORMERS_VERBOSITY="error", PYTHONPATH=os.pathsep.join(
                       [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        log_path = self.logs / f"{self.calls:03d}-{stage}.log"
        say(f"  {stage} {label}".rstrip())
        started = time.perf_counter()
        with log_path.open("w") as log:
            try:
                done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)],
                                      stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                      timeout=self.args.stage_timeout, check=False)
            except subprocess.TimeoutExpired:
                self.failures.append(f"{stage} {label}: killed after {self.args.stage_timeout} s")
                say(f"    timed out after {self.args.stage_timeout} s")
                return None
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = " | ".join(log_path.read_text().strip().splitlines()[-3:])
            self.failures.append(f"{stage} {label}: exit {done.returncode}: {tail}")
            say(f"    failed (exit {done.returncode}): {tail}")
            return None
        result = json.loads(lines[-1])
        result["process_s"] = time.perf_counter() - started
        if stage not in ("dense_shard", "rerank_shard"):
            shutil.rmtree(cache, ignore_errors=True)
        return result


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.replace("_", "").split(",") if x.strip()]


def build_encoder(folder: Path) -> Path:
    """A small random-weight sentence-transformers encoder (BERT + mean pooling), WordPiece tokenizer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bench.profile.architectures import offline_tokenizer_path

    tokenizer = AutoTokenizer.from_pretrained(str(offline_tokenizer_path()))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=ENCODER["hidden"],
                        num_hidden_layers=ENCODER["layers"], num_attention_heads=ENCODER["heads"],
                        intermediate_size=ENCODER["intermediate"], max_position_embeddings=512)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config)
    model.save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    transformer = Transformer(str(folder / "hf"), max_seq_length=ENCODER["max_seq_length"])
    pooling = Pooling(transformer.get_word_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "st"))
    return folder / "st"


def reranker_nodes(names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Options of the `reranker` config group (configs/reranker/<name>.yaml), composed by Hydra as
    `bench` composes them, interpolations such as ${device} unresolved: a model's facts (`facts:`)
    and settings (max_length, batch_size, token_budget) have that one source. `names=None`: every
    option that selects a reranker (all but `none`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from bench.errors import InputError, did_you_mean

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        known = [o for o in GlobalHydra.instance().config_loader().get_group_options("reranker") if o != "none"]
        wanted = sorted(known) if names is None else names
        for name in wanted:
            if name not in known:
                raise InputError(f"unknown reranker {name!r}: the `reranker` config group (configs/reranker/) has "
                                 f"no such option.{did_you_mean(name, known)} Known: {', '.join(known)}")
        group = compose(config_name=None, overrides=[f"+reranker=[{','.join(wanted)}]"]).reranker
    return {name: OmegaConf.to_container(group[name], resolve=False) for name in wanted}  # type: ignore[misc]


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two usable points."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x and y and x > 0 and y > 0]
    if len(points) < 2 or len({p[0] for p in points}) < 2:
        return None
    mx = statistics.fmean(p[0] for p in points)
    my = statistics.fmean(p[1] for p in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


# ------------------------------------------------------------------------------------------------
# Measurement plan.


def measure_sizes(bench: Bench, sizes: list[int], queries: list[int], encoder: Path | None,
                  checkpoint: Path | None, node: dict[str, Any]) -> list[dict[str, Any]]:
    from bench.data.synthetic import write_synthetic

    args = bench.args
    stages = args.stage_list
    rows = []
    for documents, n_queries in zip(sizes, queries, strict=True):
        say(f"size {documents:,} documents, {n_queries:,} queries")
        folder = bench.workdir / "data" / f"{documents}x{n_queries}"
        started = time.perf_counter()
        write_synthetic(folder, documents=documents, queries=n_queries, seed=args.seed)
        generate_s = time.perf_counter() - started
        size = {"documents": documents, "queries": n_queries, "folder": str(folder), "generate_s": generate_s,
                "corpus_bytes": (folder / "corpus.jsonl").stat().st_size}
        run_path = bench.workdir / f"bm25-{documents}.json"
        search_limit = args.max_search_queries if args.max_search_queries and args.max_search_queries < n_queries \
            else None
        dense_limit = args.dense_max_docs if args.dense_max_docs and args.dense_max_docs < documents else None
        if "load" in stages:
            size["load"] = bench.run("load", {"folder": str(folder)}, label=f"{documents:,}")
        if "bm25" in stages:
            size["bm25"] = bench.run("bm25", {"folder": str(folder), "run_path": str(run_path),
                                              "max_queries": search_limit}, label=f"{documents:,}")
        if "dense" in stages:
            size["dense"] = bench.run("dense", {"folder": str(folder), "encoder": str(encoder),
                                                "shard_documents": args.dense_shard_documents,
                                                "max_documents": dense_limit}, label=f"{documents:,}")
        if size.get("bm25") is not None:
            if "rerank" in stages:
                size["rerank"] = bench.run("rerank", {"folder": str(folder), "run_path": str(run_path),
                                                      "checkpoint": str(checkpoint), "node": node,
                                                      "pairs": args.rerank_pairs}, label=f"{documents:,}")
            if "evaluate" in stages:
                size["evaluate"] = bench.run("evaluate", {"folder": str(folder), "run_path": str(run_path)},
                                             label=f"{documents:,}")
        size["run_path"] = str(run_path)
        rows.append(size)
    return rows


def measure_sharding(bench: Bench, size: dict[str, Any], encoder: Path, checkpoint: Path,
                     node: dict[str, Any]) -> dict[str, Any]:
    """Sharded against unsharded, side by side: the order alternates between repetitions."""
    args = bench.args
    documents = size["documents"]
    dense_small = max(1, documents // 10) if args.shard_documents is None else args.shard_documents
    variants = {
        "dense": [("sharded", {"shard_documents": dense_small}), ("one shard", {"shard_documents": documents})],
        "rerank": [("sharded", {"shard_queries": args.shard_queries}),
                   ("one shard", {"shard_queries": args.shard_rerank_queries})],
    }
    out: dict[str, Any] = {"documents": documents, "dense_shard_documents": dense_small,
                           "rerank_queries": args.shard_rerank_queries, "rerank_depth": args.shard_rerank_depth,
                           "rerank_shard_queries": args.shard_queries, "repeats": args.repeats,
                           "dense": {"sharded": [], "one shard": []}, "rerank": {"sharded": [], "one shard": []}}
    units = [u for u in ("dense", "rerank") if u in args.stage_list]
    say(f"sharding and resume on {documents:,} documents, {args.repeats} repetitions")
    for rep in range(args.repeats):
        for unit in units:
            order = variants[unit] if rep % 2 == 0 else list(reversed(variants[unit]))
            for name, extra in order:
                cache = Path(tempfile.mkdtemp(prefix="shard-cache-", dir=bench.workdir))
                if unit == "dense":
                    spec = {"folder": size["folder"], "encoder": str(encoder), **extra}
                    result = bench.run("dense_shard", spec, cache=cache, label=f"{name} rep {rep + 1}")
                else:
                    spec = {"folder": size["folder"], "run_path": size["run_path"], "checkpoint": str(checkpoint),
                            "node": node, "queries": args.shard_rerank_queries, "depth": args.shard_rerank_depth,
                            **extra}
                    result = bench.run("rerank_shard", spec, cache=cache, label=f"{name} rep {rep + 1}")
                shutil.rmtree(cache, ignore_errors=True)
                out[unit][name].append(result)
    return out


def measure_threads(bench: Bench, checkpoint: Path, pairs_path: Path, node: dict[str, Any]) -> dict[str, Any]:
    """jina-tiny with 1 and 2 torch threads, interleaved: is a second thread worth anything here?"""
    args = bench.args
    out: dict[str, Any] = {"pairs": args.thread_pairs, "repeats": args.repeats, "runs": {"1": [], "2": []}}
    say(f"threads: 1 against 2, {args.repeats} repetitions")
    for rep in range(max(args.repeats, 1)):
        for n in ((1, 2) if rep % 2 == 0 else (2, 1)):
            spec = {"name": "jina-tiny", "checkpoint": str(checkpoint), "node": node, "pairs_path": str(pairs_path),
                    "pairs": args.thread_pairs}
            out["runs"][str(n)].append(bench.run("zoo", spec, label=f"{n} threads rep {rep + 1}", threads=n))
    return out


def measure_zoo(bench: Bench, size: dict[str, Any]) -> dict[str, Any]:
    """Each zoo cross-encoder (random weights) on the same BM25 pairs; all-MiniLM-L6-v2 encoding speed."""
    from bench.data.sources import local

    args = bench.args
    out: dict[str, Any] = {"models": {}, "minilm": None}
    if args.zoo_pairs <= 0 and args.minilm_docs <= 0 and args.thread_pairs <= 0:
        return out
    dataset = local(size["folder"])
    run = json.loads(Path(size["run_path"]).read_text())
    # the rerank stage's pairs (the first queries' top 100), sampled evenly: a query's top documents alone
    # are shorter than its top 100 on average (BM25's length normalisation), which would flatter the rates
    candidates = _candidates(run, pairs=max(args.rerank_pairs, args.zoo_pairs + 4, args.thread_pairs + 4), depth=TOP_K)
    every = [(dataset.queries[q], dataset.corpus[d].full_text) for q, ranked in candidates.items() for d in ranked]
    wanted = min(len(every), max(args.zoo_pairs, args.thread_pairs, 1) + 4)
    pairs = [every[round(i * (len(every) - 1) / max(wanted - 1, 1))] for i in range(wanted)]
    pairs_path = bench.workdir / "zoo-pairs.json"
    pairs_path.write_text(json.dumps(pairs))
    texts_path = bench.workdir / "minilm-texts.json"
    first_ids = sorted(dataset.corpus)[: args.minilm_docs + 8]
    texts_path.write_text(json.dumps([dataset.corpus[d].full_text for d in first_ids]))
    del dataset
    if args.zoo_pairs > 0:
        say(f"zoo: {len(ZOO)} cross-encoders with random weights, {args.zoo_pairs} pairs each")
        from bench.profile.architectures import random_checkpoint

        for name, node in reranker_nodes(ZOO).items():
            folder = random_checkpoint(node["facts"], bench.workdir / "zoo" / name, seed=0)
            spec = {"name": name, "checkpoint": str(folder), "node": node,
                    "pairs_path": str(pairs_path), "pairs": args.zoo_pairs}
            out["models"][name] = bench.run("zoo", spec, label=name)
            shutil.rmtree(folder, ignore_errors=True)
    if args.minilm_docs > 0:
        out["minilm"] = bench.run("minilm", {"texts_path": str(texts_path), "documents": args.minilm_docs},
                                  label="all-MiniLM-L6-v2")
    out["pairs_path"] = str(pairs_path)
    return out


# ------------------------------------------------------------------------------------------------
# The report.


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}" if digits <= 2 else f"{value:.1f}"
    return f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A markdown table; `align` has one letter per column, r (right) or l (left): default l then r."""
    from bench.evaluate.summary import markdown_table

    align = align or "l" + "r" * (len(header) - 1)
    return markdown_table(header, rows, [a == "r" for a in align])


@dataclass
class StageRow:
    """One line of the stage table: the full workload's time at one size, extrapolated where marked."""

    stage: str
    documents: int
    queries: int
    work: str
    seconds: float | None
    measured_s: float | None
    rise_mb: float | None
    peak_mb: float | None
    rate: str
    extrapolated: bool = False
    cpu_s: float | None = None  # CPU seconds of the measured part (user + system, all threads)


def stage_rows(sizes: list[dict[str, Any]], stages: list[str]) -> list[StageRow]:
    """The rows of every stage measured (a stage that failed keeps its row, with –)."""
    rows = _all_stage_rows(sizes)
    keep = {"load": "load", "bm25 index": "bm25", "bm25 search top-100": "bm25", "dense encode": "dense",
            "dense search top-100": "dense", "rerank jina-tiny (random)": "rerank", "evaluate (7 measures)": "evaluate"}
    return [r for r in rows if keep[r.stage] in stages and (keep[r.stage] not in ("rerank", "evaluate") or
                                                            "bm25" in stages)]


def _all_stage_rows(sizes: list[dict[str, Any]]) -> list[StageRow]:
    rows: list[StageRow] = []
    for size in sizes:
        d, q = size["documents"], size["queries"]

        def ph(result, name):
            return (result or {}).get("phases", {}).get(name, {})

        load = size.get("load")
        p = ph(load, "load")
        rows.append(StageRow("load", d, q, f"{d:,} docs, {q:,} queries", p.get("seconds"), p.get("seconds"),
                             p.get("rise_mb"), p.get("peak_rss_mb"),
                             f"{d / p['seconds']:,.0f} docs/s" if p else "–"))
        rows[-1].cpu_s = p.get("cpu_s") if p else None
        bm25 = size.get("bm25")
        p = ph(bm25, "index")
        rows.append(StageRow("bm25 index", d, q, f"{d:,} docs", p.get("seconds"), p.get("seconds"), p.get("rise_mb"),
                             p.get("peak_rss_mb"), f"{d / p['seconds']:,.0f} docs/s" if p else "–"))
        rows[-1].cpu_s = p.get("cpu_s") if p else None
        p = ph(bm25, "search")
        if p:
            searched = bm25["queries_searched"]
            factor = q / searched
            rows.append(StageRow("bm25 search top-100", d, q, f"{searched:,} of {q:,} queries", p["seconds"] * factor,
                                 p["seconds"], p["rise_mb"], p["peak_rss_mb"],
                                 f"{searched / p['seconds']:,.1f} queries/s", extrapolated=factor != 1))
            rows[-1].cpu_s = p.get("cpu_s") if p else None
        else:
            rows.append(StageRow("bm25 search top-100", d, q, "failed", None, None, None, None, "–"))
            rows[-1].cpu_s = p.get("cpu_s") if p else None
        dense = size.get("dense")
        for name, label in (("encode", "dense encode"), ("search", "dense search top-100")):
            p = ph(dense, name)
            if not p:
                rows.append(StageRow(label, d, q, "failed", None, None, None, None, "–"))
                rows[-1].cpu_s = p.get("cpu_s") if p else None
                continue
            encoded = dense["documents_encoded"]
            factor = d / encoded
            work = f"{encoded:,} of {d:,} docs" if name == "encode" else f"{q:,} queries x {encoded:,} docs"
            rate = f"{encoded / p['seconds']:,.0f} docs/s" if name == "encode" else \
                f"{q / p['seconds']:,.0f} queries/s"
            rows.append(StageRow(label, d, q, work, p["seconds"] * factor, p["seconds"], p["rise_mb"],
                                 p["peak_rss_mb"], rate, extrapolated=factor != 1))
            rows[-1].cpu_s = p.get("cpu_s") if p else None
        rerank = size.get("rerank")
        p = ph(rerank, "score")
        rows.append(StageRow("rerank jina-tiny (random)", d, q, f"{rerank['pairs']:,} pairs" if rerank else "failed",
                             p.get("seconds"), p.get("seconds"), p.get("rise_mb"), p.get("peak_rss_mb"),
                             f"{rerank['pairs_per_s']:.1f} pairs/s" if rerank else "–"))
        rows[-1].cpu_s = p.get("cpu_s") if p else None
        evaluation = size.get("evaluate")
        p = ph(evaluation, "evaluate")
        if p:
            factor = q / evaluation["queries"]
            rows.append(StageRow("evaluate (7 measures)", d, q, f"{evaluation['queries']:,} of {q:,} queries",
                                 p["seconds"] * factor, p["seconds"], p["rise_mb"], p["peak_rss_mb"],
                                 f"{evaluation['queries'] / p['seconds']:,.0f} queries/s", extrapolated=factor != 1))
            rows[-1].cpu_s = p.get("cpu_s") if p else None
        else:
            rows.append(StageRow("evaluate (7 measures)", d, q, "failed", None, None, None, None, "–"))
            rows[-1].cpu_s = p.get("cpu_s") if p else None
    return rows


def zoo_plan(zoo: dict[str, Any], datasets: list[dict[str, Any]], tiny_rate: float | None, tiny_tokens: float | None,
             minilm: dict[str, Any] | None, nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pairs, CPU core-hours at this machine's measured rates, GPU-hour ESTIMATES, caches, workers.

    `nodes`: every reranker option (`reranker_nodes()`); each model's shape and size come from its facts.
    """
    from bench.profile.flops import Shape, pair_flops

    test = [ds for ds in datasets if ds["split"] == "test"]
    queries = sum(ds["queries"] for ds in test)
    pairs = queries * TOP_K
    documents = sum(ds["documents"] for ds in test if ds["name"] != "climate-fever")  # shares FEVER's corpus
    tokens = round(tiny_tokens) if tiny_tokens else 200
    tiny_flops = pair_flops(Shape.from_facts(nodes["jina-tiny"]["facts"]["shape"]), tokens)
    measured = zoo.get("models") or {}
    models = []
    for name in sorted(nodes):
        entry = _plan_entry(name, nodes[name], tokens=tokens, measured=measured.get(name), minilm=minilm,
                            tiny_rate=tiny_rate, tiny_flops=tiny_flops)
        models.append(_with_costs(entry, pairs))
    return {"queries": queries, "pairs": pairs, "tokens": tokens, "documents": documents, "models": models}


#: the facts of `shape` that `bench.profile.flops.Shape` needs
SHAPE_KEYS = frozenset({"layers", "hidden", "heads", "intermediate", "vocab"})


def _plan_entry(name: str, node: dict[str, Any], *, tokens: int, measured: dict[str, Any] | None,
                minilm: dict[str, Any] | None, tiny_rate: float | None, tiny_flops: float) -> dict[str, Any]:
    """One reranker's FLOPs per pair and CPU rate: measured, scaled from jina-tiny, or not estimable."""
    from bench.profile.flops import Shape, pair_flops

    facts = node.get("facts") or {}
    entry: dict[str, Any] = {"name": name, "model": facts.get("model") or node.get("model"),
                             "params": facts.get("params"), "architecture": facts.get("architecture")}
    shape = facts.get("shape") or {}
    if facts.get("kind") == "bi-encoder":
        if minilm:
            entry.update(kind="bi-encoder: one document encoding per pair (query encodings negligible)",
                         flops=pair_flops_minilm(minilm), cpu_rate=minilm["docs_per_s"],
                         rate_source="measured (all-MiniLM-L6-v2)")
        else:
            entry.update(kind="bi-encoder", flops=None, cpu_rate=None, rate_source="not measured")
    elif set(shape) >= SHAPE_KEYS:
        entry["flops"] = flops = pair_flops(Shape.from_facts(shape), tokens)
        if measured:
            entry.update(cpu_rate=measured["pairs_per_s"], rate_source="measured (random weights)")
        elif tiny_rate:
            entry.update(cpu_rate=tiny_rate * tiny_flops / flops, rate_source="scaled from jina-tiny by FLOPs per pair")
        entry["kind"] = "cross-encoder" + (" (API-only: the CPU/GPU cost is what self-hosting would take)"
                                           if node.get("_target_", "").endswith("ApiReranker") else "")
    else:
        entry.update(kind="API, architecture not published", flops=None, cpu_rate=None,
                     rate_source="not estimable")
    return entry


def _with_costs(entry: dict[str, Any], pairs: int) -> dict[str, Any]:
    """The entry with CPU core-hours and single-thread workers for an overnight run, and GPU-hour ESTIMATES."""
    if entry.get("cpu_rate"):
        entry["core_hours"] = pairs / entry["cpu_rate"] / 3600
        entry["workers_12h"] = math.ceil(entry["core_hours"] / OVERNIGHT_HOURS)
    if entry.get("flops"):
        entry["gpu_hours"] = {gpu: pairs * entry["flops"] / (peak * GPU_MFU) / 3600 for gpu, peak in GPU_PEAK.items()}
    return entry


def beir_datasets() -> list[dict[str, Any]]:
    """Name, split, queries and documents of each public BEIR config, read from its header comment."""
    from omegaconf import OmegaConf

    out = []
    for path in sorted((CONFIG_DIR / "dataset").glob("*.yaml")):
        node = OmegaConf.load(path)
        if node.get("_target_") != "bench.data.sources.beir":
            continue
        comment = " ".join(line.lstrip("# ").strip() for line in path.read_text().splitlines()
                           if line.startswith("#"))
        q = re.search(r"([\d,]+) (test|dev) queries", comment)
        d = re.search(r"([\d.,]+)\s*([KM])? documents", comment)
        if not q or not d:
            continue
        scale = {"K": 1e3, "M": 1e6, None: 1}[d.group(2)]
        out.append({"name": path.stem, "split": q.group(2), "queries": int(q.group(1).replace(",", "")),
                    "documents": int(round(float(d.group(1).replace(",", "")) * scale))})
    return out


def render(raw: dict[str, Any]) -> str:
    """The markdown report from the raw record `main` gathers (or `--render-from` reads back)."""
    args = argparse.Namespace(**raw["args"])
    sizes, shard, zoo = raw["sizes"], raw["shard"], raw["zoo"]
    nodes = reranker_nodes()
    rows = stage_rows(sizes, args.stage_list)
    lines: list[str] = []
    add = lines.append
    add_header(add, raw, args, nodes)
    add_failures(add, raw["failures"])
    add_findings(add, raw, rows)
    add_stages(add, sizes, rows)
    add_growth(add, sizes, rows)
    if shard:
        add_sharding(add, shard)
    add_zoo(add, zoo, nodes)
    add_plan(add, sizes, zoo, shard, nodes, cores=int(raw["machine"]["cores"] or 1), threads=raw.get("threads"))
    add_threads(add, raw.get("threads"))
    add_raw(add, sizes)
    add_notes(add, args)
    return "\n".join(lines).rstrip() + "\n"


def add_header(add, raw: dict[str, Any], args: argparse.Namespace, nodes: dict[str, dict[str, Any]]) -> None:
    """The title, the command that regenerates the page, and how and on what it was measured."""
    from bench.data.synthetic import FORMAT

    machine, argv = raw["machine"], raw["argv"]
    command = "python reports/benchmarks/scale.py" + ("" if not argv else " " + " ".join(shlex.quote(a) for a in argv))
    add("# Scale benchmark: every stage from 10k to 1M documents, and the cost of the zoo on full BEIR\n")
    add(f"Regenerate with (from the repository root; this run took {raw['duration_s'] / 60:.0f} minutes):\n")
    add(f"```bash\n{command}\n```\n")
    load_before, load_after = raw["load_before"], raw["load_after"]
    add(f"- date: {raw['date']}; the whole benchmark took {raw['duration_s'] / 60:.1f} min")
    add(f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']:.0f} GiB RAM, "
        f"{machine['platform']}, Python {machine['python']}, no GPU")
    add(f"- load average (1/5/15 min) at the start {' / '.join(f'{x:.1f}' for x in load_before)}, at the end "
        f"{' / '.join(f'{x:.1f}' for x in load_after)}: **the 2 cores were shared with other jobs**, so absolute "
        "times are noisy; ratios measured side by side (sharding) are the robust numbers")
    speedup = thread_speedup(raw.get("threads"))
    add(f"- torch threads per stage: {args.threads} (`--threads`), so that rates are **per core** and do not swing "
        "with what the other jobs leave of the second core" +
        (f" (two threads ran at {speedup:.2f}x one during this run, see *Threads*)" if speedup else "")
        if args.threads == 1 else f"- torch threads per stage: {args.threads} (`--threads`)")
    if "--save-raw" in argv:
        add("- `--save-raw` only writes the same measurements as JSON as well; `--render-from FILE` rebuilds this "
            "page from such a file without measuring")
    versions = machine["versions"]
    add("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + f"; git {machine['git']}")
    add(f"- data: `bench.data.synthetic.write_synthetic(seed={args.seed})` (format {FORMAT}): Zipf-distributed "
        "pronounceable words, 30,000-word vocabulary, documents of 30-90 words plus a 3-7 word title (about "
        "185 WordPiece tokens), 3 judged documents per query (BM25 nDCG@10 in the table below shows the signal)")
    add(f"- dense encoder: a random-weight BERT ({ENCODER['layers']} layers, hidden {ENCODER['hidden']}, "
        f"{ENCODER['heads']} heads, intermediate {ENCODER['intermediate']}, {raw['encoder_params']:,} parameters, "
        f"all-MiniLM-L6-v2's WordPiece tokenizer, max_seq_length {ENCODER['max_seq_length']}) + mean pooling, "
        f"saved as a sentence-transformers folder; `Dense(model=<folder>, shard_documents="
        f"{args.dense_shard_documents}, cache=True)` with a fresh (cold) cache")
    tiny = nodes["jina-tiny"]["facts"]
    add(f"- reranker: {tiny['model'].rsplit('/', 1)[-1]}'s architecture (JinaBERT, {tiny['shape']['layers']} x "
        f"{tiny['shape']['hidden']}, GEGLU, ALiBi; {tiny['params']:,} parameters) with random weights from "
        "`configs/reranker/jina-tiny.yaml`'s facts "
        "(`bench.profile.architectures.random_checkpoint`), through `CrossEncoderReranker` and "
        "`bench.rerank.scoring.score_candidates` (cache off), float32, token budget auto (2048 on CPU)")
    add("- time: wall-clock seconds of the stage alone, in a fresh interpreter per stage (dataset loading "
        "before a stage and the interpreter start are not counted). Memory: peak RSS during the stage "
        "(VmHWM reset at its start) and its rise over the RSS at the start of the stage (which already "
        "holds the loaded dataset)")
    add("")


def add_failures(add, failures: list[str]) -> None:
    if not failures:
        return
    add("**Failures** (the affected cells show –):\n")
    for f in failures:
        add(f"- {f}")
    add("")


def add_stages(add, sizes: list[dict[str, Any]], rows: list[StageRow]) -> None:
    """Every stage at every size; then each size's data, index size and nDCG@10."""
    add("## Stages per size\n")
    add("`≈` marks a time extrapolated linearly from the measured part of the work (column *work measured*); "
        "everything else is measured in full.\n")
    body = []
    for r in rows:
        mark = "≈ " if r.extrapolated else ""
        body.append([r.stage, f"{r.documents:,}", f"{r.queries:,}", r.work,
                     (mark + fmt(r.seconds)) if r.seconds is not None else "–", fmt(r.measured_s), fmt(r.cpu_s),
                     fmt(r.peak_mb, 0), fmt(r.rise_mb, 0), r.rate])
    add(table(["stage", "documents", "queries", "work measured", "time s (full work)", "measured s",
               "CPU s (measured part)", "peak RSS MB", "rise MB", "rate (1 core)"], body, "lrrlrrrrrl"))
    add("")
    extra = []
    for size in sizes:
        b = size.get("bm25") or {}
        e = size.get("evaluate") or {}
        extra.append([f"{size['documents']:,}", f"{size['queries']:,}", fmt(size["generate_s"]),
                      fmt(size["corpus_bytes"] / 2**20, 1), fmt(b.get("index_bytes", 0) / 2**20, 1),
                      fmt(b.get("ndcg10"), 3), fmt(e.get("ndcg10"), 3),
                      fmt((size.get("rerank") or {}).get("mean_tokens"), 0)])
    add(table(["documents", "queries", "generate s", "corpus.jsonl MB", "BM25 index MB (bm25s save)",
               "BM25 nDCG@10 (searched queries)", "nDCG@10 in evaluate", "rerank tokens/pair"], extra))
    add("")


def add_growth(add, sizes: list[dict[str, Any]], rows: list[StageRow]) -> None:
    """Each stage's growth exponent of time and memory with collection size, overall and per step."""
    add("## Growth with collection size\n")
    add("Least-squares slope of log(value) against log(documents) over the sizes measured. Queries grow "
        "with documents here (x10 per step), so a stage whose work is queries x documents (exhaustive search) "
        "has an exponent near 2, per-document work near 1, fixed work (reranking 200 pairs) near 0. "
        "Times include the extrapolated values marked above. Memory: the stage's rise over its starting RSS "
        "(load: over the interpreter's RSS after imports).\n")
    by_stage: dict[str, list[StageRow]] = {}
    for r in rows:
        by_stage.setdefault(r.stage, []).append(r)
    exp_rows = []
    for name, group in by_stage.items():
        xs = [r.documents for r in group]
        t = slope(xs, [r.seconds or 0 for r in group])
        m = slope(xs, [max(r.rise_mb or 0, 0) for r in group])
        steps = [slope([a.documents, b.documents], [a.seconds or 0, b.seconds or 0])
                 for a, b in zip(group, group[1:], strict=False)]
        exp_rows.append([name, fmt(t) if t is not None else "–", fmt(m) if m is not None else "–",
                         " / ".join(fmt(s) if s is not None else "–" for s in steps) or "–"])
    size_list = [s["documents"] for s in sizes]
    add(table(["stage", "time exponent", "memory exponent", "time exponent per step " +
               " / ".join(f"{a:,}->{b:,}" for a, b in zip(size_list, size_list[1:], strict=False))], exp_rows))
    add("\nMemory rises below ~20 MB are within the allocator's and the interpreter's noise, so their "
        "exponents say little (e.g. evaluation, reranking a fixed number of pairs).\n")


def _paired(shard: dict[str, Any], unit: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(sharded, one shard) results of the same repetition of `unit`, where both finished."""
    return [(a, b) for a, b in zip(shard[unit]["sharded"], shard[unit]["one shard"], strict=True) if a and b]


def _cold(result: dict[str, Any], key: str = "seconds") -> Any:
    return result["phases"]["cold"].get(key)


def add_sharding(add, shard: dict[str, Any]) -> None:
    """Sharded against one shard, cold and warm (resume), and the verdict on the sharding target."""
    add(f"## Sharding and resume ({shard['documents']:,} documents)\n")
    add(f"Each variant in a fresh interpreter with its own empty cache, {shard['repeats']} repetitions, the "
        "order of the two variants alternating between repetitions; *cold* computes and writes every shard "
        "(atomic entry, sha256, read back memory-mapped), *warm* is a second run over the full cache "
        "(the resume path: every shard verified and reused, nothing computed).\n")
    labels = {"dense": f"dense encoding, {shard['documents']:,} docs",
              "rerank": f"rerank {shard['rerank_queries']} queries x {shard['rerank_depth']} docs"}
    units = [unit for unit in labels if any(shard[unit].values())]  # the others were not measured (--stages)
    rows = [_shard_row(labels[unit], unit, name, [r for r in shard[unit][name] if r])
            for unit in units for name in ("sharded", "one shard")]
    add(table(["unit", "variant", "cold s (per repetition)", "cold median s", "cold CPU median s",
               "cold minor page faults", "cold: in the shard store, median s", "warm s (per repetition)",
               "warm median s", "cold peak rise MB"], rows, "lllrrrrlrr"))
    add("")
    add(table(["unit", "sharded / one shard wall time, per repetition", "median ratio",
               "CPU time ratio, per repetition", "median CPU ratio", "verdict"],
              [_verdict_row(unit, _paired(shard, unit)) for unit in units], "llrlrl"))
    rerank_results = [r for r in shard["rerank"]["sharded"] if r]
    if rerank_results:
        r = rerank_results[0]
        per_pair = r["cache_bytes"] / r["pairs"]
        add(f"\nScore cache on disk for the sharded variant: {r['cache_bytes']:,} bytes for {r['pairs']} pairs in "
            f"{r['cache_entries']} shard entries ({per_pair:.1f} bytes per pair; 8 of them the float64 score, "
            f"the rest the npy header, entry.json and study.json: about "
            f"{(r['cache_bytes'] - 8 * r['pairs']) / max(r['cache_entries'], 1):,.0f} bytes per shard).")
    add("")


def _shard_row(label: str, unit: str, name: str, results: list[dict[str, Any]]) -> list[str]:
    """One variant's cold and warm times over the repetitions that finished."""
    cold = [_cold(r) for r in results]
    warm = [r["phases"]["warm"]["seconds"] for r in results]
    counts = results[0]["cold_shards"]["total"] if results else "–"
    size_note = (f"shard.documents={results[0]['shard_documents']:,}" if unit == "dense" and results
                 else f"shard.queries={results[0]['shard_queries']}" if results else "")
    store = [r["cold_store"]["total_s"] for r in results if "cold_store" in r]
    cpu = [_cold(r, "cpu_s") for r in results if _cold(r, "cpu_s")]
    faults = [_cold(r, "minor_faults") for r in results if _cold(r, "minor_faults") is not None]
    return [label, f"{name} ({size_note}, {counts} shards)",
            ", ".join(fmt(c) for c in cold), fmt(median(cold)) if cold else "–",
            fmt(median(cpu)) if cpu else "–",
            f"{median(faults):,.0f}" if faults else "–",
            fmt(median(store), 3) if store else "–",
            ", ".join(fmt(w, 3) for w in warm), fmt(median(warm), 3) if warm else "–",
            fmt(max((_cold(r, "rise_mb") for r in results), default=None), 0)]


def _verdict_row(unit: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Sharded over one shard, cold wall and CPU time per repetition, against SHARD_TARGET."""
    per_rep = [_cold(a) / _cold(b) for a, b in pairs]
    cpu = [_cold(a, "cpu_s") / _cold(b, "cpu_s") for a, b in pairs if _cold(a, "cpu_s") and _cold(b, "cpu_s")]
    med = median(per_rep) if per_rep else None
    verdict = "–" if med is None else ("meets" if med <= SHARD_TARGET else "misses")
    return [unit, ", ".join(f"{x:.3f}" for x in per_rep), fmt(med, 3),
            ", ".join(f"{x:.3f}" for x in cpu) or "–",
            fmt(median(cpu), 3) if cpu else "–",
            f"{verdict} the target (sharded at most {100 * (SHARD_TARGET - 1):.0f}% slower, wall time)"]


def add_zoo(add, zoo: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> None:
    """Each zoo cross-encoder's measured rate and memory, and all-MiniLM-L6-v2's encoding rate."""
    models = zoo.get("models") or {}
    minilm = zoo.get("minilm")
    if not models and not minilm:
        return
    add("## Reranker throughput on this machine (random weights, same pairs)\n")
    add("Each model built from its facts with random weights, loaded through `CrossEncoderReranker` "
        "(the pipeline's loader and batching engine), float32, one thread, scoring the same BM25 pairs "
        "of the 100k collection (pair lengths counted with the shared WordPiece tokenizer, so every "
        "model reads the same token count). Speed does not depend on the weights' values.\n")
    rows = [_zoo_row(name, r) for name, r in models.items()]
    if minilm:
        m = minilm
        rows.append([f"all-MiniLM-L6-v2 (real weights, {m['source']}), documents encoded",
                     f"{nodes['biencoder']['facts']['params']:,}", m["documents"], fmt(m["mean_tokens"], 0),
                     fmt(m["docs_per_s"], 2) + " docs/s", fmt(m["phases"]["model_load"]["seconds"]),
                     fmt(m["phases"]["encode"]["peak_rss_mb"], 0),
                     fmt(m["phases"]["encode"]["peak_rss_mb"] - m["phases"]["model_load"]["rss_before_mb"], 0)])
    add(table(["model", "parameters", "pairs", "tokens/pair", "pairs/s (1 core)",
               "load + warm-up s (incl. imports)", "peak RSS MB while scoring",
               "rise over the RSS before loading MB"], rows))
    add("")


def _zoo_row(name: str, r: dict[str, Any] | None) -> list[Any]:
    if not r:
        return [name, "failed", "", "", "", "", "", ""]
    return [name, f"{r['parameters']:,}", r["pairs"], fmt(r["mean_tokens"], 0),
            fmt(r["pairs_per_s"], 2), fmt(r["phases"]["model_load"]["seconds"]),
            fmt(r["phases"]["score"]["peak_rss_mb"], 0),
            fmt(r["phases"]["score"]["peak_rss_mb"] - r["phases"]["model_load"]["rss_before_mb"], 0)]


def add_raw(add, sizes: list[dict[str, Any]]) -> None:
    """Every phase of every per-size stage as measured, before any extrapolation."""
    add("## Raw phase measurements\n")
    rows = []
    for size in sizes:
        for stage in SIZE_STAGES:
            r = size.get(stage)
            if not r:
                rows.append([f"{size['documents']:,}", stage, "failed", "", "", "", "", "", ""])
                continue
            for name, p in r.get("phases", {}).items():
                rows.append([f"{size['documents']:,}", stage, name, f"{p['seconds']:.3f}",
                             f"{p['cpu_s']:.3f}" if p.get("cpu_s") is not None else "–", f"{p['rss_before_mb']:.0f}",
                             f"{p['peak_rss_mb']:.0f}", f"{p['rise_mb']:.1f}", f"{r['process_s']:.1f}"])
    add(table(["documents", "stage", "phase", "seconds", "CPU s", "RSS before MB", "peak RSS MB", "rise MB",
               "process s (incl. start-up and set-up)"], rows, "rllrrrrrr"))
    add("")


def add_plan(add, sizes, zoo, shard, nodes: dict[str, dict[str, Any]], *, cores: int,
             threads: dict[str, Any] | None = None) -> None:
    """The whole zoo on full BEIR: pairs, CPU core-hours, GPU-hour ESTIMATES, first stages and caches."""
    datasets = beir_datasets()
    tiny_rates = [s["rerank"]["pairs_per_s"] for s in sizes if s.get("rerank")]
    tiny_tokens = [s["rerank"]["mean_tokens"] for s in sizes if s.get("rerank")]
    zoo_tiny = (zoo.get("models") or {}).get("jina-tiny")
    tiny_rate = zoo_tiny["pairs_per_s"] if zoo_tiny else (median(tiny_rates) if tiny_rates else None)
    plan = zoo_plan(zoo, datasets, tiny_rate, median(tiny_tokens) if tiny_tokens else None, zoo.get("minilm"),
                    nodes)
    add("## Plan: the whole zoo on full BEIR\n")
    test = [d for d in datasets if d["split"] == "test"]
    dev = [d for d in datasets if d["split"] != "test"]
    add("BEIR as configured in `configs/dataset/*.yaml` (counts from the configs' headers, which quote the BEIR "
        "paper's table):\n")
    drows = [[d["name"], d["split"], f"{d['queries']:,}", f"{d['documents']:,}", f"{d['queries'] * TOP_K:,}"]
             for d in datasets]
    drows.append(["**test splits, total**", "test", f"{sum(d['queries'] for d in test):,}",
                  f"{sum(d['documents'] for d in test):,}", f"{sum(d['queries'] for d in test) * TOP_K:,}"])
    add(table(["dataset", "split", "queries", "documents", "pairs at top-100"], drows))
    dev_queries = sum(d["queries"] for d in dev)
    add(f"\nclimate-fever and fever share one corpus (counted once below); msmarco is evaluated on its dev split "
        f"({dev_queries:,} queries), not in the totals below: add {dev_queries * TOP_K / 1e6:.2f}M pairs per "
        f"reranker (+{dev_queries / max(plan['queries'], 1) * 100:.0f}%) to include it. Pair counts are upper "
        "bounds: BM25 returns fewer than 100 documents for a few queries.\n")
    speedup = thread_speedup(threads)
    machine_rate = speedup if speedup and speedup > 1 else float(cores)
    add(f"**Reranking: {plan['pairs']:,} pairs per reranker** ({plan['queries']:,} test queries x top {TOP_K}). "
        f"CPU core-hours use the rates measured above on this machine (one thread). Workers: cores (one "
        f"single-thread worker each, at the measured rate) needed to finish in {OVERNIGHT_HOURS:.0f} h; a "
        f"{cores}-core machine like this one counts as {machine_rate:.2f} of them "
        + ("(two threads against one, measured in this run)" if speedup and speedup > 1 else
           "(assumed: a second thread was not measured faster in this run)") + ".\n")
    add(f"GPU hours are **ESTIMATES**, not measurements: pairs x analytic FLOPs per pair "
        f"(`bench.profile.flops.pair_flops` at {plan['tokens']} tokens per pair, the synthetic pairs' mean; "
        f"BEIR's mean differs per dataset) / (published dense FP16/BF16 tensor peak x {GPU_MFU:.0%} model FLOPs "
        "utilisation). Peaks: " + ", ".join(f"{g} {p / 1e12:.0f} TFLOP/s" for g, p in GPU_PEAK.items()) +
        f". {GPU_MFU:.0%} is an assumption for small encoders at ~200 tokens in large length-sorted batches "
        "(host-side tokenisation and padding commonly hold real runs between 10% and 40%); halve the MFU and "
        "the hours double.\n")
    rows, totals = _plan_rows(plan["models"])
    add(table(["reranker", "params", "GFLOPs/pair", "CPU pairs/s (1 core)", "rate from", "CPU core-hours",
               f"cores for {OVERNIGHT_HOURS:.0f} h", *[f"{g} GPU-h ESTIMATE" for g in GPU_PEAK],
               "T4s for 12 h ESTIMATE"], rows))
    for m in plan["models"]:
        if "API" in m.get("kind", ""):
            add(f"\n- {m['name']}: {m['kind']}")
    add("")
    add("First stages and caches for the same BEIR test sets (CPU core-hours at this machine's rates; BM25 "
        "index size scaled per document from the synthetic collection, whose documents are ~65 words: BEIR's "
        "Wikipedia passages are similar, trec-covid/touche abstracts longer):\n")
    add(table(["work", "amount", "rate", "CPU core-hours", "cache on disk"],
              _first_stage_rows(sizes, zoo, shard, plan, test), "lllrl"))
    minilm = zoo.get("minilm")
    if minilm:
        gpu_flops = pair_flops_minilm(minilm)
        add("\nDense encoding GPU-hours (ESTIMATE, same assumptions): " + ", ".join(
            f"{g} {plan['documents'] * gpu_flops / (p * GPU_MFU) / 3600:.2f} h" for g, p in GPU_PEAK.items()) + ".")
    add(f"\n**Overnight ({OVERNIGHT_HOURS:.0f} h):** the zoo's reranking alone is "
        f"{totals['core_hours']:,.0f} core-hours here, i.e. {math.ceil(totals['core_hours'] / OVERNIGHT_HOURS)} "
        f"single-thread workers (about {math.ceil(totals['core_hours'] / OVERNIGHT_HOURS / machine_rate)} machines "
        f"like this one at {machine_rate:.2f} workers each), which is why a CPU-only reproduction is a cluster job "
        "(`hydra/launcher=slurm`, one array job per dataset x reranker, shards resumable); on GPUs the same "
        f"work is an ESTIMATED {totals['H100 SXM (BF16)']:.1f} H100-hours or {totals['T4 (FP16)']:.1f} T4-hours, "
        f"so {math.ceil(totals['T4 (FP16)'] / OVERNIGHT_HOURS)} T4 (or one H100) finishes overnight. The first "
        "stages are cheap beside it except dense encoding of the large corpora on CPU.\n")


def _plan_rows(models: list[dict[str, Any]]) -> tuple[list[list[str]], dict[str, float]]:
    """One row per reranker and the zoo's total row; the totals (CPU core-hours, GPU-hours per GPU)."""
    rows = []
    totals = {"core_hours": 0.0, **{g: 0.0 for g in GPU_PEAK}}
    for m in models:
        gpu = m.get("gpu_hours") or {}
        rows.append([m["name"], f"{m['params']:,}" if m.get("params") else "–",
                     fmt(m["flops"] / 1e9, 1) if m.get("flops") else "–",
                     fmt(m.get("cpu_rate"), 2) if m.get("cpu_rate") else "–", m.get("rate_source", "–"),
                     fmt(m.get("core_hours"), 0) if m.get("core_hours") else "–",
                     str(m.get("workers_12h", "–")),
                     *[fmt(gpu[g], 2) if g in gpu else "–" for g in GPU_PEAK],
                     *[str(math.ceil(gpu[g] / OVERNIGHT_HOURS)) if g in gpu else "–" for g in ("T4 (FP16)",)]])
        totals["core_hours"] += m.get("core_hours") or 0.0
        for g in GPU_PEAK:
            totals[g] += gpu.get(g, 0.0)
    rows.append(["**zoo total** (models with a cost)", "", "", "", "", fmt(totals["core_hours"], 0),
                 str(math.ceil(totals["core_hours"] / OVERNIGHT_HOURS)),
                 *[fmt(totals[g], 2) for g in GPU_PEAK], str(math.ceil(totals["T4 (FP16)"] / OVERNIGHT_HOURS))])
    return rows, totals


def _first_stage_rows(sizes: list[dict[str, Any]], zoo: dict[str, Any], shard: dict[str, Any] | None,
                      plan: dict[str, Any], test: list[dict[str, Any]]) -> list[list[str]]:
    """BM25, dense encoding and the score cache over the BEIR test sets, at the rates measured here."""
    docs_total = plan["documents"]
    big = next((s for s in reversed(sizes) if s.get("bm25")), None)
    first = []
    if big:
        idx = big["bm25"]["phases"]["index"]["seconds"] / big["documents"]
        search_q = big["bm25"]["phases"]["search"]["seconds"] / big["bm25"]["queries_searched"]
        search_hours = sum(d["queries"] * search_q * d["documents"] / big["documents"] for d in test) / 3600
        index_bytes = big["bm25"].get("index_bytes", 0) / big["documents"]
        first.append(["BM25 index (bm25s)", f"{docs_total:,} docs", f"{idx * 1e6:.0f} µs/doc at {big['documents']:,}",
                      fmt(idx * docs_total / 3600, 1), f"{index_bytes * docs_total / 2**30:.1f} GiB (index)"])
        first.append(["BM25 search top-100", f"{plan['queries']:,} queries",
                      f"{search_q * 1e3:.0f} ms/query at {big['documents']:,} docs, scaled linearly with each "
                      "dataset's corpus", fmt(search_hours, 1), "–"])
    minilm = zoo.get("minilm")
    if minilm:
        dim = minilm["dimension"]
        first.append(["dense encode (all-MiniLM-L6-v2)", f"{docs_total:,} docs",
                      f"{minilm['docs_per_s']:.1f} docs/s measured (real weights, "
                      f"{minilm['mean_tokens']:.0f} tokens/doc)",
                      fmt(docs_total / minilm["docs_per_s"] / 3600, 0),
                      f"{dim * 4 * docs_total / 2**30:.1f} GiB ({dim} x 4 bytes x documents)"])
    score_bytes = 8 * plan["pairs"]
    shard_entries = sum(math.ceil(d["queries"] / 256) for d in test)
    rr = [r for r in shard["rerank"]["sharded"] if r] if shard else []
    # bytes per shard beside the scores, as measured by the sharding comparison (else a typical figure)
    overhead = ((rr[0]["cache_bytes"] - 8 * rr[0]["pairs"]) / max(rr[0]["cache_entries"], 1) if rr else None) or 900.0
    per_reranker = score_bytes + shard_entries * overhead
    n_rerankers = sum(1 for m in plan["models"] if m.get("flops") or m.get("cpu_rate"))
    first.append([f"score cache, per reranker ({n_rerankers} rerankers)", f"{plan['pairs']:,} pairs",
                  f"8 bytes/pair + {overhead:,.0f} bytes x {shard_entries} shards (shard.queries=256)", "–",
                  f"{per_reranker / 2**20:.1f} MiB each, {per_reranker * n_rerankers / 2**20:.0f} MiB for the zoo"])
    return first


#: all-MiniLM-L6-v2's shape (configs/reranker/biencoder.yaml's facts give its size, not its shape)
MINILM_SHAPE = {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "vocab": 30522}


def pair_flops_minilm(minilm: dict[str, Any]) -> float:
    """all-MiniLM-L6-v2's FLOPs to encode one document of the measured mean length."""
    from bench.profile.flops import Shape, pair_flops

    return pair_flops(Shape(**MINILM_SHAPE), round(minilm["mean_tokens"]))


def thread_speedup(threads: dict[str, Any] | None) -> float | None:
    """Median pairs/s with two torch threads over the median with one, from the threads check."""
    if not threads:
        return None
    one = [r["pairs_per_s"] for r in threads["runs"]["1"] if r]
    two = [r["pairs_per_s"] for r in threads["runs"]["2"] if r]
    return median(two) / median(one) if one and two else None


def add_threads(add, threads: dict[str, Any] | None) -> None:
    if not threads:
        return
    add("## Threads: one against two on these shared cores\n")
    add(f"jina-tiny (random weights) scoring the same {threads['pairs']} pairs with torch set to 1 and to 2 "
        f"threads, each in a fresh interpreter, {threads['repeats']} repetitions in alternating order. What a "
        "second thread buys depends on how much of the second core the other jobs leave: at most 2x on idle "
        "cores, below 1x when the cores are oversubscribed (OpenMP's threads then wait for each other). The "
        "benchmark therefore runs one thread per stage and reports rates per core.\n")
    rows = []
    for n in ("1", "2"):
        rates = [r["pairs_per_s"] for r in threads["runs"][n] if r]
        rows.append([n, ", ".join(f"{x:.2f}" for x in rates), fmt(median(rates)) if rates else "–"])
    add(table(["threads", "pairs/s per repetition", "median pairs/s"], rows, "rlr"))
    speedup = thread_speedup(threads)
    add("" if speedup is None else f"\nTwo threads gave {speedup:.2f}x the rate of one during this run.\n")


def add_findings(add, raw: dict[str, Any], rows: list[StageRow]) -> None:
    """The headline numbers, computed from the measurements (each is in a table further down)."""
    sizes = raw["sizes"]
    if not sizes:
        return
    top = sizes[-1]
    out = [*_finding_total(top, rows), *_findings_bm25(top), *_finding_load(top),
           *_findings_sharding(raw["shard"]), *_finding_threads(raw.get("threads"))]
    if not out:
        return
    add("## Findings\n")
    for line in out:
        add(f"- {line}")
    add("")


def _finding_total(top: dict[str, Any], rows: list[StageRow]) -> list[str]:
    d, q = top["documents"], top["queries"]
    big = [r for r in rows if r.documents == d and r.seconds is not None]
    if not big:
        return []
    total = sum(r.seconds for r in big)
    parts = ", ".join(f"{r.stage} {'≈' if r.extrapolated else ''}{r.seconds:,.0f} s" for r in big)
    worst = max(big, key=lambda r: r.seconds)
    return [f"At {d:,} documents and {q:,} queries the stages add up to about {total / 60:,.0f} min on one "
            f"core ({parts}); the largest is {worst.stage}."]


def _findings_bm25(top: dict[str, Any]) -> list[str]:
    """BM25 search's cost per query, and what indexing's memory per document means for BEIR's corpora."""
    bm25 = top.get("bm25")
    if not bm25:
        return []
    d = top["documents"]
    index, search = bm25["phases"]["index"], bm25["phases"]["search"]
    per_query = search["seconds"] / bm25["queries_searched"]
    out = [f"BM25 search costs {per_query * 1e3:,.0f} ms per query at {d:,} documents and grows with the "
           "corpus (bm25s scores every posting of the query's terms and selects the top 100 among all "
           "documents, one thread), so with queries growing alongside documents its time exponent is ~2: "
           "at scale it is the first stage's main cost, well ahead of indexing."]
    per_doc = index["rise_mb"] / d
    beir = {x["name"]: x for x in beir_datasets()}
    test = [x for x in beir.values() if x["split"] == "test"]
    largest = max(test, key=lambda x: x["documents"], default=None)
    if not largest:
        return out
    # fever and climate-fever share the largest test corpus
    name = " / ".join(sorted(x["name"] for x in test if x["documents"] == largest["documents"]))
    text = (f"BM25 indexing raised memory by {index['rise_mb'] / 1024:.1f} GB at {d:,} documents "
            f"({per_doc * 1024:.1f} KB per document, peak RSS {index['peak_rss_mb'] / 1024:.1f} GB with the "
            f"loaded corpus); linearly that is ~{per_doc * largest['documents'] / 1024:.0f} GB for "
            f"{name} ({largest['documents'] / 1e6:.2f}M documents)")
    msmarco = beir.get("msmarco")
    if msmarco:
        text += f" and ~{per_doc * msmarco['documents'] / 1024:.0f} GB for msmarco ({msmarco['documents'] / 1e6:.2f}M)"
    out.append(text + ", plus the loaded corpus: the largest BEIR corpora need a machine with more memory "
                      "than this one's 24 GiB, or an index built in parts.")
    return out


def _finding_load(top: dict[str, Any]) -> list[str]:
    load = top.get("load")
    if not load:
        return []
    d = top["documents"]
    rise = load["phases"]["load"]["rise_mb"]
    return [f"Loading holds {rise / d * 1024:.2f} KB per document in memory ({rise / 1024:.2f} GB for {d:,})."]


def _findings_sharding(shard: dict[str, Any] | None) -> list[str]:
    """Sharding's time ratio per unit, its memory bound, and the cost of resuming."""
    if not shard:
        return []
    out = [text for unit in ("dense", "rerank") if (text := _sharding_finding(shard, unit))]
    dense_rise = {name: [_cold(r, "rise_mb") for r in shard["dense"][name] if r] for name in ("sharded", "one shard")}
    if all(dense_rise.values()):
        out.append(f"Sharding bounds memory: encoding {shard['documents']:,} documents raised RSS by "
                   f"{median(dense_rise['sharded']):.0f} MB in 10 shards against "
                   f"{median(dense_rise['one shard']):.0f} MB in one (the one shard holds every "
                   "vector until it is written; with a 384-dimensional encoder that is 1.5 KB per document).")
    warm = [r["phases"]["warm"]["seconds"] for r in shard["dense"]["sharded"] if r]
    cold_sharded = [_cold(r) for r in shard["dense"]["sharded"] if r]
    if warm:
        out.append(f"Resuming is cheap: a second run over a full embedding cache verified and reused every shard "
                   f"in {median(warm):.2f} s (against {median(cold_sharded):.0f} s to compute them).")
    return out


def _sharding_finding(shard: dict[str, Any], unit: str) -> str | None:
    pairs = _paired(shard, unit)
    if not pairs:
        return None
    ratio = median([_cold(a) / _cold(b) for a, b in pairs])
    store = [a["cold_store"]["total_s"] for a, _ in pairs if "cold_store" in a]
    cold = median([_cold(a) for a, _ in pairs])
    what = ("dense encoding in 10 shards against one" if unit == "dense" else
            f"reranking with shard.queries={shard['rerank_shard_queries']} against one shard")
    text = (f"Sharding: {what} takes {ratio:.3f}x the time (median of {len(pairs)} interleaved "
            f"repetitions; target at most {SHARD_TARGET:.2f}x)")
    if store:
        text += (f"; the shard store itself (write, checksum, verified read-back) accounts for "
                 f"{median(store):.2f} s of the sharded variant's {cold:.1f} s")
    faults = [(_cold(a, "minor_faults"), _cold(b, "minor_faults")) for a, b in pairs]
    if unit == "dense" and all(x is not None and y is not None for x, y in faults):
        text += (f" (minor page faults: {median([x for x, _ in faults]):,.0f} sharded against "
                 f"{median([y for _, y in faults]):,.0f} in one shard)")
    return text + "."


def _finding_threads(threads: dict[str, Any] | None) -> list[str]:
    ratio = thread_speedup(threads)
    if ratio is None:
        return []
    why = "the other jobs left little of the second core" if ratio < 1.2 else "the second core was mostly free"
    return [f"Two torch threads ran at {ratio:.2f}x the speed of one during this run ({why}); every "
            "rate here is per core (one thread), which does not depend on that."]


def add_notes(add, args) -> None:
    add("## Notes\n")
    notes = [
        f"Stages that would not fit the time budget measure a prefix: BM25 search on at most "
        f"{args.max_search_queries:,} queries per size, dense encoding of at most {args.dense_max_docs:,} documents "
        "(the first ones by sorted id; dense search then runs against that part of the index) - their full-work "
        "times are linear extrapolations, marked `≈`. BM25 search time per query grows with the corpus "
        "(every posting of the query's common word is scored, and top-k selection runs over all documents), so "
        "extrapolating in queries at a fixed corpus is linear; in documents it is not assumed anywhere.",
        "Evaluation at the largest size runs over the run of the queries BM25 searched; its time is scaled "
        "linearly to all queries (ir-measures' cost is per query and retrieved document).",
        "The dense stage's encoder is deliberately tiny (so that 100k documents encode in about a minute on "
        "one core): its rate measures the pipeline's encode/shard/search path, not a production model; "
        "all-MiniLM-L6-v2's measured rate (zoo table) is what the plan uses.",
        "Reranking runs the same number of pairs at every size, so its time should not grow; differences "
        "between sizes are the machine's noise.",
    ]
    for note in notes:
        add(f"- {note}")
    add("")


def machine_info() -> dict[str, Any]:
    from bench.manifest import git_commit, hardware, package_versions

    try:
        memory_gb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 2**20
    except (OSError, AttributeError):
        memory_gb = float("nan")
    versions = package_versions(("torch", "transformers", "sentence-transformers", "bm25s", "ir-measures", "numpy"))
    host = hardware()
    return {"cpu": host["cpu"], "cores": host["cores"], "memory_gb": memory_gb, "platform": host["platform"],
            "python": host["python"], "versions": versions, "git": git_commit(REPO_ROOT) or "unknown"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help=f"documents per collection (default {DEFAULT_SIZES})")
    parser.add_argument("--queries", default=None, help=f"queries per collection, paired with --sizes "
                                                        f"(default {DEFAULT_QUERIES})")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "benchmarks" / "scale.md")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: sizes {QUICK_SIZES}, queries {QUICK_QUERIES}, no zoo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per stage (default 1)")
    parser.add_argument("--max-search-queries", type=int, default=1000,
                        help="BM25 searches at most this many queries per size, time extrapolated (default 1000)")
    parser.add_argument("--dense-max-docs", type=int, default=100_000,
                        help="dense encoding of at most this many documents, time extrapolated (default 100000)")
    parser.add_argument("--dense-shard-documents", type=int, default=10_000, help="shard.documents of the dense stage")
    parser.add_argument("--rerank-pairs", type=int, default=200, help="pairs reranked per size (default 200)")
    parser.add_argument("--shard-size", type=int, default=None,
                        help="collection for the sharding comparison (default: 100000 if measured, else the largest)")
    parser.add_argument("--shard-documents", type=int, default=None,
                        help="dense shard size of the sharded variant (default: a tenth of the collection)")
    parser.add_argument("--shard-queries", type=int, default=1, help="queries per shard, sharded reranking (1)")
    parser.add_argument("--shard-rerank-queries", type=int, default=6, help="queries reranked in the comparison (6)")
    parser.add_argument("--shard-rerank-depth", type=int, default=50, help="documents per query there (50)")
    parser.add_argument("--stages", default=",".join(SIZE_STAGES),
                        help=f"stages measured per size (default {','.join(SIZE_STAGES)}; rerank and evaluate "
                             "need bm25)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the sharding comparison (3)")
    parser.add_argument("--zoo-pairs", type=int, default=None,
                        help="pairs per zoo model for its throughput (default 32; 0 skips; --quick: 0)")
    parser.add_argument("--minilm-docs", type=int, default=None,
                        help="documents encoded with all-MiniLM-L6-v2 (default 64; 0 skips; --quick: 0)")
    parser.add_argument("--thread-pairs", type=int, default=None,
                        help="pairs for the 1-against-2-threads check (default 48; 0 skips; --quick: 0)")
    parser.add_argument("--stage-timeout", type=int, default=3600, help="seconds before a stage is killed")
    parser.add_argument("--save-raw", type=Path, default=None, help="also write every measurement as JSON here")
    parser.add_argument("--render-from", type=Path, default=None,
                        help="write the markdown from a --save-raw file, measuring nothing")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (data, logs, specs)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or QUICK_SIZES
        args.queries = args.queries or QUICK_QUERIES
        args.zoo_pairs = 0 if args.zoo_pairs is None else args.zoo_pairs
        args.minilm_docs = 0 if args.minilm_docs is None else args.minilm_docs
        args.thread_pairs = 0 if args.thread_pairs is None else args.thread_pairs
    args.sizes = args.sizes or DEFAULT_SIZES
    args.queries = args.queries or DEFAULT_QUERIES
    args.zoo_pairs = 32 if args.zoo_pairs is None else args.zoo_pairs
    args.minilm_docs = 64 if args.minilm_docs is None else args.minilm_docs
    args.thread_pairs = 48 if args.thread_pairs is None else args.thread_pairs
    args.stage_list = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(args.stage_list) - set(SIZE_STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(SIZE_STAGES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker)
    sizes, queries = ints(args.sizes), ints(args.queries)
    if len(sizes) != len(queries):
        raise SystemExit(f"--sizes has {len(sizes)} values and --queries {len(queries)}: pair them one to one")
    if args.render_from:
        raw = json.loads(Path(args.render_from).read_text())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(raw))
        say(f"wrote {args.out} from {args.render_from}")
        return 0
    started = time.perf_counter()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.workdir))
    logs = root / "logs"
    logs.mkdir()
    bench = Bench(args=args, workdir=root, threads=args.threads, logs=logs)
    say(f"scratch folder {root}")
    try:
        from bench.profile.architectures import random_checkpoint

        encoder = build_encoder(root / "encoder") if "dense" in args.stage_list else None
        encoder_params = _count_params(encoder) if encoder else 0
        node = reranker_nodes(["jina-tiny"])["jina-tiny"]
        checkpoint = random_checkpoint(node["facts"], root / "jina-tiny", seed=0) \
            if "rerank" in args.stage_list else None
        measured = measure_sizes(bench, sizes, queries, encoder, checkpoint, node)
        shard_at = args.shard_size or (100_000 if 100_000 in sizes else max(sizes))
        shard_size = next((s for s in measured if s["documents"] == shard_at), None)
        shard = None
        if shard_size is not None and args.repeats > 0 and shard_size.get("bm25") and \
                {"dense", "rerank"} & set(args.stage_list):
            shard = measure_sharding(bench, shard_size, encoder, checkpoint, node)
        zoo_size = shard_size or measured[-1]
        zoo = measure_zoo(bench, zoo_size) if zoo_size.get("bm25") else {"models": {}, "minilm": None}
        threads = None
        if checkpoint is not None and args.thread_pairs > 0 and zoo.get("pairs_path"):
            threads = measure_threads(bench, checkpoint, Path(zoo["pairs_path"]), node)
        raw = {"argv": argv, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "sizes": measured, "shard": shard, "zoo": zoo, "threads": threads, "failures": bench.failures,
               "machine": machine_info(), "load_before": load_before, "load_after": os.getloadavg(),
               "duration_s": time.perf_counter() - started, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "encoder_params": encoder_params}
        if args.save_raw:
            args.save_raw.parent.mkdir(parents=True, exist_ok=True)
            args.save_raw.write_text(json.dumps(raw, indent=1, default=str))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(raw))
        say(f"wrote {args.out}")
    finally:
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if bench.failures else 0


def _count_params(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for path in folder.rglob("*.safetensors"):
        with safe_open(str(path), "pt") as handle:
            names = handle.keys()  # a safetensors handle, not a dict
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in names)
    return total


if __name__ == "__main__":
    sys.exit(main())
