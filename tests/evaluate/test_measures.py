"""The ir-measures adapter against values worked out by hand."""

import math

import pytest

from bench.evaluate.measures import aggregate, evaluate

QRELS = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}}


def test_values_match_hand_computation():
    # q1 ranks x (non-relevant) then a (gain 2); b (gain 1) is not retrieved.
    run = {"q1": {"x": 2.0, "a": 1.0}, "q2": {"c": 0.5}}
    values = {(v.measure, v.query_id): v.value for v in evaluate(QRELS, run)}
    dcg = 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert values[("nDCG@10", "q1")] == pytest.approx(dcg / ideal)
    assert values[("nDCG@10", "q2")] == pytest.approx(1.0)
    assert values[("RR@10", "q1")] == pytest.approx(0.5)
    assert values[("R@100", "q1")] == pytest.approx(0.5)
    assert values[("AP@100", "q1")] == pytest.approx((1 / 2) / 2)
    assert values[("Success@1", "q1")] == 0.0
    assert values[("Success@5", "q1")] == 1.0


def test_query_with_qrels_but_nothing_retrieved_scores_zero():
    run = {"q1": {"a": 1.0}}  # q2 missing entirely
    values = evaluate(QRELS, run, ["nDCG@10"])
    assert [(v.query_id, v.value) for v in values] == [("q1", pytest.approx(2 / (2 + 1 / math.log2(3)))), ("q2", 0.0)]
    assert aggregate(values)["nDCG@10"] == pytest.approx(values[0].value / 2)


def test_run_queries_without_qrels_are_not_evaluated():
    values = evaluate(QRELS, {"q1": {"a": 1.0}, "q9": {"a": 1.0}}, ["RR@10"])
    assert {v.query_id for v in values} == {"q1", "q2"}


def test_unknown_measure_names_the_measure():
    with pytest.raises(ValueError, match="nDGC@10"):
        evaluate(QRELS, {}, ["nDGC@10"])


def test_aggregate_is_the_mean_of_per_query_values():
    run = {"q1": {"b": 3.0, "a": 2.0}, "q2": {"z": 1.0, "c": 0.5}}
    values = evaluate(QRELS, run)
    means = aggregate(values)
    rr = [v.value for v in values if v.measure == "RR@10"]
    assert rr == [1.0, 0.5]
    assert means["RR@10"] == pytest.approx(0.75)


def test_a_tie_at_rank_1_is_broken_one_way_for_every_measure():
    # a (relevant) and b tie at 1.0. RR@10 comes from ir-measures' msmarco provider (ties: id ascending,
    # a first), Success@1 from pytrec_eval (ties: id descending, b first); both must see b first.
    values = {v.measure: v.value for v in evaluate({"q": {"a": 1}}, {"q": {"a": 1.0, "b": 1.0}})}
    assert (values["RR@10"], values["Success@1"], values["Success@5"]) == (0.5, 0.0, 1.0)
    assert values["nDCG@10"] == pytest.approx(1 / math.log2(3))
    values = {v.measure: v.value for v in evaluate({"q": {"b": 1}}, {"q": {"a": 1.0, "b": 1.0}})}
    assert (values["RR@10"], values["Success@1"], values["nDCG@10"]) == (1.0, 1.0, 1.0)


def test_scores_equal_in_single_precision_tie_as_in_trec_eval():
    # 0.5 + 1e-12 and 0.5 are one C float: a tie, broken by id descending (r before p)
    values = {v.measure: v.value for v in evaluate({"q": {"p": 1}}, {"q": {"p": 0.5 + 1e-12, "r": 0.5}})}
    assert (values["RR@10"], values["Success@1"]) == (0.5, 0.0)


def test_only_the_order_counts_not_the_score_values():
    run = {"q1": {"x": 7.25, "a": 3.0, "b": 3.0, "c": -1.0}, "q2": {"c": 0.1, "z": 0.1}}
    same_order = {"q1": {"x": 4.0, "b": 3.0, "a": 2.0, "c": 1.0}, "q2": {"z": 2.0, "c": 1.0}}
    assert evaluate(QRELS, run) == evaluate(QRELS, same_order)
