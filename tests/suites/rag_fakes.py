"""Fakes for the RAG suite's tests: an embedder whose rankings are given, a reranker that records.

Importable as `tests.suites.rag_fakes`, so a Hydra `_target_` can name them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bench.suites.rag.qa import QASet


class RankingEmbedder:
    """Ranks the chunks of each question in a given order, by construction of the vectors.

    Each chunk text gets a one-hot vector; a question's vector weights chunk i of its order by
    (n - i), so inner products reproduce the order exactly. Chunks not in an order score 0.
    """

    def __init__(self, *, name: str = "fake", qa: QASet, orders: Mapping[str, Sequence[str]],
                 model: str | None = None) -> None:
        self.name = name
        self.model = model
        self.chunk_ids = list(qa.corpus)
        self.row_of_text = {text: i for i, text in enumerate(qa.corpus.values())}
        self.order_of_text = {qa.queries[q]: list(order) for q, order in orders.items()}
        self.encoded_documents = 0

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded_documents += len(texts)
        out = np.zeros((len(texts), len(self.chunk_ids)), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, self.row_of_text[text]] = 1.0
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.chunk_ids)), dtype=np.float32)
        for row, text in enumerate(texts):
            order = self.order_of_text[text]
            for rank, chunk in enumerate(order):
                out[row, self.chunk_ids.index(chunk)] = float(len(order) - rank)
        return out

    def identity(self) -> dict[str, Any]:
        model = {} if self.model is None else {"model": self.model, "revision": None, "normalize": True}
        return {"kind": "fake", "orders": self.order_of_text, **model}

    def info(self) -> dict[str, Any]:
        return {"kind": "fake"} if self.model is None else {"kind": "fake", "model": self.model, "revision": None,
                                                            "normalize": True}


class RecordingReranker:
    """Scores pairs with `score_fn(query, text)` and records every pair it is shown.

    `calls` on the class collects the pairs of every instance, for instances that Hydra builds.
    """

    calls: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, *, name: str = "recorder", score_fn: Callable[[str, str], float] | None = None,
                 **_: Any) -> None:
        self.name = name
        self.score_fn = score_fn or (lambda q, d: float(len(set(q.split()) & set(d.split()))))
        self.seen: list[tuple[str, str]] = []

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.seen.extend(pairs)
        RecordingReranker.calls.extend(pairs)
        return [self.score_fn(q, d) for q, d in pairs]

    def info(self) -> dict[str, object]:
        return {"kind": "recording", "pairs": len(self.seen)}


class FakeBiEncoder(RecordingReranker):
    """A recording reranker that says it is a bi-encoder of `model` (as BiEncoderReranker.info() does)."""

    def __init__(self, *, name: str = "biencoder", model: str, revision: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.model = model
        self.revision = revision

    def info(self) -> dict[str, object]:
        return {"kind": "bi_encoder", "model": self.model, "revision": self.revision, "pairs": len(self.seen)}
