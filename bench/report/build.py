"""Build a report from run directories: read, tabulate, test, plot, render, write.

    report = build_report(["outputs/2024-05-01/12-00-00"], "reports/x", ReportOptions(baseline="bge-base"))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import InputError
from bench.report import plots as plotting
from bench.report import render
from bench.report.load import MAIN_MEASURE, RAG_SUITE, RETRIEVAL_SUITE, ReportInputError, Results, load_results
from bench.report.render import Block, Bullets, Heading, Image, TableBlock, Text
from bench.report.reproduction import reproduction_table
from bench.report.significance import comparisons, paired_table
from bench.report.style import SystemColors
from bench.report.tables import (
    Table,
    cost_table,
    fmt,
    measures_table,
    ndcg_table,
    per_query_deltas,
    rag_table,
    recall_table,
    significance_table,
    wins_and_losses,
)


@dataclass(frozen=True)
class ReportOptions:
    #: A reranker (`bge-base`, matched behind each first stage) or a full system (`bm25>>bge-base`)
    #: every reranker system is also tested against (‡); None: only against first stages (†).
    baseline: str | None = None
    #: Paired-bootstrap resamples for confidence intervals.
    resamples: int = 1000
    #: Seed of the bootstrap (and of the jitter in the Δ plot).
    seed: int = 0
    #: Largest |measured − published| still marked OK (0–1 scale, e.g. nDCG@10).
    tolerance: float = 0.01
    #: Significance level after Holm's correction.
    alpha: float = 0.05
    #: The test behind the † and ‡ marks: "t" (paired t-test) or "wilcoxon".
    test: str = "t"
    #: Biggest per-query wins and losses listed per reranker system.
    top_queries: int = 5
    #: Draw the plots (False: tables and text only, much faster).
    plots: bool = True

    def __post_init__(self) -> None:
        if self.test not in ("t", "wilcoxon"):
            raise InputError(f"--test must be 't' or 'wilcoxon', got {self.test!r}")
        if self.resamples < 1:
            raise InputError(f"--resamples must be at least 1, got {self.resamples}")
        if self.tolerance < 0:
            raise InputError(f"--tolerance must be non-negative, got {self.tolerance}")
        if not 0 < self.alpha < 1:
            raise InputError(f"--alpha must lie in (0, 1), got {self.alpha}")


@dataclass
class Report:
    out: Path
    results: Results
    options: ReportOptions
    tables: list[Table]
    plots: list[plotting.Plot]
    skipped_plots: list[tuple[str, str]]
    tests: pd.DataFrame
    deltas: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def markdown(self) -> Path:
        return self.out / "report.md"

    @property
    def html(self) -> Path:
        return self.out / "report.html"


def default_out(now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    out = Path("reports") / stamp
    suffix = 1
    while out.exists():
        suffix += 1
        out = Path("reports") / f"{stamp}_{suffix}"
    return out


def _significance(results: Results, options: ReportOptions) -> pd.DataFrame:
    per_query = results.per_query[(results.per_query["suite"] == RETRIEVAL_SUITE)
                                  & (results.per_query["measure"] == MAIN_MEASURE)]
    names = set(results.metrics.loc[results.metrics["suite"] == RETRIEVAL_SUITE, "system"]) | set(per_query["system"])
    systems = {name: (results.system(name).first_stage, results.system(name).reranker) for name in names}
    try:
        pairs = comparisons(systems, options.baseline)
    except ValueError as error:
        raise ReportInputError(str(error)) from error
    return paired_table(per_query[["dataset", "system", "query_id", "value"]], pairs,
                      resamples=options.resamples, seed=options.seed)


def runs_table(results: Results) -> Table:
    """One row per run directory: what it holds and where it came from."""
    rows = []
    for run in results.runs:
        manifest = run.manifest
        dataset = manifest.get("dataset") or {}
        hardware = manifest.get("hardware") or {}
        files = [name for name in ("metrics.csv", "per_query.csv", "throughput.csv", "manifest.json")
                 if (run.path / name).exists()]
        rows.append({
            "run": run.label, "suite": run.suite, "dataset": dataset.get("name") or "",
            "split": dataset.get("split") or "", "files": ", ".join(files),
            "commit": str(manifest.get("git_commit") or "")[:10], "created": run.created,
            "hardware": " / ".join(str(hardware[k]) for k in ("gpu", "cpu") if hardware.get(k)),
        })
    data = pd.DataFrame(rows)
    return Table("runs", "Runs read", data, data)


def _wins_losses_blocks(deltas: pd.DataFrame, count: int) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Biggest per-query wins and losses")]
    lists = wins_and_losses(deltas, count)
    if not lists:
        return [*blocks, Text("No per-query nDCG@10 paired with a first stage, so nothing to list.")]
    rows = pd.concat([frame.assign(system=system) for system, frame in lists.items()], ignore_index=True)
    display = pd.DataFrame({
        "system": rows["system"], "": rows["kind"], "dataset": rows["dataset"], "query_id": rows["query_id"],
        "first stage": [fmt(v) for v in rows["first"]], "reranked": [fmt(v) for v in rows["reranked"]],
        "Δ": [fmt(v, signed=True) for v in rows["delta"]],
    })
    blocks += [Text(f"Per reranker system, the {count} queries it helped most and hurt most "
                    "(Δ nDCG@10 against its first stage; all per-query Δ are in the plot above)."),
               TableBlock(Table("wins_losses", "Biggest per-query wins and losses", rows, display), files=False)]
    return blocks


def skipped_table(results: Results) -> Table | None:
    """One row per skipped system (not one per run that skipped it): how many runs, which, why, the fix."""
    if not results.skipped:
        return None
    frame = pd.DataFrame(results.skipped, columns=["run", "system", "reason", "fix"])
    rows, shown = [], []
    for system, group in frame.groupby("system", sort=False):
        runs = list(dict.fromkeys(group["run"]))
        reasons = list(dict.fromkeys(r for r in group["reason"] if r))
        fixes = list(dict.fromkeys(f for f in group["fix"] if f))
        rows.append({"system": system, "runs": len(runs), "skipped in": ", ".join(runs),
                     "reason": "; ".join(reasons), "fix": "; ".join(fixes)})
        shown.append(_first(runs))
    data = pd.DataFrame(rows, columns=["system", "runs", "skipped in", "reason", "fix"])
    display = data.assign(runs=data["runs"].astype(str), **{"skipped in": shown})
    order = data.sort_values(["runs", "system"], ascending=[False, True]).index
    data, display = data.loc[order].reset_index(drop=True), display.loc[order].reset_index(drop=True)
    return Table("skipped_systems", "Systems the runs skipped", data, display)


def _first(runs: list[str], shown: int = 10) -> str:
    """Up to `shown` run labels, then how many more (a 100-job sweep would fill the screen)."""
    more = len(runs) - shown
    return ", ".join(runs[:shown]) + (f", … and {more} more" if more > 0 else "")


def _systems_text(results: Results) -> str:
    """The datasets and systems of each suite, named apart: a RAG embedding is not a BEIR first stage."""
    retrieval = sorted(set(results.metrics.loc[results.metrics["suite"] == RETRIEVAL_SUITE, "system"]))
    rag = sorted(set(results.metrics.loc[results.metrics["suite"] == RAG_SUITE, "system"]))
    profiled = sorted(set(results.throughput["system"].astype(str)) - set(retrieval) - set(rag))

    def names(items: list[str]) -> str:
        return ", ".join(f"`{s}`" for s in items) or "none"

    parts = [f"Retrieval (BEIR) datasets: {', '.join(results.datasets()) or 'none'}; systems: {names(retrieval)}."]
    if rag:
        parts.append(f"RAG suite (its own table) QA sets: {', '.join(results.datasets(RAG_SUITE))}; embedding and "
                     f"reranker systems: {names(rag)}.")
    if profiled:
        parts.append(f"Profiled only (cost table): {names(profiled)}.")
    return " ".join(parts)


def _blocks(report: Report) -> list[Block]:
    results, options = report.results, report.options
    blocks: list[Block] = [
        Heading(1, "bench report"),
        Text(f"Built from {len(results.runs)} run(s) (listed under Runs) without running any model: every "
             f"number below comes from the runs' tidy files. {_systems_text(results)}"),
        Heading(2, "Notes"),
    ]
    notes = [*report.notes, *results.notes]
    notes.append(f"{len(report.plots)} plot(s) drawn, {len(report.skipped_plots)} skipped for lack of data "
                 "(listed under Plots).")
    skipped = skipped_table(results)
    if skipped is not None:
        runs = len({item["run"] for item in results.skipped})
        notes.append(f"{len(skipped.data)} system(s) were skipped, by {runs} run(s) in all (table below: one row "
                     "per system, with the runs that skipped it).")
    blocks.append(Bullets(notes))
    if skipped is not None:
        blocks.append(TableBlock(skipped, files=False))
    blocks.append(Heading(2, "Tables"))
    for table in report.tables:
        blocks += [Heading(3, table.title), *[Text(n) for n in table.notes], TableBlock(table)]
    blocks.append(Heading(2, "Plots"))
    for plot in report.plots:
        blocks += [Heading(3, plot.title), Image(plot)]
        if plot.name == "delta_distribution":
            blocks += _wins_losses_blocks(report.deltas, options.top_queries)
    if report.skipped_plots:
        blocks += [Heading(3, f"Plots not drawn ({len(report.skipped_plots)})"),
                   Bullets([f"`{name}`: {reason}" for name, reason in report.skipped_plots])]
    if not any(p.name == "delta_distribution" for p in report.plots):
        blocks += _wins_losses_blocks(report.deltas, options.top_queries)
    blocks += [Heading(2, "Runs"), TableBlock(runs_table(results), files=False)]
    blocks += [Heading(2, "Settings"), Bullets([
        f"baseline: {options.baseline or 'none'}", f"test behind the marks: {options.test}, alpha {options.alpha:g}",
        f"bootstrap: {options.resamples} resamples, seed {options.seed}",
        f"reproduction tolerance: {options.tolerance:g} absolute",
    ])]
    return blocks


def build_report(run_dirs: Iterable[str | Path], out: str | Path | None = None,
                 options: ReportOptions | None = None) -> Report:
    """Read `run_dirs`, write report.md, report.html, tables/ and plots/ into `out`; return the Report."""
    options = options or ReportOptions()
    out = Path(out) if out is not None else default_out()
    if out.exists() and not out.is_dir():
        raise ReportInputError(f"--out {out}: a file is there; give a folder (new or existing) for report.md, "
                               "report.html, tables/ and plots/")
    results = load_results(run_dirs)
    tests = _significance(results, options)
    deltas = per_query_deltas(results)
    common = {"alpha": options.alpha, "test": options.test}
    candidates = [
        ("ndcg10", "no nDCG@10 in metrics.csv", ndcg_table(results, tests, baseline=options.baseline, **common)),
        ("significance", "no reranker system with per-query nDCG@10",
         significance_table(tests, resamples=options.resamples, seed=options.seed, **common)),
        ("recall_ceiling", "no R@k of a first stage in metrics.csv", recall_table(results)),
        ("measures", "no retrieval metrics", measures_table(results)),
        ("rag", "no RAG-suite run", rag_table(results)),
        ("cost", "no throughput.csv", cost_table(results)),
        ("reproduction", "no published number applies to these systems",
         reproduction_table(results, options.tolerance)),
    ]
    tables = [table for _, _, table in candidates if table is not None]
    missing = [f"`{name}` ({reason})" for name, reason, table in candidates if table is None]

    out.mkdir(parents=True, exist_ok=True)
    names = [*results.systems, *results.throughput["system"].astype(str)]
    plot_input = plotting.PlotInput(results, deltas, SystemColors(names), options.resamples, options.seed)
    if options.plots:
        drawn, skipped = plotting.draw_all(plot_input, out / "plots")
    else:
        drawn, skipped = [], [(name, "plots turned off (--no-plots)") for name, _, _ in plotting.PLOTS]
    report = Report(out, results, options, tables, drawn, skipped, tests, deltas)
    if missing:
        report.notes.append(f"{len(missing)} table(s) not built for lack of data: {', '.join(missing)}.")

    (out / "tables").mkdir(exist_ok=True)
    for table in tables:
        table.data.to_csv(out / "tables" / f"{table.name}.csv", index=False)
        (out / "tables" / f"{table.name}.tex").write_text(render.table_to_latex(table), encoding="utf-8")
    blocks = _blocks(report)
    report.markdown.write_text(render.render_markdown(blocks, out), encoding="utf-8")
    report.html.write_text(render.render_html(blocks, "bench report"), encoding="utf-8")
    return report
