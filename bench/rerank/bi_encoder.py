"""Bi-encoder rescoring: re-score first-stage candidates by embedding similarity.

A baseline people use in practice (cheap, no cross-attention), and the reranker that runs
offline here through the PyPI-packaged all-MiniLM-L6-v2 (bench.models.sentence).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.console import advance
from bench.models.sentence import SentenceEncoder


class BiEncoderReranker:
    def __init__(
        self,
        *,
        name: str,
        model: str,
        revision: str | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "auto",
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.encoder = SentenceEncoder(model, revision=revision, device=device, batch_size=batch_size,
                                       normalize=normalize)
        self.facts = dict(facts or {})
        self.scored_pairs = 0

    @property
    def normalize(self) -> bool:
        """Whether scores are cosine similarities (normalised embeddings) rather than inner products."""
        return self.encoder.normalize

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        queries = sorted({q for q, _ in pairs})
        docs = sorted({d for _, d in pairs})
        q_vec = self.encoder.encode(queries)
        d_vec = self._encode_reporting(docs, pairs=len(pairs))
        q_row = {q: i for i, q in enumerate(queries)}
        d_row = {d: i for i, d in enumerate(docs)}
        qi = np.fromiter((q_row[q] for q, _ in pairs), dtype=np.int64, count=len(pairs))
        di = np.fromiter((d_row[d] for _, d in pairs), dtype=np.int64, count=len(pairs))
        scores = np.einsum("ij,ij->i", q_vec[qi], d_vec[di])
        self.scored_pairs += len(pairs)
        return scores.astype(np.float64).tolist()

    def _encode_reporting(self, docs: list[str], *, pairs: int) -> np.ndarray:
        """Documents encoded a few batches at a time, reporting progress in pairs (the unit of a reranker)."""
        step = self.encoder.batch_size * 2  # a progress update every two batches
        parts, reported = [], 0
        for start in range(0, len(docs), step):
            parts.append(self.encoder.encode(docs[start : start + step]))
            share = pairs * min(len(docs), start + step) // len(docs)
            advance(share - reported)
            reported = share
        return np.concatenate(parts)

    def info(self) -> dict[str, object]:
        return {"kind": "bi_encoder", **self.encoder.facts(), "scored_pairs": self.scored_pairs}
