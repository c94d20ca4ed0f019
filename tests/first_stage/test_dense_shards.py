"""Dense retrieval over memory-mapped embedding shards: the same top-k as one matrix, one shard in memory."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.sources import demo
from bench.first_stage.dense import Dense, exact_top_k


def test_top_k_over_row_blocks_equals_top_k_over_the_whole_matrix():
    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((1_003, 16)).astype(np.float32)
    queries = rng.standard_normal((37, 16)).astype(np.float32)
    whole_index, whole_scores = exact_top_k(queries, corpus, k=25)
    blocks = [corpus[i : i + 97] for i in range(0, len(corpus), 97)]
    index, scores = exact_top_k(queries, blocks, k=25, chunk_size=40, query_batch=8)
    np.testing.assert_array_equal(index, whole_index)
    np.testing.assert_allclose(scores, whole_scores, rtol=1e-6)
    brute = np.argsort(-(queries @ corpus.T), axis=1, kind="stable")[:, :25]
    np.testing.assert_array_equal(index, brute)


def test_index_keeps_memory_mapped_shards_and_resumes_from_them(_isolated_cache):
    dataset = demo()
    first = Dense(shard_documents=40)
    first.index(dataset.corpus)
    assert first.shards.as_dict() == {"total": 5, "computed": 5, "reused": 0, "quarantined": 0}
    assert all(isinstance(b, np.memmap) for b in first._blocks)  # the corpus is not held in memory
    expected = first.search(dataset.queries, top_k=10)

    # lose the last two shards, as a kill during encoding would
    import shutil

    [folder] = (_isolated_cache / "embeddings").iterdir()
    # the key that stores written before encoders were pluggable (`Dense(encoder=...)`) have: still reused
    assert folder.name == stable_hash({
        "corpus": fingerprint_corpus(dataset.corpus), "model": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": None, "source": first.encoder.info()["source"], "normalize": True, "shard_documents": 40})
    for shard in sorted(folder.glob("shard-*"))[3:]:
        shutil.rmtree(shard)
    again = Dense(shard_documents=40)
    again.index(dataset.corpus)
    assert again.shards.as_dict() == {"total": 5, "computed": 2, "reused": 3, "quarantined": 0}
    assert again.search(dataset.queries, top_k=10) == expected


def test_shard_size_must_be_positive():
    with pytest.raises(ValueError, match="shard.documents"):
        Dense(shard_documents=0)
