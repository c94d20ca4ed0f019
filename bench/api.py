"""bench from Python: the same study as the `bench` command, with the same override strings.

    import bench
    result = bench.run("dataset=demo", "first_stage=bm25", "reranker=none")
    result.metrics            # the rows of metrics.csv
    print(result)             # the summary table (nDCG@10 per system, Δ against the first stage)

Your own objects join the configured ones: `rerankers={"mine": obj}` (anything with `name`,
`score(pairs)` and `info()`, see `bench.Reranker`), `first_stages={...}`, `dataset=` a loaded
`bench.Dataset`. The run writes the same files as the command, into `output_dir` (default: a new
`reports/runs/<time>_<suffix>/` under the current folder).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.data.records import Dataset, Run
from bench.first_stage.base import FirstStage
from bench.paths import CONFIG_DIR
from bench.rerank.base import Reranker


@dataclass
class Result:
    """A finished run: its tables, runs and manifest, as written to `output_dir`."""

    metrics: pd.DataFrame      # dataset, system, measure, value
    per_query: pd.DataFrame    # dataset, system, measure, query_id, value
    runs: dict[str, Run]       # system -> {query: {doc: score}}
    manifest: dict[str, Any]
    output_dir: Path

    def summary(self, measure: str | None = None) -> pd.DataFrame:
        """The summary table: `measure` (the first configured one by default) per system x dataset."""
        from bench.evaluate.summary import summary_table

        return summary_table(self.metrics, measure or self._main_measure())

    def _main_measure(self) -> str:
        measures = self.manifest.get("config", {}).get("measures") or ["nDCG@10"]
        return str(measures[0])

    def __str__(self) -> str:
        from bench.evaluate.summary import to_markdown

        measure = self._main_measure()
        return to_markdown(self.summary(measure), measure)

    def _repr_html_(self) -> str:
        return self.summary().to_html(float_format=lambda v: f"{v:.4f}", na_rep="")


def compose(*overrides: str):
    """The resolved study config for these overrides, as `bench --cfg job` would show it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if not CONFIG_DIR.is_dir():
        raise FileNotFoundError(f"bench's configs/ folder is not at {CONFIG_DIR}: install bench from a source "
                                "checkout (pip install -e .)")
    if GlobalHydra.instance().is_initialized():  # e.g. inside a Hydra app or a test that composed before
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def run(
    *overrides: str,
    rerankers: Mapping[str, Reranker] | None = None,
    first_stages: Mapping[str, FirstStage] | None = None,
    dataset: Dataset | None = None,
    output_dir: str | Path | None = None,
) -> Result:
    """Run a study like `bench <overrides>` and return its `Result`.

    `rerankers` / `first_stages`: {name: object} added to the configured systems (use `reranker=none`
    to run yours alone); `dataset`: a loaded dataset in place of the configured one. Objects without
    a config are not cached. `output_dir`: where the files go (default `reports/runs/<time>_<suffix>`).
    A config value bench cannot use raises `bench.validate.ConfigError` (an `InputError`) before any work,
    its message one line per problem.
    """
    from bench.pipeline import run as run_pipeline

    cfg = compose(*overrides)  # run_pipeline validates it first: ConfigError before any work
    out = Path(output_dir or cfg.get("output_dir") or
               Path("reports/runs") / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(3)}").resolve()
    run_pipeline(cfg, out, dataset=dataset, first_stages=first_stages, rerankers=rerankers, show=False)
    return load_result(out)


def load_result(folder: str | Path) -> Result:
    """A finished run directory as a `Result` (metrics, per-query values, TREC runs, manifest)."""
    from bench.evaluate.tidy import safe_filename
    from bench.first_stage.run_file import read_trec_run

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = pd.read_csv(folder / "metrics.csv", dtype={"dataset": str, "system": str})
    per_query = pd.read_csv(folder / "per_query.csv", dtype={"query_id": str, "dataset": str, "system": str})
    runs = {}
    for system in manifest.get("systems", {}):
        path = folder / "runs" / f"{safe_filename(system)}.trec"
        if path.is_file():
            runs[system] = read_trec_run(path)
    return Result(metrics, per_query, runs, manifest, folder)
