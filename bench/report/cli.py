"""`bench report RUN_DIR... [--out DIR] [--baseline SYSTEM] [--resamples N] [--seed S] [--tolerance T]`.

Also `python -m bench.report.cli RUN_DIR...`. Exit status 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.console import user_errors
from bench.report.build import ReportOptions, build_report, default_out

DEFAULTS = ReportOptions()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench report",
        description="Build report.md, report.html, tables/ (CSV, LaTeX) and plots/ (PNG, SVG) from run "
                    "directories. Reads only their tidy files; runs no model.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="a run directory or a sweep directory holding run directories (searched recursively)")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: reports/<timestamp>/)")
    p.add_argument("--baseline", metavar="SYSTEM", default=DEFAULTS.baseline,
                   help="reranker (e.g. bge-base) or full system (e.g. bm25>>bge-base) every reranker "
                        "system is also tested against (‡)")
    p.add_argument("--resamples", metavar="N", type=int, default=DEFAULTS.resamples,
                   help=f"paired-bootstrap resamples (default {DEFAULTS.resamples})")
    p.add_argument("--seed", metavar="S", type=int, default=DEFAULTS.seed,
                   help=f"bootstrap seed (default {DEFAULTS.seed})")
    p.add_argument("--tolerance", metavar="T", type=float, default=DEFAULTS.tolerance,
                   help=f"largest |measured - published| marked OK (default {DEFAULTS.tolerance})")
    p.add_argument("--alpha", metavar="A", type=float, default=DEFAULTS.alpha,
                   help=f"significance level after Holm's correction (default {DEFAULTS.alpha})")
    p.add_argument("--test", choices=("t", "wilcoxon"), default=DEFAULTS.test,
                   help="test behind the † and ‡ marks (default: paired t-test)")
    p.add_argument("--no-plots", dest="plots", action="store_false",
                   help="write tables and text only (much faster)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    # bad input raises InputError: `bench report: <message>` and exit status 2 (`bench.console.user_errors`)
    options = ReportOptions(baseline=args.baseline, resamples=args.resamples, seed=args.seed,
                            tolerance=args.tolerance, alpha=args.alpha, test=args.test, plots=args.plots)
    report = build_report(args.run_dirs, args.out or default_out(), options)
    print(f"bench report: wrote {report.markdown} and {report.html}: {len(report.tables)} tables, "
          f"{len(report.plots)} plots ({len(report.skipped_plots)} skipped for lack of data), "
          f"from {len(report.results.runs)} run(s)")
    return 0


if __name__ == "__main__":
    with user_errors("bench report"):
        sys.exit(main())
