"""Bi-encoders through sentence-transformers, resolved by `bench.models.hub` (offline copies too)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from bench.models.hub import ResolvedModel, resolve
from bench.models.runtime import pick_device


def load_sentence_transformer(model: str, *, revision: str | None = None, device: str = "auto"):
    """Return (SentenceTransformer, where it came from). Loaded once per process and device, so the
    dense first stage and bi-encoder rescoring with the same model share one copy."""
    where: ResolvedModel = resolve(model, revision=revision)
    return _load(str(where.path), str(pick_device(device))), where


class LazySentenceTransformer:
    """A sentence-transformers model loaded on first `get()`; `source` then says where it came from."""

    def __init__(self, model: str, *, revision: str | None = None, device: str = "auto") -> None:
        self.model = model
        self.revision = revision
        self.device = device
        self.source: str | None = None
        self._encoder = None

    def get(self):
        if self._encoder is None:
            self._encoder, where = load_sentence_transformer(self.model, revision=self.revision, device=self.device)
            self.source = where.source
        return self._encoder


@lru_cache(maxsize=4)
def _load(path: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


def embedding_dimension(encoder) -> int | None:
    """The encoder's output width (sentence-transformers renamed the method in 5.x)."""
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method() or 0) or None


def encode(
    encoder, texts: Sequence[str], *, batch_size: int = 64, normalize: bool = True
) -> np.ndarray:
    """float32 embeddings, one row per text, L2-normalised when asked."""
    if not texts:
        dim = embedding_dimension(encoder) or 0
        return np.zeros((0, dim), dtype=np.float32)
    vectors = encoder.encode(
        list(texts),
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=normalize,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
