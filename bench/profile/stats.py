"""Small statistics for timings and rankings: median, percentiles, spread, Kendall's tau-b."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count); NaN for no values."""
    if len(values) == 0:
        return float("nan")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must lie in [0, 100], got {q}")
    if len(values) == 0:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(np.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements."""

    median: float
    low: float
    high: float
    n: int

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.1 means the repetitions spanned 10% of the median."""
        return (self.high - self.low) / self.median if self.median else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n, "spread": self.spread}


def summarise(values: Sequence[float]) -> Summary:
    if len(values) == 0:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(median(values), float(min(values)), float(max(values)), len(values))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items (ties handled as scipy does).

    tau_b = (concordant - discordant) / sqrt((n0 - ties_x) * (n0 - ties_y)), over all item pairs.
    NaN when either list is constant or has fewer than two items.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"kendall_tau needs equally long lists, got {a.shape} and {b.shape}")
    if a.size < 2:
        return float("nan")
    upper = np.triu_indices(a.size, k=1)
    da = np.sign(a[:, None] - a[None, :])[upper]
    db = np.sign(b[:, None] - b[None, :])[upper]
    score = float(np.sum(da * db))
    untied_a = float(np.count_nonzero(da))
    untied_b = float(np.count_nonzero(db))
    if untied_a == 0 or untied_b == 0:
        return float("nan")
    return score / np.sqrt(untied_a * untied_b)
