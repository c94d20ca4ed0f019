"""One bench run: dataset -> first stages -> rerankers -> evaluation -> tidy files.

`run(cfg)` is what the `bench` command calls; tests call it through Hydra's compose().
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.data.fingerprint import fingerprint_corpus, fingerprint_run, stable_hash
from bench.data.records import Dataset, Run
from bench.evaluate.measures import evaluate
from bench.evaluate.summary import summary_table, to_markdown
from bench.evaluate.tidy import SystemResult, safe_filename, system_name, write_tables, write_trec_run
from bench.first_stage.base import FirstStage
from bench.manifest import write_manifest
from bench.rerank.base import ModelUnavailable, Reranker
from bench.rerank.cache import load_scores, save_scores

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


def rerank(reranker: Reranker, dataset: Dataset, candidates: Run) -> Run:
    """Score every (query, candidate) pair in one call, so the engine can batch across queries."""
    keys = [(q, d) for q, docs in candidates.items() for d in docs]
    pairs = [(dataset.queries[q], dataset.corpus[d].full_text) for q, d in keys]
    scores = reranker.score(pairs)
    if len(scores) != len(pairs):
        raise RuntimeError(f"reranker {reranker.name} returned {len(scores)} scores for {len(pairs)} pairs")
    out: Run = {q: {} for q in candidates}
    for (q, d), s in zip(keys, scores, strict=True):
        out[q][d] = float(s)
    return out


def score_cache_key(reranker_cfg: DictConfig, dataset: Dataset, candidates: Run) -> str:
    identity = {k: v for k, v in OmegaConf.to_container(reranker_cfg, resolve=True).items()
                if k not in VOLATILE_KEYS}
    return stable_hash({"reranker": identity, "corpus": fingerprint_corpus(dataset.corpus),
                        "queries": stable_hash(dataset.queries), "candidates": fingerprint_run(candidates)})


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
    started = time.perf_counter()
    result = SystemResult(dataset.name, name, evaluate(dataset.qrels, run, list(cfg.measures)))
    log.timings[f"evaluate:{name}"] = time.perf_counter() - started
    return result


def _run_reranker(
    name: str, rr_name: str, node: DictConfig, reranker: Reranker, dataset: Dataset, candidates: Run, cfg: DictConfig,
    log: RunLog,
) -> Run | None:
    key = score_cache_key(node, dataset, candidates)
    if cfg.cache:
        cached = load_scores(key, candidates)
        if cached is not None:
            log.systems[name]["score_cache"] = "hit"
            return cached
    started = time.perf_counter()
    try:
        scores = rerank(reranker, dataset, candidates)
    except ModelUnavailable as exc:
        log.skipped.append({"system": rr_name, "reason": exc.reason, "fix": exc.fix})
        return None
    log.timings[f"rerank:{name}"] = time.perf_counter() - started
    log.systems[name]["score_cache"] = "miss"
    if cfg.cache:
        save_scores(key, scores)
    return scores


def _quiet_libraries() -> None:
    """transformers draws a progress bar for every weight load; the run prints its own summary."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run(cfg: DictConfig, out_dir: Path | None = None) -> pd.DataFrame:
    """Run the configured study and write its tidy files into `out_dir`; return metrics rows."""
    out_dir = Path(out_dir or cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("suite"):
        # A suite brings its own protocol (e.g. the RAG hit-rate suite) and writes the same tidy files.
        runner = instantiate(cfg.suite, _partial_=True)
        return runner(cfg=cfg, out_dir=out_dir)
    _quiet_libraries()
    log = RunLog()
    started = time.perf_counter()
    dataset: Dataset = instantiate(cfg.dataset)
    log.timings["load_dataset"] = time.perf_counter() - started
    depth = int(cfg.rerank_depth or cfg.top_k)
    rerankers = {n: instantiate(node) for n, node in instantiate_named(cfg.get("reranker")).items()}
    skipped_rerankers: set[str] = set()
    results: list[SystemResult] = []
    self_hits: dict[str, int] = {}

    for fs_name, fs_node in instantiate_named(cfg.first_stage).items():
        first_stage: FirstStage = instantiate(fs_node)
        t0 = time.perf_counter()
        first_stage.index(dataset.corpus)
        t1 = time.perf_counter()
        extra = 1 if cfg.remove_self_hits else 0
        fs_run = top_n(first_stage.search(dataset.queries, top_k=int(cfg.top_k) + extra), int(cfg.top_k) + extra)
        if cfg.remove_self_hits:
            fs_run, self_hits[fs_name] = remove_self_hits(fs_run)
        fs_run = top_n(fs_run, int(cfg.top_k))
        log.timings[f"index:{fs_name}"] = t1 - t0
        log.timings[f"search:{fs_name}"] = time.perf_counter() - t1
        log.systems[fs_name] = {"first_stage": fs_name, "reranker": None, "top_k": int(cfg.top_k),
                                "info": first_stage.info()}
        results.append(_evaluate_system(dataset, fs_name, fs_run, cfg, out_dir, log))
        candidates = top_n(fs_run, depth)
        for rr_name, reranker in rerankers.items():
            if rr_name in skipped_rerankers:
                continue
            name = system_name(fs_name, rr_name)
            node = cfg.reranker[rr_name]
            log.systems[name] = {"first_stage": fs_name, "reranker": rr_name, "rerank_depth": depth,
                                 "facts": _facts(node)}
            scores = _run_reranker(name, rr_name, node, reranker, dataset, candidates, cfg, log)
            if scores is None:
                skipped_rerankers.add(rr_name)
                del log.systems[name]
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
        "systems": log.systems,
        "skipped": log.skipped,
        "self_hits_removed": self_hits,
        "timings_s": {k: round(v, 4) for k, v in log.timings.items()},
        "seed": cfg.seed,
    })
    print(markdown, end="")
    for fs_name, count in self_hits.items():
        if count:
            print(f"{fs_name}: removed {count} retrieved documents whose id equals the query id (BEIR's "
                  "convention, remove_self_hits=true); set remove_self_hits=false if ids are unrelated here")
    for skip in log.skipped:
        print(f"skipped {skip['system']}: {skip['reason']}. To fix: {skip['fix']}")
    print(f"results in {out_dir}")
    return metrics
