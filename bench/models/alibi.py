"""ALiBi attention biases as JinaBERT uses them: symmetric, one slope per head, built per length.

The reference implementation materialises a [heads, 8192, 8192] table at construction (~3.2 GB in
float32 for 12 heads). Here a bias is built for the length a batch actually has and kept in a small
cache keyed by (device, dtype, length); nothing is allocated until the first forward.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch


def alibi_slopes(n_heads: int) -> list[float]:
    """The head slopes of Press et al. (2022), as the reference JinaBERT computes them.

    For a power of two n the slopes are the geometric series 2^(-8/n), 2^(-16/n), ... For other
    head counts: the slopes of the closest lower power of two, then every other slope of the next
    power of two (12 heads: the 8 power-of-two slopes, then the 1st, 3rd, 5th and 7th of 16).
    """
    if n_heads < 1:
        raise ValueError(f"n_heads must be positive, got {n_heads}")
    if math.log2(n_heads).is_integer():
        start = 2 ** (-(2 ** -(math.log2(n_heads) - 3)))
        return [start * start**i for i in range(n_heads)]
    closest = 2 ** math.floor(math.log2(n_heads))
    return alibi_slopes(closest) + alibi_slopes(2 * closest)[0::2][: n_heads - closest]


def alibi_bias(slopes: list[float], length: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The [1, heads, length, length] bias -slope_h * |i - j|, computed in float32 then cast."""
    positions = torch.arange(length, device=device)
    distance = (positions[None, :] - positions[:, None]).abs().to(torch.float32)
    slope = torch.tensor(slopes, dtype=torch.float32, device=device)
    return (-slope[:, None, None] * distance).unsqueeze(0).to(dtype)


def with_padding(bias: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Add a key-padding mask to an ALiBi bias: [1, H, L, L] -> [B, H, L, L] (or the bias itself).

    Padded keys get torch.finfo(dtype).min rather than -inf, so that fp16/bf16 scores stay finite.
    A sequence without a single real token (an all-zero mask row) attends everywhere instead, so
    that no softmax row is entirely masked; its output is meaningless but finite.
    """
    if attention_mask is None or bool(attention_mask.to(torch.bool).all()):
        return bias
    return mask_padding(bias, attention_mask)


def mask_padding(bias: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`with_padding`'s rule applied always, with no data-dependent shortcut: what a traced graph
    (the ONNX export) computes for every batch."""
    keep = attention_mask.to(torch.bool)
    keep = keep | ~keep.any(dim=-1, keepdim=True)
    return bias.masked_fill(~keep[:, None, None, :], torch.finfo(bias.dtype).min)


class AlibiCache:
    """Builds ALiBi biases on demand and keeps the `size` most recently used (device, dtype, length)."""

    def __init__(self, n_heads: int, *, size: int = 8) -> None:
        self.slopes = alibi_slopes(n_heads)
        self.size = size
        self._biases: OrderedDict[tuple[str, torch.dtype, int], torch.Tensor] = OrderedDict()

    def __call__(self, length: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (str(device), dtype, length)
        bias = self._biases.get(key)
        if bias is None:
            # A normal tensor even when called under inference_mode, so it can be reused with autograd on.
            with torch.inference_mode(False), torch.no_grad():
                bias = alibi_bias(self.slopes, length, device=device, dtype=dtype)
            self._biases[key] = bias
            while len(self._biases) > self.size:
                self._biases.popitem(last=False)
        else:
            self._biases.move_to_end(key)
        return bias

    def tables(self) -> list[torch.Tensor]:
        """The biases cached now, least recently used first (for memory accounting)."""
        return list(self._biases.values())

    def clear(self) -> None:
        self._biases.clear()
