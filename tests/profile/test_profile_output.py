"""throughput.csv's columns (another module reads them), the printed table, the plots."""

from __future__ import annotations

import csv

from bench.profile.output import THROUGHPUT_COLUMNS, draw_plots, format_table, write_csv

ROWS = [
    {"system": "a", "device": "cpu", "dtype": "float32", "batch": "tok4096", "max_length": 512, "k": None,
     "pairs_per_s": 10.0, "tokens_per_s": 2900.0, "peak_mem_mb": 120.5, "flops_per_pair": 6.1e9,
     "peak_fraction": 0.5},
    {"system": "a", "device": "cpu", "dtype": "float32", "batch": "tok16384", "max_length": 512, "k": None,
     "pairs_per_s": 12.0, "tokens_per_s": 3500.0, "peak_mem_mb": 150.0, "flops_per_pair": 6.1e9,
     "peak_fraction": 0.6},
    {"system": "a", "device": "cpu", "dtype": "float32", "batch": "tok4096", "max_length": 128, "k": None,
     "pairs_per_s": 40.0, "tokens_per_s": 5000.0, "peak_mem_mb": 90.0, "flops_per_pair": 2e9,
     "peak_fraction": float("nan")},
    {"system": "a", "device": "cpu", "dtype": "float32", "batch": "tok4096", "max_length": 512, "k": 10,
     "p50_ms": 800.0, "p95_ms": 900.0, "p99_ms": 950.0, "flops_per_pair": 6e9},
    {"system": "a", "device": "cpu", "dtype": "float32", "batch": "tok4096", "max_length": 512, "k": 100,
     "p50_ms": 8000.0, "p95_ms": 9000.0, "p99_ms": 9500.0, "flops_per_pair": 6e9},
]


def test_throughput_columns_exactly():
    assert ",".join(THROUGHPUT_COLUMNS) == (
        "system,device,runtime,dtype,batch,max_length,k,pairs_per_s,tokens_per_s,p50_ms,p95_ms,p99_ms,peak_mem_mb,"
        "flops_per_pair,peak_fraction"
    )


def test_csv_leaves_what_does_not_apply_empty(tmp_path):
    path = write_csv(tmp_path / "throughput.csv", ROWS, THROUGHPUT_COLUMNS)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(THROUGHPUT_COLUMNS)
    assert rows[0]["k"] == "" and rows[0]["p50_ms"] == "" and rows[0]["batch"] == "tok4096"
    assert rows[2]["peak_fraction"] == ""  # NaN is written as empty
    assert rows[3]["k"] == "10" and float(rows[3]["p95_ms"]) == 900.0 and rows[3]["pairs_per_s"] == ""


def test_table_has_a_line_per_row_and_shows_the_spread():
    text = format_table(ROWS, {0: {"pairs_per_s": {"spread": 0.12}}})
    lines = text.splitlines()
    assert len(lines) == 2 + len(ROWS)
    assert "12%" in lines[2] and "50%" in lines[2]


def test_plots(tmp_path):
    written = {p.name for p in draw_plots(ROWS, tmp_path)}
    assert written == {"throughput_vs_batch.png", "latency_vs_k.png", "memory_vs_max_length.png"}
    assert draw_plots(ROWS[:1], tmp_path / "none") == []  # one point per line: nothing to draw


def _ticks(ax) -> list[str]:
    ax.figure.draw_without_rendering()
    return [t.get_text() for t in ax.get_xticklabels()]


LOOP = [{"system": "toy-bert-loop", "device": "cpu", "dtype": "float32", "batch": b, "max_length": 128, "k": None,
         "pairs_per_s": p, "peak_mem_mb": m} for b, p, m in ((4, 10.0, 50.0), (8, 14.0, 60.0), (16, 15.0, 80.0))]


def test_every_plot_has_a_title_axis_labels_and_a_legend_that_reads():
    from bench.profile.output import TOY, build_figures

    figures = build_figures(ROWS + LOOP, {"toy-bert-loop": TOY})
    assert set(figures) == {"throughput_vs_batch.png", "latency_vs_k.png", "memory_vs_max_length.png"}
    for name, fig in figures.items():
        [ax] = fig.axes
        assert ax.get_title().strip() and "(cpu)" in ax.get_title(), name
        assert ax.get_xlabel() and ax.get_ylabel(), name
        assert ax.get_legend() is not None, name
    [ax] = figures["throughput_vs_batch.png"].axes
    assert ax.get_title() == "Throughput against batch size (cpu)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["a float32, max_length 512", f"toy-bert-loop float32, max_length 128 ({TOY})"]
    [ax] = figures["memory_vs_max_length.png"].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a float32, token budget 4096"]
    [ax] = figures["latency_vs_k.png"].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a float32, max_length 512"]


def test_log2_axes_are_ticked_with_plain_numbers():
    from bench.profile.output import build_figures

    figures = build_figures(ROWS + LOOP)
    [ax] = figures["throughput_vs_batch.png"].axes
    assert ax.get_xscale() == "log"
    assert _ticks(ax) == ["4", "8", "16", "4096", "16384"]  # not 2^2, 2^3, 2^4, 2^12, 2^14
    assert ax.get_xlabel() == "batch size (pairs per batch), or token budget (tokens per batch)"
    [ax] = build_figures(ROWS)["throughput_vs_batch.png"].axes
    assert ax.get_xlabel() == "token budget (tokens per batch)" and _ticks(ax) == ["4096", "16384"]
    [ax] = figures["latency_vs_k.png"].axes
    assert ax.get_xscale() == "log" and _ticks(ax) == ["10", "100"]
    [ax] = figures["memory_vs_max_length.png"].axes
    assert _ticks(ax) == ["128", "512"]


def test_batch_text():
    from bench.profile.output import batch_text, plain_number

    assert batch_text("tok16384") == "token budget 16384" and batch_text(32) == "batch 32"
    assert plain_number(16384.0) == "16384" and plain_number(0.5) == "0.5"
