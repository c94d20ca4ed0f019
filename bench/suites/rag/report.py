"""The suite's tables, built from metrics.csv rows only (dataset, system, measure, value).

    by_system     one row per embedding x reranker: hit rate and MRR (LlamaIndex's blog table)
    by_reranker   one row per reranker, averaged over the embedding models that ran, beside the
                  published averages from the reranker's facts (Jina's table)

A system is "embedding" (no reranker) or "embedding>>reranker", as in every bench run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from bench.evaluate.summary import markdown_table

NO_RERANKER = "none"


def split_system(system: str) -> tuple[str, str]:
    embedding, _, reranker = system.partition(">>")
    return embedding, reranker or NO_RERANKER


def by_system(
    metrics: pd.DataFrame, *, hit: str, mrr: str, embeddings: Sequence[str] = (), rerankers: Sequence[str] = ()
) -> pd.DataFrame:
    """Columns: embedding, reranker, hit rate, MRR; in the given orders (no reranker first)."""
    columns = ["embedding", "reranker", "hit rate", "MRR"]
    chosen = metrics[metrics["measure"].isin([hit, mrr])]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    wide = chosen.pivot_table(index="system", columns="measure", values="value", aggfunc="mean")
    rows = []
    for system in wide.index:
        embedding, reranker = split_system(system)
        rows.append({"embedding": embedding, "reranker": reranker,
                     "hit rate": wide.loc[system].get(hit), "MRR": wide.loc[system].get(mrr)})
    table = pd.DataFrame(rows, columns=columns)
    emb_order = _order(list(embeddings), table["embedding"])
    rr_order = _order([NO_RERANKER, *rerankers], table["reranker"])
    table = table.sort_values(["embedding", "reranker"],
                              key=lambda col: col.map(emb_order if col.name == "embedding" else rr_order))
    return table.reset_index(drop=True)


def by_reranker(
    table: pd.DataFrame, *, published: Mapping[str, Mapping[str, float]] | None = None
) -> pd.DataFrame:
    """Mean hit rate and MRR per reranker over the embedding models in `table`, and published values."""
    columns = ["reranker", "hit rate", "MRR", "embeddings", "published hit rate", "published MRR"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    published = published or {}
    rows = []
    for reranker, group in table.groupby("reranker", sort=False):
        facts = published.get(str(reranker), {})
        rows.append({"reranker": reranker, "hit rate": group["hit rate"].mean(), "MRR": group["MRR"].mean(),
                     "embeddings": ", ".join(group["embedding"]),
                     "published hit rate": facts.get("hit_rate"), "published MRR": facts.get("mrr")})
    return pd.DataFrame(rows, columns=columns)


def _markdown(table: pd.DataFrame) -> str:
    """The frame as a markdown table; floats with 4 decimals (right-aligned), missing values blank."""
    if table.empty:
        return "(no results)\n"
    right = [pd.api.types.is_float_dtype(table[c]) for c in table.columns]
    rows = [[_cell(row[c]) for c in table.columns] for _, row in table.iterrows()]
    return markdown_table(list(table.columns), rows, right) + "\n"


def render(
    metrics: pd.DataFrame,
    *,
    hit: str,
    mrr: str,
    title: str,
    embeddings: Sequence[str] = (),
    rerankers: Sequence[str] = (),
    published: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Both tables as markdown under `title`."""
    systems = by_system(metrics, hit=hit, mrr=mrr, embeddings=embeddings, rerankers=rerankers)
    averages = by_reranker(systems, published=published)
    if averages["published hit rate"].isna().all():
        averages = averages.drop(columns=["published hit rate", "published MRR"])
    note = ("\nPublished: the LlamaIndex-protocol averages Jina reports (Llama 2 paper, three other embedding "
            "models); a shape to compare with, not the same data.\n" if "published MRR" in averages else "")
    return (f"## {title}\n\nhit rate = {hit}, MRR = {mrr}\n\n{_markdown(systems)}\n"
            f"### Average over embedding models\n\n{_markdown(averages)}{note}")


def _order(preferred: list[str], present: pd.Series) -> dict[str, int]:
    order = {name: i for i, name in enumerate(dict.fromkeys(preferred))}
    for name in sorted(set(present) - set(order)):
        order[name] = len(order)
    return order


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
