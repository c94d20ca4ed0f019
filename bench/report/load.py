"""Find run directories and read their tidy files: the only input a report has.

A run directory holds any of `metrics.csv`, `per_query.csv`, `throughput.csv` and
`manifest.json`; a sweep directory holds several run directories below it. Every row
read keeps the run it came from (`run`), the rerank depth of its system (`depth`, from
the manifest) and the suite of its run (`suite`: "retrieval" or "rag"). Throughput rows of a
`bench profile` run also say what was profiled (`weights`: "toy shape, random weights", "real
shape, random weights", "pretrained", or "" where the manifest does not say).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import InputError
from bench.evaluate.tidy_csv import read_tidy_csv
from bench.profile.output import weights_kind

MARKER_FILES = ("metrics.csv", "throughput.csv", "manifest.json")
SEPARATOR = ">>"
MAIN_MEASURE = "nDCG@10"
RAG_SUITE = "rag"
RETRIEVAL_SUITE = "retrieval"

METRICS_COLUMNS = ("dataset", "system", "measure", "value")
PER_QUERY_COLUMNS = ("dataset", "system", "measure", "query_id", "value")
THROUGHPUT_COLUMNS = (
    "system", "device", "runtime", "dtype", "batch", "max_length", "k", "pairs_per_s", "tokens_per_s",
    "p50_ms", "p95_ms", "p99_ms", "peak_mem_mb", "flops_per_pair", "peak_fraction",
)
THROUGHPUT_REQUIRED = ("system", "device")
THROUGHPUT_NUMBERS = (
    "max_length", "k", "pairs_per_s", "tokens_per_s", "p50_ms", "p95_ms", "p99_ms",
    "peak_mem_mb", "flops_per_pair", "peak_fraction",
)


class ReportInputError(InputError):
    """A run directory or one of its files cannot be read; the message names the file and line."""


@dataclass
class RunDir:
    path: Path
    label: str
    manifest: dict[str, Any]
    suite: str
    created: str


@dataclass
class SystemInfo:
    """What the manifests say about one system, merged over every run that has it."""

    name: str
    first_stage: str
    reranker: str | None
    depths: set[int] = field(default_factory=set)
    params: int | None = None
    model: str | None = None
    architecture: str | None = None
    published: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    """Everything the runs hold, in tidy frames.

    `metrics` and `per_query` are the *main view*: one rerank depth per system (the
    depth that covers most datasets) and one run per (dataset, system, depth). The
    `*_all` frames keep every depth (for the depth plot); duplicates are still resolved.
    """

    runs: list[RunDir]
    metrics_all: pd.DataFrame
    per_query_all: pd.DataFrame
    metrics: pd.DataFrame
    per_query: pd.DataFrame
    throughput: pd.DataFrame
    systems: dict[str, SystemInfo]
    skipped: list[dict[str, str]]
    notes: list[str]
    #: dataset name -> the manifest's `dataset` entry (name, split, source, counts).
    dataset_meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    def datasets(self, suite: str = RETRIEVAL_SUITE) -> list[str]:
        frame = self.metrics[self.metrics["suite"] == suite]
        return sorted(frame["dataset"].unique())

    def system(self, name: str) -> SystemInfo:
        if name not in self.systems:
            self.systems[name] = SystemInfo(name, *split_system(name))
        return self.systems[name]


def split_system(name: str) -> tuple[str, str | None]:
    """`bm25>>jina-tiny` -> ("bm25", "jina-tiny"); `bm25` -> ("bm25", None)."""
    first, _, reranker = name.partition(SEPARATOR)
    return first, (reranker or None)


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Every directory at or below `paths` that holds a run file, in natural order."""
    found: list[Path] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise ReportInputError(f"{root}: no such directory")
        if not root.is_dir():
            raise ReportInputError(f"{root}: expected a run directory, got a file")
        hits = {hit.parent for name in MARKER_FILES for hit in root.rglob(name)}
        if not hits:
            raise ReportInputError(
                f"{root}: no run found (no metrics.csv, throughput.csv or manifest.json at or below it)"
            )
        found.extend(sorted(hits, key=_natural_key))
    return list(dict.fromkeys(path.resolve() for path in found))


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short names for runs: each path relative to the deepest folder they share."""
    if len(paths) == 1:
        return [paths[0].name]
    common = Path(os.path.commonpath([str(path) for path in paths]))
    return [str(path.relative_to(common)) if path != common else path.name for path in paths]


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{path}, line {error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(manifest, dict):
        raise ReportInputError(f"{path}: expected a JSON object at the top level")
    return manifest


def _suite(manifest: dict[str, Any]) -> str:
    suite = manifest.get("suite")
    if suite is None:
        suite = (manifest.get("config") or {}).get("suite")
    if isinstance(suite, dict):
        suite = suite.get("name")
    return RAG_SUITE if str(suite or "").lower() == RAG_SUITE else RETRIEVAL_SUITE


def _find_key(tree: Any, key: str) -> Any:
    """The first value stored under `key` anywhere in a nested config, or None."""
    if isinstance(tree, dict):
        if tree.get(key) is not None:
            return tree[key]
        for value in tree.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def _depth(manifest: dict[str, Any], system: str) -> float:
    """Rerank depth of a reranker system in one run (NaN for a first stage alone)."""
    if split_system(system)[1] is None:
        return np.nan
    entry = (manifest.get("systems") or {}).get(system) or {}
    depth = entry.get("rerank_depth")
    if depth is None:
        depth = _find_key(manifest.get("config") or {}, "rerank_depth")
    try:
        return float(depth) if depth is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _merge_system(systems: dict[str, SystemInfo], name: str, entry: dict[str, Any], config: dict[str, Any]) -> None:
    first, reranker = split_system(name)
    info = systems.setdefault(
        name,
        SystemInfo(name, entry.get("first_stage") or first, entry.get("reranker") or reranker),
    )
    facts = entry.get("facts") or {}
    info.params = info.params or facts.get("params")
    info.model = info.model or facts.get("model")
    info.architecture = info.architecture or facts.get("architecture")
    for key, value in (facts.get("published") or {}).items():
        info.published.setdefault(key, value)
    for key, value in (entry.get("info") or {}).items():
        info.info.setdefault(key, value)
    # BM25 parameters from the config, whether `first_stage` holds one node or nodes by name.
    node = config.get("first_stage")
    if isinstance(node, dict) and isinstance(node.get(first), dict):
        node = node[first]
    if isinstance(node, dict) and reranker is None:
        for key in ("k1", "b"):
            if node.get(key) is not None:
                info.info.setdefault(key, node[key])


def _tag(frame: pd.DataFrame, run: RunDir, *, with_depth: bool = True) -> pd.DataFrame:
    frame = frame.copy()
    frame["run"] = run.label
    frame["suite"] = run.suite
    frame["created"] = run.created
    if with_depth:
        depths = {name: _depth(run.manifest, name) for name in frame["system"].unique()}
        frame["depth"] = frame["system"].map(depths).astype(float)
    return frame


def _dedupe(metrics: pd.DataFrame, per_query: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, ...]:
    """One run per (dataset, system, depth): the latest by manifest `created`, then by path."""
    key = ["dataset", "system", "depth"]
    sources = pd.concat([metrics[[*key, "run", "created"]], per_query[[*key, "run", "created"]]])
    sources = sources.drop_duplicates().sort_values(["created", "run"])
    counts = sources.groupby(key, dropna=False).size()
    repeated = counts[counts > 1]
    if len(repeated):
        notes.append(
            f"{len(repeated)} (dataset, system, depth) result(s) appear in more than one run; "
            "the latest run (manifest `created`, then path) is kept: "
            + ", ".join(f"{d}/{s}" for d, s, _ in repeated.index[:5])
            + (" …" if len(repeated) > 5 else "")
        )
    chosen = sources.groupby(key, dropna=False).tail(1)[[*key, "run"]]

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.merge(chosen, on=[*key, "run"], how="inner")

    return keep(metrics), keep(per_query)


def _primary_depths(metrics: pd.DataFrame) -> dict[str, float]:
    """The depth each reranker system is shown at: most datasets covered, then 100, then deepest."""
    primary: dict[str, float] = {}
    rerankers = metrics.dropna(subset=["depth"])
    for system, rows in rerankers.groupby("system"):
        coverage = rows.groupby("depth")["dataset"].nunique()
        ranked = sorted(coverage.items(), key=lambda item: (item[1], item[0] == 100, item[0]))
        primary[str(system)] = ranked[-1][0]
    return primary


def _main_view(frame: pd.DataFrame, primary: dict[str, float]) -> pd.DataFrame:
    wanted = frame["system"].map(primary)
    keep = frame["depth"].isna() | wanted.isna() | (frame["depth"] == wanted)
    return frame[keep].reset_index(drop=True)


@dataclass
class _Gathered:
    """What the run directories hold, run by run, before the frames are joined."""

    runs: list[RunDir] = field(default_factory=list)
    metrics: list[pd.DataFrame] = field(default_factory=list)
    per_query: list[pd.DataFrame] = field(default_factory=list)
    throughput: list[pd.DataFrame] = field(default_factory=list)
    systems: dict[str, SystemInfo] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    dataset_meta: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_results(paths: Iterable[str | Path]) -> Results:
    """Read every run at or below `paths` into one `Results`."""
    run_paths = find_run_dirs(paths)
    gathered = _Gathered()
    for path, label in zip(run_paths, _labels(run_paths), strict=True):
        _gather_run(gathered, path, label)
    notes: list[str] = []
    metrics_all = _with_values(_concat(gathered.metrics, [*METRICS_COLUMNS, "run", "suite", "created", "depth"]),
                               "metrics.csv", notes)
    per_query_all = _with_values(
        _concat(gathered.per_query, [*PER_QUERY_COLUMNS, "run", "suite", "created", "depth"]), "per_query.csv", notes
    )
    metrics_all, per_query_all = _dedupe(metrics_all, per_query_all, notes)
    systems = gathered.systems
    for name in pd.concat([metrics_all["system"], per_query_all["system"]]).unique():
        systems.setdefault(str(name), SystemInfo(str(name), *split_system(str(name))))
    for (name, depth), _ in metrics_all.dropna(subset=["depth"]).groupby(["system", "depth"]):
        systems[str(name)].depths.add(int(depth))
    primary = _primary_depths(metrics_all[metrics_all["suite"] == RETRIEVAL_SUITE])
    notes += _depth_notes(systems, primary)
    return Results(
        runs=gathered.runs,
        metrics_all=metrics_all,
        per_query_all=per_query_all,
        metrics=_main_view(metrics_all, primary),
        per_query=_main_view(per_query_all, primary),
        throughput=_concat(gathered.throughput, [*THROUGHPUT_COLUMNS, "weights", "run", "suite", "created"]),
        systems=systems,
        skipped=gathered.skipped,
        notes=notes,
        dataset_meta=gathered.dataset_meta,
    )


def _gather_run(gathered: _Gathered, path: Path, label: str) -> None:
    """One run directory: its manifest's systems, dataset and skips, and its tidy files, tagged."""
    manifest = _read_manifest(path / "manifest.json")
    run = RunDir(path, label, manifest, _suite(manifest), str(manifest.get("created") or ""))
    gathered.runs.append(run)
    for name, entry in (manifest.get("systems") or {}).items():
        _merge_system(gathered.systems, name, entry or {}, manifest.get("config") or {})
        if isinstance(entry, dict) and entry.get("rerank_depth") is not None:
            gathered.systems[name].depths.add(int(entry["rerank_depth"]))
    if isinstance(manifest.get("dataset"), dict) and manifest["dataset"].get("name"):
        gathered.dataset_meta.setdefault(str(manifest["dataset"]["name"]), manifest["dataset"])
    for item in manifest.get("skipped") or []:
        gathered.skipped.append({"run": label, **{k: str(item.get(k, "")) for k in ("system", "reason", "fix")}})
    gathered.skipped.extend({"run": label, **pair_not_run(item)} for item in manifest.get("pairs_not_run") or [])
    if (path / "metrics.csv").exists():
        gathered.metrics.append(_tag(read_tidy_csv(path / "metrics.csv", METRICS_COLUMNS, numbers=["value"]), run))
    if (path / "per_query.csv").exists():
        frame = read_tidy_csv(path / "per_query.csv", PER_QUERY_COLUMNS, numbers=["value"])
        gathered.per_query.append(_tag(frame, run))
    if (path / "throughput.csv").exists():
        gathered.throughput.append(_tag(_read_throughput(path / "throughput.csv", manifest), run, with_depth=False))


def _read_throughput(path: Path, manifest: dict[str, Any]) -> pd.DataFrame:
    """throughput.csv with every column (empty where the file lacks one) and what each system ran (`weights`)."""
    frame = read_tidy_csv(path, THROUGHPUT_REQUIRED, numbers=THROUGHPUT_NUMBERS)
    for name in THROUGHPUT_COLUMNS:
        if name not in frame.columns:
            frame[name] = ""
    entries = manifest.get("systems") or {}
    frame["weights"] = [weights_kind(entries.get(name)) for name in frame["system"]]
    return frame


def _with_values(frame: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    """The rows that hold a value; a note says how many whole rows had none (a measure with nothing to average)."""
    empty = frame["value"].isna()
    if empty.any():
        notes.append(f"{int(empty.sum())} row(s) of {name} have no value and are left out.")
    return frame[~empty]


def _depth_notes(systems: dict[str, SystemInfo], primary: dict[str, float]) -> list[str]:
    """A note per reranker system that ran at several depths: which one the tables show."""
    notes = []
    for system, depth in sorted(primary.items()):
        if systems[system].depths - {int(depth)}:
            notes.append(
                f"`{system}` ran at rerank depths {', '.join(map(str, sorted(systems[system].depths)))}; "
                f"tables show depth {int(depth)}, the depth plot shows all."
            )
    return notes


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        empty = pd.DataFrame({name: pd.Series(dtype=str) for name in columns})
        for name in ("value", "depth", *THROUGHPUT_NUMBERS):
            if name in empty.columns:
                empty[name] = empty[name].astype(float)
        return empty
    return pd.concat(frames, ignore_index=True)


def pair_not_run(item: dict[str, Any]) -> dict[str, str]:
    """A (first stage, reranker) pair the run did not score because the reranker is the model that retrieved
    the candidates (manifest `pairs_not_run`), as a row of the skipped-systems table."""
    system = str(item.get("system", ""))
    first_stage, _, reranker = system.partition(">>")
    return {"system": system,
            "reason": f"not run: rescoring with {item.get('model', 'the same model')}, the model that retrieved "
                      "the candidates, gives the same order",
            "fix": f"nothing to fix, the {first_stage} row shows that order; to rescore with another model, set "
                   f"reranker.{reranker}.model=<another model>"}
