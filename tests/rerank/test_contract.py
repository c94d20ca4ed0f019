"""The contract every reranker keeps: one float per pair in input order, deterministic, empty input."""

from __future__ import annotations

import json

import pytest

from bench.rerank.base import Reranker
from bench.rerank.bi_encoder import BiEncoderReranker
from bench.rerank.cross_encoder import CrossEncoderReranker
from tests.checkpoints import make_bert_checkpoint, make_jinabert_checkpoint

PAIRS = [
    ("why do cats purr", "Cats purr when they are happy."),
    ("why do cats purr", "Dogs bark at strangers."),
    ("dogs barking", "Dogs bark at strangers."),
    ("dogs barking", ""),
    ("heat transfer at hypersonic speed", "The nose radius sets the heat transfer to a blunt body. " * 20),
]


def _bert(tmp_path):
    return CrossEncoderReranker(name="bert", model=str(make_bert_checkpoint(tmp_path / "bert")), device="cpu",
                                max_length=64, batch_size=2)


def _jinabert(tmp_path):
    return CrossEncoderReranker(name="jina", model=str(make_jinabert_checkpoint(tmp_path / "jina")),
                                device="cpu", max_length=64, batch_size=2)


def _biencoder(tmp_path):
    return BiEncoderReranker(name="biencoder", model="sentence-transformers/all-MiniLM-L6-v2", device="cpu")


FACTORIES = {"cross_encoder:bert": _bert, "cross_encoder:jinabert": _jinabert, "biencoder": _biencoder}


@pytest.fixture(params=sorted(FACTORIES))
def reranker(request, tmp_path):
    return FACTORIES[request.param](tmp_path)


def test_is_a_reranker(reranker):
    assert isinstance(reranker, Reranker)


def test_one_finite_float_per_pair(reranker):
    scores = reranker.score(PAIRS)
    assert len(scores) == len(PAIRS)
    assert all(isinstance(s, float) and s == s and abs(s) != float("inf") for s in scores)


def test_input_order_is_kept(reranker):
    forward = reranker.score(PAIRS)
    backward = reranker.score(PAIRS[::-1])
    assert backward[::-1] == pytest.approx(forward, abs=1e-5)


def test_deterministic(reranker):
    assert reranker.score(PAIRS) == pytest.approx(reranker.score(PAIRS), abs=1e-6)


def test_empty_input(reranker):
    assert reranker.score([]) == []


def test_info_is_json_ready_and_counts_pairs(reranker):
    reranker.score(PAIRS)
    info = reranker.info()
    json.dumps(info)
    assert info["scored_pairs"] == len(PAIRS)


def test_cross_encoder_counts_truncated_pairs(tmp_path):
    ranker = _bert(tmp_path)
    ranker.score(PAIRS)
    assert ranker.info()["truncated_pairs"] == 1  # only the repeated long document exceeds 64 tokens
