"""The extension point for rerankers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Reranker(Protocol):
    """Score (query, document text) pairs; a higher score means more relevant.

    `score` returns one float per pair in input order. `info` returns facts for the manifest,
    such as the model id, revision, dtype, and the number of pairs truncated so far.
    """

    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...

    def info(self) -> dict[str, object]: ...
