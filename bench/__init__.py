"""bench: which reranker should sit behind your first stage, and what does it cost?

From Python, the same study as the `bench` command:

    import bench
    result = bench.run("dataset=demo", "first_stage=bm25", "reranker=none")
    print(result)                         # the summary table
    result.metrics, result.per_query      # the tidy tables (pandas)

Building blocks: `bench.load_beir(folder)` (a BEIR folder), `bench.BM25`, `bench.Dense`,
`bench.CrossEncoderReranker`, `bench.BiEncoderReranker`, `bench.evaluate_run(qrels, run)`; the extension
points are the protocols `bench.Reranker` and `bench.FirstStage`. Names are imported on first use,
so `import bench` stays light.

The package folders follow the pipeline: data -> first_stage -> rerank (models) -> evaluate
-> profile -> report, with suites/ for protocols that are not plain BEIR runs; store/ keeps the
verified shard cache and executor/ decides where shards are computed.
"""

from __future__ import annotations

import importlib
import secrets
from typing import Any

from omegaconf import OmegaConf

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first access
_EXPORTS = {
    "run": "bench.api:run",
    "Result": "bench.api:Result",
    "load_result": "bench.api:load_result",
    "compose": "bench.api:compose",
    "Dataset": "bench.data.records:Dataset",
    "Document": "bench.data.records:Document",
    "load_beir": "bench.data.sources:local",
    "load_demo": "bench.data.sources:demo",
    "FirstStage": "bench.first_stage.base:FirstStage",
    "BM25": "bench.first_stage.bm25:BM25",
    "Dense": "bench.first_stage.dense:Dense",
    "Hybrid": "bench.first_stage.hybrid:Hybrid",
    "Reranker": "bench.rerank.base:Reranker",
    "ModelUnavailable": "bench.errors:ModelUnavailable",
    "InputError": "bench.errors:InputError",
    "CrossEncoderReranker": "bench.rerank.cross_encoder:CrossEncoderReranker",
    "BiEncoderReranker": "bench.rerank.bi_encoder:BiEncoderReranker",
    # `bench.evaluate` is the subpackage, so the verb is `evaluate_run`
    "evaluate_run": "bench.evaluate.measures:evaluate_run",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    module, attribute = _EXPORTS[name].split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _register_resolvers() -> None:
    """`${bench_run_id:}`: six random hex digits, one value per composed config (cached like Hydra's `now`),
    so two runs started in the same second get different run directories."""
    if not OmegaConf.has_resolver("bench_run_id"):
        OmegaConf.register_new_resolver("bench_run_id", lambda: secrets.token_hex(3), use_cache=True)


_register_resolvers()
