"""The whole report: every file written, images embedded, plots skipped with a reason, the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.cli import _dispatch
from bench.report import ReportOptions, build_report
from bench.report.plots import PLOTS
from bench.report.render import latex_escape
from bench.report.style import SystemColors, color_key


def main(argv: list[str]) -> int:
    """`bench report *argv` as the command runs it: an input error ends in one line and exit status 2."""
    try:
        return _dispatch("report", argv)
    except SystemExit as exc:
        return int(exc.code or 0)


TABLES = ["ndcg10", "significance", "recall_ceiling", "measures", "rag", "cost", "reproduction"]


def test_every_table_written_as_csv_and_latex(built):
    assert [t.name for t in built.tables] == TABLES
    for name in TABLES:
        csv, tex = built.out / "tables" / f"{name}.csv", built.out / "tables" / f"{name}.tex"
        assert csv.stat().st_size > 0 and tex.stat().st_size > 0
        assert "\\begin{tabular}" in tex.read_text() and "\\toprule" in tex.read_text()


def test_every_plot_written_as_png_and_svg(built):
    assert [p.name for p in built.plots] == [name for name, _, _ in PLOTS]
    assert built.skipped_plots == []
    for plot in built.plots:
        assert plot.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.png.stat().st_size > 5_000
        assert "<svg" in plot.svg.read_text()[:500]


def test_html_is_self_contained(built):
    html = built.html.read_text()
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert len(sources) == len(built.plots)
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'\b(href|src)="(https?:)?//', html)
    assert "<link" not in html and "<script" not in html


def test_markdown_has_tables_plots_and_wins(built):
    md = built.markdown.read_text()
    for table in built.tables:
        assert f"### {table.title}" in md
    for plot in built.plots:
        assert f"](plots/{plot.name}.png)" in md
    assert "6 plot(s) drawn, 0 skipped" in md
    assert "### Biggest per-query wins and losses" in md
    assert "| bm25>>jina-tiny | win | nq | q1 | 0.200 | 0.500 | +0.300 |" in md
    assert "| bm25>>mxbai-base | 1 | profile/0 | weights not cached | run make models |" in md


def test_latex_marks_and_escapes(built):
    tex = (built.out / "tables" / "ndcg10.tex").read_text()
    assert "\\textbf{0.500\\textsuperscript{\\dag} (+0.200)}" in tex
    assert "bm25\\textgreater{}\\textgreater{}jina-tiny" in tex
    assert latex_escape("R&D_50% #1 Δ") == "R\\&D\\_50\\% \\#1 $\\Delta$"


def test_no_plots_says_so(tmp_path, runs):
    report = build_report([runs], tmp_path / "out", ReportOptions(resamples=20, plots=False))
    assert report.plots == [] and len(report.skipped_plots) == len(PLOTS)
    assert not (tmp_path / "out" / "plots").exists()
    assert "plots turned off" in report.markdown.read_text()


def test_plots_without_data_are_skipped_and_counted(tmp_path, make_beir_run):
    make_beir_run(tmp_path / "runs" / "0", "nq", {"bm25": [0.5, 0.1], "bm25>>x": [0.6, 0.2]})
    report = build_report([tmp_path / "runs"], tmp_path / "out", ReportOptions(resamples=50))
    skipped = dict(report.skipped_plots)
    assert set(skipped) == {"quality_vs_throughput", "ndcg10_vs_depth", "throughput_vs_batch",
                            "memory_vs_max_length"}
    assert skipped["ndcg10_vs_depth"] == "every reranker system ran at a single rerank depth"
    md = report.markdown.read_text()
    assert "2 plot(s) drawn, 4 skipped" in md and "### Plots not drawn (4)" in md
    assert "`rag` (no RAG-suite run)" in md and "`cost` (no throughput.csv)" in md
    assert sorted(p.name for p in (tmp_path / "out" / "plots").iterdir()) == [
        "delta_distribution.png", "delta_distribution.svg", "ndcg10_by_dataset.png", "ndcg10_by_dataset.svg"]


def test_throughput_only_runs_still_report(tmp_path, make_run, throughput_csv):
    make_run(tmp_path / "profile", dataset=None, systems={}, throughput=throughput_csv)
    report = build_report([tmp_path / "profile"], tmp_path / "out", ReportOptions(resamples=50))
    assert [t.name for t in report.tables] == ["cost"]
    assert {p.name for p in report.plots} == {"throughput_vs_batch", "memory_vs_max_length"}
    assert "no nDCG@10 rows" in dict(report.skipped_plots)["ndcg10_by_dataset"]


def test_building_twice_gives_the_same_tables(tmp_path, runs):
    first = build_report([runs], tmp_path / "a", ReportOptions(resamples=100, seed=3, plots=False))
    second = build_report([runs], tmp_path / "b", ReportOptions(resamples=100, seed=3, plots=False))
    for table in first.tables:
        name = f"tables/{table.name}.csv"
        assert (first.out / name).read_text() == (second.out / name).read_text()
    assert first.markdown.read_text() == second.markdown.read_text()


def test_colours_follow_the_reranker_and_differ_between_systems():
    names = ["bm25", "dense", "bm25>>jina-tiny", "dense>>jina-tiny", "bm25>>bge-base", "jina-tiny", "bge-base"]
    colors = SystemColors(names)
    assert colors("bm25>>jina-tiny") == colors("dense>>jina-tiny") == colors("jina-tiny")
    assert color_key("bm25>>jina-tiny") == "jina-tiny"
    keys = {color_key(n) for n in names}
    assert len({colors(k) for k in keys}) == len(keys)
    assert SystemColors(reversed(names)).as_dict() == colors.as_dict()


def test_cli_writes_the_report(tmp_path, runs, capsys):
    out = tmp_path / "out"
    assert main([str(runs), "--out", str(out), "--baseline", "bge-base", "--resamples", "50", "--seed", "1",
                 "--tolerance", "0.02", "--test", "wilcoxon", "--alpha", "0.1", "--no-plots"]) == 0
    assert "7 tables, 0 plots (6 skipped" in capsys.readouterr().out
    assert (out / "report.md").exists() and (out / "report.html").exists()
    md = (out / "report.md").read_text()
    assert "reproduction tolerance: 0.02 absolute" in md and "bootstrap: 50 resamples, seed 1" in md
    assert "Wilcoxon signed-rank test over queries" in md and "p < 0.1" in md


def test_cli_errors_are_clear(tmp_path, runs, capsys):
    assert main([str(runs), "--out", str(tmp_path / "o"), "--baseline", "bge-bas"]) == 2
    assert "Did you mean 'bge-base'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main([str(runs), "--resamples", "0"]) == 2
    assert "resamples must be at least 1" in capsys.readouterr().err


def test_cli_default_out_is_a_timestamped_folder_under_reports(tmp_path, runs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(runs), "--resamples", "20", "--no-plots"]) == 0
    (made,) = (tmp_path / "reports").iterdir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", made.name)
    assert (made / "report.html").exists()


def test_python_dash_m_runs_the_cli(tmp_path, runs):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "bench.report.cli", str(runs), "--out", str(out),
                           "--resamples", "20", "--no-plots"], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert (out / "report.md").exists()
