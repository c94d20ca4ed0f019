"""The summary table printed after a run: nDCG@10 per system x dataset, average, Δ vs first stage.

`markdown_table` is bench's one GitHub-markdown table writer: the summary, the RAG suite's tables,
`bench report`'s tables and the profile reports all go through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]],
                   right: Sequence[bool] | None = None) -> str:
    """A GitHub markdown table (no tabulate dependency), without a trailing newline.

    Cells are written with str(); a `|` in a cell is escaped and a line break becomes a space, so a
    cell stays one cell. `right[i]` right-aligns column i (`---:`, for numbers); default: all left.
    """
    aligned = list(right) if right is not None else [False] * len(header)
    lines = [_markdown_row(header), "|" + "|".join("---:" if r else "---" for r in aligned) + "|"]
    lines += [_markdown_row(row) for row in rows]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def to_markdown(table: pd.DataFrame, measure: str = MAIN_MEASURE) -> str:
    """The summary table as GitHub markdown: systems down, datasets, avg and Δ across (right-aligned)."""
    if table.empty:
        return f"(no {measure} values)\n"
    columns = list(table.columns)
    rows = [[system, *(format_cell(row[c], c) for c in columns)] for system, row in table.iterrows()]
    return markdown_table([f"system ({measure})", *columns], rows, [False] + [True] * len(columns)) + "\n"


def format_cell(value: object, column: object) -> str:
    """A summary-table cell: empty for a missing value, signed for a Δ column, 4 decimals otherwise."""
    if pd.isna(value):
        return ""
    return f"{value:+.4f}" if str(column).startswith("Δ") else f"{value:.4f}"
