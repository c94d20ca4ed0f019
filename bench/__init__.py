"""bench: which reranker should sit behind your first stage, and what does it cost?

The package folders follow the pipeline: data -> first_stage -> rerank (models) -> evaluate
-> profile -> report, with suites/ for protocols that are not plain BEIR runs; store/ keeps the
verified shard cache and executor/ decides where shards are computed.
"""

from __future__ import annotations

import secrets

from omegaconf import OmegaConf

__version__ = "0.1.0"


def _register_resolvers() -> None:
    """`${bench_run_id:}`: six random hex digits, one value per composed config (cached like Hydra's `now`),
    so two runs started in the same second get different run directories."""
    if not OmegaConf.has_resolver("bench_run_id"):
        OmegaConf.register_new_resolver("bench_run_id", lambda: secrets.token_hex(3), use_cache=True)


_register_resolvers()
