"""The batching engine: same scores as one pair at a time, order, budgets, out-of-memory, CUDA paths."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

from bench.rerank import engine
from bench.rerank.engine import (
    EncodedPairs,
    FirstTokenClassifier,
    OomGuard,
    PackedClassifier,
    first_token_model,
    pad_batch,
    plan_batches,
    score_pairs,
    to_device,
)
from tests.checkpoints import PAIRS, make_bert_checkpoint, make_jinabert_checkpoint


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    path = make_bert_checkpoint(tmp_path_factory.mktemp("bert"), layers=2, hidden=32, heads=2, intermediate=64)
    model = BertForSequenceClassification.from_pretrained(path).eval()
    return model, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def jinabert(tmp_path_factory):
    from bench.models.jinabert import JinaBertForSequenceClassification

    path = make_jinabert_checkpoint(tmp_path_factory.mktemp("jina"), layers=2, hidden=48, heads=12)
    return JinaBertForSequenceClassification.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def one_by_one(model, tokenizer, pairs, max_length):
    scores = []
    with torch.inference_mode():
        for query, doc in pairs:
            features = tokenizer(query, doc, truncation=True, max_length=max_length, return_tensors="pt")
            if "token_type_ids" not in tokenizer.model_input_names:
                features.pop("token_type_ids", None)
            scores.append(float(model(**features).logits[0, 0]))
    return np.array(scores)


@pytest.mark.parametrize("first_token", [False, None])
@pytest.mark.parametrize("budget", [None, 40, 10_000])
def test_scores_equal_scoring_each_pair_alone(bert, budget, first_token):
    model, tokenizer = bert
    alone = one_by_one(model, tokenizer, PAIRS, max_length=24)
    scores, truncated = score_pairs(
        model, tokenizer, PAIRS, max_length=24, batch_size=3, token_budget=budget, first_token=first_token
    )
    np.testing.assert_allclose(scores, alone, atol=1e-5, rtol=0)
    assert truncated == sum(len(tokenizer(q, d)["input_ids"]) > 24 for q, d in PAIRS)


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.parametrize("first_token", [False, True])
def test_jinabert_scores_equal_scoring_each_pair_alone(jinabert, first_token, packing):
    model, tokenizer = jinabert
    alone = one_by_one(model, tokenizer, PAIRS, max_length=64)
    scores, _ = score_pairs(
        model, tokenizer, PAIRS, max_length=64, token_budget=64, first_token=first_token, packing=packing
    )
    np.testing.assert_allclose(scores, alone, atol=1e-5, rtol=0)


def test_packing_is_the_cpu_default_for_models_that_offer_it(jinabert, bert):
    model, tokenizer = jinabert
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert engine.use_packing(model, None, cpu) and not engine.use_packing(model, None, cuda)
    assert not engine.use_packing(model, False, cpu)
    assert not engine.use_packing(bert[0], None, cpu)
    with pytest.raises(ValueError, match="BertForSequenceClassification has no forward_packed"):
        score_pairs(bert[0], bert[1], PAIRS, max_length=24, packing=True)
    with mock.patch.object(type(model), "forward", side_effect=AssertionError("padded path used")):
        scores, _ = score_pairs(model, tokenizer, PAIRS, max_length=64, token_budget=64)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("budget", [1, 7, 16, 50])
def test_packed_budget_counts_real_tokens(budget):
    rng = np.random.default_rng(budget)
    lengths = rng.integers(1, 20, size=60)
    batches = plan_batches(lengths, batch_size=None, token_budget=budget, packed=True)
    assert sorted(np.concatenate(batches).tolist()) == list(range(60))
    for batch in batches:
        assert int(lengths[batch].sum()) <= budget or len(batch) == 1
    for this, following in zip(batches[:-1], batches[1:], strict=True):  # full: the next pair did not fit
        assert int(lengths[this].sum() + lengths[following[0]]) > budget
    assert max(len(b) for b in plan_batches(lengths, batch_size=4, token_budget=10_000, packed=True)) == 4


def test_auto_token_budget_follows_the_device():
    assert engine.resolve_token_budget("auto", torch.device("cpu")) == engine.AUTO_TOKEN_BUDGET["cpu"]
    assert engine.resolve_token_budget("auto", torch.device("cuda")) == engine.AUTO_TOKEN_BUDGET["cuda"]
    assert engine.resolve_token_budget(512, torch.device("cuda")) == 512
    assert engine.resolve_token_budget(None, torch.device("cpu")) is None
    with pytest.raises(ValueError, match="'atuo'"):
        engine.resolve_token_budget("atuo", torch.device("cpu"))


def test_pack_batch_puts_pairs_end_to_end():
    encoded = EncodedPairs([[1, 2, 3], [4], [5, 6]], [[0, 1, 1], [0], [0, 1]], np.zeros(3, dtype=bool))
    batch = engine.pack_batch(encoded, np.array([2, 0]), use_token_types=True)
    assert batch["input_ids"].tolist() == [5, 6, 1, 2, 3]
    assert batch["cu_seqlens"].tolist() == [0, 2, 5]
    assert batch["token_type_ids"].tolist() == [0, 1, 0, 1, 1]
    assert "token_type_ids" not in engine.pack_batch(encoded, np.array([1]), use_token_types=False)


def test_first_token_view_matches_the_full_model_and_leaves_it_alone():
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        num_labels=1, max_position_embeddings=80, type_vocab_size=1, pad_token_id=1,
    )
    model = XLMRobertaForSequenceClassification(config).eval()
    ids = torch.randint(5, 300, (4, 20))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[3, 5:] = 0
    view = first_token_model(model)
    assert view is not None
    assert type(model.roberta.encoder.layer[-1]).__name__ == "XLMRobertaLayer"  # the caller's model as it was
    assert view.classifier.dense.weight is model.classifier.dense.weight  # shared, not copied
    with torch.inference_mode():
        full = model(input_ids=ids, attention_mask=mask).logits
        fast = view(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=0)


def test_models_are_recognised_by_what_they_offer_not_by_name(jinabert, bert):
    model, tokenizer = jinabert
    assert isinstance(model, PackedClassifier) and isinstance(model, FirstTokenClassifier)
    assert not isinstance(bert[0], PackedClassifier) and not isinstance(bert[0], FirstTokenClassifier)

    class Offers(FakeModel):
        """Any model offering a first-token view gets it used, whatever its name."""

        views = 0

        def first_token_view(self):
            Offers.views += 1
            return FakeModel()

    assert first_token_model(Offers()) is None  # training mode: no view
    assert isinstance(first_token_model(Offers().eval()), FakeModel) and Offers.views == 1
    scores, _ = score_pairs(Offers().eval(), FakeTokenizer(), fake_pairs([3, 5]), max_length=8, first_token=True)
    assert scores.tolist() == [10, 11] and Offers.views == 2
    with mock.patch.object(type(model), "first_token_view", side_effect=AssertionError("view asked for")):
        score_pairs(model, tokenizer, PAIRS, max_length=64, first_token=False, packing=False)
    view = type(model).first_token_view
    with mock.patch.object(type(model), "first_token_view", autospec=True, side_effect=view) as asked:
        score_pairs(model, tokenizer, PAIRS, max_length=64, packing=False)
    asked.assert_called_once_with(model)


def test_first_token_refuses_what_it_does_not_know(bert):
    model, tokenizer = bert
    assert first_token_model(torch.nn.Linear(2, 1)) is None
    model.train()
    try:
        assert first_token_model(model) is None
    finally:
        model.eval()
    with pytest.raises(ValueError, match="does not support"):
        score_pairs(FakeModel(), FakeTokenizer(), [("q", "d")], max_length=8, first_token=True)


def test_empty_input(bert):
    model, tokenizer = bert
    scores, truncated = score_pairs(model, tokenizer, [], max_length=16)
    assert scores.shape == (0,) and truncated == 0
    assert plan_batches(np.array([], dtype=np.int64), batch_size=4, token_budget=100) == []


# ----------------------------------------------------------------------------------------------
# Without a model: a fake tokenizer whose ids say which pair they came from.


class FakeTokenizer:
    """Pair i of length n -> ids [i+10] * n; no token types; pad id 0."""

    pad_token_id = 0
    model_input_names = ["input_ids", "attention_mask"]

    def __call__(self, queries, docs, truncation=False, max_length=None, **_):
        ids = []
        for q, d in zip(queries, docs, strict=True):
            n = int(d)
            if truncation and max_length is not None:
                n = min(n, max_length)
            ids.append([int(q) + 10] * n)
        return {"input_ids": ids}


class FakeModel(torch.nn.Module):
    """Score = the first id of the row; raises CUDA out-of-memory for batches above `max_rows` rows."""

    def __init__(self, max_rows: int | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.max_rows = max_rows
        self.shapes: list[tuple[int, int]] = []

    def forward(self, input_ids, attention_mask, **_):
        if self.max_rows is not None and input_ids.shape[0] > self.max_rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.shapes.append(tuple(input_ids.shape))
        # padding must be on the right and masked
        assert torch.equal(attention_mask.sum(1) > 0, torch.ones(len(input_ids), dtype=torch.bool))
        return SimpleNamespace(logits=input_ids[:, :1].float())


def fake_pairs(lengths):
    return [(str(i), str(n)) for i, n in enumerate(lengths)]


def test_order_is_restored():
    lengths = [5, 1, 9, 3, 9, 2, 7, 4, 6, 8]
    model = FakeModel()
    scores, _ = score_pairs(model, FakeTokenizer(), fake_pairs(lengths), max_length=100, token_budget=20)
    assert scores.tolist() == [i + 10 for i in range(len(lengths))]
    assert len(model.shapes) > 1


@pytest.mark.parametrize("budget", [1, 7, 16, 50])
def test_token_budget_is_honoured(budget):
    rng = np.random.default_rng(budget)
    lengths = rng.integers(1, 20, size=60)
    batches = plan_batches(lengths, batch_size=None, token_budget=budget)
    assert sorted(np.concatenate(batches).tolist()) == list(range(60))
    for batch in batches:
        longest = int(lengths[batch].max())
        assert len(batch) * longest <= budget or len(batch) == 1


def test_batch_size_caps_rows_and_plans_pad_little():
    lengths = np.array([10] * 7 + [3] * 9)
    batches = plan_batches(lengths, batch_size=4, token_budget=1000, batch_cost=0)
    assert max(len(b) for b in batches) <= 4
    for batch in batches:  # with batches free, no batch mixes the two lengths: nothing is padded
        assert len(set(lengths[batch].tolist())) == 1
    # a batch costs 62 padded tokens by default (budget // 16): 3 pads are worth saving one
    assert len(plan_batches(lengths, batch_size=4, token_budget=1000)) == 4
    assert [len(b) for b in plan_batches(lengths, batch_size=5)] == [5, 5, 5, 1]
    with pytest.raises(ValueError):
        plan_batches(lengths, batch_size=None, token_budget=None)


def test_largest_batch_runs_first():
    lengths = np.array([2] * 50 + [9, 8])
    batches = plan_batches(lengths, batch_size=None, token_budget=40)
    padded = [len(b) * int(lengths[b].max()) for b in batches]
    assert padded[0] == max(padded)


def test_out_of_memory_halves_the_batch_and_keeps_scores():
    lengths = [4] * 10 + [2] * 6
    model = FakeModel(max_rows=3)
    scores, _ = score_pairs(model, FakeTokenizer(), fake_pairs(lengths), max_length=10, batch_size=8)
    assert scores.tolist() == [i + 10 for i in range(16)]
    assert max(rows for rows, _ in model.shapes) <= 3


def test_out_of_memory_on_a_single_pair_is_raised():
    with pytest.raises(torch.cuda.OutOfMemoryError):
        score_pairs(FakeModel(max_rows=0), FakeTokenizer(), fake_pairs([3, 3]), max_length=10, batch_size=2)


def test_other_errors_are_not_retried():
    class Broken(FakeModel):
        def forward(self, input_ids, attention_mask, **_):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        score_pairs(Broken(), FakeTokenizer(), fake_pairs([3, 3, 3]), max_length=10, batch_size=3)


def test_oom_guard_holds_later_batches_under_half():
    guard = OomGuard()
    assert guard.pieces(np.arange(8), 10) is None
    guard.failed(80)
    pieces = guard.pieces(np.arange(8), 10)
    assert [len(p) for p in pieces] == [4, 4]
    assert guard.pieces(np.arange(1), 500) is None


def test_overlap_in_chunks_gives_the_same_scores():
    lengths = list(np.random.default_rng(0).integers(1, 30, size=50))
    plain, t1 = score_pairs(FakeModel(), FakeTokenizer(), fake_pairs(lengths), max_length=20, token_budget=64)
    chunked, t2 = score_pairs(
        FakeModel(), FakeTokenizer(), fake_pairs(lengths), max_length=20, token_budget=64, overlap=True,
        chunk_pairs=7,
    )
    assert plain.tolist() == chunked.tolist() == [i + 10 for i in range(50)]
    assert t1 == t2 == sum(n > 20 for n in lengths)


def test_pad_batch_pads_right_and_masks():
    encoded = EncodedPairs([[5, 6, 7], [8], [9, 9]], [[0, 1, 1], [0], [0, 1]], np.zeros(3, dtype=bool))
    batch = pad_batch(encoded, np.array([0, 1, 2]), pad_id=1, use_token_types=True)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 1, 1], [9, 9, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 1, 1], [0, 0, 0], [0, 1, 0]]
    assert "token_type_ids" not in pad_batch(encoded, np.array([1]), pad_id=1, use_token_types=False)


def test_cuda_transfer_pins_and_copies_without_blocking():
    tensor = mock.MagicMock()
    pinned = tensor.pin_memory.return_value
    out = to_device({"input_ids": tensor}, torch.device("cuda"))
    tensor.pin_memory.assert_called_once_with()
    pinned.to.assert_called_once_with(torch.device("cuda"), non_blocking=True)
    assert out["input_ids"] is pinned.to.return_value
    cpu = torch.zeros(2)
    assert to_device({"x": cpu}, torch.device("cpu"))["x"] is cpu


def test_cuda_path_defers_the_copy_and_empties_the_cache_after_oom(monkeypatch):
    """On 'cuda' (faked: tensors stay on the CPU), the engine overlaps by default and frees the cache."""
    monkeypatch.setattr(engine, "to_device", lambda batch, device: batch)
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    lengths = [3] * 9
    scores, _ = score_pairs(
        FakeModel(max_rows=2), FakeTokenizer(), fake_pairs(lengths), max_length=10, batch_size=8,
        device=torch.device("cuda"), chunk_pairs=4,
    )
    assert scores.tolist() == [i + 10 for i in range(9)]
    assert emptied
