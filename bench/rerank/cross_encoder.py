"""Any Hugging Face cross-encoder: (query, title + " " + text) -> one relevance logit.

The model is loaded on first use, so a cached run never loads it, and a model that cannot be
obtained raises `ModelUnavailable` only for this reranker.

`runtime`: `torch` (bench's engine) or `onnxruntime` (bench.rerank.onnx: the model exported to
ONNX, verified against PyTorch, scored in the engine's batches); `dtype` float32 or int8 there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from bench.models.hub import resolve
from bench.models.runtime import pick_device, pick_dtype
from bench.rerank.engine import resolve_token_budget, score_pairs
from bench.rerank.loading import LoadedCrossEncoder, load_cross_encoder
from bench.rerank.onnx import LoadedOnnxCrossEncoder, check_runtime, load_onnx_cross_encoder


class CrossEncoderReranker:
    """A sequence-classification model scored through bench's batching engine."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        revision: str | None = None,
        max_length: int = 512,
        batch_size: int = 32,
        token_budget: int | str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        runtime: str = "torch",
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.revision = revision
        self.max_length = max_length
        self.batch_size = batch_size
        resolve_token_budget(token_budget, torch.device("cpu"))  # refuse a misspelt budget now, not after loading
        self.token_budget = token_budget
        self.device_name = device
        check_runtime(runtime, dtype, name=name)
        self.runtime = runtime
        self.dtype_name = dtype
        self.trust_remote_code = trust_remote_code
        self.allow_pickle = allow_pickle
        self.facts = dict(facts or {})
        self.truncated_pairs = 0
        self.scored_pairs = 0
        self._loaded: LoadedCrossEncoder | LoadedOnnxCrossEncoder | None = None

    def load(self) -> LoadedCrossEncoder | LoadedOnnxCrossEncoder:
        if self._loaded is None:
            device = pick_device(self.device_name)
            where = resolve(self.model, revision=self.revision, allow_pickle=self.allow_pickle,
                            allow_code=self.trust_remote_code)
            if self.runtime == "onnxruntime":
                self._loaded = load_onnx_cross_encoder(where, dtype=self.dtype_name, device=device,
                                                       trust_remote_code=self.trust_remote_code,
                                                       allow_pickle=self.allow_pickle)
                return self._loaded
            dtype = pick_dtype(self.dtype_name, device)
            started = time.perf_counter()
            self._loaded = load_cross_encoder(
                where,
                device=device,
                dtype=dtype,
                trust_remote_code=self.trust_remote_code,
                allow_pickle=self.allow_pickle,
            )
            self._loaded.load_seconds = time.perf_counter() - started
        return self._loaded

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        loaded = self.load()
        max_length = min(self.max_length, loaded.max_length or self.max_length)
        token_budget = resolve_token_budget(self.token_budget, loaded.device)
        if isinstance(loaded, LoadedOnnxCrossEncoder):
            scores, truncated = loaded.scorer.score(
                pairs, max_length=max_length, batch_size=self.batch_size, token_budget=token_budget
            )
        else:
            scores, truncated = score_pairs(
                loaded.model, loaded.tokenizer, pairs, max_length=max_length, batch_size=self.batch_size,
                token_budget=token_budget, device=loaded.device,
            )
        self.truncated_pairs += truncated
        self.scored_pairs += len(pairs)
        return scores.tolist()

    def info(self) -> dict[str, object]:
        info: dict[str, object] = {
            "kind": "cross_encoder",
            "model": self.model,
            "revision": self.revision,
            "max_length": self.max_length,
            "dtype": self.dtype_name,
            "runtime": self.runtime,
            "batch_size": self.batch_size,
            "token_budget": self.token_budget,
            "scored_pairs": self.scored_pairs,
            "truncated_pairs": self.truncated_pairs,
        }
        if self._loaded is not None:
            info.update(self._loaded.describe())
            info["token_budget_used"] = resolve_token_budget(self.token_budget, self._loaded.device)
        return info
