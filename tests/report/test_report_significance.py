"""Paired tests against scipy called directly, Holm by hand, the bootstrap by its seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.report.significance import bootstrap_ci, comparisons, holm, paired, paired_table, resolve_baseline

BM25_NQ = [0.2, 0.4, 0.6, 0.0]
JINA_NQ = [0.5, 0.6, 0.7, 0.2]


def test_paired_matches_scipy():
    result = paired(JINA_NQ, BM25_NQ, resamples=100, seed=0)
    t = stats.ttest_rel(JINA_NQ, BM25_NQ)
    w = stats.wilcoxon(JINA_NQ, BM25_NQ)
    assert result.n == 4
    assert result.mean_delta == pytest.approx(0.2)
    assert (result.t_stat, result.t_p) == pytest.approx((t.statistic, t.pvalue))
    assert (result.w_stat, result.w_p) == pytest.approx((w.statistic, w.pvalue))
    # By hand: differences .3 .2 .1 .2, sd sqrt(.02/3), t = .2 / (sd / 2) = 4.899.
    assert result.t_stat == pytest.approx(0.2 / (math.sqrt(0.02 / 3) / 2))
    assert result.note == ""


def test_all_zero_differences_are_nan_with_a_reason():
    result = paired([0.5, 0.7, 0.9], [0.5, 0.7, 0.9], resamples=50, seed=0)
    assert math.isnan(result.t_p) and math.isnan(result.w_p)
    assert "all differences are zero" in result.note
    assert result.mean_delta == 0.0


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_queries_are_nan_with_a_reason(n):
    result = paired([0.3] * n, [0.1] * n, resamples=50, seed=0)
    assert result.n == n
    assert math.isnan(result.t_p) and math.isnan(result.w_p) and math.isnan(result.ci_low)
    assert "need at least 2" in result.note


def test_holm_by_hand():
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> kept monotone: .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.01, np.nan, 0.04])  # NaN does not count: m = 2
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]).size == 0


def test_bootstrap_is_reproducible_with_its_seed():
    diff = np.array([0.3, 0.2, 0.1, 0.2, -0.1, 0.4, 0.0])
    first = bootstrap_ci(diff, resamples=2000, seed=7)
    assert bootstrap_ci(diff, resamples=2000, seed=7) == first
    assert bootstrap_ci(diff, resamples=2000, seed=8) != first
    low, high = first
    assert low < diff.mean() < high
    # The same draw written out: resample queries with replacement, mean, 2.5th/97.5th percentile.
    idx = np.random.default_rng(7).integers(0, len(diff), size=(2000, len(diff)))
    assert first == pytest.approx(tuple(np.quantile(diff[idx].mean(axis=1), [0.025, 0.975])))


def test_bootstrap_of_a_constant_is_that_constant():
    assert bootstrap_ci([0.1, 0.1, 0.1], resamples=100, seed=0) == pytest.approx((0.1, 0.1))


SYSTEMS = {
    "bm25": ("bm25", None), "bm25>>jina-tiny": ("bm25", "jina-tiny"), "bm25>>bge-base": ("bm25", "bge-base"),
    "dense": ("dense", None), "dense>>jina-tiny": ("dense", "jina-tiny"), "dense>>bge-base": ("dense", "bge-base"),
}


def test_comparisons_against_first_stage_and_baseline_reranker():
    pairs = comparisons(SYSTEMS, "bge-base")
    assert pairs == [
        ("bm25>>bge-base", "first stage", "bm25"),
        ("bm25>>jina-tiny", "first stage", "bm25"),
        ("bm25>>jina-tiny", "baseline", "bm25>>bge-base"),
        ("dense>>bge-base", "first stage", "dense"),
        ("dense>>jina-tiny", "first stage", "dense"),
        ("dense>>jina-tiny", "baseline", "dense>>bge-base"),
    ]


def test_comparisons_against_a_full_system_baseline():
    pairs = comparisons(SYSTEMS, "bm25>>bge-base")
    assert ("dense>>jina-tiny", "baseline", "bm25>>bge-base") in pairs
    assert ("bm25>>bge-base", "baseline", "bm25>>bge-base") not in pairs
    assert [p for p in comparisons(SYSTEMS, None) if p[1] == "baseline"] == []


def test_unknown_baseline_suggests_the_closest_name():
    with pytest.raises(ValueError, match="Did you mean 'bge-base'"):
        resolve_baseline("bge-bas", list(SYSTEMS))


def test_paired_table_holm_runs_across_datasets():
    rows = []
    for dataset, values in {"nq": {"bm25": BM25_NQ, "x": JINA_NQ},
                            "scifact": {"bm25": [0.5, 0.7, 0.9, 0.6, 0.8], "x": [0.6, 0.7, 1.0, 0.6, 0.9]},
                            "tiny": {"bm25": [0.1], "x": [0.3]}}.items():
        for system, scores in values.items():
            rows += [{"dataset": dataset, "system": system, "query_id": f"q{i}", "value": v}
                     for i, v in enumerate(scores)]
    table = paired_table(pd.DataFrame(rows), [("x", "first stage", "bm25")], resamples=100, seed=0).set_index("dataset")
    p_nq = stats.ttest_rel(JINA_NQ, BM25_NQ).pvalue
    p_sf = stats.ttest_rel([0.6, 0.7, 1.0, 0.6, 0.9], [0.5, 0.7, 0.9, 0.6, 0.8]).pvalue
    assert table.loc["nq", "t_p"] == pytest.approx(p_nq)
    assert table.loc["nq", "t_p_holm"] == pytest.approx(2 * p_nq)  # smallest of m = 2
    assert table.loc["scifact", "t_p_holm"] == pytest.approx(max(2 * p_nq, p_sf))
    assert math.isnan(table.loc["tiny", "t_p_holm"]) and "need at least 2" in table.loc["tiny", "note"]


def test_paired_table_pairs_by_query_id_and_counts_the_unpaired():
    frame = pd.DataFrame({
        "dataset": ["d"] * 7, "system": ["a"] * 4 + ["b"] * 3,
        "query_id": ["q1", "q2", "q3", "q4", "q3", "q1", "q2"], "value": [0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.1],
    })
    row = paired_table(frame, [("a", "first stage", "b")], resamples=10, seed=0).iloc[0]
    assert row["n"] == 3 and row["mean_delta"] == pytest.approx((0.1 + 0.1 + 0.3) / 3)
    assert "1 unpaired query left out" in row["note"]


def test_paired_table_notes_a_missing_reference():
    frame = pd.DataFrame({"dataset": ["d", "d"], "system": ["a", "a"], "query_id": ["q1", "q2"], "value": [0.1, 0.2]})
    row = paired_table(frame, [("a", "first stage", "b")], resamples=10, seed=0).iloc[0]
    assert math.isnan(row["t_p"]) and row["note"] == "no per-query results for b"
