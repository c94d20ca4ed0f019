"""Scoring many (query, document) pairs through a sequence-classification model, fast.

    scores, n_truncated = score_pairs(model, tokenizer, pairs, max_length=512, token_budget=16384)

What it does, and why:

- Pairs are tokenised once (a fast tokenizer's batch call), the way sentence-transformers'
  CrossEncoder does it (longest-first truncation at max_length).
- Pairs are sorted by token length, longest first, and grouped so that rows x longest row stays
  under a token budget (or a fixed batch size): each batch pads to nearly its own length (dynamic
  padding), short pairs travel in large batches, and the largest batch runs first, so that an
  out-of-memory error shows up at once. Scores are put back in input order.
- No autograd (`torch.inference_mode`).
- On CUDA, batches are copied from pinned memory with non-blocking copies, scores stay on the GPU
  until the end (no synchronisation per batch, so the CPU pads batch i+1 while the GPU runs
  batch i), and for large inputs the next chunk of pairs is tokenised in a background thread while
  the GPU scores the current one. On a CPU the tokenizer and the model would share the same cores,
  so there tokenisation runs first (`overlap=None` picks this per device).
- On out-of-memory, the failing batch is halved and retried, every score already computed is kept,
  and later batches are held under half the token count that failed.
- Models that offer a packed forward (`PackedClassifier`: bench's JinaBERT) run on a CPU without
  padding: a batch is its pairs' tokens end to end ([tokens]), the token budget counts real tokens,
  and each pair attends to itself alone, so no padded position is computed and no
  [batch, heads, L, L] mask is built
  (`packing=None` picks this on CPU; on CUDA one attention call per pair would cost more launches
  than the padding it saves).
- The classification heads of BERT, RoBERTa, XLM-RoBERTa and JinaBERT read only the first token
  of the last layer, so that layer runs its queries, attention, output projection and
  feed-forward for the first token alone (keys and values still cover every token): a quarter of
  a 4-layer model's work, the same scores. A model that offers this itself (`FirstTokenClassifier`:
  bench's JinaBERT) is asked for its own view; for transformers' BERT family,
  `first_token_model` builds a view that shares the weights. The caller's model is not modified.

Scores equal scoring each pair alone (within float rounding: 1e-5 in float32); tests check this.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.console import advance
from bench.models.views import module_view

#: pairs tokenised per chunk when tokenisation overlaps model work
CHUNK_PAIRS = 4096

#: token budgets for `token_budget="auto"`. CPU: 1024-4096 tokens ran within noise of each other
#: and 16384 ~20% slower on jina-tiny (activations leave the caches; reports/benchmarks/
#: profile_investigation.md); a GPU wants large batches to fill its cores.
AUTO_TOKEN_BUDGET = {"cpu": 2048, "cuda": 16384}


@runtime_checkable
class PackedClassifier(Protocol):
    """A sequence classifier that scores sequences packed end to end, without padding.

    input_ids and token_type_ids are [tokens]; cu_seqlens [sequences + 1] are cumulative lengths
    (0, l1, l1 + l2, ...). Returns [sequences, labels] logits, equal to the padded forward's;
    `first_token_only`: the last layer may run for each sequence's first token alone.
    """

    def forward_packed(
        self,
        input_ids: torch.Tensor,
        cu_seqlens: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        *,
        first_token_only: bool = True,
    ) -> torch.Tensor: ...


@runtime_checkable
class FirstTokenClassifier(Protocol):
    """A sequence classifier that offers a view of itself running the last layer for each
    sequence's first token alone: same weights (not copied), same inputs and logits as the model,
    the model itself left as it is."""

    def first_token_view(self) -> nn.Module: ...


def resolve_token_budget(token_budget: int | str | None, device: torch.device) -> int | None:
    """An int or None as given; "auto": AUTO_TOKEN_BUDGET for the device (CUDA's for other devices)."""
    if token_budget == "auto":
        return AUTO_TOKEN_BUDGET.get(device.type, AUTO_TOKEN_BUDGET["cuda"])
    if token_budget is None or isinstance(token_budget, int):
        return token_budget
    raise ValueError(f'token_budget must be a positive int, null or "auto", got {token_budget!r}')


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids per pair (unpadded), and which pairs were cut at max_length."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    truncated: np.ndarray  # bool per pair

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]], *, max_length: int) -> EncodedPairs:
    """Tokenise pairs the way sentence-transformers' CrossEncoder does (longest-first truncation)."""
    if not pairs:
        return EncodedPairs([], None, np.zeros(0, dtype=bool))
    queries = [q for q, _ in pairs]
    docs = [d for _, d in pairs]
    full = tokenizer(queries, docs, truncation=False, padding=False, verbose=False)
    ids: list[list[int]] = list(full["input_ids"])
    types = list(full["token_type_ids"]) if "token_type_ids" in full else None
    truncated = np.array([len(x) > max_length for x in ids], dtype=bool)
    if truncated.any():
        where = np.flatnonzero(truncated).tolist()
        cut = tokenizer(
            [queries[i] for i in where],
            [docs[i] for i in where],
            truncation=True,
            max_length=max_length,
            padding=False,
            verbose=False,
        )
        for j, i in enumerate(where):
            ids[i] = cut["input_ids"][j]
            if types is not None:
                types[i] = cut["token_type_ids"][j]
    return EncodedPairs(ids, types, truncated)


def plan_batches(
    lengths: np.ndarray,
    *,
    batch_size: int | None = 32,
    token_budget: int | None = None,
    batch_cost: int | None = None,
    packed: bool = False,
) -> list[np.ndarray]:
    """Group pair indices, longest first, so that rows x longest row <= token_budget.

    `batch_size` caps the rows of a batch (None: no cap, only with a token budget). A single pair
    longer than the budget gets a batch of its own. Without a token budget, batches hold
    `batch_size` pairs of similar length.

    With a token budget, the cut points over the length-sorted pairs are chosen to minimise
    padded tokens + `batch_cost` x batches (dynamic programming; `batch_cost` defaults to
    token_budget // 16, the padding worth one more, smaller batch). Filling each batch greedily
    instead pads every batch to its first pair and leaves ~10% padding on a few hundred pairs.
    The batch with the most padded tokens comes first, so that an out-of-memory error comes early.

    `packed`: batches are packed end to end, so the budget counts real tokens: length-sorted pairs
    are taken in turn while their total stays under the budget (longest pairs first).
    """
    if batch_size is None and token_budget is None:
        raise ValueError("plan_batches needs a batch_size, a token_budget, or both")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if token_budget is not None and token_budget < 1:
        raise ValueError(f"token_budget must be positive, got {token_budget}")
    lengths = np.maximum(np.asarray(lengths, dtype=np.int64), 1)
    order = np.argsort(-lengths, kind="stable")
    if len(order) == 0:
        return []
    cap = batch_size if batch_size is not None else len(order)
    if token_budget is None:
        return [order[start : start + cap] for start in range(0, len(order), cap)]
    if packed:
        return _fill(order, lengths[order], token_budget=token_budget, max_rows=cap)
    cost = token_budget // 16 if batch_cost is None else batch_cost
    cuts = _cut_points(lengths[order], token_budget=token_budget, max_rows=cap, batch_cost=cost)
    batches = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    padded = [len(b) * int(lengths[b[0]]) for b in batches]
    ranked = sorted(range(len(batches)), key=lambda i: (-padded[i], -int(lengths[batches[i][0]])))
    return [batches[i] for i in ranked]


def _fill(order: np.ndarray, sorted_lengths: np.ndarray, *, token_budget: int, max_rows: int) -> list[np.ndarray]:
    """Consecutive runs of `order` whose lengths sum to at most token_budget (a longer pair alone)."""
    batches, start, total = [], 0, 0
    for end, length in enumerate(sorted_lengths.tolist()):
        if end > start and (total + length > token_budget or end - start == max_rows):
            batches.append(order[start:end])
            start, total = end, 0
        total += length
    batches.append(order[start:])
    return batches


def _cut_points(sorted_lengths: np.ndarray, *, token_budget: int, max_rows: int, batch_cost: int) -> list[int]:
    """Boundaries 0 = c0 < c1 < ... = n of batches [c_i, c_i+1) over lengths sorted descending.

    best[j] = min over i of best[i] + (j - i) * length[i] + batch_cost, where batch [i, j) holds at
    most max_rows rows and (j - i) * length[i] <= token_budget (or is a single pair).
    """
    n = len(sorted_lengths)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        # rows * length[i] <= budget with length[i] >= length[j-1] bounds the rows of batch [i, j)
        rows_limit = min(max_rows, max(1, token_budget // int(sorted_lengths[j - 1])))
        start = np.arange(max(0, j - rows_limit), j)
        rows = j - start
        padded = rows * sorted_lengths[start]
        candidate = best[start] + padded + batch_cost
        candidate[(padded > token_budget) & (rows > 1)] = np.inf
        pick = int(np.argmin(candidate))
        best[j] = candidate[pick]
        back[j] = start[pick]
    cuts = [n]
    while cuts[-1] > 0:
        cuts.append(int(back[cuts[-1]]))
    return cuts[::-1]


def pad_batch(
    encoded: EncodedPairs, index: np.ndarray, *, pad_id: int, use_token_types: bool
) -> dict[str, torch.Tensor]:
    """Right-pad the selected pairs to the batch's longest pair."""
    rows = [encoded.input_ids[i] for i in index]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max())
    real = np.arange(width)[None, :] < lengths[:, None]
    total = int(lengths.sum())
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    ids[real] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)  # row-major fill
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(real.astype(np.int64))}
    if use_token_types and encoded.token_type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        types[real] = np.fromiter(
            chain.from_iterable(encoded.token_type_ids[i] for i in index), dtype=np.int64, count=total
        )
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


def pack_batch(encoded: EncodedPairs, index: np.ndarray, *, use_token_types: bool) -> dict[str, torch.Tensor]:
    """The selected pairs end to end: input_ids [tokens] and cu_seqlens [pairs + 1] (no padding)."""
    lengths = np.fromiter((len(encoded.input_ids[i]) for i in index), dtype=np.int64, count=len(index))
    total = int(lengths.sum())
    cu_seqlens = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(lengths, out=cu_seqlens[1:])
    ids = np.fromiter(chain.from_iterable(encoded.input_ids[i] for i in index), dtype=np.int64, count=total)
    batch = {"input_ids": torch.from_numpy(ids), "cu_seqlens": torch.from_numpy(cu_seqlens)}
    if use_token_types and encoded.token_type_ids is not None:
        types = chain.from_iterable(encoded.token_type_ids[i] for i in index)
        batch["token_type_ids"] = torch.from_numpy(np.fromiter(types, dtype=np.int64, count=total))
    return batch


def supports_packing(model: nn.Module) -> bool:
    """Whether the model scores packed batches (it is a `PackedClassifier`)."""
    return isinstance(model, PackedClassifier)


def use_packing(model: nn.Module, packing: bool | None, device: torch.device) -> bool:
    """`packing` None: on CPU where the model supports it. True refuses a model without support."""
    if packing is None:
        return device.type == "cpu" and supports_packing(model)
    if packing and not supports_packing(model):
        raise ValueError(f"packing=True, but {type(model).__name__} has no forward_packed")
    return packing


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """CUDA: through pinned host memory with non-blocking copies. CPU: as it is."""
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    if device.type == "cpu":
        return batch
    return {k: v.to(device) for k, v in batch.items()}


def relevance_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """One logit: that logit. Two classes: the positive (second) class's logit."""
    if logits.ndim == 1:
        return logits
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if logits.shape[-1] == 2:
        return logits[:, 1]
    raise ValueError(
        f"a reranker needs 1 or 2 output labels, this model has {logits.shape[-1]}: "
        "use a cross-encoder trained for relevance"
    )


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights are (CPU for a model without parameters)."""
    for tensor in chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _split(index: np.ndarray) -> Iterator[np.ndarray]:
    half = max(1, len(index) // 2)
    yield index[:half]
    yield index[half:]


@dataclass
class ScoreSink:
    """Scores as batches finish: kept where the model left them, copied to the host once at the end."""

    size: int
    parts: list[tuple[np.ndarray, torch.Tensor]] = field(default_factory=list)

    def add(self, index: np.ndarray, values: torch.Tensor) -> None:
        self.parts.append((index, values))

    def result(self) -> np.ndarray:
        scores = np.full(self.size, np.nan, dtype=np.float64)
        if self.parts:
            values = torch.cat([v.reshape(-1).float() for _, v in self.parts]).cpu().numpy()
            scores[np.concatenate([i for i, _ in self.parts])] = values
        return scores


@dataclass
class OomGuard:
    """After an out-of-memory error, the padded-token count later batches must stay under."""

    max_tokens: int | None = None
    splits: int = 0

    def failed(self, tokens: int) -> None:
        self.splits += 1
        limit = max(1, tokens // 2)
        self.max_tokens = limit if self.max_tokens is None else min(self.max_tokens, limit)

    def pieces(self, index: np.ndarray, width: int) -> list[np.ndarray] | None:
        """The batch cut to fit under max_tokens, or None when it fits."""
        if self.max_tokens is None or len(index) == 1 or len(index) * width <= self.max_tokens:
            return None
        rows = max(1, self.max_tokens // width)
        return [index[i : i + rows] for i in range(0, len(index), rows)]


def run_batches(
    model: torch.nn.Module,
    encoded: EncodedPairs,
    batches: list[np.ndarray],
    *,
    device: torch.device,
    pad_id: int,
    use_token_types: bool,
    sink: ScoreSink | None = None,
    offset: int = 0,
    guard: OomGuard | None = None,
    packed: bool = False,
    first_token: bool = True,
) -> np.ndarray | None:
    """Score every planned batch; on out-of-memory halve the failing batch and go on.

    With a `sink`, scores go there under index + offset and None is returned (the caller collects
    several chunks); without one, the scores come back in `encoded`'s order.
    `packed`: batches go to `model.forward_packed` without padding (`first_token` is passed on as
    its first_token_only); otherwise they are padded and go to `model(...)`.
    """
    own_sink = sink is None
    sink = sink if sink is not None else ScoreSink(len(encoded.input_ids))
    guard = guard if guard is not None else OomGuard()
    lengths = encoded.lengths
    pending = list(reversed(batches))
    with torch.inference_mode():
        while pending:
            index = pending.pop()
            width = int(lengths[index].max())
            pieces = guard.pieces(index, width)
            if pieces is not None:
                pending.extend(reversed(pieces))
                continue
            if packed:
                batch = to_device(pack_batch(encoded, index, use_token_types=use_token_types), device)
            else:
                batch = to_device(pad_batch(encoded, index, pad_id=pad_id, use_token_types=use_token_types), device)
            try:
                if packed:
                    logits = model.forward_packed(**batch, first_token_only=first_token)
                else:
                    logits = model(**batch).logits
            except Exception as exc:
                if not _is_oom(exc) or len(index) == 1:
                    raise
                failed = True
            else:
                failed = False
                sink.add(index + offset, relevance_from_logits(logits))
                advance(len(index))
            if failed:  # outside the except block, so the failed batch's tensors can be freed
                del batch
                guard.failed(len(index) * width)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                pending.extend(reversed(list(_split(index))))
    return sink.result() if own_sink else None


# ----------------------------------------------------------------------------------------------
# The last layer for the first token only.

#: transformers' sequence-classification models whose head reads nothing but the first token of the
#: last layer (bench's own models say so themselves: `FirstTokenClassifier`)
FIRST_TOKEN_HEADS = (
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
)


class FirstTokenBertLayer(nn.Module):
    """A transformers BERT/RoBERTa encoder layer (post-LN) that returns only the first token's output."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *_, **__):
        attention = self.layer.attention
        heads = attention.self
        batch, length, _ = hidden_states.shape
        size = heads.attention_head_size
        first = hidden_states[:, :1]
        query = heads.query(first).view(batch, 1, -1, size).transpose(1, 2)
        key = heads.key(hidden_states).view(batch, length, -1, size).transpose(1, 2)
        value = heads.value(hidden_states).view(batch, length, -1, size).transpose(1, 2)
        mask = attention_mask
        if mask is not None:
            mask = mask[:, :, :1, :] if mask.ndim == 4 else mask[:, None, None, :].to(torch.bool)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, scale=getattr(heads, "scaling", None)
        )
        attended = attention.output(context.transpose(1, 2).reshape(batch, 1, -1), first)
        return self.layer.output(self.layer.intermediate(attended), attended)


def _first_token_layer(layer: nn.Module, config) -> nn.Module | None:
    attention = getattr(layer, "attention", None)
    heads = getattr(attention, "self", None)
    if heads is None or not all(hasattr(heads, name) for name in ("query", "key", "value")):
        return None
    bert_like = all(hasattr(layer, name) for name in ("intermediate", "output")) and hasattr(
        heads, "attention_head_size"
    )
    plain = (
        not getattr(layer, "is_decoder", False)
        and not getattr(layer, "chunk_size_feed_forward", 0)
        and getattr(config, "_attn_implementation", "eager") in ("eager", "sdpa")
    )
    return FirstTokenBertLayer(layer) if bert_like and plain else None


def first_token_model(model: nn.Module) -> nn.Module | None:
    """A view of `model` (same weights) whose last layer computes the first token only; None if unsupported.

    Supported, in eval mode: a `FirstTokenClassifier` (the view it offers), and the heads in
    FIRST_TOKEN_HEADS whose last layer has the BERT structure. Anything else (DeBERTa, decoders,
    training mode) returns None.
    """
    if isinstance(model, FirstTokenClassifier):
        return None if model.training else model.first_token_view()
    if type(model).__name__ not in FIRST_TOKEN_HEADS or model.training:
        return None
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None) if prefix else None
    encoder = getattr(base, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if base is None or not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return None
    last = _first_token_layer(layers[-1], getattr(model, "config", None))
    if last is None:
        return None
    view, base_view, encoder_view = module_view(model), module_view(base), module_view(encoder)
    encoder_view._modules["layer"] = nn.ModuleList([*list(layers)[:-1], last])
    base_view._modules["encoder"] = encoder_view
    view._modules[prefix] = base_view
    return view


def scoring_model(model: nn.Module, first_token: bool | None = None) -> nn.Module:
    """The model the engine runs: `first_token_model(model)` where allowed and supported, else `model`."""
    if first_token is False:
        return model
    view = first_token_model(model)
    if view is None and first_token:
        raise ValueError(f"first_token=True, but {type(model).__name__} does not support it")
    return view if view is not None else model


def tokenizer_settings(tokenizer) -> tuple[int, bool]:
    """(pad id, whether the model takes token_type_ids) as the tokenizer says."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return pad_id, "token_type_ids" in tokenizer.model_input_names


def score_encoded(
    model: nn.Module,
    encoded: EncodedPairs,
    *,
    pad_id: int,
    use_token_types: bool,
    batch_size: int | None = 32,
    token_budget: int | None = None,
    device: torch.device | None = None,
    first_token: bool | None = None,
    packing: bool | None = None,
) -> np.ndarray:
    """Scores of already tokenised pairs, in their order (the model half of `score_pairs`)."""
    if not encoded.input_ids:
        return np.zeros(0, dtype=np.float64)
    device = device or model_device(model)
    packed = use_packing(model, packing, device)
    batches = plan_batches(encoded.lengths, batch_size=batch_size, token_budget=token_budget, packed=packed)
    runner = model if packed else scoring_model(model, first_token)
    return run_batches(
        runner, encoded, batches, device=device, pad_id=pad_id, use_token_types=use_token_types,
        packed=packed, first_token=first_token is not False,
    )


def score_pairs(
    model: torch.nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    batch_size: int | None = 32,
    token_budget: int | None = None,
    device: torch.device | None = None,
    overlap: bool | None = None,
    chunk_pairs: int = CHUNK_PAIRS,
    first_token: bool | None = None,
    packing: bool | None = None,
) -> tuple[np.ndarray, int]:
    """Scores in input order, and how many pairs were truncated.

    `token_budget`: padded tokens per batch (rows x longest row), or real tokens when packed;
    `batch_size` then caps the rows (None: no cap).
    `overlap`: tokenise the next `chunk_pairs` pairs in a background thread while the model scores
    the current chunk (None: on CUDA only, where the tokenizer does not compete with the model for
    CPU cores). Length sorting then happens within each chunk.
    `first_token`: run the last layer for the first token only (see `first_token_model`); None uses
    it where the model supports it, True refuses a model that does not, False never uses it.
    `packing`: batches without padding through the model's forward_packed (None: on CPU where the
    model has one; True refuses a model without it).
    """
    if not pairs:
        return np.zeros(0, dtype=np.float64), 0
    pairs = list(pairs)
    device = device or model_device(model)
    packed = use_packing(model, packing, device)
    model = model if packed else scoring_model(model, first_token)
    overlap = device.type == "cuda" if overlap is None else overlap
    pad_id, use_types = tokenizer_settings(tokenizer)
    sink, guard = ScoreSink(len(pairs)), OomGuard()

    def score_chunk(encoded: EncodedPairs, offset: int) -> int:
        batches = plan_batches(encoded.lengths, batch_size=batch_size, token_budget=token_budget, packed=packed)
        run_batches(
            model, encoded, batches, device=device, pad_id=pad_id, use_token_types=use_types,
            sink=sink, offset=offset, guard=guard, packed=packed, first_token=first_token is not False,
        )
        return int(encoded.truncated.sum())

    if not overlap or len(pairs) <= chunk_pairs:
        truncated = score_chunk(encode_pairs(tokenizer, pairs, max_length=max_length), 0)
        return sink.result(), truncated
    starts = list(range(0, len(pairs), chunk_pairs))
    truncated = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-tokenize") as pool:
        future = pool.submit(encode_pairs, tokenizer, pairs[:chunk_pairs], max_length=max_length)
        for n, start in enumerate(starts):
            encoded = future.result()
            if n + 1 < len(starts):
                nxt = starts[n + 1]
                future = pool.submit(
                    encode_pairs, tokenizer, pairs[nxt : nxt + chunk_pairs], max_length=max_length
                )
            truncated += score_chunk(encoded, start)
    return sink.result(), truncated
