"""Native JinaBERT against the reference implementation's outputs (../shared/fixtures).

The fixture is a random-initialised 2-layer, 12-head JinaBERT cross-encoder saved like
jina-reranker-v1-*-en, with golden.json holding the reference code's float32 eval-mode outputs.
Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.models.alibi import alibi_slopes
from bench.models.jinabert import JinaBertForSequenceClassification

FIXTURE = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "jinabert-golden-12h"


@pytest.fixture(scope="module")
def golden() -> dict:
    if not (FIXTURE / "golden.json").exists():
        pytest.skip(f"{FIXTURE} is absent")
    return json.loads((FIXTURE / "golden.json").read_text())


@pytest.fixture(scope="module")
def model(golden) -> JinaBertForSequenceClassification:
    return JinaBertForSequenceClassification.from_pretrained(FIXTURE, torch_dtype=torch.float32)


@pytest.fixture(scope="module")
def padded(golden, model) -> dict[str, torch.Tensor]:
    case = golden["cases"]["padded_batch"]
    ids, mask = torch.tensor(case["input_ids"]), torch.tensor(case["attention_mask"])
    with torch.inference_mode():
        encoded = model.bert(ids, mask)
        logits = model(ids, mask).logits[:, 0]
    return {"logits": logits, "pooled": encoded.pooler_output, "cls": encoded.last_hidden_state[:, 0]}


@pytest.fixture(scope="module")
def one_by_one(golden, model) -> torch.Tensor:
    ids = golden["cases"]["padded_batch"]["input_ids"]
    with torch.inference_mode():
        return torch.stack([model(torch.tensor([ids[i][:n]])).logits[0, 0] for i, n in enumerate(golden["lengths"])])


def expected(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_fixture_config_has_no_num_labels_and_one_is_inferred(model):
    assert "num_labels" not in json.loads((FIXTURE / "config.json").read_text())
    assert model.config.num_labels == 1


def test_padded_batch_matches(golden, padded):
    case = golden["cases"]["padded_batch"]
    assert [sum(row) for row in case["attention_mask"]] == golden["lengths"]
    torch.testing.assert_close(padded["logits"], expected(case["logits"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(padded["pooled"], expected(case["pooled"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(padded["cls"], expected(case["last_hidden_cls"]), atol=1e-4, rtol=0)


def test_one_by_one_matches(golden, one_by_one):
    torch.testing.assert_close(one_by_one, expected(golden["cases"]["one_by_one"]["logits"]), atol=1e-4, rtol=0)


def test_eager_reference_agrees_too(golden, padded):
    # The reference's eager attention path: the same logits up to float rounding.
    torch.testing.assert_close(
        padded["logits"], expected(golden["cases"]["eager_padded_batch"]["logits"]), atol=1e-4, rtol=0
    )


def test_padding_changes_no_logit(padded, one_by_one):
    assert (padded["logits"] - one_by_one).abs().max() <= 1e-5


def test_alibi_slopes_equal(golden):
    assert torch.equal(torch.tensor(alibi_slopes(12), dtype=torch.float32), expected(golden["alibi_slopes"]))


def test_packed_batch_matches(golden, model):
    # The engine's CPU path: the same sequences end to end, without padding, last layer for the
    # first token only (and in full), must give the reference's logits and pooled outputs.
    case = golden["cases"]["padded_batch"]
    rows = [ids[:n] for ids, n in zip(case["input_ids"], golden["lengths"], strict=True)]
    flat = torch.tensor([token for row in rows for token in row])
    cu_seqlens = [0, *torch.tensor(golden["lengths"]).cumsum(0).tolist()]
    with torch.inference_mode():
        logits = model.forward_packed(flat, cu_seqlens)[:, 0]
        full = model.forward_packed(flat, cu_seqlens, first_token_only=False)[:, 0]
        hidden, pooled = model.bert.forward_packed(flat, cu_seqlens)
    torch.testing.assert_close(logits, expected(case["logits"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(full, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled, expected(case["pooled"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(hidden[cu_seqlens[:-1]], expected(case["last_hidden_cls"]), atol=1e-4, rtol=0)
