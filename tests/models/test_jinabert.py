"""Native JinaBERT against a slow einsum reference, the loading rules, and dtype safety.

Everything here builds its own tiny random checkpoints (tests/checkpoints.py); the comparison with
the reference implementation's outputs is in test_jinabert_golden.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from bench.errors import ModelUnavailable
from bench.models.alibi import AlibiCache, alibi_slopes, with_padding
from bench.models.jinabert import (
    CheckpointError,
    JinaBertConfig,
    JinaBertForSequenceClassification,
    JinaBertModel,
    JinaBertSentenceEncoder,
    is_jinabert_config,
)
from bench.profile.measure import ProcessPeak
from tests.checkpoints import make_bert_checkpoint, make_jinabert_checkpoint

SHAPE = dict(layers=3, hidden=48, heads=6, intermediate=96)  # 6 heads: not a power of two
#: Slopes worked out by hand from Press et al.: 4-head series 2^-2k, then every other 8-head slope.
SLOPES = {
    6: [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3],
    12: [2.0**-k for k in range(1, 9)] + [2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5],
}


# ----------------------------------------------------------------------------------------------
# A reference written from the published description, slow and obvious, in float64.


def reference_forward(state: dict[str, torch.Tensor], *, heads: int, feed_forward_type: str, input_ids, mask):
    """(logits, pooled, last hidden) for a `bert.`-prefixed reranker state dict."""
    w = {key: value.double() for key, value in state.items()}

    def linear(x, name):
        out = x @ w[f"{name}.weight"].T
        return out + w[f"{name}.bias"] if f"{name}.bias" in w else out

    def norm(x, name):
        return F.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], eps=1e-12)

    def act(x):
        if feed_forward_type == "geglu":
            return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        return x.clamp(min=0)

    x = w["bert.embeddings.word_embeddings.weight"][input_ids] + w["bert.embeddings.token_type_embeddings.weight"][0]
    x = norm(x, "bert.embeddings.LayerNorm")
    batch, length, width = x.shape
    size = width // heads
    position = torch.arange(length)
    distance = (position[None, :] - position[:, None]).abs().double()
    alibi = -torch.tensor(SLOPES[heads], dtype=torch.float64)[:, None, None] * distance
    padding = torch.zeros(batch, 1, 1, length, dtype=torch.float64).masked_fill(
        mask[:, None, None, :] == 0, float("-inf")
    )
    layers = 1 + max(int(key.split(".")[3]) for key in w if key.startswith("bert.encoder.layer."))
    for n in range(layers):
        p = f"bert.encoder.layer.{n}"
        q, k, v = (
            linear(x, f"{p}.attention.self.{part}").view(batch, length, heads, size)
            for part in ("query", "key", "value")
        )
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(size) + alibi + padding
        context = torch.einsum("bhij,bjhd->bihd", scores.softmax(-1), v).reshape(batch, length, width)
        x = norm(linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.mlp.gated_layers")
        half = h.shape[-1] // 2
        x = norm(linear(act(h[..., :half]) * h[..., half:], f"{p}.mlp.wo") + x, f"{p}.mlp.layernorm")
    pooled = torch.tanh(linear(x[:, 0], "bert.pooler.dense"))
    return linear(pooled, "classifier"), pooled, x


def right_padded(lengths: list[int], *, vocab: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (len(lengths), max(lengths)), generator=generator)
    mask = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids.masked_fill(mask == 0, 1), mask


@pytest.fixture(scope="module", params=["geglu", "reglu"])
def checkpoint(request, tmp_path_factory) -> Path:
    return make_jinabert_checkpoint(tmp_path_factory.mktemp(request.param), feed_forward_type=request.param, **SHAPE)


@pytest.fixture(scope="module")
def geglu(tmp_path_factory) -> Path:
    return make_jinabert_checkpoint(tmp_path_factory.mktemp("geglu"), **SHAPE)


# ----------------------------------------------------------------------------------------------
# Numerics.


def test_slopes_match_the_hand_worked_series():
    for heads, slopes in SLOPES.items():
        assert alibi_slopes(heads) == pytest.approx(slopes, rel=1e-12)
    assert alibi_slopes(8) == [2.0**-k for k in range(1, 9)]


def test_matches_the_einsum_reference_including_sequences_over_512(checkpoint):
    model = JinaBertForSequenceClassification.from_pretrained(checkpoint)
    ids, mask = right_padded([520, 9, 130, 1])
    with torch.inference_mode():
        out = model.bert(ids, mask)
        logits = model(ids, mask).logits
    feed_forward_type = json.loads((checkpoint / "config.json").read_text())["feed_forward_type"]
    ref_logits, ref_pooled, ref_hidden = reference_forward(
        load_file(checkpoint / "model.safetensors"),
        heads=SHAPE["heads"],
        feed_forward_type=feed_forward_type,
        input_ids=ids,
        mask=mask,
    )
    real = mask.bool()
    torch.testing.assert_close(logits.double(), ref_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.pooler_output.double(), ref_pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.last_hidden_state[real].double(), ref_hidden[real], atol=1e-4, rtol=0)


def test_padding_does_not_change_a_score(geglu):
    model = JinaBertForSequenceClassification.from_pretrained(geglu)
    lengths = [3, 40, 600, 17]
    ids, mask = right_padded(lengths)
    with torch.inference_mode():
        batched = model(ids, mask).logits[:, 0]
        alone = torch.stack([model(ids[i : i + 1, :n]).logits[0, 0] for i, n in enumerate(lengths)])
    assert (batched - alone).abs().max() <= 1e-5


@pytest.mark.parametrize("first_token_only", [True, False])
def test_packed_sequences_score_as_padded_ones(checkpoint, first_token_only):
    # Lengths over 512 and over a 128 multiple: each sequence reads its own corner of the table.
    model = JinaBertForSequenceClassification.from_pretrained(checkpoint)
    lengths = [520, 9, 130, 1, 128]
    ids, mask = right_padded(lengths)
    flat = ids[mask.bool()]  # row-major: the sequences end to end
    cu_seqlens = torch.tensor([0, *np.cumsum(lengths)])
    with torch.inference_mode():
        padded = model(ids, mask).logits
        packed = model.forward_packed(flat, cu_seqlens, first_token_only=first_token_only)
        hidden, _ = model.bert.forward_packed(flat, cu_seqlens)
        reference = model.bert(ids, mask).last_hidden_state[mask.bool()]
    assert packed.shape == (len(lengths), 1)
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden, reference, atol=1e-5, rtol=0)


def test_first_token_view_scores_as_the_model_and_leaves_it_alone(checkpoint):
    model = JinaBertForSequenceClassification.from_pretrained(checkpoint)
    view = model.first_token_view()
    ids, mask = right_padded([40, 9, 1, 33])
    with torch.inference_mode():
        full = model(ids, mask).logits
        fast = view(ids, mask).logits
        last_hidden = view.bert(ids, mask).last_hidden_state
        again = model.bert(ids, mask).last_hidden_state
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=0)
    assert last_hidden.shape == (4, 1, model.config.hidden_size)  # the last layer ran for first tokens only
    assert again.shape == (4, 40, model.config.hidden_size)  # the model itself still runs every token
    assert view.classifier.weight is model.classifier.weight
    assert view.bert.encoder.layer[-1].mlp.wo.weight is model.bert.encoder.layer[-1].mlp.wo.weight


def test_a_missing_checkpoint_is_unavailable_through_the_hub_resolver(tmp_path):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"")
    with pytest.raises(ModelUnavailable, match="is a file, not a model folder"):
        JinaBertForSequenceClassification.from_pretrained(file)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        JinaBertModel.from_pretrained(tmp_path / "nowhere")


def test_packed_input_is_checked(geglu):
    model = JinaBertForSequenceClassification.from_pretrained(geglu)
    ids = torch.arange(5, 15)
    with pytest.raises(ValueError, match="increase strictly"):
        model.forward_packed(ids, [0, 4, 4, 10])
    with pytest.raises(ValueError, match="covers 9 tokens"):
        model.forward_packed(ids, [0, 4, 9])
    with pytest.raises(ValueError, match="shape \\[tokens\\]"):
        model.forward_packed(ids[None], [0, 10])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_masking_stays_finite(geglu, dtype):
    full = JinaBertForSequenceClassification.from_pretrained(geglu)
    model = JinaBertForSequenceClassification.from_pretrained(geglu, torch_dtype=dtype)
    assert model.classifier.weight.dtype == dtype
    ids, mask = right_padded([600, 5, 64])
    mask[1] = 0  # a sequence without a single real token: every one of its keys is padding
    try:
        with torch.inference_mode():
            out = model.bert(ids, mask)
            logits = model(ids, mask).logits
    except (RuntimeError, NotImplementedError) as error:  # some CPUs lack kernels for a dtype
        pytest.skip(f"{dtype} not supported on this CPU: {error}")
    assert torch.isfinite(out.last_hidden_state).all() and torch.isfinite(logits).all()
    bias = model.bert.attention_bias(mask, ids.shape[1], dtype)
    assert bias.dtype == dtype and torch.isfinite(bias).all()
    with torch.inference_mode():
        reference = full(ids, mask).logits
    keep = [0, 2]
    torch.testing.assert_close(logits[keep].float(), reference[keep], atol=0.1, rtol=0.05)


def test_no_full_alibi_table_is_built():
    config = JinaBertConfig(
        hidden_size=48, num_attention_heads=12, num_hidden_layers=1, intermediate_size=64, vocab_size=100,
        max_position_embeddings=8192, num_labels=1,
    )  # fmt: skip
    if Path("/proc/self/status").exists():
        probe = ProcessPeak()
        probe.start()
        model = JinaBertForSequenceClassification(config).eval()
        assert probe.stop() < 50  # MB above the baseline: the [12, 8192, 8192] float32 table is 3 GiB
    else:
        model = JinaBertForSequenceClassification(config).eval()
    tensors = [*model.parameters(), *model.buffers()]
    assert max(t.numel() for t in tensors) < 8192 * 8192
    with torch.inference_mode():
        model(torch.randint(5, 100, (2, 16)))
    assert [tuple(bias.shape) for bias in model.bert.alibi.tables()] == [(1, 12, 16, 16)]


def test_alibi_cache_is_keyed_by_length_and_bounded():
    cache = AlibiCache(6, size=2)
    first = cache(10, device=torch.device("cpu"), dtype=torch.float32)
    assert cache(10, device=torch.device("cpu"), dtype=torch.float32) is first
    cache(11, device=torch.device("cpu"), dtype=torch.float32)
    cache(12, device=torch.device("cpu"), dtype=torch.bfloat16)
    assert len(cache.tables()) == 2 and first.shape == (1, 6, 10, 10)
    assert first[0, 4, 0, 3].item() == pytest.approx(-3 * 2**-1)  # symmetric -slope * |i - j|
    assert torch.equal(first, first.transpose(-1, -2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_padding_bias_uses_the_dtype_minimum_and_spares_empty_sequences(dtype):
    alibi = AlibiCache(6)(4, device=torch.device("cpu"), dtype=dtype)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    bias = with_padding(alibi, mask)
    assert bias.shape == (3, 6, 4, 4) and torch.isfinite(bias).all()
    assert (bias[0, :, :, 2:] == torch.finfo(dtype).min).all()
    assert torch.equal(bias[0, :, :, :2], alibi[0, :, :, :2])
    assert torch.equal(bias[1], alibi[0]) and torch.equal(bias[2], alibi[0])  # nothing to mask / all masked
    assert with_padding(alibi, torch.ones(2, 4)) is alibi  # no padding: the shared [1, H, L, L] bias


# ----------------------------------------------------------------------------------------------
# Loading.


def test_loads_exactly_the_checkpoint_weights_and_infers_one_label(geglu, tmp_path):
    assert "num_labels" not in json.loads((geglu / "config.json").read_text())
    model = JinaBertForSequenceClassification.from_pretrained(geglu)
    assert model.config.num_labels == 1 and not model.training
    stored = load_file(geglu / "model.safetensors")
    loaded = model.state_dict()
    assert set(loaded) == set(stored)
    assert all(torch.equal(loaded[key], stored[key]) for key in stored)
    ids, mask = right_padded([5, 9])
    assert model(ids, mask).logits.shape == (2, 1)

    model.save_pretrained(tmp_path / "again")
    again = JinaBertForSequenceClassification.from_pretrained(tmp_path / "again")
    assert all(torch.equal(again.state_dict()[key], stored[key]) for key in stored)


def _rewrite(checkpoint: Path, target: Path, edit) -> Path:
    target.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (target / name).write_bytes((checkpoint / name).read_bytes())
    state = load_file(checkpoint / "model.safetensors")
    edit(state)
    save_file(state, target / "model.safetensors")
    return target


def test_refuses_missing_unexpected_and_misshapen_keys_by_name(geglu, tmp_path):
    removed = _rewrite(geglu, tmp_path / "removed", lambda s: s.pop("bert.encoder.layer.1.mlp.wo.bias"))
    with pytest.raises(CheckpointError, match=r"missing keys: bert\.encoder\.layer\.1\.mlp\.wo\.bias"):
        JinaBertForSequenceClassification.from_pretrained(removed)

    def rename(state):
        state["bert.encoder.layer.0.mlp.layer_norm.weight"] = state.pop("bert.encoder.layer.0.mlp.layernorm.weight")
        state["bert.embeddings.position_embeddings.weight"] = torch.zeros(8, SHAPE["hidden"])

    with pytest.raises(CheckpointError) as refused:
        JinaBertForSequenceClassification.from_pretrained(_rewrite(geglu, tmp_path / "renamed", rename))
    message = str(refused.value)
    for key in (
        "bert.encoder.layer.0.mlp.layernorm.weight",
        "bert.encoder.layer.0.mlp.layer_norm.weight",
        "bert.embeddings.position_embeddings.weight",
    ):
        assert key in message

    def reshape(state):
        state["classifier.weight"] = torch.zeros(2, SHAPE["hidden"])

    with pytest.raises(CheckpointError, match=r"classifier\.bias: checkpoint \(1,\), model \(2,\)"):
        JinaBertForSequenceClassification.from_pretrained(_rewrite(geglu, tmp_path / "reshaped", reshape))


def test_pickle_only_checkpoint_needs_opt_in(tmp_path):
    pickled = make_jinabert_checkpoint(tmp_path / "pickled", weights_format="pickle", **SHAPE)
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        JinaBertForSequenceClassification.from_pretrained(pickled)
    model = JinaBertForSequenceClassification.from_pretrained(pickled, allow_pickle=True)
    stored = torch.load(pickled / "pytorch_model.bin", weights_only=True)
    assert all(torch.equal(model.state_dict()[key], stored[key]) for key in stored)


def test_unprefixed_embedding_layout_and_encoder_from_a_reranker(geglu, tmp_path):
    unprefixed = make_jinabert_checkpoint(tmp_path / "embeddings", prefix="", **SHAPE)
    assert not any(key.startswith(("bert.", "classifier.")) for key in load_file(unprefixed / "model.safetensors"))
    encoder = JinaBertModel.from_pretrained(unprefixed)
    from_reranker = JinaBertModel.from_pretrained(geglu)  # same seed: same encoder weights
    assert from_reranker.loading_info["ignored_keys"] == ["classifier.bias", "classifier.weight"]
    ids, mask = right_padded([7, 30])
    with torch.inference_mode():
        torch.testing.assert_close(encoder(ids, mask).pooler_output, from_reranker(ids, mask).pooler_output)
    with pytest.raises(CheckpointError, match=r"missing keys: classifier\.bias, classifier\.weight"):
        JinaBertForSequenceClassification.from_pretrained(unprefixed)


def test_refuses_a_plain_bert_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="AutoModel"):
        JinaBertForSequenceClassification.from_pretrained(make_bert_checkpoint(tmp_path / "bert"))


def test_is_jinabert_config():
    published = {"model_type": "bert", "position_embedding_type": "alibi", "feed_forward_type": "geglu"}
    assert is_jinabert_config(published)
    assert is_jinabert_config({"model_type": "bert", "architectures": ["JinaBertForMaskedLM"]})
    assert is_jinabert_config(
        {"auto_map": {"AutoModel": "jinaai/jina-bert-implementation--modeling_bert.JinaBertModel"}}
    )
    assert not is_jinabert_config({"model_type": "bert", "position_embedding_type": "absolute"})
    assert not is_jinabert_config(
        {"model_type": "xlm-roberta", "architectures": ["XLMRobertaForSequenceClassification"]}
    )


def test_config_rejects_an_unknown_feed_forward_type():
    with pytest.raises(Exception, match="feed_forward_type"):
        JinaBertConfig(feed_forward_type="mlp")


# ----------------------------------------------------------------------------------------------
# Bi-encoder.


def test_embedder_mean_pools_in_input_order(tmp_path):
    embedder = JinaBertSentenceEncoder.from_pretrained(make_jinabert_checkpoint(tmp_path / "emb", prefix="", **SHAPE))
    texts = ["supersonic flow over a flat plate", "heat", "the quick brown fox jumps over the lazy dog", "heat"]
    vectors = embedder.encode(texts, batch_size=2)
    assert vectors.shape == (4, SHAPE["hidden"]) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[1], vectors[3], atol=1e-6)
    alone = np.concatenate([embedder.encode([text]) for text in texts])
    np.testing.assert_allclose(vectors, alone, atol=1e-5)

    raw = embedder.encode(texts[:1], normalize=False)[0]
    batch = embedder.tokenizer(texts[:1], return_tensors="pt")
    with torch.inference_mode():
        hidden = embedder.model(batch["input_ids"], batch["attention_mask"]).last_hidden_state[0]
    np.testing.assert_allclose(raw, hidden.mean(0).numpy(), atol=1e-5)
