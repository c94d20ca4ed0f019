"""Analytic FLOPs, checked by hand on a toy shape, and parameter counts of the zoo's architectures."""

from __future__ import annotations

import pytest
import torch

from bench.profile.architectures import random_model
from bench.profile.flops import Shape, layer_flops, matmul_flops, mean_pair_flops, pair_flops
from bench.profile.systems import reranker_group_facts

TOY = Shape(layers=2, hidden=4, heads=2, intermediate=8, vocab=100)


def test_plain_layer_by_hand():
    # L=3, h=4, I=8: projections 8*3*16=384, attention 4*9*4=144, feed-forward 4*3*4*8=384
    assert layer_flops(TOY, 3) == 384 + 144 + 384


def test_gated_feed_forward_by_hand():
    gated = Shape(layers=2, hidden=4, heads=2, intermediate=8, vocab=100, feed_forward="geglu")
    # feed-forward 6*L*h*I = 6*3*4*8 = 576 instead of 384
    assert layer_flops(gated, 3) == 384 + 144 + 576


def test_disentangled_attention_by_hand():
    deberta = Shape(layers=1, hidden=4, heads=2, intermediate=8, vocab=100, attention="disentangled", relative_span=2)
    # c2p and p2c: 4*L*s*h each = 4*3*2*4 = 96 each
    assert layer_flops(deberta, 3) == 384 + 144 + 384 + 192


def test_pair_flops_by_hand():
    # 2 layers of 912 + pooler 2*16 + classifier 2*4*1
    assert pair_flops(TOY, 3) == 2 * 912 + 32 + 8
    assert pair_flops(TOY, 0) == 0


def test_first_token_only_last_layer_by_hand():
    # last layer, 1 query of 3 tokens: K,V 4*3*16=192, Q,O 4*1*16=64, attention 4*1*3*4=48, FF 4*1*4*8=128
    assert pair_flops(TOY, 3, cls_only_last_layer=True) == 912 + 192 + 64 + 48 + 128 + 32 + 8
    assert mean_pair_flops(TOY, [3, 3]) == pair_flops(TOY, 3)
    assert mean_pair_flops(TOY, []) == 0.0


def test_tiny_per_token_cost_matches_the_architecture():
    tiny = Shape.from_facts(reranker_group_facts("jina-tiny")["shape"])
    # per token and layer without attention: 8h^2 + 6hI = 8*384^2 + 6*384*1536 = 4,718,592
    assert layer_flops(tiny, 1) - 4 * 1 * 384 == 4_718_592
    assert matmul_flops(2) == 16


def test_missing_shape_facts_are_named():
    with pytest.raises(ValueError, match="heads"):
        Shape.from_facts({"layers": 1, "hidden": 2, "intermediate": 4, "vocab": 9})


# bge-base's published 278,044,931 also counts the 514-entry position_ids buffer its checkpoint stores
@pytest.mark.parametrize(
    "name, params",
    [("jina-tiny", 33_046_273), ("jina-turbo", 37_771_777), ("bge-base", 278_044_931 - 514), ("minilm-l6", 22_713_601),
     ("jina-base", 137_369_089)],  # jina-base: published 137M; its vocab (30528) is inferred from that
)
def test_random_models_have_the_published_parameter_counts(name, params):
    with torch.device("meta"):  # no memory, no initialisation: only the shapes
        model = random_model(reranker_group_facts(name))
    assert sum(p.numel() for p in model.parameters()) == params
