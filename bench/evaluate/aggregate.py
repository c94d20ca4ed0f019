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
    duplicated = merged.duplicated(subset=["dataset", "system", "measure"], keep=False)
    if duplicated.any():
        first = merged[duplicated].iloc[0]
        raise ValueError(
            f"{first['dataset']} / {first['system']} / {first['measure']} appears in several run "
            f"directories ({', '.join(sorted(set(merged[duplicated]['run_dir'])))[:300]}): aggregate "
            "one sweep at a time"
        )
    return merged


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
