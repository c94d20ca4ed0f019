"""The summary table printed after a run: nDCG@10 per system x dataset, average, Δ vs first stage."""

from __future__ import annotations

import pandas as pd

MAIN_MEASURE = "nDCG@10"


def first_stage_of(system: str) -> str:
    return system.split(">>", 1)[0]


def summary_table(metrics: pd.DataFrame, measure: str = MAIN_MEASURE) -> pd.DataFrame:
    """Rows: systems (first stages first, each followed by its rerankers); columns: datasets, avg, Δ."""
    chosen = metrics[metrics["measure"] == measure]
    if chosen.empty:
        return pd.DataFrame()
    table = chosen.pivot_table(index="system", columns="dataset", values="value", aggfunc="mean")
    datasets = list(table.columns)
    table["avg"] = table[datasets].mean(axis=1)
    base = {s: table.loc[first_stage_of(s), "avg"] if first_stage_of(s) in table.index else float("nan")
            for s in table.index}
    table["Δ vs first stage"] = [
        table.loc[s, "avg"] - base[s] if ">>" in s else float("nan") for s in table.index
    ]
    order = sorted(table.index, key=lambda s: (first_stage_of(s), ">>" in s, s))
    return table.loc[order]


def to_markdown(table: pd.DataFrame, measure: str = MAIN_MEASURE) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    if table.empty:
        return f"(no {measure} values)\n"
    columns = list(table.columns)
    lines = [
        f"| system ({measure}) | " + " | ".join(str(c) for c in columns) + " |",
        "|---|" + "|".join("---:" for _ in columns) + "|",
    ]
    for system, row in table.iterrows():
        cells = [format_cell(row[c], c) for c in columns]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_cell(value: object, column: object) -> str:
    """A summary-table cell: empty for a missing value, signed for a Δ column, 4 decimals otherwise."""
    if pd.isna(value):
        return ""
    return f"{value:+.4f}" if str(column).startswith("Δ") else f"{value:.4f}"
