"""bench's engine on a real GPU: padded CUDA batches, pinned non-blocking copies, out-of-memory halving.

tests/rerank/test_engine.py checks the same paths on a CPU with torch.cuda mocked; here they run on
the device: the scores against one pair at a time on the CPU, the copies as the CUDA profiler sees
them, and an out-of-memory error provoked by capping this process's CUDA memory.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.models.hub import ResolvedModel
from bench.rerank import engine
from bench.rerank.engine import (
    OomGuard,
    encode_pairs,
    plan_batches,
    run_batches,
    score_pairs,
    scoring_model,
    tokenizer_settings,
)
from bench.rerank.loading import load_cross_encoder
from tests.checkpoints import PAIRS as ENGINE_PAIRS
from tests.checkpoints import make_bert_checkpoint, make_jinabert_checkpoint

pytestmark = pytest.mark.gpu

PAIRS = ENGINE_PAIRS * 3
#: small enough for several padded batches over PAIRS
BUDGET = 256


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-engine")
    return {
        "bert": make_bert_checkpoint(root / "bert", layers=2, hidden=32, heads=2, intermediate=64),
        "jinabert": make_jinabert_checkpoint(root / "jina", layers=2, hidden=48, heads=12, intermediate=96),
    }


def load(path, device: torch.device):
    """The checkpoint as the pipeline loads it (bench.rerank.loading), float32."""
    loaded = load_cross_encoder(ResolvedModel(str(path), path, "local", None), device=device, dtype=torch.float32)
    return loaded.model, loaded.tokenizer


def one_by_one(model, tokenizer, pairs, max_length: int) -> np.ndarray:
    """Each pair alone, unpadded, on the model's device: the reference the engine must reproduce."""
    scores = []
    device = engine.model_device(model)
    with torch.inference_mode():
        for query, doc in pairs:
            features = tokenizer(query, doc, truncation=True, max_length=max_length, return_tensors="pt")
            if "token_type_ids" not in tokenizer.model_input_names:
                features.pop("token_type_ids", None)
            scores.append(float(model(**{k: v.to(device) for k, v in features.items()}).logits[0, 0]))
    return np.array(scores)


@pytest.mark.parametrize("architecture", ["bert", "jinabert"])
def test_padded_cuda_batches_equal_scoring_each_pair_alone_on_the_cpu(checkpoints, cuda, architecture, monkeypatch):
    cpu_model, tokenizer = load(checkpoints[architecture], torch.device("cpu"))
    reference = one_by_one(cpu_model, tokenizer, PAIRS, max_length=64)
    model, tokenizer = load(checkpoints[architecture], cuda)
    seen = []
    real = engine.to_device

    def recording(batch, device):
        moved = real(batch, device)
        seen.append(moved)
        return moved

    monkeypatch.setattr(engine, "to_device", recording)
    scores, _ = score_pairs(model, tokenizer, PAIRS, max_length=64, token_budget=BUDGET, device=cuda)
    np.testing.assert_allclose(scores, reference, atol=1e-4, rtol=0)
    assert len(seen) > 1, "the budget should give several batches"
    for batch in seen:  # padded 2-D batches on the GPU: the CUDA path never packs
        assert "cu_seqlens" not in batch
        assert batch["input_ids"].is_cuda and batch["input_ids"].ndim == 2
        assert batch["attention_mask"].shape == batch["input_ids"].shape
    assert any(not bool(b["attention_mask"].all()) for b in seen), "no batch was padded"


def test_batches_reach_the_gpu_through_pinned_non_blocking_copies(checkpoints, cuda, monkeypatch):
    from torch.profiler import ProfilerActivity, profile

    model, tokenizer = load(checkpoints["bert"], cuda)
    encoded = encode_pairs(tokenizer, PAIRS, max_length=64)
    batches = len(plan_batches(encoded.lengths, batch_size=32, token_budget=BUDGET))  # score_pairs' defaults
    copies: list[tuple[bool, bool]] = []  # (from pinned memory, non_blocking) of every host-to-GPU .to()
    real_to = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        out = real_to(self, *args, **kwargs)
        if self.device.type == "cpu" and out.device.type == "cuda":
            copies.append((self.is_pinned(), bool(kwargs.get("non_blocking", False))))
        return out

    score_pairs(model, tokenizer, PAIRS, max_length=64, token_budget=BUDGET, device=cuda)  # warm-up
    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        score_pairs(model, tokenizer, PAIRS, max_length=64, token_budget=BUDGET, device=cuda)
    monkeypatch.undo()
    inputs = 3 * batches  # input_ids, attention_mask, token_type_ids per batch
    assert copies.count((True, True)) >= inputs, copies
    memcpys = [e.key for e in prof.key_averages() if "Memcpy HtoD" in e.key]
    if not memcpys:
        pytest.skip("the CUDA profiler recorded no memory copies here (CUPTI unavailable?): pinning not observable")
    assert any("Pinned -> Device" in key for key in memcpys), memcpys


@pytest.fixture(scope="module")
def long_pairs():
    """128 pairs that all fill max_length 256: one padded batch of 128 x 256 tokens, no padding."""
    document = " ".join(["the boundary layer of a flat plate in supersonic flow grows with distance"] * 40)
    return [(f"query number {i}", document) for i in range(128)]


def test_real_out_of_memory_halves_the_batch_and_keeps_every_score(checkpoints, cuda, long_pairs):
    model, tokenizer = load(checkpoints["jinabert"], cuda)
    runner = scoring_model(model)  # as the engine runs it
    encoded = encode_pairs(tokenizer, long_pairs, max_length=256)
    assert len(set(encoded.lengths.tolist())) == 1
    pad_id, use_types = tokenizer_settings(tokenizer)
    whole = [np.arange(len(long_pairs))]

    def score(guard: OomGuard) -> np.ndarray:
        return run_batches(runner, encoded, whole, device=cuda, pad_id=pad_id, use_token_types=use_types, guard=guard)

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_reserved()
    reference = score(OomGuard())
    work = torch.cuda.max_memory_reserved() - before
    assert work > 64 * 2**20, f"the batch needed only {work / 2**20:.0f} MB: too little to provoke anything"

    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(cuda).total_memory
    limit = torch.cuda.memory_reserved() + int(0.6 * work)  # room for about half the batch
    guard = OomGuard()
    torch.cuda.set_per_process_memory_fraction(limit / total)
    try:
        scores = score(guard)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert guard.splits >= 1, "the capped run raised no out-of-memory error"
    assert guard.max_tokens is not None and guard.max_tokens <= len(long_pairs) * 256 // 2
    assert not np.isnan(scores).any(), "a score was lost"
    np.testing.assert_allclose(scores, reference, atol=1e-5, rtol=0)
