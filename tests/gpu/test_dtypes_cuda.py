"""float16 and bfloat16 against float32 on the GPU, for random tiny models of the zoo's four architectures.

JinaBERT (jina-reranker-v1), BERT (MiniLM), XLM-RoBERTa (bge-reranker) and DeBERTa-v2 (mxbai-rerank),
built by tests/checkpoints.py, loaded as the pipeline loads them (bench.rerank.loading) and scored by
bench's engine on padded CUDA batches. Half precision must rank as float32 does (Kendall tau) and stay
close to its scores (max |diff| against the spread of the float32 scores).

Bounds: on a CPU these models gave max |diff| / std of at most 0.014 (float16) and 0.13 (bfloat16, 8
mantissa bits), and tau of at least 0.996 and 0.977; the bounds leave room for the GPU's kernels while
failing a broken half-precision path (NaN, a lost mask, a wrong dtype), whose error is of the order of
the spread itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.models.hub import ResolvedModel
from bench.profile.stats import kendall_tau
from bench.rerank.engine import score_pairs
from bench.rerank.loading import load_cross_encoder
from tests.checkpoints import (
    CORPUS,
    make_bert_checkpoint,
    make_deberta_v2_checkpoint,
    make_jinabert_checkpoint,
    make_xlmr_checkpoint,
)

pytestmark = pytest.mark.gpu

MAKERS = {
    "jinabert": lambda path: make_jinabert_checkpoint(path, layers=2, hidden=48, heads=12, intermediate=96),
    "bert": make_bert_checkpoint,
    "xlm-roberta": make_xlmr_checkpoint,
    "deberta-v2": make_deberta_v2_checkpoint,
}
#: dtype -> (largest max |diff| / std of the float32 scores, smallest Kendall tau)
BOUNDS = {"float16": (0.05, 0.95), "bfloat16": (0.3, 0.85)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pairs(n: int = 64, seed: int = 0) -> list[tuple[str, str]]:
    """Random word salads from the test corpus, 3 to 80 words long, so that batches pad."""
    rng = np.random.default_rng(seed)
    words = " ".join(CORPUS).split()
    return [(" ".join(rng.choice(words, 5)), " ".join(rng.choice(words, int(rng.integers(3, 80))))) for _ in range(n)]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """architecture -> dtype -> (scores, the loaded model's parameter dtype)."""
    cuda = torch.device("cuda")
    texts = pairs()
    out: dict[str, dict[str, tuple[np.ndarray, torch.dtype]]] = {}
    for name, make in MAKERS.items():
        path = make(tmp_path_factory.mktemp(name))
        out[name] = {}
        for label, dtype in DTYPES.items():
            loaded = load_cross_encoder(ResolvedModel(str(path), path, "local", None), device=cuda, dtype=dtype)
            scores, _ = score_pairs(loaded.model, loaded.tokenizer, texts, max_length=128, token_budget=2048,
                                    device=cuda)
            out[name][label] = (scores, next(loaded.model.parameters()).dtype)
            del loaded
        torch.cuda.empty_cache()
    return out


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("architecture", list(MAKERS))
def test_half_precision_ranks_and_scores_as_float32(scored, architecture, dtype):
    reference, _ = scored[architecture]["float32"]
    scores, weights = scored[architecture][dtype]
    assert weights == DTYPES[dtype], f"the model was loaded as {weights}, not {dtype}"
    assert np.isfinite(scores).all(), f"{architecture} {dtype}: non-finite scores"
    spread = float(np.std(reference))
    assert spread > 0.01, f"{architecture}: float32 scores hardly differ ({spread:.3g}): nothing to compare"
    worst, tau = float(np.max(np.abs(scores - reference))), kendall_tau(reference, scores)
    max_relative, min_tau = BOUNDS[dtype]
    assert worst <= max_relative * spread, f"{architecture} {dtype}: max |diff| {worst:.3g}, float32 std {spread:.3g}"
    assert tau >= min_tau, f"{architecture} {dtype}: Kendall tau {tau:.3f} against float32"
