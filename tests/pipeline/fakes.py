"""Rerankers for pipeline tests: deterministic, offline, optionally slow (to be killed mid-study)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence


def hash_score(query: str, document: str) -> float:
    """Shared words plus a stable fraction from the text's hash: spread, deterministic, order-sensitive."""
    overlap = len(set(query.lower().split()) & set(document.lower().split()))
    digest = hashlib.sha256(f"{query}\x1f{document}".encode()).digest()
    return overlap + int.from_bytes(digest[:4], "little") / 2**32


class HashReranker:
    """Scores pairs with `hash_score`, sleeping `delay` seconds per call of `score` (one call per shard)."""

    def __init__(self, *, name: str = "hash", delay: float | None = None, **_: object) -> None:
        self.name = name
        # from the environment by default, so a slowed-down run keeps the same cache key as a fast one
        self.delay = float(os.environ.get("BENCH_TEST_DELAY", "0")) if delay is None else delay
        self.calls = 0

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return [hash_score(q, d) for q, d in pairs]

    def info(self) -> dict[str, object]:
        return {"kind": "hash", "calls": self.calls}


class NanReranker(HashReranker):
    """Returns NaN for every pair of its second shard: a model gone wrong (float16 overflow)."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        scores = super().score(pairs)
        return [float("nan")] * len(scores) if self.calls == 2 else scores
