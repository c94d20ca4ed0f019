"""First stages: produce the candidate list a reranker reorders (BM25, dense over any
Embedder, hybrid reciprocal rank fusion, a TREC run file)."""

from bench.first_stage.base import FirstStage

__all__ = ["FirstStage"]
