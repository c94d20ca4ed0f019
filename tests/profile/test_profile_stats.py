"""Median, percentiles, spread and Kendall's tau against numpy and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from bench.profile.stats import kendall_tau, median, percentile, summarise


def test_median():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5
    assert math.isnan(median([]))


@pytest.mark.parametrize("q", [0, 50, 95, 99, 100])
def test_percentile_matches_numpy(q):
    values = np.random.default_rng(1).exponential(10, size=37).tolist()
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([5.0], q) == 5.0


def test_percentile_refuses_bad_q():
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_summary_spread():
    summary = summarise([9.0, 10.0, 12.0])
    assert (summary.median, summary.low, summary.high, summary.n) == (10.0, 9.0, 12.0, 3)
    assert summary.spread == pytest.approx(0.3)
    assert summarise([]).n == 0


@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=40)
    y = x + rng.normal(scale=0.7, size=40)
    if seed % 2:  # ties on both sides: tau-b
        x, y = np.round(x, 1), np.round(y, 1)
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic)


def test_kendall_tau_edge_cases():
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1], [1]))
    assert math.isnan(kendall_tau([1, 1], [1, 2]))
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])
