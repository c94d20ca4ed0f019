"""The contract every first stage keeps: run shape, top_k, corpus ids, determinism, empty input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.sources import local
from bench.first_stage.base import FirstStage
from bench.first_stage.bm25 import BM25
from bench.first_stage.dense import Dense
from bench.first_stage.hybrid import Hybrid
from bench.first_stage.run_file import RunFile


def _run_file(tmp_path: Path) -> RunFile:
    path = tmp_path / "first.trec"
    path.write_text(
        "q1 Q0 d1 1 3.0 x\nq1 Q0 d4 2 2.0 x\nq1 Q0 ghost 3 1.5 x\nq1 Q0 d2 4 1.0 x\n"
        "q2 Q0 d2 1 9.0 x\nq2 Q0 d3 2 8.0 x\nq3 Q0 d3 1 1.0 x\n"
    )
    return RunFile(path=str(path))


FACTORIES = {
    "bm25": lambda tmp: BM25(),
    "dense": lambda tmp: Dense(device="cpu"),
    "hybrid": lambda tmp: Hybrid(components={"bm25": BM25(), "dense": Dense(device="cpu")}),
    "run_file": _run_file,
}


@pytest.fixture(params=sorted(FACTORIES))
def stage(request, tmp_path, tiny_beir):
    first_stage = FACTORIES[request.param](tmp_path)
    dataset = local(tiny_beir)
    first_stage.index(dataset.corpus)
    return first_stage, dataset


def test_is_a_first_stage(stage):
    assert isinstance(stage[0], FirstStage)


def test_returns_every_query_at_most_top_k_ids_from_the_corpus(stage):
    first_stage, dataset = stage
    run = first_stage.search(dataset.queries, top_k=2)
    assert set(run) == set(dataset.queries)
    for docs in run.values():
        assert len(docs) <= 2
        assert set(docs) <= set(dataset.corpus)
        assert all(isinstance(s, float) for s in docs.values())


def test_is_deterministic(stage):
    first_stage, dataset = stage
    assert first_stage.search(dataset.queries, top_k=3) == first_stage.search(dataset.queries, top_k=3)


def test_the_obvious_document_wins(stage):
    first_stage, dataset = stage
    run = first_stage.search({"q1": "why do cats purr"}, top_k=3)
    assert max(run["q1"], key=run["q1"].get) == "d1"


def test_empty_query_set(stage):
    first_stage, _ = stage
    assert first_stage.search({}, top_k=5) == {}


def test_top_k_larger_than_the_corpus(stage):
    first_stage, dataset = stage
    run = first_stage.search(dataset.queries, top_k=1000)
    assert all(len(docs) <= len(dataset.corpus) for docs in run.values())


def test_info_is_json_ready(stage):
    import json

    json.dumps(stage[0].info())


def test_run_file_counts_what_it_cannot_use(tmp_path, tiny_beir):
    first_stage = _run_file(tmp_path)
    dataset = local(tiny_beir)
    first_stage.index(dataset.corpus)
    run = first_stage.search({"q1": "x", "q7": "y"}, top_k=10)
    assert list(run["q1"]) == ["d1", "d4", "d2"]
    assert first_stage.unknown_documents == 1  # "ghost" is not in the corpus
    assert first_stage.queries_missing == 1  # q7 has no line in the run


def test_run_file_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d1 1 3.0 x\nq1 Q0 d2 2 abc x\n")
    with pytest.raises(ValueError, match=r"bad\.trec:2"):
        RunFile(path=str(path))


def test_bm25_index_is_cached_on_disk(tiny_beir):
    dataset = local(tiny_beir)
    first = BM25()
    first.index(dataset.corpus)
    second = BM25()
    second.index(dataset.corpus)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.search(dataset.queries, top_k=3) == second.search(dataset.queries, top_k=3)
    changed = BM25(k1=1.2)
    changed.index(dataset.corpus)
    assert changed.cache_hit is False


def test_dense_chunked_search_equals_full_matrix():
    import numpy as np

    from bench.first_stage.dense import exact_top_k

    rng = np.random.default_rng(0)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    corpus = rng.normal(size=(103, 16)).astype(np.float32)
    index, scores = exact_top_k(queries, corpus, k=10, chunk_size=17)
    full = queries @ corpus.T
    expected = np.argsort(-full, axis=1)[:, :10]
    assert (index == expected).all()
    assert np.allclose(scores, np.take_along_axis(full, expected, axis=1), atol=1e-5)
