"""Rerankers: score (query, document) pairs; the pipeline reorders first-stage candidates by score."""

from bench.rerank.base import Reranker

__all__ = ["Reranker"]
