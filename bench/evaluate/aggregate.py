"""Merge the metrics.csv files of a sweep (or any set of run directories) into one table."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.evaluate.summary import summary_table, to_markdown
from bench.evaluate.tidy import METRIC_COLUMNS


def find_metrics(roots: list[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file() and root.name == "metrics.csv":
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(root.rglob("metrics.csv")))
        else:
            raise FileNotFoundError(f"{root}: no such run directory or metrics.csv")
    return found


def merge(files: list[Path]) -> pd.DataFrame:
    frames = []
    for path in files:
        frame = pd.read_csv(path)
        missing = set(METRIC_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {METRIC_COLUMNS}")
        frame["run_dir"] = str(path.parent)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*METRIC_COLUMNS, "run_dir"])
    merged = pd.concat(frames, ignore_index=True)
    # A sweep over rerankers evaluates the same first stage in every run: identical rows are one
    # result. The same key with different values means different studies were mixed.
    key = ["dataset", "system", "measure"]
    spread = merged.groupby(key)["value"].agg(lambda v: v.max() - v.min())
    conflicts = spread[spread > 1e-9]
    if not conflicts.empty:
        dataset, system, measure = conflicts.index[0]
        dirs = merged[(merged.dataset == dataset) & (merged.system == system) & (merged.measure == measure)]
        raise ValueError(
            f"{dataset} / {system} / {measure} has different values in {', '.join(sorted(set(dirs.run_dir)))}: "
            f"these runs are not one study ({len(conflicts)} conflicting rows); aggregate them separately"
        )
    return merged.drop_duplicates(subset=key, keep="first").reset_index(drop=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench aggregate", description=__doc__)
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or run directories")
    parser.add_argument("--measure", default="nDCG@10")
    parser.add_argument("--out", type=Path, default=None, help="where to write metrics.csv and summary.md "
                        "(default: the first directory)")
    args = parser.parse_args(argv)
    files = find_metrics(args.dirs)
    if not files:
        parser.error(f"no metrics.csv under {', '.join(map(str, args.dirs))}")
    merged = merge(files)
    out = args.out or (args.dirs[0] if args.dirs[0].is_dir() else args.dirs[0].parent)
    out.mkdir(parents=True, exist_ok=True)
    merged.to_csv(out / "aggregate_metrics.csv", index=False)
    markdown = to_markdown(summary_table(merged, args.measure), args.measure)
    (out / "aggregate_summary.md").write_text(markdown)
    print(f"{len(files)} run directories merged")
    print(markdown, end="")
    return 0
