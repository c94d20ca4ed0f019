"""The three scorers agree on the scores of one random checkpoint; unsupported combinations say why."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.profile.architectures import random_checkpoint
from bench.profile.measure import Stopwatch
from bench.profile.scorers import Engine, PlainLoop, SentenceTransformers, Unsupported
from bench.profile.systems import dtype_problem, load_checkpoint
from bench.profile.workload import synthetic

BERT = {"architecture": "bert", "shape": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": 30522}}
JINA = {"architecture": "jinabert",
        "shape": {"layers": 2, "hidden": 48, "heads": 12, "intermediate": 96, "vocab": 500, "feed_forward": "geglu"}}


@pytest.fixture(scope="module")
def pairs():
    lengths = {"median": 30, "sigma": 0.8, "min": 2, "max": 90}
    return synthetic(queries=2, depth=6, query_tokens=4, doc_tokens=lengths).pairs


def test_engine_loop_and_sentence_transformers_agree(tmp_path, pairs):
    loaded = load_checkpoint(random_checkpoint(BERT, tmp_path / "bert"), architecture="bert", dtype="float32",
                             device=torch.device("cpu"))
    watch = Stopwatch(torch.device("cpu"))
    engine = Engine(token_budget=128).bind(loaded)(pairs, 48, watch)
    loop = PlainLoop(batch_size=4).bind(loaded)(pairs, 48, watch)
    st = SentenceTransformers(batch_size=4).bind(loaded)(pairs, 48, watch)
    np.testing.assert_allclose(engine, loop, atol=1e-5, rtol=0)
    np.testing.assert_allclose(engine, st, atol=1e-5, rtol=0)
    assert np.std(engine) > 1e-3  # random weights, but the pairs do not all score alike
    assert watch.seconds["tokenize"] > 0 and watch.seconds["model"] > 0
    assert Engine(token_budget=128).first_token_only(loaded) and not PlainLoop().first_token_only(loaded)


def test_small_vocabulary_gets_folded_ids_and_no_token_types(tmp_path, pairs):
    loaded = load_checkpoint(random_checkpoint(JINA, tmp_path / "jina"), architecture="jinabert", dtype="float32",
                             device=torch.device("cpu"), vocab=500)
    assert "token_type_ids" not in loaded.tokenizer.model_input_names
    engine = Engine(token_budget=256).bind(loaded)(pairs, 64, Stopwatch(torch.device("cpu")))
    loop = PlainLoop(batch_size=5).bind(loaded)(pairs, 64, Stopwatch(torch.device("cpu")))
    np.testing.assert_allclose(engine, loop, atol=1e-5, rtol=0)
    with pytest.raises(Unsupported, match="remote code"):
        SentenceTransformers().bind(loaded)


def test_batch_knobs_and_labels():
    assert Engine(token_budget=4096).with_batch(8192).label() == "tok8192"
    assert Engine(token_budget=None, batch_size=16).with_batch(8).label() == "8"
    assert PlainLoop().with_batch(64).label() == "64"


def test_dtype_support_per_device():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert dtype_problem("float16", cpu) and not dtype_problem("float16", cuda)
    assert not dtype_problem("int8", cpu) and dtype_problem("int8", cuda)
    assert not dtype_problem("bfloat16", cpu) and dtype_problem("float8", cpu)
