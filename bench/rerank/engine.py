"""Scoring many (query, document) pairs through a sequence-classification model, fast.

Pairs are tokenised once, sorted by length so each batch pads to nearly the same length,
grouped under a token budget (or a fixed batch size), run without autograd, and the scores
put back in input order. On CUDA out-of-memory the batch is halved and retried; scores
already computed are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch


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
        )
        for j, i in enumerate(where):
            ids[i] = cut["input_ids"][j]
            if types is not None:
                types[i] = cut["token_type_ids"][j]
    return EncodedPairs(ids, types, truncated)


def plan_batches(
    lengths: np.ndarray, *, batch_size: int, token_budget: int | None = None
) -> list[np.ndarray]:
    """Group pair indices, longest first, so that batch rows x longest row <= token_budget.

    Without a token budget, batches hold `batch_size` pairs of similar length.
    """
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        rows = batch_size
        if token_budget is not None:
            rows = max(1, min(batch_size, token_budget // max(longest, 1)))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def pad_batch(
    encoded: EncodedPairs, index: np.ndarray, *, pad_id: int, use_token_types: bool
) -> dict[str, torch.Tensor]:
    """Right-pad the selected pairs to the batch's longest pair."""
    rows = [encoded.input_ids[i] for i in index]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if use_token_types and encoded.token_type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(index):
            row = encoded.token_type_ids[i]
            types[r, : len(row)] = row
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


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


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _split(index: np.ndarray) -> Iterator[np.ndarray]:
    half = max(1, len(index) // 2)
    yield index[:half]
    yield index[half:]


def run_batches(
    model: torch.nn.Module,
    encoded: EncodedPairs,
    batches: list[np.ndarray],
    *,
    device: torch.device,
    pad_id: int,
    use_token_types: bool,
) -> np.ndarray:
    """Score every planned batch; on out-of-memory halve the failing batch and go on."""
    scores = np.full(len(encoded.input_ids), np.nan, dtype=np.float64)
    pending = list(reversed(batches))
    non_blocking = device.type == "cuda"
    with torch.inference_mode():
        while pending:
            index = pending.pop()
            batch = pad_batch(encoded, index, pad_id=pad_id, use_token_types=use_token_types)
            try:
                if non_blocking:
                    batch = {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
                logits = model(**batch).logits
                scores[index] = relevance_from_logits(logits).float().cpu().numpy()
            except Exception as exc:
                if not _is_oom(exc) or len(index) == 1:
                    raise
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                pending.extend(reversed(list(_split(index))))
    return scores


def score_pairs(
    model: torch.nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    batch_size: int = 32,
    token_budget: int | None = None,
    device: torch.device | None = None,
) -> tuple[np.ndarray, int]:
    """Scores in input order, and how many pairs were truncated."""
    if not pairs:
        return np.zeros(0, dtype=np.float64), 0
    device = device or next(model.parameters()).device
    encoded = encode_pairs(tokenizer, pairs, max_length=max_length)
    batches = plan_batches(encoded.lengths, batch_size=batch_size, token_budget=token_budget)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    use_types = "token_type_ids" in tokenizer.model_input_names
    scores = run_batches(model, encoded, batches, device=device, pad_id=pad_id, use_token_types=use_types)
    return scores, int(encoded.truncated.sum())
