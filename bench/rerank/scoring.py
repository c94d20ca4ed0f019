"""The one scoring step: a reranker over first-stage candidates, shard by shard, resumable.

    scored = score_candidates(reranker, dataset, candidates, identity=..., shard_queries=256)
    scored.run           # {query: {doc: score}}
    scored.counts        # ShardCounts(total, computed, reused, quarantined)

Candidates are cut into shards of `shard_queries` queries (query ids sorted; each query's
documents in first-stage order). A shard found in the store is verified and reused; the others go
to the executor, and each is written to the store the moment it is done, so a run killed at any
point loses at most the shards in flight. The cache key is the reranker's identity (its config
without settings that do not change scores), the corpus and queries, the candidates and the shard
size: change any of them and nothing stale is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.console import progress, reporting, stage
from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus, fingerprint_run, stable_hash
from bench.data.records import Dataset, Run, ranked
from bench.errors import InputError
from bench.executor.base import Executor, ScoreTask
from bench.executor.local import LocalExecutor
from bench.rerank.base import Reranker
from bench.store import ArrayShards, Quarantined, ShardCounts

#: queries per shard unless configured (`shard.queries`)
DEFAULT_SHARD_QUERIES = 256


@dataclass
class Scored:
    """A reranker's scores for every candidate, and what the shard store did to get them."""

    run: Run
    counts: ShardCounts
    problems: list[Quarantined] = field(default_factory=list)
    key: str | None = None

    @property
    def cache_status(self) -> str:
        """"hit" (every shard reused), "partial", "miss" (all computed), or "off"."""
        if self.key is None:
            return "off"
        if self.counts.computed == 0:
            return "hit"
        return "partial" if self.counts.reused else "miss"


def ordered_candidates(candidates: Run) -> dict[str, list[str]]:
    """Query ids sorted, each query's documents best first (`ranked`): the order shards are cut in, and the
    order `fingerprint_run` hashes, so a cached shard's rows always meet the pairs they were scored for."""
    return {q: [d for d, _ in ranked(candidates[q])] for q in sorted(candidates)}


def plan_shards(ordered: Mapping[str, list[str]], shard_queries: int) -> list[list[str]]:
    """Query ids per shard; queries without candidates take no place in any shard."""
    if shard_queries < 1:
        raise ValueError(f"shard.queries must be at least 1, got {shard_queries}")
    with_docs = [q for q, docs in ordered.items() if docs]
    return [with_docs[i : i + shard_queries] for i in range(0, len(with_docs), shard_queries)]


def scores_key(identity: Mapping[str, Any], dataset: Dataset, candidates: Run, shard_queries: int) -> str:
    return stable_hash({"reranker": dict(identity), "corpus": fingerprint_corpus(dataset.corpus),
                        "queries": stable_hash(dataset.queries), "candidates": fingerprint_run(candidates),
                        "shard_queries": shard_queries})


def score_candidates(
    reranker: Reranker,
    dataset: Dataset,
    candidates: Run,
    *,
    identity: Mapping[str, Any] | None,
    shard_queries: int = DEFAULT_SHARD_QUERIES,
    executor: Executor | None = None,
    replica: Callable[[], Reranker] | None = None,
    cache: bool = True,
    label: str | None = None,
) -> Scored:
    """Every candidate pair scored, reusing verified shards; `identity` None (or cache off) stores nothing."""
    label = label or reranker.name
    executor = executor or LocalExecutor()
    ordered = ordered_candidates(candidates)
    plan = plan_shards(ordered, shard_queries)
    key = scores_key(identity, dataset, candidates, shard_queries) if cache and identity is not None else None
    shards = ArrayShards(
        cache_dir() / "scores" / key if key else None, total=len(plan),
        describe={"reranker": dict(identity or {}), "dataset": dataset.name, "queries": len(ordered),
                  "pairs": sum(len(d) for d in ordered.values()), "shard_queries": shard_queries},
    )
    out: Run = {q: {} for q in candidates}
    tasks: list[ScoreTask] = []
    keys_of: dict[int, list[tuple[str, str]]] = {}
    cached_pairs = 0
    for index, query_ids in enumerate(plan):
        keys = [(q, d) for q in query_ids for d in ordered[q]]
        keys_of[index] = keys
        scores = shards.load(index, rows=len(keys)) if key else None
        if scores is None:
            tasks.append(ScoreTask(index, [(dataset.queries[q], dataset.corpus[d].full_text) for q, d in keys]))
        else:
            cached_pairs += len(keys)
            _fill(out, keys, scores)
    total_pairs = sum(len(k) for k in keys_of.values())
    stage("reranking %s: %d pairs in %d shards of %d queries, %d shards (%d pairs) cached%s", label, total_pairs,
          len(plan), shard_queries, shards.counts.reused, cached_pairs, f", executor {executor.name}"
          if executor.name != "local" else "")
    if tasks:
        _run_tasks(tasks, keys_of, out, shards, executor, reranker, replica or (lambda: reranker), label,
                   total_pairs, cached_pairs)
    elif plan:
        stage("reranking %s: every shard reused from the cache (%s)", label, shards.folder)
    return Scored(out, shards.counts, shards.problems, key)


def _run_tasks(
    tasks: list[ScoreTask], keys_of: dict[int, list[tuple[str, str]]], out: Run, shards: ArrayShards,
    executor: Executor, reranker: Reranker, replica: Callable[[], Reranker], label: str, total: int, cached: int,
) -> None:
    reported = [0]  # pairs the engine has reported inside the task now running (in-process executors)
    # In this process the bar appears with the first scored batch, so a reranker whose model cannot be
    # had is skipped without drawing one; a remote executor reports per shard, so its bar starts now.
    bars: list = [] if executor.name == "local" else [progress(total=total, initial=cached, desc=f"rerank {label}",
                                                                unit="pair")]

    def bar():
        if not bars:
            bars.append(progress(total=total, initial=cached, desc=f"rerank {label}", unit="pair"))
        return bars[0]

    def on_batch(n: int) -> None:
        reported[0] += n
        bar().update(n)

    def on_done(task: ScoreTask, scores: np.ndarray) -> None:
        keys = keys_of[task.shard]
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != len(keys):
            raise RuntimeError(f"reranker {label} returned {scores.shape[0]} scores for the {len(keys)} pairs "
                               f"of shard {task.shard}")
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            q, d = keys[int(bad[0])]
            # InputError (a ValueError): the study stops with this one line, as for a bad score in a run file
            raise InputError(f"reranker {label} returned {bad.size} non-finite scores in shard {task.shard} "
                             f"(first: query {q!r}, document {d!r}, score {scores[bad[0]]}); nothing of this shard "
                             "was cached. Check the model's dtype (float16 overflow? try dtype=float32) and inputs")
        shards.save(task.shard, scores)
        _fill(out, keys, scores)
        bar().update(max(0, len(keys) - reported[0]))
        reported[0] = 0

    try:
        with reporting(on_batch):
            executor.score(tasks, reranker=reranker, replica=replica, on_done=on_done)
    finally:
        for shown in bars:
            shown.close()


def _fill(out: Run, keys: list[tuple[str, str]], scores: np.ndarray) -> None:
    for (q, d), s in zip(keys, scores.tolist(), strict=True):
        out[q][d] = float(s)
