"""Paired tests over queries, Holm's correction and the paired-bootstrap CI of a mean difference.

Pure functions on arrays; `compare` puts them together for one (system, reference, dataset).
Every result that cannot be computed is NaN with a reason, never an exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bench.errors import InputError, did_you_mean

#: Bootstrap resamples drawn per chunk, so memory stays near this many indices.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_delta: float
    ci_low: float
    ci_high: float
    t_stat: float
    t_p: float
    w_stat: float
    w_p: float
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values; NaNs stay NaN and do not count towards m."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def bootstrap_ci(
    differences: Sequence[float], *, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of the mean of paired differences, resampling queries with replacement."""
    diff = np.asarray(differences, dtype=float)
    n = len(diff)
    if n < 2 or resamples < 1:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return (float(low), float(high))


def _scipy(test, a: np.ndarray, b: np.ndarray) -> tuple[float, float, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = test(a, b)
        except ValueError as error:
            return (np.nan, np.nan, str(error))
    return (float(result.statistic), float(result.pvalue), "")


def paired(
    system: Sequence[float], reference: Sequence[float], *, resamples: int, seed: int
) -> PairedResult:
    """Paired t-test, Wilcoxon signed-rank test and bootstrap CI of mean(system - reference)."""
    a = np.asarray(system, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} vs {b.shape}")
    n = len(a)
    diff = a - b
    mean = float(diff.mean()) if n else np.nan
    if n < 2:
        return PairedResult(n, mean, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                            f"{n} paired quer{'y' if n == 1 else 'ies'}: tests need at least 2")
    low, high = bootstrap_ci(diff, resamples=resamples, seed=seed)
    if np.all(diff == 0):
        return PairedResult(n, mean, low, high, np.nan, np.nan, np.nan, np.nan,
                            "all differences are zero: no test possible")
    t_stat, t_p, t_note = _scipy(stats.ttest_rel, a, b)
    w_stat, w_p, w_note = _scipy(stats.wilcoxon, a, b)
    note = "; ".join(f"{name}: {text}" for name, text in (("t-test", t_note), ("Wilcoxon", w_note)) if text)
    return PairedResult(n, mean, low, high, t_stat, t_p, w_stat, w_p, note)


def resolve_baseline(baseline: str | None, systems: Sequence[str]) -> list[str]:
    """The systems a `--baseline` names: a full system (`bm25>>bge-base`) or a reranker (`bge-base`).

    Raises InputError with the closest names when it names nothing in the runs.
    """
    if baseline is None:
        return []
    if baseline in systems:
        return [baseline]
    matching = [name for name in systems if name.partition(">>")[2] == baseline]
    if matching:
        return matching
    known = sorted({*systems, *(name.partition(">>")[2] for name in systems if ">>" in name)})
    raise InputError(f"--baseline {baseline!r} matches no system or reranker in the runs."
                     f"{did_you_mean(baseline, known, n=3)} Known: {', '.join(known)}")


def comparisons(
    systems: dict[str, tuple[str, str | None]], baseline: str | None
) -> list[tuple[str, str, str]]:
    """(system, comparison, reference) for every reranker system: vs its first stage, vs the baseline.

    `systems` maps a system name to (first stage, reranker). A reranker name as baseline is
    matched behind the same first stage; a full system name is used as is.
    """
    names = sorted(systems)
    baselines = resolve_baseline(baseline, names)
    pairs: list[tuple[str, str, str]] = []
    for name in names:
        first_stage, reranker = systems[name]
        if reranker is None:
            continue
        pairs.append((name, "first stage", first_stage))
        if not baselines or name in baselines:
            continue
        if baseline in baselines:
            pairs.append((name, "baseline", baseline))
            continue
        same_first_stage = [b for b in baselines if systems[b][0] == first_stage]
        if same_first_stage:
            pairs.append((name, "baseline", same_first_stage[0]))
    return pairs


def paired_table(
    per_query: pd.DataFrame,
    pairs: Sequence[tuple[str, str, str]],
    *,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per (system, comparison, dataset) with both tests, Holm-adjusted p and bootstrap CI.

    `per_query` holds one measure: columns dataset, system, query_id, value. Holm's
    correction runs across the datasets of each (system, comparison), per test.
    """
    series = {
        key: rows.set_index("query_id")["value"].sort_index()
        for key, rows in per_query.groupby(["dataset", "system"])
    }
    datasets = sorted(per_query["dataset"].unique())
    rows: list[dict[str, object]] = []
    for system, kind, reference in pairs:
        for dataset in datasets:
            mine = series.get((dataset, system))
            if mine is None:
                continue
            row: dict[str, object] = {"system": system, "comparison": kind, "reference": reference,
                                      "dataset": dataset}
            theirs = series.get((dataset, reference))
            if theirs is None:
                empty = PairedResult(0, *([np.nan] * 7), f"no per-query results for {reference}")
                rows.append(row | empty.as_dict())
                continue
            joined = pd.concat([mine, theirs], axis=1, join="inner", keys=["a", "b"]).sort_index()
            result = paired(joined["a"], joined["b"], resamples=resamples, seed=seed)
            unpaired = len(mine) + len(theirs) - 2 * len(joined)
            note = result.note
            if unpaired:
                note = "; ".join(filter(None, [f"{unpaired} unpaired quer{'y' if unpaired == 1 else 'ies'}"
                                               " left out", note]))
            rows.append(row | result.as_dict() | {"note": note})
    columns = ["system", "comparison", "reference", "dataset", *PairedResult.__dataclass_fields__]
    table = pd.DataFrame(rows, columns=columns)
    for test in ("t", "w"):
        table[f"{test}_p_holm"] = np.nan
        for _, group in table.groupby(["system", "comparison"], sort=False):
            table.loc[group.index, f"{test}_p_holm"] = holm(group[f"{test}_p"].to_numpy(dtype=float))
    ordered = [*columns[:-1], "t_p_holm", "w_p_holm", "note"]
    return table[ordered]
