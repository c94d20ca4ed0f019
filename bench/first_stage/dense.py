"""Dense retrieval: an embedding model (bench.models.sentence.Embedder) with exact inner-product search.

The model is a sentence-transformers bi-encoder built from `model=` (`SentenceEncoder`), or any
`Embedder` given as `encoder=`: one that encodes queries and documents differently (BGE's query
instruction), JinaBERT, an HTTP API (the RAG suite's embedding models, bench.suites.rag.embedders).

The corpus is encoded in shards of `shard_documents` documents (ids sorted). Each finished shard is
written to the shard store at once (verified on every later use), so a killed run re-encodes only
the shards it had not finished. The store is keyed by the corpus, the shard size and the encoder's
`identity()`. Search reads the shards memory-mapped and keeps a running top-k per query block: peak
memory follows the shard and query-block sizes, not the corpus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from bench.console import progress, stage
from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.records import Document, Run
from bench.models.sentence import Embedder, SentenceEncoder
from bench.store import ArrayShards, ShardCounts

#: documents per shard unless configured (`shard.documents`)
DEFAULT_SHARD_DOCUMENTS = 10_000
#: what the cache key adds to an encoder's identity(), so an identity may not use these names
KEY_FIELDS = ("corpus", "shard_documents")


def exact_top_k(
    queries: np.ndarray,
    corpus: np.ndarray | Sequence[np.ndarray],
    *,
    k: int,
    chunk_size: int = 50_000,
    query_batch: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k corpus rows by inner product for each query row: (indices, scores), best first.

    `corpus` is one matrix or a sequence of row blocks (memory-mapped shards) read in order; row
    indices count across blocks. At most `query_batch` x `chunk_size` scores exist at once.
    """
    blocks = [corpus] if isinstance(corpus, np.ndarray) else list(corpus)
    n_docs = sum(b.shape[0] for b in blocks)
    k = min(k, n_docs)
    rows = queries.shape[0]
    out_index = np.zeros((rows, k), dtype=np.int64)
    out_scores = np.zeros((rows, k), dtype=np.float32)
    for q_start in range(0, rows, query_batch):
        q = torch.from_numpy(np.ascontiguousarray(queries[q_start : q_start + query_batch]))
        best_scores = torch.full((q.shape[0], 0), float("-inf"))
        best_index = torch.zeros((q.shape[0], 0), dtype=torch.long)
        offset = 0
        for block in blocks:
            for start in range(0, block.shape[0], chunk_size):
                rows_here = torch.from_numpy(np.array(block[start : start + chunk_size], dtype=np.float32))
                scores = q @ rows_here.T
                top = torch.topk(scores, k=min(k, scores.shape[1]), dim=1)
                merged_scores = torch.cat([best_scores, top.values], dim=1)
                merged_index = torch.cat([best_index, top.indices + offset + start], dim=1)
                keep = torch.topk(merged_scores, k=min(k, merged_scores.shape[1]), dim=1)
                best_scores = keep.values
                best_index = torch.gather(merged_index, 1, keep.indices)
            offset += block.shape[0]
        out_index[q_start : q_start + q.shape[0]] = best_index.numpy()
        out_scores[q_start : q_start + q.shape[0]] = best_scores.numpy()
    return out_index, out_scores


class Dense:
    """Exact inner-product search over an embedding model's vectors (cosine when the model normalises).

    `encoder`: any `Embedder`; without one, a `SentenceEncoder` of `model` (with `revision`,
    `device`, `batch_size`, `normalize`), as the dense first stage's config builds it. Documents go
    to the encoder `2 * batch_size` at a time (a progress update each time).
    """

    def __init__(
        self,
        *,
        name: str = "dense",
        model: str = "sentence-transformers/all-MiniLM-L6-v2",
        revision: str | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        chunk_size: int = 50_000,
        shard_documents: int = DEFAULT_SHARD_DOCUMENTS,
        device: str = "auto",
        cache: bool = True,
        encoder: Embedder | None = None,
    ) -> None:
        if shard_documents < 1:
            raise ValueError(f"shard.documents must be at least 1, got {shard_documents}")
        self.name = name
        self.encoder: Embedder = encoder if encoder is not None else SentenceEncoder(
            model, revision=revision, device=device, batch_size=batch_size, normalize=normalize)
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.shard_documents = shard_documents
        self.cache = cache
        self.cache_hit = False
        self.shards = ShardCounts()
        self.problems: list[dict[str, str]] = []
        self._doc_ids: list[str] = []
        self._blocks: list[np.ndarray] = []
        self._indexed = False

    def index(self, corpus: Mapping[str, Document]) -> None:
        self._doc_ids = sorted(corpus)  # index positions follow the cache key (ids sorted), not input order
        identity = self.encoder.identity()  # may load the model: where its files came from is part of the key
        n = len(self._doc_ids)
        total = math.ceil(n / self.shard_documents)
        store = ArrayShards(cache_dir() / "embeddings" / embeddings_key(corpus, identity, self.shard_documents)
                            if self.cache else None, total=total, describe={**identity, "documents": n})
        bounds = [(i * self.shard_documents, min(n, (i + 1) * self.shard_documents)) for i in range(total)]
        blocks = [store.load(i, rows=hi - lo, mmap=True) for i, (lo, hi) in enumerate(bounds)]
        cached_docs = sum(hi - lo for (lo, hi), b in zip(bounds, blocks, strict=True) if b is not None)
        stage("encoding %s with %s: %d documents in %d shards, %d shards (%d documents) cached", self.name,
              identity.get("model", type(self.encoder).__name__), n, total, store.counts.reused, cached_docs)
        missing = [i for i, b in enumerate(blocks) if b is None]
        if missing:
            with progress(total=n, initial=cached_docs, desc=f"encode {self.name}", unit="doc") as bar:
                for i in missing:
                    lo, hi = bounds[i]
                    vectors = self._encode(corpus, self._doc_ids[lo:hi], bar)
                    store.save(i, vectors)
                    # read back memory-mapped, so memory holds one shard at a time, not the corpus
                    blocks[i] = store.reopen(i, rows=hi - lo) if self.cache else vectors
        self._blocks = [b for b in blocks if b is not None]
        self.shards = store.counts
        self.problems = [p.as_dict() for p in store.problems]
        self.cache_hit = total > 0 and store.counts.computed == 0
        self._indexed = True

    def _encode(self, corpus: Mapping[str, Document], ids: Sequence[str], bar: Any) -> np.ndarray:
        """One shard's document vectors (float32), `2 * batch_size` documents per call to the encoder."""
        step = max(1, self.batch_size * 2)  # a progress update every two batches
        parts = []
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            parts.append(as_rows(self.encoder.encode_documents([corpus[d].full_text for d in chunk]), len(chunk)))
            bar.update(len(chunk))
        return np.concatenate(parts)

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        if not self._indexed:
            raise RuntimeError("Dense.search called before index()")
        query_ids = list(queries)
        if not query_ids or not self._doc_ids:
            return {q: {} for q in query_ids}
        q_vec = as_rows(self.encoder.encode_queries([queries[q] for q in query_ids]), len(query_ids))
        index, scores = exact_top_k(q_vec, self._blocks, k=top_k, chunk_size=self.chunk_size)
        return {
            qid: {self._doc_ids[int(i)]: float(s) for i, s in zip(index[row], scores[row], strict=True)}
            for row, qid in enumerate(query_ids)
        }

    def info(self) -> dict[str, object]:
        # an encoder's own kind (the RAG suite's "sentence_transformers", "jinabert", "api") is kept as `encoder`
        encoder = {("encoder" if key == "kind" else key): value for key, value in self.encoder.info().items()}
        return {"kind": "dense", **encoder, "cache_hit": self.cache_hit,
                "shard_documents": self.shard_documents, "shards": self.shards.as_dict(), "quarantined": self.problems}


def embeddings_key(corpus: Mapping[str, Document], identity: Mapping[str, Any], shard_documents: int) -> str:
    """The embedding store's key: the corpus, the encoder's identity() and the shard size.

    A SentenceEncoder's identity (model, revision, source, normalize) gives the keys that the dense
    first stage has always used, so stores written before encoders were pluggable are reused.
    """
    clash = sorted(set(identity) & set(KEY_FIELDS))
    if clash:
        raise ValueError(f"an encoder's identity() may not use the names {', '.join(clash)}: the embedding "
                         "cache key adds them itself")
    return stable_hash({"corpus": fingerprint_corpus(corpus), **identity, "shard_documents": shard_documents})


def as_rows(vectors: np.ndarray, expected: int) -> np.ndarray:
    """An encoder's answer as contiguous float32 rows, checked to hold one row per text."""
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] != expected:
        raise ValueError(f"the encoder returned an array of shape {list(rows.shape)} for {expected} texts; "
                         "an Embedder returns one row per text")
    return rows
