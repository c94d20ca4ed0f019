"""The one adapter to ir-measures.

Per-query values come from ir-measures; a query that has qrels but nothing retrieved scores 0
on every measure (ir-measures would leave it out, which flatters an empty run). Aggregates
are means over the evaluated queries, so they equal the mean of `per_query` rows.

ir-measures' providers break score ties their own ways (pytrec_eval: document id descending, in
single precision; msmarco: id ascending), so one run could score RR@10 = 1 and Success@1 = 0 at
once. Every provider is therefore handed the run's rank order (`bench.data.records.ranked`: score
descending, then id descending, as trec_eval) as distinct scores n, n-1, ..., 1, which leave no tie
to break: all measures see one ranking, the one written to runs/*.trec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ir_measures

from bench.data.records import Qrels, Run, rank_scores

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "AP@100", "Success@1", "Success@5", "Success@10")


@dataclass(frozen=True)
class QueryValue:
    measure: str
    query_id: str
    value: float


def parse_measures(names: Iterable[str]) -> list:
    """ir-measures objects for measure names; an unknown name is an error that lists the valid ones."""
    parsed = []
    for name in names:
        try:
            parsed.append(ir_measures.parse_measure(name))
        except Exception as exc:
            raise ValueError(
                f"unknown measure {name!r} ({exc}); examples: {', '.join(DEFAULT_MEASURES)}"
            ) from exc
    return parsed


#: Providers tried first, in order: pytrec_eval computes most measures in one C pass. ir-measures'
#: own multi-provider evaluator does the same dispatch but hashes every result's measure by its
#: repr, which costs more than the evaluation itself on small collections.
PREFERRED_PROVIDERS = ("pytrec_eval", "msmarco")


def _evaluators(measures: list, qrels: Qrels) -> list:
    groups: dict[str, list] = {}
    rest = []
    for measure in measures:
        for name in PREFERRED_PROVIDERS:
            provider = getattr(ir_measures, name, None)
            if provider is not None and provider.is_available() and provider.supports(measure):
                groups.setdefault(name, []).append(measure)
                break
        else:
            rest.append(measure)
    evaluators = [getattr(ir_measures, name).evaluator(group, qrels) for name, group in groups.items()]
    if rest:
        evaluators.append(ir_measures.evaluator(rest, qrels))
    return evaluators


def evaluate(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> list[QueryValue]:
    """Per-query values for every query in `qrels`, in measure then query order, of the run ranked by
    `ranked` (only the order of each query's documents counts, not the score values)."""
    parsed = parse_measures(measures)
    labels = [str(m) for m in parsed]
    by_identity = {id(m): label for m, label in zip(parsed, labels, strict=True)}
    found: dict[tuple[str, str], float] = {}
    non_empty = {q: rank_scores(docs) for q, docs in run.items() if docs and q in qrels}
    if non_empty:
        for evaluator in _evaluators(parsed, qrels):
            for metric in evaluator.iter_calc(non_empty):
                label = by_identity.get(id(metric.measure)) or str(metric.measure)
                found[(label, metric.query_id)] = float(metric.value)
    query_ids = sorted(qrels)
    return [QueryValue(label, qid, found.get((label, qid), 0.0)) for label in labels for qid in query_ids]


def aggregate(values: Iterable[QueryValue]) -> dict[str, float]:
    """Mean per measure."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for v in values:
        sums[v.measure] = sums.get(v.measure, 0.0) + v.value
        counts[v.measure] = counts.get(v.measure, 0) + 1
    return {m: sums[m] / counts[m] for m in sums}


def evaluate_run(qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    """The mean of each measure over the queries of `qrels` (a query missing from `run` scores 0)."""
    return aggregate(evaluate(qrels, run, measures))
