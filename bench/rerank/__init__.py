"""Rerankers: score (query, document) pairs; the pipeline reorders first-stage candidates by score."""

from bench.rerank.base import ModelUnavailable, Reranker

__all__ = ["ModelUnavailable", "Reranker"]
