"""CPU peak memory in a fresh subprocess."""

from __future__ import annotations

import pytest

from bench.profile.architectures import random_checkpoint
from bench.profile.memory import measure_in_subprocess

TOY = {
    "architecture": "bert",
    "shape": {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "vocab": 30522},
}


def test_memory_subprocess_returns_a_positive_peak(tmp_path):
    folder = random_checkpoint(TOY, tmp_path / "toy")
    spec = {
        "checkpoint": str(folder), "architecture": "bert", "vocab": 30522, "dtype": "float32", "max_length": 64,
        "scorer": {"_target_": "bench.profile.scorers.Engine", "token_budget": 256},
        "pairs": [["a query", "a document " * 30]] * 8, "threads": 1,
    }
    found = measure_in_subprocess(spec, timeout=300)
    # the weights alone are ~8 MB (30522 x 64 embeddings and two layers, float32)
    assert found["peak_mem_mb"] > 4
    assert found["peak_mem_mb"] >= found["after_load_mb"] > 0
    assert found["load_s"] > 0 and found["pairs"] == 8


def test_memory_subprocess_failure_says_why(tmp_path):
    spec = {"checkpoint": str(tmp_path / "missing"), "architecture": "bert", "dtype": "float32", "max_length": 8,
            "scorer": {"_target_": "bench.profile.scorers.Engine"}, "pairs": [["q", "d"]]}
    with pytest.raises(RuntimeError, match="memory subprocess failed"):
        measure_in_subprocess(spec, timeout=300)
