"""Dense retrieval: a sentence-transformers bi-encoder with exact inner-product search.

Corpus embeddings are cached on disk (keyed by model, revision and corpus content); search
walks the corpus in chunks and keeps a running top-k, so no query x corpus matrix is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.records import Document, Run
from bench.models.sentence import LazySentenceTransformer, encode


def exact_top_k(
    queries: np.ndarray, corpus: np.ndarray, *, k: int, chunk_size: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k corpus rows by inner product for each query row: (indices, scores), best first."""
    n_docs = corpus.shape[0]
    k = min(k, n_docs)
    q = torch.from_numpy(queries)
    best_scores = torch.full((q.shape[0], 0), float("-inf"))
    best_index = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for start in range(0, n_docs, chunk_size):
        block = torch.from_numpy(corpus[start : start + chunk_size])
        scores = q @ block.T
        top = torch.topk(scores, k=min(k, scores.shape[1]), dim=1)
        merged_scores = torch.cat([best_scores, top.values], dim=1)
        merged_index = torch.cat([best_index, top.indices + start], dim=1)
        keep = torch.topk(merged_scores, k=min(k, merged_scores.shape[1]), dim=1)
        best_scores = keep.values
        best_index = torch.gather(merged_index, 1, keep.indices)
    return best_index.numpy(), best_scores.numpy()


class Dense:
    def __init__(
        self,
        *,
        name: str = "dense",
        model: str = "sentence-transformers/all-MiniLM-L6-v2",
        revision: str | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        chunk_size: int = 50_000,
        device: str = "auto",
        cache: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.revision = revision
        self.batch_size = batch_size
        self.normalize = normalize
        self.chunk_size = chunk_size
        self.device_name = device
        self.cache = cache
        self.cache_hit = False
        self._lazy = LazySentenceTransformer(model, revision=revision, device=device)
        self._doc_ids: list[str] = []
        self._vectors: np.ndarray | None = None

    @property
    def source(self) -> str | None:
        return self._lazy.source

    def index(self, corpus: Mapping[str, Document]) -> None:
        self._doc_ids = sorted(corpus)  # index positions follow the cache key (ids sorted), not input order
        encoder = self._lazy.get()
        key = stable_hash(
            {"corpus": fingerprint_corpus(corpus), "model": self.model, "revision": self.revision,
             "source": self.source, "normalize": self.normalize}
        )
        path = cache_dir() / "embeddings" / f"{key}.npy"
        if self.cache and path.is_file():
            self._vectors = np.load(path)
            self.cache_hit = True
            return
        texts = [corpus[d].full_text for d in self._doc_ids]
        self._vectors = encode(encoder, texts, batch_size=self.batch_size, normalize=self.normalize)
        if self.cache:
            _save_npy_atomically(path, self._vectors)

    def search(self, queries: Mapping[str, str], *, top_k: int) -> Run:
        if self._vectors is None:
            raise RuntimeError("Dense.search called before index()")
        query_ids = list(queries)
        if not query_ids or not self._doc_ids:
            return {q: {} for q in query_ids}
        q_vec = encode(self._lazy.get(), [queries[q] for q in query_ids], batch_size=self.batch_size,
                       normalize=self.normalize)
        index, scores = exact_top_k(q_vec, self._vectors, k=top_k, chunk_size=self.chunk_size)
        return {
            qid: {self._doc_ids[int(i)]: float(s) for i, s in zip(index[row], scores[row], strict=True)}
            for row, qid in enumerate(query_ids)
        }

    def info(self) -> dict[str, object]:
        return {"kind": "dense", "model": self.model, "revision": self.revision, "source": self.source,
                "cache_hit": self.cache_hit}


def _save_npy_atomically(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{id(array)}.npy")
    np.save(tmp, array)
    tmp.replace(path)
