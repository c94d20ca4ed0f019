"""Tables, significance tests, reproduction checks and plots, built only from the runs' tidy files.

`build_report(run_dirs, out, ReportOptions(...))` is the one entry point; `bench report` calls
it through `bench.report.cli.main`. Rooms: `load` (run dirs -> frames), `tables`,
`significance`, `reproduction` (with `published_bm25.yaml` and `protocols.yaml`), `plots`,
`render` (md, html, LaTeX).
"""

from bench.report.build import Report, ReportOptions, build_report
from bench.report.load import ReportInputError, load_results

__all__ = ["Report", "ReportInputError", "ReportOptions", "build_report", "load_results"]
