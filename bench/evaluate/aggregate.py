"""Merge the metrics.csv files of a sweep (or any set of run directories) into one table.

    bench aggregate reports/multirun/<sweep> [more run or sweep dirs] [--measure nDCG@10] [--out DIR]

A sweep is one study when every difference between its runs can be read off the table:

- the `dataset` column and the system name tell datasets and systems apart (`bm25`, `bm25>>biencoder`);
- every other setting that differs between the runs becomes a column (`rerank_depth`, `top_k`,
  `reranker.biencoder.batch_size`, ...). Settings are read from each run's manifest.json "config",
  flattened to dotted keys, or from the job's .hydra/overrides.yaml when there is no manifest. A key
  under `reranker.<name>.` or `first_stage.<name>.` only counts for the systems that use that model,
  and bookkeeping that does not change a number (quiet, output_dir, cache, shard.*, executor.*) never counts.

The rows of one dataset and system that are identical in every measure across runs are one result, kept
once (BM25 under a rerank_depth sweep): a setting whose every value gave that result is left empty in its
column. Runs that differ in their numbers while no setting tells them apart, or runs of different
suites (BEIR retrieval and the RAG suite), are not one study: `bench aggregate` names the runs in one
line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.errors import InputError
from bench.evaluate.summary import (
    MAIN_MEASURE,
    first_stage_of,
    format_cell,
    markdown_table,
    summary_table,
    to_markdown,
)
from bench.evaluate.tidy import METRIC_COLUMNS
from bench.evaluate.tidy_csv import read_tidy_csv

#: top-level keys (and `*.cache`) that never change a result: never a column, never a difference
BOOKKEEPING = ("quiet", "output_dir", "cache", "shard", "executor", "hydra")
#: two values of one measure closer than this are the same result
TOLERANCE = 1e-9


class StudyError(InputError):
    """The runs given to `bench aggregate` are not one study; the message names them."""


class _Blank:
    """A setting left empty in a row: every value the sweep gave it produced this same result."""

    def __repr__(self) -> str:
        return ""


class _Unset:
    """A setting a run's config does not have (an older manifest, or a model the run did not load)."""

    def __repr__(self) -> str:
        return "(unset)"


BLANK = _Blank()
UNSET = _Unset()


@dataclass
class Run:
    """One run directory: its metrics and the settings that produced them."""

    dir: Path
    metrics: pd.DataFrame
    #: dotted key -> value (lists and mappings as JSON text, so that values compare and hash)
    settings: dict[str, Any] = field(default_factory=dict)
    #: keys named on the command line (.hydra/overrides.yaml), in their order: the table's first columns
    overridden: list[str] = field(default_factory=list)
    #: "rag" for the RAG suite, None for a BEIR retrieval study
    suite: str | None = None


#: one row of a dataset and system: its settings, its measures, the runs that gave it
Row = tuple[dict[str, Any], dict[str, float], list[Run]]


def find_metrics(roots: list[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file() and root.name == "metrics.csv":
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(root.rglob("metrics.csv")))
        else:
            raise InputError(f"{root}: no such run directory or metrics.csv; give sweep or run directories "
                             "that hold metrics.csv")
    return found


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": "[1, 2]"}; an empty mapping leaves no key."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _comparable(value)
    return flat


def _comparable(value: Any) -> Any:
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, sort_keys=True)
    return value


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def read_run(path: Path) -> Run:
    """metrics.csv, and the settings of its run from manifest.json or .hydra/overrides.yaml beside it."""
    frame = read_tidy_csv(path, METRIC_COLUMNS, numbers=["value"])[METRIC_COLUMNS]
    folder = path.parent
    run = Run(folder, frame)
    overrides_file = folder / ".hydra" / "overrides.yaml"
    overrides: list[str] = []
    if overrides_file.is_file():
        overrides = [str(o) for o in (yaml.safe_load(overrides_file.read_text()) or [])]
        run.overridden = [_override_key(o) for o in overrides]
    manifest_file = folder / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_file.is_file():
        try:
            manifest = json.loads(manifest_file.read_text())
        except json.JSONDecodeError as exc:
            raise StudyError(f"{manifest_file} is not valid JSON ({exc}): is the run still being written?") from None
    run.suite = manifest.get("suite")
    if isinstance(manifest.get("config"), Mapping):
        run.settings = flatten(manifest["config"])
    else:  # no manifest: the command line is all that is known
        for override in overrides:
            key, _, text = override.partition("=")
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
            run.settings[key.lstrip("+~")] = _comparable(value)
    return run


#: the choices of these groups (`dataset=scifact`, `reranker=biencoder` in overrides.yaml) are the
#: dataset column and the system name already
NAMED_BY_ROWS = ("dataset", "first_stage", "reranker", "system", "measure", "value", "run_dir")


def counts(key: str) -> bool:
    """Whether a setting can change a result that the dataset and system names do not already tell."""
    return key.split(".", 1)[0] not in BOOKKEEPING and not key.endswith(".cache") and key not in NAMED_BY_ROWS


def applies(key: str, system: str, run: Run) -> bool:
    """Whether `key` is a setting of `system`: a model's own keys only count for the systems using it."""
    group, _, rest = key.partition(".")
    if group not in ("reranker", "first_stage") or not rest:
        return True
    option = rest.split(".", 1)[0]
    name = run.settings.get(f"{group}.{option}.name", option)
    stages = system.split(">>")
    return name == stages[0] if group == "first_stage" else name in stages[1:]


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    if a.keys() != b.keys():
        return False
    for measure, x in a.items():
        y = b[measure]
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return False
        elif abs(x - y) > TOLERANCE:
            return False
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is BLANK:
        return (0, 0)
    if isinstance(value, bool):
        return (2, str(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def cell(value: Any) -> str:
    """How a setting reads in the table: empty for BLANK, null for None, values as given."""
    if value is BLANK:
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _runs_text(dirs: list[Path]) -> str:
    return ", ".join(str(d) for d in dirs)


def check_one_kind(runs: list[Run]) -> None:
    kinds: dict[str, list[Path]] = {}
    for run in runs:
        kinds.setdefault(run.suite or "BEIR retrieval", []).append(run.dir)
    if len(kinds) > 1:
        described = "; ".join(f"{kind}: {_runs_text(dirs)}" for kind, dirs in kinds.items())
        raise StudyError(f"these runs are not one study, they come from different suites ({described}): "
                         "aggregate each suite's runs separately")


def merge_runs(runs: list[Run]) -> tuple[pd.DataFrame, list[str]]:
    """One row per distinct result: (merged metrics, the settings that became columns, in order)."""
    if not runs:
        return pd.DataFrame(columns=[*METRIC_COLUMNS, "run_dir"]), []
    check_one_kind(runs)
    table: list[tuple[str, str, dict[str, Any], dict[str, float], list[Run]]] = []
    used: set[str] = set()
    for (dataset, system), members in _by_dataset_and_system(runs).items():
        rows = _distinct_results(system, members)
        _check_told_apart(dataset, system, rows)
        for settings, result, same in rows:
            used.update(k for k, v in settings.items() if v is not BLANK)
            table.append((dataset, system, settings, result, same))
    columns = _column_order(runs, used)
    records = [record for dataset, system, settings, result, same in table
               for record in _records(dataset, system, _filled(columns, system, settings, same), result, same)]
    frame = pd.DataFrame.from_records(records, columns=["dataset", "system", *columns, "measure", "value", "run_dir"])
    return frame, columns


def _by_dataset_and_system(runs: list[Run]) -> dict[tuple[str, str], list[tuple[Run, dict[str, float]]]]:
    """(dataset, system) -> each run that has it, with its measures."""
    groups: dict[tuple[str, str], list[tuple[Run, dict[str, float]]]] = {}
    for run in runs:
        for (dataset, system), rows in run.metrics.groupby(["dataset", "system"], sort=False):
            values = {str(m): float(v) for m, v in zip(rows.measure, rows.value, strict=True)}
            groups.setdefault((str(dataset), str(system)), []).append((run, values))
    return groups


def _distinct_results(system: str, members: list[tuple[Run, dict[str, float]]]) -> list[Row]:
    """The distinct results of one dataset and system, each with the settings that tell it apart."""
    keys = sorted({k for run, _ in members for k in run.settings if counts(k) and applies(k, system, run)})
    varying = [k for k in keys if len({run.settings.get(k, UNSET) for run, _ in members}) > 1]
    clusters: list[tuple[dict[str, float], list[Run]]] = []
    for run, values in members:
        for result, same in clusters:
            if _same(result, values):
                same.append(run)
                break
        else:
            clusters.append((values, [run]))
    return [(_varying_settings(varying, members, same), result, same) for result, same in clusters]


def _varying_settings(varying: list[str], members: list[tuple[Run, dict[str, float]]],
                      same: list[Run]) -> dict[str, Any]:
    """The value of each varying setting in the runs `same` that share one result."""
    settings: dict[str, Any] = {}
    for key in varying:
        everywhere = {run.settings.get(key, UNSET) for run, _ in members}
        here = {run.settings.get(key, UNSET) for run in same}
        if here == everywhere:
            settings[key] = BLANK  # every value of the sweep gave this result
        elif len(here) == 1:
            settings[key] = next(iter(here))
        else:
            settings[key] = ", ".join(cell(v) for v in sorted(here, key=_sort_key))
    return settings


def _filled(columns: list[str], system: str, settings: dict[str, Any], same: list[Run]) -> dict[str, Any]:
    """Every column of one row: its own varying settings, else the value all its runs share."""
    filled = {}
    for key in columns:
        if key in settings:
            filled[key] = settings[key]
        elif not all(applies(key, system, run) for run in same):
            filled[key] = BLANK  # not a setting of this system
        else:  # the same in every run of this dataset and system: say which value it was
            here = {run.settings.get(key, UNSET) for run in same}
            filled[key] = next(iter(here)) if len(here) == 1 else BLANK
    return filled


def _records(dataset: str, system: str, filled: dict[str, Any], result: dict[str, float],
             same: list[Run]) -> list[dict[str, Any]]:
    return [{"dataset": dataset, "system": system, **filled, "measure": measure, "value": value,
             "run_dir": str(same[0].dir)} for measure, value in result.items()]


def _check_told_apart(dataset: str, system: str, rows: list[Row]) -> None:
    """Two distinct results of one dataset and system need a setting whose values separate their runs."""
    for i, (settings, _, mine) in enumerate(rows):
        for _, _, theirs in rows[:i]:
            apart = [key for key in settings
                     if not {r.settings.get(key, UNSET) for r in mine} & {r.settings.get(key, UNSET) for r in theirs}]
            if apart:
                continue
            dirs = sorted({run.dir for run in [*theirs, *mine]})
            shared = [f"{key}={cell(value)}" for key in settings
                      for value in sorted({r.settings.get(key, UNSET) for r in mine}
                                          & {r.settings.get(key, UNSET) for r in theirs}, key=_sort_key)[:1]]
            why = (f"although they share {', '.join(shared)}" if shared
                   else "although no setting of theirs tells them apart")
            raise StudyError(
                f"{dataset} / {system} has different results in {_runs_text(dirs)} {why}: "
                "these runs are not one study; aggregate them separately"
            )


def _column_order(runs: list[Run], used: set[str]) -> list[str]:
    """Keys named on the command line first, in their order, then the others alphabetically."""
    order: list[str] = []
    for run in runs:
        for key in run.overridden:
            if key in used and key not in order:
                order.append(key)
    return order + sorted(used - set(order))


def merge(files: list[Path]) -> pd.DataFrame:
    """The metrics of `files` as one table (see the module's docstring); StudyError when not one study."""
    return merge_runs([read_run(path) for path in files])[0]


def study_table(merged: pd.DataFrame, columns: list[str], measure: str = MAIN_MEASURE) -> pd.DataFrame:
    """summary_table with the sweep's settings as columns: one row per system and setting values."""
    chosen = merged[merged["measure"] == measure]
    if chosen.empty:
        return pd.DataFrame()
    index = ["system", *columns]
    labelled = chosen.assign(**{c: chosen[c].map(cell) for c in columns})
    table = labelled.pivot_table(index=index, columns="dataset", values="value", aggfunc="mean", sort=False)
    datasets = list(table.columns)
    table["avg"] = table[datasets].mean(axis=1)
    raw = {tuple(cell(v) for v in key): key for key in
           chosen[index].drop_duplicates().itertuples(index=False, name=None)}
    delta = []
    for key in table.index:
        key = key if isinstance(key, tuple) else (key,)
        system, values = key[0], key[1:]
        base = _base_row(table, first_stage_of(system), values) if ">>" in system else None
        delta.append(table.loc[key, "avg"] - table.loc[base, "avg"] if base is not None else float("nan"))
    table["Δ vs first stage"] = delta

    def order(key: tuple) -> tuple:
        original = raw.get(key, key)
        return (first_stage_of(key[0]), ">>" in key[0], key[0], *(_sort_key(v) for v in original[1:]))

    return table.loc[sorted(table.index, key=lambda k: order(k if isinstance(k, tuple) else (k,)))]


def _base_row(table: pd.DataFrame, first_stage: str, values: tuple[str, ...]) -> tuple | None:
    """The first stage's row that this reranker's row was computed from: equal settings, or empty ones."""
    best, best_exact, tied = None, -1, False
    for key in table.index:
        key = key if isinstance(key, tuple) else (key,)
        if key[0] != first_stage:
            continue
        base_values = key[1:]
        if any(b not in ("", v) for b, v in zip(base_values, values, strict=True)):
            continue
        exact = sum(b == v for b, v in zip(base_values, values, strict=True))
        if exact > best_exact:
            best, best_exact, tied = key, exact, False
        elif exact == best_exact:
            tied = True
    return None if best is None or tied else best


def study_markdown(table: pd.DataFrame, columns: list[str], measure: str = MAIN_MEASURE) -> str:
    """to_markdown with the settings' columns after the system's."""
    if table.empty:
        return f"(no {measure} values)\n"
    numbers = list(table.columns)
    rows = []
    for key, row in table.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        rows.append([*key, *(format_cell(row[c], c) for c in numbers)])
    header = [f"system ({measure})", *columns, *map(str, numbers)]
    right = [False] * (1 + len(columns)) + [True] * len(numbers)
    note = (f"\nSettings that differ between the runs are columns ({', '.join(columns)}). An empty cell: the "
            "setting does not change that row (the same result at every value swept, or not a setting of that "
            "system). Δ is against the first stage's row with the same settings.\n")
    return markdown_table(header, rows, right) + "\n" + note


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench aggregate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or run directories")
    parser.add_argument("--measure", help="the measure of the printed table (default nDCG@10)", default=MAIN_MEASURE)
    parser.add_argument("--out", type=Path, default=None, help="where to write aggregate_metrics.csv and "
                        "aggregate_summary.md (default: the first directory)")
    args = parser.parse_args(argv)
    # bad input raises InputError: `bench aggregate: <message>` and exit status 2 (bench.cli's user_errors)
    files = find_metrics(args.dirs)
    if not files:
        raise InputError(f"no metrics.csv under {', '.join(map(str, args.dirs))}: give the folder of a "
                         "sweep or of finished runs")
    merged, columns = merge_runs([read_run(path) for path in files])  # a damaged file, or not one study
    out = args.out or (args.dirs[0] if args.dirs[0].is_dir() else args.dirs[0].parent)
    out.mkdir(parents=True, exist_ok=True)
    written = merged.copy()
    for column in columns:
        written[column] = written[column].map(cell)
    written.to_csv(out / "aggregate_metrics.csv", index=False)
    if columns:
        markdown = study_markdown(study_table(merged, columns, args.measure), columns, args.measure)
    else:
        markdown = to_markdown(summary_table(merged, args.measure), args.measure)
    (out / "aggregate_summary.md").write_text(markdown)
    print(f"{len(files)} run directories merged; wrote {out / 'aggregate_metrics.csv'} and "
          f"{out / 'aggregate_summary.md'}")
    print(markdown, end="")
    return 0
