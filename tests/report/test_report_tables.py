"""Table values checked against numbers worked out by hand from the fixture (see conftest)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.report.build import ReportOptions, _significance
from bench.report.load import load_results
from bench.report.tables import (
    cost_table,
    measures_table,
    ndcg_table,
    per_query_deltas,
    rag_table,
    recall_table,
    significance_table,
    wins_and_losses,
)


@pytest.fixture
def results(runs):
    return load_results([runs])


def _ndcg(results, baseline=None):
    tests = _significance(results, ReportOptions(baseline=baseline, resamples=100))
    return ndcg_table(results, tests, alpha=0.05, test="t", baseline=baseline), tests


def test_ndcg_values_average_and_delta(results):
    table, _ = _ndcg(results)
    data = table.data.set_index("system")
    assert list(data.index) == ["bm25", "bm25>>bge-base", "bm25>>jina-tiny"]
    assert data.loc["bm25", ["cranfield", "nq", "scifact"]].tolist() == pytest.approx([0.1, 0.3, 0.7])
    assert data.loc["bm25>>jina-tiny", "average"] == pytest.approx((0.3 + 0.5 + 0.76) / 3)
    assert data.loc["bm25>>jina-tiny", "delta_nq"] == pytest.approx(0.2)
    assert data.loc["bm25>>jina-tiny", "delta_average"] == pytest.approx((0.2 + 0.2 + 0.06) / 3)
    assert math.isnan(data.loc["bm25", "delta_nq"])
    assert data.loc["bm25>>jina-tiny", "depth"] == 100


def test_ndcg_marks_best_and_significance(results):
    table, tests = _ndcg(results, baseline="bge-base")
    display = table.display.set_index("system")
    # jina vs bm25 on nq: t-test p = .016, Holm over nq and scifact (cranfield has 1 query): .033 < .05.
    assert display.loc["bm25>>jina-tiny", "nq"] == "0.500† (+0.200)"
    # scifact: p = .07, not significant; vs baseline nothing is.
    assert display.loc["bm25>>jina-tiny", "scifact"] == "0.760 (+0.060)"
    assert display.loc["bm25", "nq"] == "0.300"
    bold = table.bold.set_index(table.display["system"])
    assert bold.loc["bm25>>jina-tiny", "nq"] and not bold.loc["bm25", "nq"]
    assert bold.loc["bm25>>jina-tiny", "average"]
    assert not bold["depth"].any()


def test_ndcg_ties_are_all_bold(tmp_path, make_beir_run):
    make_beir_run(tmp_path / "0", "nq", {"bm25": [0.5, 0.5], "bm25>>x": [0.5, 0.5]})
    table, _ = _ndcg(load_results([tmp_path]))
    assert table.bold["nq"].tolist() == [True, True]


def test_no_average_for_a_system_missing_a_dataset(tmp_path, make_beir_run):
    make_beir_run(tmp_path / "0", "nq", {"bm25": [0.5, 0.1], "bm25>>x": [0.6, 0.2]})
    make_beir_run(tmp_path / "1", "scifact", {"bm25": [0.5, 0.3]})
    table, _ = _ndcg(load_results([tmp_path]))
    data = table.data.set_index("system")
    assert data.loc["bm25", "average"] == pytest.approx(0.35)
    assert math.isnan(data.loc["bm25>>x", "average"])
    assert any("No average for `bm25>>x`" in note for note in table.notes)


def test_significance_table_carries_the_numbers(results):
    _, tests = _ndcg(results, baseline="bge-base")
    table = significance_table(tests, alpha=0.05, test="t", resamples=100, seed=0)
    data = table.data.set_index(["system", "comparison", "dataset"])
    row = data.loc[("bm25>>jina-tiny", "first stage", "nq")]
    assert row["significant"] and row["n"] == 4 and row["mean_delta"] == pytest.approx(0.2)
    zero = data.loc[("bm25>>bge-base", "first stage", "scifact")]
    assert not zero["significant"] and "all differences are zero" in zero["note"]
    assert ("bm25>>jina-tiny", "baseline", "nq") in data.index
    assert set(table.data.columns) >= {"t_p", "t_p_holm", "w_p", "w_p_holm", "ci_low", "ci_high"}


def test_rag_table_in_jinas_shape(results):
    table = rag_table(results)
    data = table.data.set_index("reranker")
    assert list(data.index) == ["none", "jina-tiny"]
    assert data.loc["jina-tiny", "average hit rate"] == pytest.approx(0.85)
    assert data.loc["jina-tiny", "average MRR"] == pytest.approx(0.65)
    assert data.loc["none", "e5-small hit rate"] == pytest.approx(0.6)
    assert data.loc["none", "average MRR"] == pytest.approx(0.45)
    assert "Success@5" in table.notes[0] and "RR@5" in table.notes[0]


def test_cost_table(results):
    data = cost_table(results).data.set_index("system")
    assert data.loc["jina-tiny", "pairs_per_s"] == 300.0
    assert (data.loc["jina-tiny", "at_batch"], data.loc["jina-tiny", "at_max_length"]) == ("16", 128.0)
    assert data.loc["jina-tiny", "p95_ms_k100"] == 700.0
    assert data.loc["jina-tiny", "peak_mem_mb"] == 700.0
    assert (data.loc["bge-base", "pairs_per_s"], data.loc["bge-base", "p95_ms_k100"]) == (70.0, 3500.0)


def test_recall_ceiling(results):
    data = recall_table(results).data.iloc[0]
    assert (data["first_stage"], data["depth"], data["measure"]) == ("bm25", 100, "R@100")
    assert data["nq"] == pytest.approx(0.8)
    assert data["average"] == pytest.approx((0.8 + 0.9 + 0.5) / 3)


def test_measures_table(results):
    data = measures_table(results).data.set_index("system")
    assert data.loc["bm25", "nDCG@10"] == pytest.approx((0.1 + 0.3 + 0.7) / 3)
    assert data.loc["bm25", "R@100"] == pytest.approx((0.8 + 0.9 + 0.5) / 3)
    assert list(data.columns) == ["nDCG@10", "RR@10", "R@100"]


def test_per_query_deltas_and_wins(results):
    deltas = per_query_deltas(results)
    jina = deltas[deltas["system"] == "bm25>>jina-tiny"]
    assert len(jina) == 4 + 5 + 1
    assert jina["delta"].sum() == pytest.approx(0.8 + 0.3 + 0.2)
    lists = wins_and_losses(deltas, count=2)
    top = lists["bm25>>jina-tiny"]
    assert top[["dataset", "query_id", "kind"]].values.tolist() == [["nq", "q1", "win"], ["cranfield", "q1", "win"]]


def test_wins_and_losses_orders_losses_worst_first():
    deltas = pd.DataFrame({"system": ["s"] * 4, "dataset": ["d"] * 4, "query_id": ["a", "b", "c", "e"],
                           "first": [0.5] * 4, "reranked": [0.4, 0.1, 0.6, 0.5], "delta": [-0.1, -0.4, 0.1, 0.0]})
    rows = wins_and_losses(deltas)["s"]
    assert rows["query_id"].tolist() == ["c", "b", "a"]
    assert rows["kind"].tolist() == ["win", "loss", "loss"]
