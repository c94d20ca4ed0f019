"""One bench run: dataset -> first stages -> rerankers -> evaluation -> tidy files.

`run(cfg)` is what the `bench` command calls; tests call it through Hydra's compose().
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.console import run_log, stage
from bench.data.records import Dataset, Run
from bench.errors import ModelUnavailable
from bench.evaluate.measures import evaluate
from bench.evaluate.summary import summary_table, to_markdown
from bench.evaluate.tidy import SystemResult, safe_filename, system_name, write_tables, write_trec_run
from bench.executor.base import Executor
from bench.executor.local import LocalExecutor
from bench.first_stage.base import FirstStage
from bench.manifest import write_manifest
from bench.rerank.base import Reranker
from bench.rerank.scoring import score_candidates

#: Reranker config keys that do not change the scores, left out of the score-cache key.
VOLATILE_KEYS = {"name", "device", "batch_size", "token_budget", "facts", "_target_",
                 # API transport settings
                 "timeout", "max_retries", "backoff_base", "max_backoff", "documents_per_request", "api_key_env"}


@dataclass
class RunLog:
    """Everything the manifest records besides the config."""

    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    quarantined: list[dict[str, str]] = field(default_factory=list)
    pairs_skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, name: str, exc: ModelUnavailable, node: DictConfig | None) -> None:
        revision = node.get("revision") if node is not None else None
        self.skipped.append({"system": name, "model": exc.model, "revision": revision, "reason": exc.reason,
                             "fix": exc.fix, **({"hub_id": exc.hub_id} if exc.hub_id else {})})


def remove_self_hits(run: Run) -> tuple[Run, int]:
    """BEIR's convention: a document whose id equals the query id is not a hit (ArguAna)."""
    removed = 0
    cleaned: Run = {}
    for qid, docs in run.items():
        if qid in docs:
            removed += 1
            docs = {d: s for d, s in docs.items() if d != qid}
        cleaned[qid] = docs
    return cleaned, removed


def top_n(run: Run, n: int) -> Run:
    return {q: dict(sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:n]) for q, docs in run.items()}


def reranker_identity(node: DictConfig) -> dict[str, Any]:
    """A reranker's config without the settings that do not change its scores: what its cache is keyed on."""
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k not in VOLATILE_KEYS}


def _facts(node: DictConfig) -> dict[str, Any]:
    facts = node.get("facts")
    return {} if facts is None else OmegaConf.to_container(facts, resolve=True)


def instantiate_named(group: DictConfig | None) -> dict[str, DictConfig]:
    """A multi-select config group as {name: config}; `none` selects nothing."""
    if group is None:
        return {}
    return {str(name): node for name, node in group.items() if node is not None}


def _evaluate_system(
    dataset: Dataset, name: str, run: Run, cfg: DictConfig, out_dir: Path, log: RunLog
) -> SystemResult:
    write_trec_run(run, out_dir / "runs" / f"{safe_filename(name)}.trec", tag=name)
    stage("evaluating %s", name)
    started = time.perf_counter()
    result = SystemResult(dataset.name, name, evaluate(dataset.qrels, run, list(cfg.measures)))
    log.timings[f"evaluate:{name}"] = time.perf_counter() - started
    return result


def _run_reranker(
    name: str, rr_name: str, node: DictConfig | None, reranker: Reranker, dataset: Dataset, candidates: Run,
    cfg: DictConfig, log: RunLog, executor: Executor,
) -> Run | None:
    started = time.perf_counter()
    try:
        scored = score_candidates(
            reranker, dataset, candidates, identity=reranker_identity(node) if node is not None else None,
            shard_queries=int(cfg.shard.queries), executor=executor,
            replica=partial(instantiate, node) if node is not None else None, cache=bool(cfg.cache), label=name,
        )
    except ModelUnavailable as exc:
        log.skip(rr_name, exc, node)
        return None
    log.timings[f"rerank:{name}"] = time.perf_counter() - started
    log.systems[name]["score_cache"] = scored.cache_status
    log.systems[name]["shards"] = scored.counts.as_dict()
    log.quarantined.extend(p.as_dict() for p in scored.problems)
    return scored.run


def same_model(first_stage: object, reranker: object) -> str | None:
    """The model id when a bi-encoder would rescore the candidates of a dense first stage using that very
    model (the order cannot change: nothing to measure); else None."""
    fs_info, rr_info = first_stage.info(), reranker.info()  # type: ignore[attr-defined]
    if fs_info.get("kind") == "dense" and rr_info.get("kind") == "bi_encoder" \
            and fs_info.get("model") == rr_info.get("model") and fs_info.get("revision") == rr_info.get("revision"):
        return str(fs_info["model"])
    return None


def skipped_block(skipped: list[dict[str, str]]) -> str:
    """One block for every model that could not be had, each with the commands that fix it."""
    if not skipped:
        return ""
    width = max(len(s["system"]) for s in skipped)
    lines = [f"skipped {len(skipped)} reranker{'s' if len(skipped) > 1 else ''} whose model cannot be had here:"]
    for skip in skipped:
        lines.append(f"  {skip['system']:<{width}}  {skip['reason']}")
    hub = [s for s in skipped if s.get("hub_id")]
    if hub:
        lines.append("to fix, download each once with network access (huggingface_hub's CLI):")
        for skip in hub:
            revision = f" --revision {skip['revision']}" if skip.get("revision") else ""
            lines.append(f"  hf download {skip['hub_id']}{revision}")
        lines.append("or add the override that points at a local copy of the checkpoint:")
        for skip in hub:
            folder = skip["hub_id"].rsplit("/", 1)[-1]
            lines.append(f"  'reranker.{skip['system']}.model=/path/to/{folder}'")
    others = [s for s in skipped if s not in hub]
    for skip in others:
        lines.append(f"  {skip['system']}: {skip['fix']}")
    return "\n".join(lines) + "\n"


def _quiet_libraries() -> None:
    """transformers draws a progress bar for every weight load; the run prints its own summary."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run(
    cfg: DictConfig,
    out_dir: Path | None = None,
    *,
    dataset: Dataset | None = None,
    first_stages: Mapping[str, FirstStage] | None = None,
    rerankers: Mapping[str, Reranker] | None = None,
    show: bool = True,
) -> pd.DataFrame:
    """Run the configured study and write its tidy files into `out_dir`; return metrics rows.

    `show`: print the results table and notes on stdout (the command does; `bench.run` returns them).

    `dataset` replaces the configured one; `first_stages` and `rerankers` ({name: object}) are added
    to the configured ones (an object replaces a configured system of the same name). Objects that
    come without a config are not cached (bench cannot tell when their scores would change).
    """
    out_dir = Path(out_dir or cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_log(out_dir, quiet=bool(cfg.get("quiet", False))):
        if cfg.get("suite"):
            # A suite brings its own protocol (e.g. the RAG hit-rate suite) and writes the same tidy files.
            runner = instantiate(cfg.suite, _partial_=True)
            return runner(cfg=cfg, out_dir=out_dir)
        executor = make_executor(cfg)
        try:
            return _run_study(cfg, out_dir, executor, Supplied(dataset, dict(first_stages or {}),
                                                               dict(rerankers or {})), show=show)
        finally:
            close = getattr(executor, "close", None)
            if callable(close):
                close()


@dataclass
class Supplied:
    """Objects handed to `run` from Python instead of (or beside) the config."""

    dataset: Dataset | None = None
    first_stages: dict[str, FirstStage] = field(default_factory=dict)
    rerankers: dict[str, Reranker] = field(default_factory=dict)


def make_executor(cfg: DictConfig) -> Executor:
    """The configured executor (`executor=local` by default, `executor=ray` for a Ray cluster)."""
    node = cfg.get("executor")
    return LocalExecutor() if node is None else instantiate(node)


def _first_stage_run(first_stage: FirstStage, fs_name: str, dataset: Dataset, cfg: DictConfig, log: RunLog,
                     self_hits: dict[str, int]) -> Run:
    t0 = time.perf_counter()
    first_stage.index(dataset.corpus)
    t1 = time.perf_counter()
    stage("searching %s: %d queries, top %d", fs_name, len(dataset.queries), int(cfg.top_k))
    extra = 1 if cfg.remove_self_hits else 0
    fs_run = top_n(first_stage.search(dataset.queries, top_k=int(cfg.top_k) + extra), int(cfg.top_k) + extra)
    if cfg.remove_self_hits:
        fs_run, self_hits[fs_name] = remove_self_hits(fs_run)
    log.timings[f"index:{fs_name}"] = t1 - t0
    log.timings[f"search:{fs_name}"] = time.perf_counter() - t1
    info = first_stage.info()
    log.systems[fs_name] = {"first_stage": fs_name, "reranker": None, "top_k": int(cfg.top_k), "info": info}
    if isinstance(info.get("shards"), dict):
        log.systems[fs_name]["shards"] = info["shards"]
    log.quarantined.extend(info.get("quarantined") or [])
    return top_n(fs_run, int(cfg.top_k))


def _run_study(cfg: DictConfig, out_dir: Path, executor: Executor, supplied: Supplied, *, show: bool = True
               ) -> pd.DataFrame:
    _quiet_libraries()
    log = RunLog()
    started = time.perf_counter()
    if supplied.dataset is not None:
        dataset = supplied.dataset
    else:
        stage("loading dataset %s", cfg.dataset.get("name") or cfg.dataset.get("path") or cfg.dataset._target_)
        dataset = instantiate(cfg.dataset)
    log.timings["load_dataset"] = time.perf_counter() - started
    stage("loaded %s: %d documents, %d queries with judgements (split %s)", dataset.name, len(dataset.corpus),
          len(dataset.queries), dataset.split)
    depth = int(cfg.rerank_depth or cfg.top_k)
    rerankers: dict[str, Reranker] = {}
    nodes = {n: node for n, node in instantiate_named(cfg.get("reranker")).items() if n not in supplied.rerankers}
    for rr_name, node in nodes.items():
        try:
            rerankers[rr_name] = instantiate(node)
        except InstantiationException as exc:  # Hydra wraps what a constructor raises
            if not isinstance(exc.__cause__, ModelUnavailable):
                raise
            log.skip(rr_name, exc.__cause__, node)
    rerankers.update(supplied.rerankers)
    first_stages: dict[str, FirstStage | DictConfig] = {
        n: node for n, node in instantiate_named(cfg.first_stage).items() if n not in supplied.first_stages}
    first_stages.update(supplied.first_stages)
    skipped_rerankers: set[str] = set()
    results: list[SystemResult] = []
    self_hits: dict[str, int] = {}

    for fs_name, fs_item in first_stages.items():
        first_stage: FirstStage = instantiate(fs_item) if isinstance(fs_item, DictConfig) else fs_item
        fs_run = _first_stage_run(first_stage, fs_name, dataset, cfg, log, self_hits)
        results.append(_evaluate_system(dataset, fs_name, fs_run, cfg, out_dir, log))
        candidates = top_n(fs_run, depth)
        for rr_name, reranker in rerankers.items():
            if rr_name in skipped_rerankers:
                continue
            name = system_name(fs_name, rr_name)
            same = same_model(first_stage, reranker)
            if same:
                log.pairs_skipped.append({"system": name, "model": same})
                stage("not running %s: %s rescoring the candidates of the model that retrieved them gives the "
                      "same order", name, same)
                continue
            node = nodes.get(rr_name)
            log.systems[name] = {"first_stage": fs_name, "reranker": rr_name, "rerank_depth": depth,
                                 "facts": _facts(node) if node is not None else {}}
            scores = _run_reranker(name, rr_name, node, reranker, dataset, candidates, cfg, log, executor)
            if scores is None:
                skipped_rerankers.add(rr_name)
                del log.systems[name]
                stage("skipped %s: model not available", rr_name)
                continue
            log.systems[name]["info"] = reranker.info()
            results.append(_evaluate_system(dataset, name, scores, cfg, out_dir, log))
    metrics = write_tables(results, out_dir)
    table = summary_table(metrics)
    markdown = to_markdown(table)
    (out_dir / "summary.md").write_text(markdown)
    write_manifest(out_dir / "manifest.json", {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "dataset": {"name": dataset.name, "split": dataset.split, "source": dataset.source,
                    "counts": {"documents": len(dataset.corpus), "queries": len(dataset.queries),
                               "qrels": sum(len(v) for v in dataset.qrels.values())},
                    "load_report": dataset.report.as_dict()},
        "executor": executor.info(),
        "systems": log.systems,
        "skipped": log.skipped,
        "pairs_not_run": log.pairs_skipped,
        "cache_entries_quarantined": log.quarantined,
        "self_hits_removed": self_hits,
        "timings_s": {k: round(v, 4) for k, v in log.timings.items()},
        "seed": cfg.seed,
    })
    stage("wrote %s", out_dir)
    if show:
        _print_outcome(markdown, self_hits, log, out_dir)
    return metrics


def _print_outcome(markdown: str, self_hits: dict[str, int], log: RunLog, out_dir: Path) -> None:
    """The table and every note a person must see, on stdout."""
    print(markdown, end="")
    for fs_name, count in self_hits.items():
        if count:
            print(f"{fs_name}: removed {count} retrieved documents whose id equals the query id (BEIR's "
                  "convention, remove_self_hits=true); set remove_self_hits=false if ids are unrelated here")
    for pair in log.pairs_skipped:
        print(f"not run: {pair['system']} (rescoring with {pair['model']}, the model that retrieved the "
              "candidates, gives the same order)")
    block = skipped_block(log.skipped)
    if block:
        print(block, end="")
    if log.quarantined:
        print(f"{len(log.quarantined)} cache entries failed verification and were recomputed "
              "(listed in manifest.json under cache_entries_quarantined)")
    print(f"results in {out_dir}")
