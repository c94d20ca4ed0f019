"""Test-only rerankers for the gpu tier; Ray workers import them as `tests.gpu.fakes.<Name>`."""

from __future__ import annotations

import os
from collections.abc import Sequence


def length_score(query: str, document: str) -> float:
    """A deterministic score any process computes the same way."""
    return len(query) + len(document) / 1000


class CudaProbeReranker:
    """Scores by `length_score`, computed on the GPU that Ray gave this worker.

    Raises RuntimeError (which reaches the caller as itself) where the worker holds no GPU in Ray's
    accounting (ray.get_gpu_ids() empty) or torch sees no CUDA device.
    """

    name = "cuda-probe"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import ray
        import torch

        gpus = ray.get_gpu_ids()
        if not gpus or not torch.cuda.is_available():
            raise RuntimeError(
                f"a worker without a GPU: ray.get_gpu_ids()={gpus}, torch.cuda.is_available()="
                f"{torch.cuda.is_available()}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}"
            )
        values = torch.tensor([[len(q), len(d)] for q, d in pairs], dtype=torch.float64, device="cuda")
        return (values[:, 0] + values[:, 1] / 1000).cpu().tolist()

    def info(self) -> dict[str, object]:
        return {"kind": "cuda-probe"}
