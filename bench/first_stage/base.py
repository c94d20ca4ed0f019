"""The extension point for first-stage retrieval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from bench.data.records import Document, Run


@runtime_checkable
class FirstStage(Protocol):
    """Index a corpus once, then return the top_k documents per query, best first."""

    name: str

    def index(self, corpus: Mapping[str, Document]) -> None: ...

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run: ...

    def info(self) -> dict[str, object]:
        """Facts for the manifest (parameters, model id, cache hits)."""
        ...
