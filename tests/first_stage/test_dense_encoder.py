"""Dense with its own encoder (`encoder=`, any bench.models.sentence.Embedder): two sides, keyed cache, checks.

The encoder here is a tiny hashed bag of words, so every expected ranking is a numpy product away.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from bench.data.records import Document
from bench.first_stage.dense import Dense
from bench.models.sentence import Embedder, SentenceEncoder

WIDTH = 16
CORPUS = {f"d{i:02d}": Document(f"d{i:02d}", "", text) for i, text in enumerate([
    "heat transfer in laminar flow", "boundary layer separation", "supersonic wing flutter",
    "laminar boundary layer heat", "shock wave and wing", "turbulent flow heat transfer",
    "flutter of thin panels", "separation of turbulent boundary layer",
])}
QUERIES = {"q1": "laminar heat", "q2": "wing flutter", "q3": "turbulent separation"}


def bag(text: str) -> np.ndarray:
    row = np.zeros(WIDTH, dtype=np.float32)
    for word in text.split():
        row[zlib.crc32(word.encode()) % WIDTH] += 1.0
    return row


class TwoSidedEmbedder:
    """Queries are bags of words; documents are bags of words with their last 4 columns negated.

    Encoding queries like documents (one side for both) would give other rankings, and every call
    is recorded, so a test sees which side each text went through.
    """

    def __init__(self, *, tag: str = "a", kind: str | None = None) -> None:
        self.tag = tag
        self.kind = kind
        self.calls: list[tuple[str, list[str]]] = []

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("queries", list(texts)))
        return np.stack([bag(t) for t in texts]).astype(np.float64)  # float64: Dense stores float32 anyway

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("documents", list(texts)))
        rows = np.stack([bag(t) for t in texts])
        rows[:, -4:] *= -1.0
        return rows

    def identity(self) -> dict[str, Any]:
        return {"tag": self.tag}

    def info(self) -> dict[str, Any]:
        return {"tag": self.tag} if self.kind is None else {"kind": self.kind, "tag": self.tag}

    def texts(self, side: str) -> list[str]:
        return [t for s, texts in self.calls if s == side for t in texts]


def true_scores() -> dict[str, dict[str, float]]:
    """Each query's score for every document: query bag . document bag with its last 4 columns negated."""
    ids = sorted(CORPUS)
    docs = np.stack([bag(CORPUS[d].text) for d in ids])
    docs[:, -4:] *= -1.0
    scores = np.stack([bag(QUERIES[q]) for q in QUERIES]) @ docs.T
    return {q: {d: float(scores[row, i]) for i, d in enumerate(ids)} for row, q in enumerate(QUERIES)}


def test_the_protocol_is_met_by_sentence_encoder_and_fakes():
    assert isinstance(SentenceEncoder("any"), Embedder)  # builds nothing: the model loads on first use
    assert isinstance(TwoSidedEmbedder(), Embedder)


def test_queries_and_documents_go_through_their_own_side():
    encoder = TwoSidedEmbedder()
    dense = Dense(name="two", encoder=encoder, shard_documents=3, batch_size=1)
    dense.index(CORPUS)
    run = dense.search(QUERIES, top_k=4)
    assert sorted(encoder.texts("documents")) == sorted(d.text for d in CORPUS.values())
    assert encoder.texts("queries") == list(QUERIES.values())
    assert [len(texts) for side, texts in encoder.calls if side == "documents"] == [2, 1, 2, 1, 2]  # 2 x batch_size
    truth = true_scores()
    for q in QUERIES:  # each document's true score, best first, and the 4 best scores there are
        assert run[q] == {d: truth[q][d] for d in run[q]}
        assert list(run[q].values()) == sorted(truth[q].values(), reverse=True)[:4]
    # documents read like queries would rank otherwise: the sides really differ
    same_side = {q: sorted(CORPUS, key=lambda d, q=q: -float(bag(QUERIES[q]) @ bag(CORPUS[d].text)))[:4]
                 for q in QUERIES}
    assert any(set(same_side[q]) != set(run[q]) for q in QUERIES)


def test_the_store_is_keyed_by_the_encoders_identity(_isolated_cache):
    first = TwoSidedEmbedder(tag="a")
    Dense(encoder=first, shard_documents=3).index(CORPUS)
    again = TwoSidedEmbedder(tag="a")
    reused = Dense(encoder=again, shard_documents=3)
    reused.index(CORPUS)
    assert again.texts("documents") == [] and reused.cache_hit
    assert reused.shards.as_dict() == {"total": 3, "computed": 0, "reused": 3, "quarantined": 0}

    other = TwoSidedEmbedder(tag="b")
    Dense(encoder=other, shard_documents=3).index(CORPUS)
    assert len(other.texts("documents")) == len(CORPUS)  # another identity: another store entry
    assert len(list((_isolated_cache / "embeddings").iterdir())) == 2


def test_cached_and_uncached_search_agree(_isolated_cache):
    cached = Dense(encoder=TwoSidedEmbedder(), shard_documents=3)
    cached.index(CORPUS)
    fresh = Dense(encoder=TwoSidedEmbedder(), shard_documents=3)
    fresh.index(CORPUS)  # read from the store
    plain = Dense(encoder=TwoSidedEmbedder(), shard_documents=3, cache=False)
    plain.index(CORPUS)
    assert fresh.cache_hit and not plain.cache_hit
    assert fresh.search(QUERIES, top_k=5) == plain.search(QUERIES, top_k=5) == cached.search(QUERIES, top_k=5)


def test_info_keeps_the_encoders_kind_apart_from_dense():
    dense = Dense(encoder=TwoSidedEmbedder(kind="api"), cache=False)
    info = dense.info()
    assert info["kind"] == "dense" and info["encoder"] == "api" and info["tag"] == "a"


def test_an_identity_that_uses_the_keys_own_names_is_refused():
    class Clashing(TwoSidedEmbedder):
        def identity(self) -> dict[str, Any]:
            return {"corpus": "mine"}

    with pytest.raises(ValueError, match="corpus"):
        Dense(encoder=Clashing()).index(CORPUS)


def test_an_encoder_that_returns_the_wrong_number_of_rows_is_named():
    class Short(TwoSidedEmbedder):
        def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
            return super().encode_documents(texts)[:-1]

    with pytest.raises(ValueError, match="one row per text"):
        Dense(encoder=Short(), cache=False).index(CORPUS)
