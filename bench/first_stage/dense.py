"""Dense retrieval: a sentence-transformers bi-encoder (bench.models.sentence) with exact inner-product search.

The corpus is encoded in shards of `shard_documents` documents (ids sorted). Each finished shard is
written to the shard store at once (verified on every later use), so a killed run re-encodes only
the shards it had not finished. Search reads the shards memory-mapped and keeps a running top-k
per query block: peak memory follows the shard and query-block sizes, not the corpus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from bench.console import progress, stage
from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.records import Document, Run
from bench.models.sentence import SentenceEncoder
from bench.store import ArrayShards, ShardCounts

#: documents per shard unless configured (`shard.documents`)
DEFAULT_SHARD_DOCUMENTS = 10_000


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
    ) -> None:
        if shard_documents < 1:
            raise ValueError(f"shard.documents must be at least 1, got {shard_documents}")
        self.name = name
        self.encoder = SentenceEncoder(model, revision=revision, device=device, batch_size=batch_size,
                                       normalize=normalize)
        self.chunk_size = chunk_size
        self.shard_documents = shard_documents
        self.cache = cache
        self.cache_hit = False
        self.shards = ShardCounts()
        self.problems: list[dict[str, str]] = []
        self._doc_ids: list[str] = []
        self._blocks: list[np.ndarray] = []
        self._indexed = False

    @property
    def source(self) -> str | None:
        return self.encoder.source

    def index(self, corpus: Mapping[str, Document]) -> None:
        self._doc_ids = sorted(corpus)  # index positions follow the cache key (ids sorted), not input order
        encoder = self.encoder
        dim = encoder.dimension  # loads the model, so that its source is known for the cache key
        key = stable_hash(
            {"corpus": fingerprint_corpus(corpus), **encoder.facts(), "normalize": encoder.normalize,
             "shard_documents": self.shard_documents}
        )
        n = len(self._doc_ids)
        total = math.ceil(n / self.shard_documents)
        store = ArrayShards(cache_dir() / "embeddings" / key if self.cache else None, total=total,
                            describe={"model": encoder.model, "source": self.source, "documents": n})
        bounds = [(i * self.shard_documents, min(n, (i + 1) * self.shard_documents)) for i in range(total)]
        blocks: list[np.ndarray | None] = [store.load(i, rows=hi - lo, columns=dim, mmap=True)
                                           for i, (lo, hi) in enumerate(bounds)]
        cached_docs = sum(hi - lo for (lo, hi), b in zip(bounds, blocks, strict=True) if b is not None)
        stage("encoding %s with %s: %d documents in %d shards, %d shards (%d documents) cached", self.name,
              encoder.model, n, total, store.counts.reused, cached_docs)
        missing = [i for i, b in enumerate(blocks) if b is None]
        if missing:
            step = max(1, encoder.batch_size * 2)  # a progress update every two batches
            with progress(total=n, initial=cached_docs, desc=f"encode {self.name}", unit="doc") as bar:
                for i in missing:
                    lo, hi = bounds[i]
                    parts = []
                    for start in range(lo, hi, step):
                        ids = self._doc_ids[start : min(hi, start + step)]
                        parts.append(encoder.encode([corpus[d].full_text for d in ids]))
                        bar.update(len(ids))
                    vectors = np.concatenate(parts) if parts else np.zeros((0, dim or 0), dtype=np.float32)
                    store.save(i, vectors)
                    # read back memory-mapped, so memory holds one shard at a time, not the corpus
                    blocks[i] = store.reopen(i, rows=hi - lo, columns=dim) if self.cache else vectors
        self._blocks = [b for b in blocks if b is not None]
        self.shards = store.counts
        self.problems = [p.as_dict() for p in store.problems]
        self.cache_hit = total > 0 and store.counts.computed == 0
        self._indexed = True

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        if not self._indexed:
            raise RuntimeError("Dense.search called before index()")
        query_ids = list(queries)
        if not query_ids or not self._doc_ids:
            return {q: {} for q in query_ids}
        q_vec = self.encoder.encode([queries[q] for q in query_ids])
        index, scores = exact_top_k(q_vec, self._blocks, k=top_k, chunk_size=self.chunk_size)
        return {
            qid: {self._doc_ids[int(i)]: float(s) for i, s in zip(index[row], scores[row], strict=True)}
            for row, qid in enumerate(query_ids)
        }

    def info(self) -> dict[str, object]:
        return {"kind": "dense", **self.encoder.facts(), "cache_hit": self.cache_hit,
                "shard_documents": self.shard_documents, "shards": self.shards.as_dict(), "quarantined": self.problems}
