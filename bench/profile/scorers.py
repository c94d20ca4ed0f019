"""How a system turns pairs into scores: the `scorer:` `_target_`s of configs/profile/*.yaml.

    Engine                bench's engine (bench.rerank.engine): length-sorted batches under a
                          token budget, dynamic padding, last layer for the first token only
    PlainLoop             the baseline anyone writes first: batches of `batch_size` in input
                          order, each padded to its longest pair, under torch.no_grad()
    SentenceTransformers  sentence-transformers' CrossEncoder.predict on the same checkpoint

Under runtime onnxruntime (a Loaded whose `onnx` is set) the Engine scores the same length-sorted
batches through onnxruntime (padded: it has no packed path); the loops run PyTorch only.

Each has one batch knob (`knob`: the Engine's token budget, the loops' pairs per batch) that a
profile sweeps with `batch: [...]`, and `bind(loaded)` returns the function the profile times:
`score(pairs, max_length, watch) -> scores`, with tokenisation and model work recorded as
phases of `watch` where the scorer can tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from bench.profile.measure import Stopwatch
from bench.profile.systems import Loaded
from bench.rerank.engine import (
    encode_pairs,
    first_token_model,
    relevance_from_logits,
    score_encoded,
    score_pairs,
    tokenizer_settings,
)

Pairs = Sequence[tuple[str, str]]
Bound = Callable[[Pairs, int, Stopwatch], np.ndarray]


class Unsupported(Exception):
    """This scorer cannot run this model at this dtype (the measurement is skipped, with the reason)."""


class Scorer(Protocol):
    knob: str

    def label(self) -> str: ...

    def with_batch(self, value: int) -> Scorer: ...

    def bind(self, loaded: Loaded) -> Bound: ...

    def first_token_only(self, loaded: Loaded) -> bool: ...


@dataclass(frozen=True)
class Engine:
    """bench.rerank.engine, as the pipeline's cross-encoder reranker calls it."""

    token_budget: int | None = 16384
    batch_size: int | None = None  # a row cap on top of the budget (None: none)
    first_token: bool | None = None  # None: where the model supports it
    overlap: bool | None = None  # None: on CUDA
    packing: bool | None = None  # None: on CPU where the model has forward_packed (bench's JinaBERT)
    knob: str = "token_budget"

    def label(self) -> str:
        return f"tok{self.token_budget}" if self.token_budget else str(self.batch_size)

    def with_batch(self, value: int) -> Engine:
        return replace(self, token_budget=int(value)) if self.token_budget else replace(self, batch_size=int(value))

    def first_token_only(self, loaded: Loaded) -> bool:
        if loaded.onnx is not None:  # the export is the engine's scoring view where the model has one
            return bool(loaded.onnx.facts.get("first_token_last_layer"))
        return self.first_token is not False and first_token_model(loaded.model) is not None

    def bind(self, loaded: Loaded) -> Bound:
        if loaded.onnx is not None:
            return self._bind_onnx(loaded)
        overlap = loaded.device.type == "cuda" if self.overlap is None else self.overlap
        pad_id, use_types = tokenizer_settings(loaded.tokenizer)

        def score(pairs: Pairs, max_length: int, watch: Stopwatch) -> np.ndarray:
            if overlap:  # tokenisation and model work overlap: only their total is meaningful
                return score_pairs(
                    loaded.model, loaded.tokenizer, pairs, max_length=max_length, batch_size=self.batch_size,
                    token_budget=self.token_budget, device=loaded.device, overlap=True,
                    first_token=self.first_token,
                    packing=self.packing,
                )[0]
            with watch.phase("tokenize"):
                encoded = encode_pairs(loaded.tokenizer, pairs, max_length=max_length)
            with watch.phase("model"):
                return score_encoded(
                    loaded.model, encoded, pad_id=pad_id, use_token_types=use_types, batch_size=self.batch_size,
                    token_budget=self.token_budget, device=loaded.device, first_token=self.first_token,
                    packing=self.packing,
                )

        return score

    def _bind_onnx(self, loaded: Loaded) -> Bound:
        """The engine's batches (length-sorted, under the token budget or of batch_size) through onnxruntime."""
        if self.packing or self.first_token is False:
            raise Unsupported("onnxruntime runs the exported graph: padded batches, the last layer as exported "
                              "(packing and first_token cannot be chosen)")
        scorer = loaded.onnx
        assert scorer is not None

        def score(pairs: Pairs, max_length: int, watch: Stopwatch) -> np.ndarray:
            with watch.phase("tokenize"):
                encoded = encode_pairs(loaded.tokenizer, pairs, max_length=max_length)
            with watch.phase("model"):
                return scorer.score_encoded(encoded, batch_size=self.batch_size, token_budget=self.token_budget)

        return score


def torch_only(loaded: Loaded, scorer: str) -> torch.nn.Module:
    """The PyTorch model of `loaded`; Unsupported under another runtime."""
    if loaded.model is None or loaded.runtime != "torch":
        raise Unsupported(f"{scorer} runs PyTorch models only, not runtime {loaded.runtime}")
    return loaded.model


@dataclass(frozen=True)
class PlainLoop:
    """Batches of `batch_size` pairs in input order, each padded to its longest pair."""

    batch_size: int = 32
    knob: str = "batch_size"

    def label(self) -> str:
        return str(self.batch_size)

    def with_batch(self, value: int) -> PlainLoop:
        return replace(self, batch_size=int(value))

    def first_token_only(self, loaded: Loaded) -> bool:
        return False

    def bind(self, loaded: Loaded) -> Bound:
        model, tokenizer, device = torch_only(loaded, "PlainLoop"), loaded.tokenizer, loaded.device

        def score(pairs: Pairs, max_length: int, watch: Stopwatch) -> np.ndarray:
            out = []
            with torch.no_grad():
                for start in range(0, len(pairs), self.batch_size):
                    chunk = pairs[start : start + self.batch_size]
                    with watch.phase("tokenize"):
                        features = tokenizer(
                            [q for q, _ in chunk], [d for _, d in chunk], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt",
                        )
                    with watch.phase("model"):
                        features = {k: v.to(device) for k, v in features.items()}
                        out.append(relevance_from_logits(model(**features).logits).float().cpu())
            return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)

        return score


@dataclass(frozen=True)
class SentenceTransformers:
    """sentence-transformers' CrossEncoder.predict on the system's checkpoint folder (raw logits)."""

    batch_size: int = 32
    knob: str = "batch_size"

    def label(self) -> str:
        return str(self.batch_size)

    def with_batch(self, value: int) -> SentenceTransformers:
        return replace(self, batch_size=int(value))

    def first_token_only(self, loaded: Loaded) -> bool:
        return False

    def bind(self, loaded: Loaded) -> Bound:
        torch_only(loaded, "SentenceTransformers")
        if loaded.architecture == "jinabert":
            raise Unsupported("sentence-transformers loads JinaBERT only through its remote code")
        if loaded.dtype == "int8":
            raise Unsupported("sentence-transformers has no int8 dynamic quantisation path here")
        from sentence_transformers import CrossEncoder

        from bench.models.runtime import DTYPES

        cross_encoder = CrossEncoder(
            str(loaded.path), device=str(loaded.device), model_kwargs={"dtype": DTYPES[loaded.dtype]}
        )
        identity = torch.nn.Identity()

        def score(pairs: Pairs, max_length: int, watch: Stopwatch) -> np.ndarray:
            cross_encoder.max_seq_length = max_length
            scores = cross_encoder.predict(
                list(pairs), batch_size=self.batch_size, activation_fn=identity, show_progress_bar=False,
                convert_to_numpy=True,
            )
            return np.asarray(scores, dtype=np.float64).reshape(-1)

        return score
