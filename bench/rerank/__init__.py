"""Rerankers: score (query, document) pairs; the pipeline reorders first-stage candidates by score.

`base` is the Reranker protocol; `cross_encoder` (PyTorch through `engine`'s length-sorted token-budget
batches, or ONNX Runtime through `onnx`), `bi_encoder` and `api` (an HTTP rerank service) implement it;
`loading` resolves checkpoints; `scoring` scores a study's candidates in resumable, verified shards.
"""

from bench.rerank.base import Reranker

__all__ = ["Reranker"]
