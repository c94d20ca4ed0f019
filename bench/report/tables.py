"""The report's tables, each built from `Results` alone.

A `Table` holds the numbers (`data`, written to CSV) and what a reader sees (`display`:
strings, with `bold` marking the best cells), so md, html and LaTeX render the same cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.profile.output import TOY
from bench.report.load import MAIN_MEASURE, RAG_SUITE, RETRIEVAL_SUITE, Results

DASH = "–"
FIRST_STAGE_MARK = "†"
BASELINE_MARK = "‡"
#: The Holm-adjusted p-value column behind each test's marks.
P_COLUMN = {"t": "t_p_holm", "wilcoxon": "w_p_holm"}


@dataclass
class Table:
    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    bold: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def is_bold(self, row: int, column: int) -> bool:
        return self.bold is not None and bool(self.bold.iat[row, column])


def fmt(value: object, digits: int = 3, *, signed: bool = False) -> str:
    """A number as text; NaN and None as an en dash."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DASH
    if isinstance(value, (int, np.integer)):
        return f"{value:+d}" if signed else f"{value:d}"
    number = float(value)
    if np.isnan(number):
        return DASH
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def fmt_p(value: float) -> str:
    if value is None or np.isnan(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def system_order(names: Iterable[str], results: Results) -> list[str]:
    """First stages alphabetically, each followed by its rerankers alphabetically."""

    def key(name: str) -> tuple[str, int, str]:
        info = results.system(name)
        return (info.first_stage, info.reranker is not None, info.reranker or "")

    return sorted(set(names), key=key)


def _measure_key(measure: str) -> tuple[int, str, int]:
    order = ["nDCG", "RR", "AP", "R", "Success", "P"]
    name, _, cutoff = measure.partition("@")
    rank = order.index(name) if name in order else len(order)
    return (rank, name, int(cutoff) if cutoff.isdigit() else 0)


def _retrieval(results: Results, measure: str | None = None) -> pd.DataFrame:
    frame = results.metrics[results.metrics["suite"] == RETRIEVAL_SUITE]
    return frame if measure is None else frame[frame["measure"] == measure]


def _best(frame: pd.DataFrame) -> pd.DataFrame:
    """True where a cell holds its column's maximum (ties all marked)."""
    return frame.eq(frame.max(axis=0), axis=1) & frame.notna()


def _depth_text(value: float) -> str:
    return DASH if pd.isna(value) else str(int(value))


def ndcg_table(results: Results, tests: pd.DataFrame, *, alpha: float, test: str,
               baseline: str | None) -> Table | None:
    """nDCG@10 per system × dataset, the average, Δ vs first stage and significance marks."""
    frame = _retrieval(results, MAIN_MEASURE)
    if frame.empty:
        return None
    wide = frame.pivot_table(index="system", columns="dataset", values="value", aggfunc="first")
    wide = wide.reindex(system_order(wide.index, results))
    datasets = list(wide.columns)
    complete = wide.notna().all(axis=1)
    wide["average"] = wide[datasets].mean(axis=1).where(complete)
    deltas = _first_stage_deltas(wide, results)
    depth = frame.groupby("system")["depth"].first().reindex(wide.index)

    data = pd.DataFrame({"system": wide.index, "first_stage": [results.system(s).first_stage for s in wide.index],
                         "reranker": [results.system(s).reranker or "" for s in wide.index],
                         "depth": depth.to_numpy()})
    for name in wide.columns:
        data[name] = wide[name].to_numpy()
    for name in wide.columns:
        data[f"delta_{name}"] = deltas[name].to_numpy()

    display = pd.DataFrame({"system": wide.index, "depth": [_depth_text(d) for d in depth]})
    marks = _significance_marks(tests, P_COLUMN[test], alpha)
    for name in wide.columns:
        display[name] = [_ndcg_cell(wide.at[system, name], deltas.at[system, name], marks.get((system, name), ""))
                         for system in wide.index]
    bold = pd.DataFrame(False, index=display.index, columns=display.columns)
    best = _best(wide).reset_index(drop=True)
    for name in wide.columns:
        bold[name] = best[name].to_numpy()

    test_name = "paired t-test" if test == "t" else "Wilcoxon signed-rank test"
    notes = [
        f"Bold: best per column. In parentheses: Δ against the system's own first stage. "
        f"{FIRST_STAGE_MARK} significant against the first stage, {BASELINE_MARK} against the baseline "
        f"({baseline or 'none chosen'}): {test_name} over queries, Holm-corrected across datasets, "
        f"p < {alpha:g}.",
    ]
    if not complete.all():
        missing = ", ".join(f"`{s}`" for s in wide.index[~complete])
        notes.append(f"No average for {missing}: it lacks some datasets, and an average over fewer "
                     "datasets would not compare.")
    return Table("ndcg10", f"nDCG@10 per dataset (average over {len(datasets)})", data, display, bold, notes)


def _first_stage_deltas(wide: pd.DataFrame, results: Results) -> pd.DataFrame:
    """Each reranker system's row minus its first stage's row (NaN for first stages, or when it is absent)."""
    deltas = pd.DataFrame(np.nan, index=wide.index, columns=wide.columns)
    for system in wide.index:
        first_stage = results.system(system).first_stage
        if results.system(system).reranker is not None and first_stage in wide.index:
            deltas.loc[system] = wide.loc[system] - wide.loc[first_stage]
    return deltas


def _significance_marks(tests: pd.DataFrame, column: str, alpha: float) -> dict[tuple[str, str], str]:
    """(system, dataset) -> its marks: † significant against the first stage, ‡ against the baseline."""
    significant = tests[tests[column] < alpha] if len(tests) else tests
    marks: dict[tuple[str, str], str] = {}
    for row in significant.itertuples():
        mark = FIRST_STAGE_MARK if row.comparison == "first stage" else BASELINE_MARK
        marks[(row.system, row.dataset)] = marks.get((row.system, row.dataset), "") + mark
    return marks


def _ndcg_cell(value: float, delta: float, marks: str) -> str:
    """`0.6739†` with ` (+0.0123)` when there is a Δ against the first stage."""
    text = fmt(value) + marks
    return text if np.isnan(delta) else f"{text} ({fmt(delta, signed=True)})"


def significance_table(tests: pd.DataFrame, *, alpha: float, test: str, resamples: int, seed: int) -> Table | None:
    if tests.empty:
        return None
    column = P_COLUMN[test]
    data = tests.copy()
    data["significant"] = data[column] < alpha
    display = pd.DataFrame({
        "system": data["system"],
        "vs": [f"{kind}: {ref}" for kind, ref in zip(data["comparison"], data["reference"], strict=True)],
        "dataset": data["dataset"],
        "queries": data["n"].astype(int).astype(str),
        "mean Δ": [fmt(v, signed=True) for v in data["mean_delta"]],
        "95% CI": [DASH if np.isnan(lo) else f"[{fmt(lo, signed=True)}, {fmt(hi, signed=True)}]"
                   for lo, hi in zip(data["ci_low"], data["ci_high"], strict=True)],
        "t-test p (Holm)": [f"{fmt_p(p)} ({fmt_p(h)})" for p, h in zip(data["t_p"], data["t_p_holm"], strict=True)],
        "Wilcoxon p (Holm)": [f"{fmt_p(p)} ({fmt_p(h)})" for p, h in zip(data["w_p"], data["w_p_holm"],
                                                                         strict=True)],
        "sig.": ["yes" if s else "" for s in data["significant"]],
        "note": data["note"].fillna(""),
    })
    notes = [
        f"Paired over queries (nDCG@10). Holm's correction across the datasets of each system and comparison. "
        f"95% CI: paired bootstrap of the mean Δ, {resamples} resamples, seed {seed}. "
        f"`sig.`: Holm-adjusted {'t-test' if test == 't' else 'Wilcoxon'} p < {alpha:g}.",
    ]
    return Table("significance", "Significance of nDCG@10 differences", data, display, None, notes)


def _rag_measure(frame: pd.DataFrame, name: str) -> str | None:
    found = sorted({m for m in frame["measure"] if re.fullmatch(rf"{name}@\d+", m)}, key=_measure_key)
    if not found:
        return None
    counts = frame[frame["measure"].isin(found)]["measure"].value_counts()
    return str(counts.index[0])


def rag_table(results: Results) -> Table | None:
    """Hit rate and MRR per embedding × reranker, averaged over embeddings (Jina's table shape)."""
    frame = results.metrics[results.metrics["suite"] == RAG_SUITE]
    if frame.empty:
        return None
    hit, mrr = _rag_measure(frame, "Success"), _rag_measure(frame, "RR")
    measures = [(m, label) for m, label in ((hit, "hit rate"), (mrr, "MRR")) if m]
    frame = frame[frame["measure"].isin([m for m, _ in measures])].copy()
    frame["embedding"] = [results.system(s).first_stage for s in frame["system"]]
    frame["reranker"] = [results.system(s).reranker or "none" for s in frame["system"]]
    embeddings = sorted(frame["embedding"].unique())
    data_rows = []
    for (dataset, reranker), rows in frame.groupby(["dataset", "reranker"]):
        values = rows.set_index(["embedding", "measure"])["value"]
        data = {"dataset": dataset, "reranker": reranker}
        for embedding in embeddings:
            for measure, label in measures:
                data[f"{embedding} {label}"] = values.get((embedding, measure), np.nan)
        for measure, label in measures:
            per_embedding = [values.get((e, measure), np.nan) for e in embeddings]
            data[f"average {label}"] = np.nan if np.isnan(per_embedding).any() else float(np.mean(per_embedding))
        data_rows.append(data)
    data = pd.DataFrame(data_rows)
    data["_order"] = data["reranker"] != "none"
    data = data.sort_values(["dataset", "_order", "reranker"]).drop(columns="_order").reset_index(drop=True)
    numbers = data.columns[2:]
    display = data.copy()
    for name in numbers:
        display[name] = [fmt(v, 4) for v in data[name]]
    bold = pd.DataFrame(False, index=data.index, columns=data.columns)
    for _, rows in data.groupby("dataset"):
        best = _best(rows[numbers])
        bold.loc[rows.index, numbers] = best.to_numpy()
    notes = [f"Hit rate = {hit}, MRR = {mrr}. Average over the {len(embeddings)} embedding model(s) in the runs "
             "(blank where a reranker lacks one). Bold: best per column within a QA set."]
    return Table("rag", "RAG retrieval: hit rate and MRR per embedding × reranker", data, display, bold, notes)


def cost_table(results: Results) -> Table | None:
    """Best throughput, p95 latency per rerank depth and peak memory per system × device × runtime × dtype."""
    frame = results.throughput
    if frame.empty:
        return None
    rows = []
    ks = sorted(frame["k"].dropna().unique())
    frame = frame.assign(weights=frame["weights"].fillna("") if "weights" in frame else "")
    # a throughput.csv from before the runtime column measured PyTorch
    runtime = frame["runtime"].replace("", np.nan).fillna("torch") if "runtime" in frame else "torch"
    frame = frame.assign(runtime=runtime)
    for (system, weights, device, runtime, dtype), group in frame.groupby(
            ["system", "weights", "device", "runtime", "dtype"], dropna=False, sort=True):
        row: dict[str, object] = {"system": system, "weights": weights, "device": device, "runtime": runtime,
                                  "dtype": dtype}
        speed = group.dropna(subset=["pairs_per_s"])
        if len(speed):
            best = speed.loc[speed["pairs_per_s"].idxmax()]
            row |= {"pairs_per_s": best["pairs_per_s"], "tokens_per_s": best["tokens_per_s"],
                    "at_batch": best["batch"], "at_max_length": best["max_length"]}
        else:
            row |= {"pairs_per_s": np.nan, "tokens_per_s": np.nan, "at_batch": "", "at_max_length": np.nan}
        for k in ks:
            latency = group[(group["k"] == k)]["p95_ms"].dropna()
            row[f"p95_ms_k{int(k)}"] = latency.min() if len(latency) else np.nan
        row["peak_mem_mb"] = group["peak_mem_mb"].max()
        row["configs"] = len(group)
        rows.append(row)
    data = pd.DataFrame(rows)
    # toy shapes (profile=smoke's toy-bert, toy-jina) measure the machinery, not a model: marked on the row
    display = pd.DataFrame({
        "system": data["system"], "weights": [w or DASH for w in data["weights"]],
        "device": data["device"], "runtime": data["runtime"], "dtype": data["dtype"],
        "pairs/s (best)": [fmt(v, 1) for v in data["pairs_per_s"]],
        "at batch × max_length": [DASH if not b else f"{b} × {fmt(m, 0)}"
                                  for b, m in zip(data["at_batch"], data["at_max_length"], strict=True)],
    })
    for k in ks:
        display[f"p95 ms (k={int(k)})"] = [fmt(v, 1) for v in data[f"p95_ms_k{int(k)}"]]
    display["peak memory MB (max)"] = [fmt(v, 0) for v in data["peak_mem_mb"]]
    display["configs"] = data["configs"].astype(str)
    notes = ["pairs/s: the best over the batch sizes and max lengths profiled (which one in the next column). "
             "p95 ms: latency to rerank k candidates for one query, the lowest over the configurations. "
             "Peak memory: the highest over all configurations. weights: what `bench profile` ran "
             f"({TOY}: a made-up small architecture that checks the machinery, not a model to compare; real "
             "shape, random weights: a published model's architecture, so its speed and memory are the model's; "
             "– : not a profile run, or its manifest does not say)."]
    return Table("cost", "Cost: throughput, latency and memory per system and device", data, display, None, notes)


def recall_table(results: Results) -> Table | None:
    """Recall@k of each first stage at the rerank depth: the ceiling no reranker can pass."""
    frame = _retrieval(results)
    if frame.empty:
        return None
    first_stages = sorted({results.system(s).first_stage for s in frame["system"]})
    datasets = sorted(frame["dataset"].unique())
    rows = []
    for first_stage in first_stages:
        depths = sorted({int(d) for s, d in frame.groupby("system")["depth"].first().items()
                         if not np.isnan(d) and results.system(s).first_stage == first_stage})
        mine = results.metrics_all[(results.metrics_all["system"] == first_stage)
                                   & (results.metrics_all["suite"] == RETRIEVAL_SUITE)]
        for depth in depths or [100]:
            measure = f"R@{depth}"
            note = ""
            if not (mine["measure"] == measure).any():
                if not (mine["measure"] == "R@100").any():
                    continue
                note = f"R@{depth} not in the runs; R@100 shown"
                measure = "R@100"
            values = mine[mine["measure"] == measure].groupby("dataset")["value"].first()
            row = {"first_stage": first_stage, "depth": depth, "measure": measure}
            row |= {d: values.get(d, np.nan) for d in datasets}
            present = [values[d] for d in datasets if d in values]
            row["average"] = float(np.mean(present)) if len(present) == len(datasets) else np.nan
            row["note"] = note
            rows.append(row)
    if not rows:
        return None
    data = pd.DataFrame(rows)
    display = data.copy()
    display["depth"] = display["depth"].astype(str)
    for name in [*datasets, "average"]:
        display[name] = [fmt(v) for v in data[name]]
    notes = ["Recall of the first stage at the depth its rerankers read: a reranker cannot place a relevant "
             "document it was never given, so this bounds what reranking can recover."]
    return Table("recall_ceiling", "Recall ceiling of each first stage at the rerank depth", data, display, None,
                 notes)


def measures_table(results: Results) -> Table | None:
    """Every measure in the runs, averaged over datasets, per system."""
    frame = _retrieval(results)
    if frame.empty:
        return None
    datasets = frame["dataset"].nunique()
    grouped = frame.groupby(["system", "measure"])["value"]
    mean = grouped.mean().where(grouped.count() == datasets).unstack("measure")
    mean = mean.reindex(system_order(mean.index, results))
    mean = mean[sorted(mean.columns, key=_measure_key)]
    data = mean.reset_index()
    display = data.copy()
    for name in mean.columns:
        display[name] = [fmt(v) for v in data[name]]
    bold = pd.DataFrame(False, index=data.index, columns=data.columns)
    bold[list(mean.columns)] = _best(mean).to_numpy()
    notes = [f"Mean over the {datasets} dataset(s); blank where a system lacks the measure on a dataset. "
             "Bold: best per column."]
    return Table("measures", "All measures, averaged over datasets", data, display, bold, notes)


def per_query_deltas(results: Results) -> pd.DataFrame:
    """Per-query Δ nDCG@10 of every reranker system against its first stage."""
    frame = results.per_query[(results.per_query["suite"] == RETRIEVAL_SUITE)
                              & (results.per_query["measure"] == MAIN_MEASURE)]
    columns = ["system", "first_stage", "dataset", "query_id", "reranked", "first", "delta"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    parts = []
    for system in frame["system"].unique():
        info = results.system(system)
        if info.reranker is None:
            continue
        mine = frame[frame["system"] == system][["dataset", "query_id", "value"]]
        theirs = frame[frame["system"] == info.first_stage][["dataset", "query_id", "value"]]
        joined = mine.merge(theirs, on=["dataset", "query_id"], suffixes=("_r", "_f"))
        if joined.empty:
            continue
        parts.append(pd.DataFrame({
            "system": system, "first_stage": info.first_stage, "dataset": joined["dataset"],
            "query_id": joined["query_id"], "reranked": joined["value_r"], "first": joined["value_f"],
            "delta": (joined["value_r"] - joined["value_f"]).round(12),  # ties stay ties
        }))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).sort_values(["system", "dataset", "query_id"],
                                                           ignore_index=True)


def wins_and_losses(deltas: pd.DataFrame, count: int = 5) -> dict[str, pd.DataFrame]:
    """The `count` largest gains and losses per reranker system, by query id."""
    out = {}
    for system, rows in deltas.groupby("system", sort=True):
        wins = rows[rows["delta"] > 0].sort_values(["delta", "dataset", "query_id"], ascending=[False, True, True])
        losses = rows[rows["delta"] < 0].sort_values(["delta", "dataset", "query_id"])
        wins, losses = wins.head(count), losses.head(count)
        out[str(system)] = pd.concat([wins.assign(kind="win"), losses.assign(kind="loss")], ignore_index=True)
    return out
