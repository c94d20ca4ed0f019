"""The tidy files every run writes; tables, plots and reports read only these.

metrics.csv    dataset,system,measure,value
per_query.csv  dataset,system,measure,query_id,value
runs/<system>.trec   TREC run of each system
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.data.records import Run, ranked
from bench.evaluate.measures import QueryValue, aggregate

METRIC_COLUMNS = ["dataset", "system", "measure", "value"]
PER_QUERY_COLUMNS = ["dataset", "system", "measure", "query_id", "value"]


@dataclass
class SystemResult:
    dataset: str
    system: str
    per_query: list[QueryValue]

    def metric_rows(self) -> list[dict[str, object]]:
        return [
            {"dataset": self.dataset, "system": self.system, "measure": m, "value": v}
            for m, v in aggregate(self.per_query).items()
        ]

    def per_query_rows(self) -> list[dict[str, object]]:
        return [
            {"dataset": self.dataset, "system": self.system, "measure": v.measure, "query_id": v.query_id,
             "value": v.value}
            for v in self.per_query
        ]


def system_name(first_stage: str, reranker: str | None) -> str:
    return first_stage if reranker is None else f"{first_stage}>>{reranker}"


def write_tables(results: Iterable[SystemResult], out_dir: Path) -> pd.DataFrame:
    """Write metrics.csv and per_query.csv; return the metrics frame."""
    results = list(results)
    metrics = pd.DataFrame([row for r in results for row in r.metric_rows()], columns=METRIC_COLUMNS)
    per_query = pd.DataFrame([row for r in results for row in r.per_query_rows()], columns=PER_QUERY_COLUMNS)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(out_dir / "metrics.csv", index=False)
    per_query.to_csv(out_dir / "per_query.csv", index=False)
    return metrics


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace(">>", "__"))


def write_trec_run(run: Run, path: Path, *, tag: str) -> None:
    """Ranks from 1 in the order bench evaluated (`ranked`: score descending, ties by id descending, as
    trec_eval breaks them), scores at full precision (`repr`: reading them back gives the same floats;
    rounding would create ties the run did not have)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"\s+", "_", tag)
    with path.open("w", encoding="utf-8") as handle:
        for qid in sorted(run):
            for rank, (doc_id, score) in enumerate(ranked(run[qid]), start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
