"""Analytic FLOPs of one (query, document) pair through a cross-encoder, from its shape facts.

A FLOP here is one multiply or one add of a matrix product (a multiply-accumulate counts 2), the
convention behind "model FLOPs utilisation". Counted, per layer, for a pair of L real tokens
(padding is not useful work and is not counted):

    Q, K, V and output projections      8 L h^2
    attention scores and weighted sum   4 L^2 h            (QK^T and AV, all heads together)
    feed-forward, plain (gelu)          4 L h I            (h -> I -> h)
    feed-forward, gated (geglu, reglu)  6 L h I            (h -> 2I, then I -> h)
    disentangled attention (DeBERTa)    8 L s h            (c2p and p2c against 2s relative positions)

plus the pooler (2 h^2) and the classifier (2 h labels). Embedding look-ups, layer norms,
activations, softmax and the per-batch projection of DeBERTa's relative embeddings are not counted.

`cls_only_last_layer`: the pooler reads only the first token of the last layer, so an engine may
compute that layer's queries, attention, output projection and feed-forward for one token (its
keys and values still cover all L tokens). The count then drops accordingly, so that the fraction
of peak FLOP/s stays honest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

GATED_FEED_FORWARD = ("geglu", "reglu", "swiglu")


@dataclass(frozen=True)
class Shape:
    """The facts of `configs/reranker/*.yaml`'s `facts.shape` that decide the FLOPs."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int
    attention: str = "absolute"  # absolute | alibi | disentangled
    feed_forward: str = "gelu"  # gelu | geglu | reglu
    labels: int = 1
    relative_span: int = 256  # DeBERTa-v3 position_buckets: keys attend to 2 * span relative positions

    @classmethod
    def from_facts(cls, shape: Mapping[str, object]) -> Shape:
        known = {name: shape[name] for name in cls.__dataclass_fields__ if name in shape}
        missing = {"layers", "hidden", "heads", "intermediate", "vocab"} - set(known)
        if missing:
            raise ValueError(f"facts.shape lacks {', '.join(sorted(missing))}: got {dict(shape)}")
        return cls(**known)  # type: ignore[arg-type]

    @property
    def gated(self) -> bool:
        return self.feed_forward in GATED_FEED_FORWARD


def layer_flops(shape: Shape, length: int, *, queries: int | None = None) -> int:
    """FLOPs of one encoder layer over `length` tokens, computing outputs for `queries` of them."""
    h, i, n = shape.hidden, shape.intermediate, length
    q = n if queries is None else queries
    key_value = 4 * n * h * h
    query_output = 4 * q * h * h
    attention = 4 * q * n * h
    feed_forward = (6 if shape.gated else 4) * q * h * i
    relative = 0
    if shape.attention == "disentangled":
        # c2p: each query against 2s relative keys; p2c: each key against 2s relative queries.
        relative = 4 * q * shape.relative_span * h + 4 * n * shape.relative_span * h
    return key_value + query_output + attention + feed_forward + relative


def pair_flops(shape: Shape, length: int, *, cls_only_last_layer: bool = False) -> int:
    """FLOPs to score one pair of `length` tokens (see the module docstring)."""
    if length <= 0:
        return 0
    total = layer_flops(shape, length) * (shape.layers - 1)
    total += layer_flops(shape, length, queries=1 if cls_only_last_layer else None)
    head = 2 * shape.hidden * shape.hidden + 2 * shape.hidden * shape.labels
    return int(total + head)


def mean_pair_flops(shape: Shape, lengths: Iterable[int], *, cls_only_last_layer: bool = False) -> float:
    """Mean FLOPs per pair over pairs of the given (already truncated) lengths."""
    values = [pair_flops(shape, int(n), cls_only_last_layer=cls_only_last_layer) for n in lengths]
    return float(np.mean(values)) if values else 0.0


def matmul_flops(n: int) -> int:
    """An n x n by n x n matrix product."""
    return 2 * n**3
