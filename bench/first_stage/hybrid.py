"""Hybrid retrieval: reciprocal rank fusion of other first stages (BM25 and dense by default).

Cormack, Clarke and Buettcher (SIGIR 2009): each component ranks `depth` candidates per query, and

    score(d) = sum over the components that retrieved d of 1 / (k + rank of d there),   rank from 1

with k = 60. The fused list is sorted by that score in bench's rank order (`ranked`: ties by document
id descending), and cut to top_k.
Components are the ordinary first stages (`bench.first_stage.bm25.BM25`, `...dense.Dense`), built
from their Hydra configs, so their index caches (BM25 index, embedding shards) are the ones the
standalone first stages use.

RRF ties are common (rank 3 in BM25 only and rank 3 in dense only score alike), and evaluators break
ties their own ways (trec_eval's nDCG by document id descending, in single precision). So that every
evaluator sees the order chosen here, the run's scores are the RRF scores in float32, and a document
that would tie with the one before it gets the next lower float32 value: the scores are the RRF
scores to about 7 significant digits, strictly decreasing in the fused order.

`info()` records the fusion settings, each component's own info, and where the fused top-k came
from, summed over queries: `provenance` counts documents retrieved by all components ("all"), by
one only ("only bm25", "only dense"), and, with three or more components, by some ("bm25+dense").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bench.data.records import Document, Run, ranked
from bench.first_stage.base import FirstStage

#: Cormack et al.'s constant: it damps the weight of the very top ranks
DEFAULT_K = 60
#: candidates each component retrieves per query (at least top_k)
DEFAULT_DEPTH = 100


def default_components() -> dict[str, FirstStage]:
    """BM25 and dense retrieval with their default settings."""
    from bench.first_stage.bm25 import BM25
    from bench.first_stage.dense import Dense

    return {"bm25": BM25(), "dense": Dense()}


def build_components(components: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, FirstStage]:
    """{name: first stage} from Hydra configs (a mapping with `_target_`) or first-stage objects.

    A mapping's keys are the names (a null value switches that component off); a sequence takes
    each object's `name`.
    """
    if components is None:
        return default_components()
    if isinstance(components, Mapping) or hasattr(components, "items"):
        named = [(str(name), spec) for name, spec in components.items() if spec is not None]
    else:
        named = [(None, spec) for spec in components if spec is not None]
    built: dict[str, FirstStage] = {}
    for name, spec in named:
        stage = _build(spec)
        name = name or str(getattr(stage, "name", type(stage).__name__))
        if name in built:
            raise ValueError(f"hybrid: two components are named {name!r}; give them distinct names")
        if not isinstance(stage, FirstStage):
            raise TypeError(f"hybrid: component {name!r} ({type(stage).__name__}) is not a first stage "
                            "(needs name, index(corpus), search(queries, top_k=...), info())")
        built[name] = stage
    if not built:
        raise ValueError("hybrid: no components to fuse (first_stage.hybrid.components is empty)")
    return built


def _build(spec: Any) -> Any:
    if isinstance(spec, Mapping) or (hasattr(spec, "items") and hasattr(spec, "get")):
        if spec.get("_target_") is None:
            raise ValueError(f"hybrid: a component config needs a _target_ (got keys {', '.join(map(str, spec))})")
        from hydra.utils import instantiate

        return instantiate(spec)
    return spec


def reciprocal_rank_fusion(
    runs: Mapping[str, Mapping[str, float]], *, k: float = DEFAULT_K, depth: int | None = None
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """One query's fused scores (best first, `ranked` order) and which components retrieved each document.

    Each component's documents are ranked by its score (`ranked`); only its first `depth` count.
    """
    terms: dict[str, list[float]] = {}
    sources: dict[str, list[str]] = {}
    for name, docs in runs.items():
        order = ranked(docs)
        for rank, (doc, _) in enumerate(order[:depth] if depth is not None else order, start=1):
            terms.setdefault(doc, []).append(1.0 / (k + rank))
            sources.setdefault(doc, []).append(name)
    # fsum is correctly rounded: documents with the same multiset of ranks get exactly the same score
    exact = ranked({doc: math.fsum(t) for doc, t in terms.items()})
    return _strictly_decreasing(exact), {doc: tuple(names) for doc, names in sources.items()}


def _strictly_decreasing(ranked: list[tuple[str, float]]) -> dict[str, float]:
    """The scores as float32 values, each one float32 step below the one before where they would tie.

    trec_eval (nDCG through pytrec_eval) compares scores in single precision and breaks ties by
    document id descending, RR by id ascending; distinct float32 scores leave no tie to break.
    """
    fused: dict[str, float] = {}
    previous = np.float32(np.inf)
    for doc, score in ranked:
        value = np.float32(score)
        if value >= previous:
            value = np.nextafter(previous, np.float32(-np.inf))
        fused[doc] = float(value)
        previous = value
    return fused


class Hybrid:
    """Reciprocal rank fusion of `components` (name -> first stage or its Hydra config)."""

    def __init__(
        self,
        *,
        name: str = "hybrid",
        k: float = DEFAULT_K,
        depth: int = DEFAULT_DEPTH,
        components: Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> None:
        if k < 0:
            raise ValueError(f"hybrid: the RRF constant k must be at least 0, got {k}")
        if depth < 1:
            raise ValueError(f"hybrid: depth must be at least 1, got {depth}")
        self.name = name
        self.k = k
        self.depth = int(depth)
        self.components = build_components(components)
        self.provenance: Counter[str] = Counter()
        self.queries_searched = 0

    def index(self, corpus: Mapping[str, Document]) -> None:
        for stage in self.components.values():
            stage.index(corpus)

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        if not queries:
            return {}
        depth = max(self.depth, top_k)
        runs = {name: stage.search(queries, top_k=depth) for name, stage in self.components.items()}
        out: Run = {}
        for qid in queries:
            fused, sources = reciprocal_rank_fusion({name: run.get(qid, {}) for name, run in runs.items()},
                                                    k=self.k, depth=depth)
            kept = dict(list(fused.items())[:top_k])
            out[qid] = kept
            for doc in kept:
                self.provenance[self._label(sources[doc])] += 1
        self.queries_searched += len(queries)
        return out

    def _label(self, names: tuple[str, ...]) -> str:
        if len(set(names)) == len(self.components):
            return "all"
        if len(names) == 1:
            return f"only {names[0]}"
        return "+".join(n for n in self.components if n in names)

    def info(self) -> dict[str, object]:
        components = {name: stage.info() for name, stage in self.components.items()}
        counts = {"all": 0, **{f"only {name}": 0 for name in self.components}}
        counts.update(self.provenance)
        info: dict[str, object] = {
            "kind": "hybrid", "fusion": "rrf", "k": self.k, "depth": self.depth,
            "components": components,
            # where the fused top-k documents came from, summed over the queries searched
            "provenance": counts, "queries": self.queries_searched,
            # the components' cache entries that failed verification, for the run's manifest
            "quarantined": [p for c in components.values() for p in (c.get("quarantined") or [])],
        }
        shards = [c["shards"] for c in components.values() if isinstance(c.get("shards"), Mapping)]
        if shards:  # the dense component's embedding shards (summed if several components have shards)
            total: dict[str, int] = {}
            for counts_ in shards:
                for key, value in counts_.items():
                    total[key] = total.get(key, 0) + int(value)
            info["shards"] = total
        return info
