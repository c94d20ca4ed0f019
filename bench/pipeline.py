"""One bench run: dataset -> first stages -> rerankers -> evaluation -> tidy files.

`run(cfg)` is what the `bench` command calls; tests call it through Hydra's compose(). A study goes
load -> build systems -> per first stage: search, then each reranker over its candidates -> finish
(`bench.outcome`: summary.md, manifest.json, the table and notes). `rescore` is the rerank step that
suites share.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.console import run_log, stage
from bench.data.records import Dataset, Run, top
from bench.errors import InputError, ModelUnavailable
from bench.evaluate.measures import evaluate
from bench.evaluate.summary import summary_table, to_markdown
from bench.evaluate.tidy import SystemResult, safe_filename, system_name, write_tables, write_trec_run
from bench.executor.base import Executor
from bench.executor.local import LocalExecutor
from bench.first_stage.base import FirstStage
from bench.outcome import RunLog, finish, qrels_note
from bench.rerank.base import Reranker
from bench.rerank.scoring import Scored, score_candidates
from bench.validate import line, validate
from bench.validate import self_hits as self_hits_problem

#: Reranker config keys that do not change the scores, left out of the score-cache key.
VOLATILE_KEYS = {"name", "device", "batch_size", "token_budget", "facts", "_target_",
                 # API transport settings
                 "timeout", "max_retries", "backoff_base", "max_backoff", "documents_per_request", "api_key_env"}


def remove_self_hits(run: Run) -> tuple[Run, int]:
    """BEIR's convention: a document whose id equals the query id is not a hit (ArguAna).

    Returns the run without them and how many queries had one."""
    removed = 0
    cleaned: Run = {}
    for qid, docs in run.items():
        if qid in docs:
            removed += 1
            docs = {d: s for d, s in docs.items() if d != qid}
        cleaned[qid] = docs
    return cleaned, removed


@dataclass(frozen=True)
class SelfHitRule:
    """Whether self hits are removed in this study, and why (recorded in the manifest, shown in the note)."""

    remove: bool
    why: str
    #: "auto", "true" or "false": what the config said
    setting: str = "auto"

    def record(self, found: int) -> dict[str, Any]:
        """The manifest's entry for a first stage that retrieved `found` documents with their query's id."""
        return {"setting": self.setting, "removed": self.remove, "found": found, "why": self.why}


def self_hit_rule(setting: object, dataset: Dataset) -> SelfHitRule:
    """`remove_self_hits`: true / false force it; `auto` follows the dataset (`Dataset.ignore_identical_ids`):
    on for BEIR's public datasets, whose evaluation drops self hits, off elsewhere (local folders, the
    demo, the synthetic set), where a query id may equal an unrelated document id (Cranfield, CISI)."""
    problem = self_hits_problem(setting)  # `validate` refuses it first; this guards a direct call
    if problem is not None:
        raise InputError(line("remove_self_hits", setting, problem))
    value = setting.strip().lower() if isinstance(setting, str) else setting
    if value in (True, "true"):
        return SelfHitRule(True, "remove_self_hits=true", "true")
    if value in (False, "false"):
        return SelfHitRule(False, "remove_self_hits=false", "false")
    if dataset.ignore_identical_ids:
        return SelfHitRule(True, f"remove_self_hits=auto: on, {dataset.name} is a public BEIR dataset, "
                                 "evaluated with BEIR's ignore_identical_ids")
    return SelfHitRule(False, f"remove_self_hits=auto: off, {dataset.name} is not from BEIR's public table, "
                              "so its query and document ids may be unrelated")


def top_n(run: Run, n: int) -> Run:
    """Each query's first `n` documents in bench's rank order (`ranked`: ties by id descending).

    A run with no query over `n` documents comes back as it is, unsorted: nothing would be cut, and every
    reader ranks for itself (evaluation, `write_trec_run`, the reranker's `ordered_candidates`)."""
    if all(len(docs) <= n for docs in run.values()):
        return run
    return {q: top(docs, n) for q, docs in run.items()}


def reranker_identity(node: DictConfig) -> dict[str, Any]:
    """A reranker's config without the settings that do not change its scores: what its cache is keyed on."""
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k not in VOLATILE_KEYS}


def config_facts(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """A model config's `facts` (hub id, parameters, published scores) as plain data; {} when it has none."""
    facts = node.get("facts") if node is not None else None
    if facts is None:
        return {}
    return dict(OmegaConf.to_container(facts, resolve=True)) if OmegaConf.is_config(facts) else dict(facts)


def instantiate_model(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate(node)`, except that a model that cannot be had raises `ModelUnavailable` itself (Hydra
    wraps what a constructor raises), so callers skip it with its reason and fix."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, ModelUnavailable):
            raise exc.__cause__ from None
        raise


def build_rerankers(nodes: Mapping[str, DictConfig], log: RunLog) -> dict[str, Reranker]:
    """{name: reranker} for every config whose model can be had; the others are recorded in `log.skipped`."""
    rerankers: dict[str, Reranker] = {}
    for name, node in nodes.items():
        try:
            rerankers[name] = instantiate_model(node)
        except ModelUnavailable as exc:
            log.skip(name, exc, node)
    return rerankers


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


def rescore(
    reranker: Reranker, dataset: Dataset, candidates: Run, *, node: DictConfig | None, cache: bool,
    shard_queries: int, executor: Executor | None = None, label: str | None = None,
) -> Scored:
    """The rerank step of every run: the candidates scored through `score_candidates` (shards, verified
    score cache). A reranker built from a config (`node`) is cached under its identity and copied onto
    the executor's workers from that config; one handed over as an object is neither."""
    return score_candidates(
        reranker, dataset, candidates, identity=reranker_identity(node) if node is not None else None,
        shard_queries=shard_queries, executor=executor,
        replica=partial(instantiate_model, node) if node is not None else None, cache=cache, label=label,
    )


def same_model(first_stage: object, reranker: object) -> str | None:
    """The model id when a bi-encoder would rescore the candidates of a dense first stage using that very
    model and normalisation (the order cannot change: nothing to measure); else None."""
    fs_info, rr_info = first_stage.info(), reranker.info()  # type: ignore[attr-defined]
    if fs_info.get("kind") != "dense" or rr_info.get("kind") != "bi_encoder":
        return None
    if all(fs_info.get(key) == rr_info.get(key) for key in ("model", "revision", "normalize")):
        return str(fs_info["model"])
    return None


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
    validate(cfg, dataset=dataset is None)  # every mistake in the config, one line each, before any work
    out_dir = Path(out_dir or cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_log(out_dir, quiet=bool(cfg.get("quiet", False))):
        if cfg.get("suite"):
            # A suite brings its own protocol (e.g. the RAG hit-rate suite) and writes the same tidy files.
            runner = instantiate(cfg.suite, _partial_=True)
            return runner(cfg=cfg, out_dir=out_dir, show=show)
        with executor_for(cfg) as executor:
            return _run_study(cfg, out_dir, executor, Supplied(dataset, dict(first_stages or {}),
                                                               dict(rerankers or {})), show=show)


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


@contextmanager
def executor_for(cfg: DictConfig) -> Iterator[Executor]:
    """The configured executor, closed (its workers shut down) when the run ends, however it ends."""
    executor = make_executor(cfg)
    try:
        yield executor
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()


def _first_stage_run(first_stage: FirstStage, fs_name: str, dataset: Dataset, cfg: DictConfig, log: RunLog,
                     rule: SelfHitRule) -> Run:
    t0 = time.perf_counter()
    first_stage.index(dataset.corpus)
    t1 = time.perf_counter()
    stage("searching %s: %d queries, top %d", fs_name, len(dataset.queries), int(cfg.top_k))
    depth = int(cfg.top_k) + (1 if rule.remove else 0)  # one more, so a removed self hit leaves top_k
    fs_run = top_n(first_stage.search(dataset.queries, top_k=depth), depth)
    cleaned, found = remove_self_hits(fs_run)
    if rule.remove:
        fs_run = cleaned
    log.timings[f"index:{fs_name}"] = t1 - t0
    log.timings[f"search:{fs_name}"] = time.perf_counter() - t1
    info = first_stage.info()
    log.systems[fs_name] = {"first_stage": fs_name, "reranker": None, "top_k": int(cfg.top_k), "info": info,
                            # queries whose own id came back as a document, and whether those were dropped
                            "self_hits": rule.record(found)}
    if isinstance(info.get("shards"), dict):
        log.systems[fs_name]["shards"] = info["shards"]
    log.quarantined.extend(info.get("quarantined") or [])
    return top_n(fs_run, int(cfg.top_k))


@dataclass
class Study:
    """A study while it runs: what every step reads, and where it records what it did."""

    cfg: DictConfig
    out_dir: Path
    executor: Executor
    dataset: Dataset
    log: RunLog
    #: the rerankers that were built, and the configs of those built from one (cache identity, replicas)
    rerankers: dict[str, Reranker]
    nodes: dict[str, DictConfig]
    #: whether self hits are removed (the config and the dataset decide, the same for every first stage)
    self_hit_rule: SelfHitRule
    results: list[SystemResult] = field(default_factory=list)
    #: rerankers whose model turned out not to be had: not tried again after the next first stage
    unavailable: set[str] = field(default_factory=set)

    @property
    def depth(self) -> int:
        """How many of each first stage's candidates a reranker reorders."""
        return int(self.cfg.rerank_depth or self.cfg.top_k)


def _run_study(cfg: DictConfig, out_dir: Path, executor: Executor, supplied: Supplied, *, show: bool = True
               ) -> pd.DataFrame:
    _quiet_libraries()
    log = RunLog()
    dataset = _load_dataset(cfg, supplied, log)
    nodes, rerankers = _build_rerankers(cfg, supplied, log)
    rule = self_hit_rule(cfg.get("remove_self_hits", "auto"), dataset)
    study = Study(cfg, out_dir, executor, dataset, log, rerankers, nodes, rule)
    for fs_name, fs_item in _first_stages(cfg, supplied).items():
        _run_first_stage(study, fs_name, fs_item)
    return _finish_study(study, show=show)


def _load_dataset(cfg: DictConfig, supplied: Supplied, log: RunLog) -> Dataset:
    started = time.perf_counter()
    if supplied.dataset is not None:
        dataset = supplied.dataset
    else:
        stage("loading dataset %s", cfg.dataset.get("name") or cfg.dataset.get("path") or cfg.dataset._target_)
        dataset = instantiate(cfg.dataset)
    log.timings["load_dataset"] = time.perf_counter() - started
    stage("loaded %s: %d documents, %d queries with judgements (split %s)", dataset.name, len(dataset.corpus),
          len(dataset.queries), dataset.split)
    return dataset


def _build_rerankers(cfg: DictConfig, supplied: Supplied, log: RunLog
                     ) -> tuple[dict[str, DictConfig], dict[str, Reranker]]:
    """({name: config}, {name: reranker}): the configured ones that could be built, then the supplied ones."""
    nodes = {n: node for n, node in instantiate_named(cfg.get("reranker")).items() if n not in supplied.rerankers}
    rerankers = build_rerankers(nodes, log)
    rerankers.update(supplied.rerankers)
    return nodes, rerankers


def _first_stages(cfg: DictConfig, supplied: Supplied) -> dict[str, FirstStage | DictConfig]:
    """The configured first stages (built one at a time, when their turn comes), then the supplied ones."""
    first_stages: dict[str, FirstStage | DictConfig] = {
        n: node for n, node in instantiate_named(cfg.first_stage).items() if n not in supplied.first_stages}
    first_stages.update(supplied.first_stages)
    return first_stages


def _run_first_stage(study: Study, fs_name: str, fs_item: FirstStage | DictConfig) -> None:
    """One first stage evaluated alone, then followed by every reranker over its candidates."""
    first_stage: FirstStage = instantiate(fs_item) if isinstance(fs_item, DictConfig) else fs_item
    fs_run = _first_stage_run(first_stage, fs_name, study.dataset, study.cfg, study.log,
                              study.self_hit_rule)
    study.results.append(_evaluate_system(study.dataset, fs_name, fs_run, study.cfg, study.out_dir, study.log))
    candidates = top_n(fs_run, study.depth)
    for rr_name, reranker in study.rerankers.items():
        if rr_name not in study.unavailable:
            _run_pair(study, fs_name, first_stage, rr_name, reranker, candidates)


def _run_pair(study: Study, fs_name: str, first_stage: FirstStage, rr_name: str, reranker: Reranker,
              candidates: Run) -> None:
    """`fs_name>>rr_name`: the reranker over the first stage's candidates, evaluated."""
    name = system_name(fs_name, rr_name)
    same = same_model(first_stage, reranker)
    if same:
        study.log.pair_not_run(name, same)
        return
    node = study.nodes.get(rr_name)
    study.log.systems[name] = {"first_stage": fs_name, "reranker": rr_name, "rerank_depth": study.depth,
                               "facts": config_facts(node)}
    started = time.perf_counter()
    try:
        scored = rescore(reranker, study.dataset, candidates, node=node, cache=bool(study.cfg.cache),
                         shard_queries=int(study.cfg.shard.queries), executor=study.executor, label=name)
    except ModelUnavailable as exc:
        study.log.skip(rr_name, exc, node)
        study.unavailable.add(rr_name)
        del study.log.systems[name]
        stage("skipped %s: model not available", rr_name)
        return
    study.log.scored(name, scored, time.perf_counter() - started)
    study.log.systems[name]["info"] = reranker.info()
    study.results.append(_evaluate_system(study.dataset, name, scored.run, study.cfg, study.out_dir, study.log))


def _finish_study(study: Study, *, show: bool) -> pd.DataFrame:
    """metrics.csv and per_query.csv, then the ending every run shares (`bench.outcome.finish`)."""
    dataset = study.dataset
    metrics = write_tables(study.results, study.out_dir)
    finish(study.out_dir, study.log, markdown=to_markdown(summary_table(metrics)), show=show, manifest={
        "config": OmegaConf.to_container(study.cfg, resolve=True),
        "dataset": {"name": dataset.name, "split": dataset.split, "source": dataset.source,
                    "counts": {"documents": len(dataset.corpus), "queries": len(dataset.queries),
                               "qrels": sum(len(v) for v in dataset.qrels.values())},
                    "load_report": dataset.report.as_dict()},
        "executor": study.executor.info(),
        "self_hits_removed": self_hits_removed(study.log.systems),
    }, notes=[*self_hit_notes(study.log.systems), *qrels_note(dataset.report.as_dict())])
    return metrics


def self_hits_removed(systems: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """{first stage: self hits removed} for every first stage whose self hits were removed (0 when it had
    none), read from the systems' `SelfHitRule.record`s: the manifest's `self_hits_removed`."""
    return {fs_name: system["self_hits"]["found"] for fs_name, system in systems.items()
            if (system.get("self_hits") or {}).get("removed")}


def self_hit_notes(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A note under the table for every first stage that retrieved documents whose id equals the query id:
    whether they were removed, and which setting decided (`SelfHitRule.record`). Kept ones are noted only
    when `auto` kept them; `remove_self_hits=false` asked for that."""
    notes = []
    for fs_name, system in systems.items():
        record = system.get("self_hits") or {}
        if not record.get("found"):
            continue
        if record["removed"]:
            notes.append(f"{fs_name}: removed {record['found']} retrieved documents whose id equals the query id "
                         f"(BEIR's convention; {record['why']}); set remove_self_hits=false to keep them")
        elif record["setting"] == "auto":
            notes.append(f"{fs_name}: kept {record['found']} retrieved documents whose id equals the query id "
                         f"({record['why']}); set remove_self_hits=true to remove them (BEIR's convention)")
    return notes
