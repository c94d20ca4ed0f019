"""What a profile run writes: throughput.csv (the columns other modules read), the printed table, plots.

throughput.csv has one row per measurement point:

    throughput rows  (k empty)   pairs_per_s, tokens_per_s: medians over the repetitions;
                                 peak_mem_mb; flops_per_pair; peak_fraction (median)
    latency rows     (k set)     p50_ms, p95_ms, p99_ms over every (query, repetition) sample

`batch` is the scorer's batch knob: a batch size (`32`) or a token budget (`tok16384`). Empty cells
are measures that do not apply (or were not measured: see summary.json's skips).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

THROUGHPUT_COLUMNS = (
    "system", "device", "dtype", "batch", "max_length", "k", "pairs_per_s", "tokens_per_s",
    "p50_ms", "p95_ms", "p99_ms", "peak_mem_mb", "flops_per_pair", "peak_fraction",
)
REPETITION_COLUMNS = ("round", "system", "device", "dtype", "batch", "max_length", "k", "query", "measure", "value")


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6g}"
    return value


def write_csv(path: Path, rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})
    return path


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1e9:
            return f"{value / 1e9:.{digits}g}G"
        if abs(value) >= 1e6:
            return f"{value / 1e6:.{digits}g}M"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def format_table(rows: Sequence[Mapping[str, object]], spreads: Mapping[int, Mapping[str, float]] | None = None) -> str:
    """The rows as a fixed-width text table; pairs/s shows its spread ((max-min)/median) where known."""
    headers = ["system", "device", "dtype", "batch", "max_len", "k", "pairs/s", "spread", "tokens/s",
               "p50 ms", "p95 ms", "p99 ms", "mem MB", "FLOP/pair", "of peak"]
    lines = []
    for i, row in enumerate(rows):
        spread = (spreads or {}).get(i, {}).get("pairs_per_s", {}).get("spread")
        fraction = row.get("peak_fraction")
        lines.append([
            str(row["system"]), str(row["device"]), str(row["dtype"]), str(row["batch"]), str(row["max_length"]),
            _fmt(row.get("k")), _fmt(row.get("pairs_per_s")),
            "-" if spread is None or math.isnan(spread) else f"{spread:.0%}",
            _fmt(row.get("tokens_per_s")), _fmt(row.get("p50_ms")), _fmt(row.get("p95_ms")), _fmt(row.get("p99_ms")),
            _fmt(row.get("peak_mem_mb"), 4), _fmt(row.get("flops_per_pair")),
            "-" if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)) else f"{fraction:.0%}",
        ])
    widths = [max(len(h), *(len(line[c]) for line in lines)) if lines else len(h) for c, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _batch_value(label: str) -> int:
    return int(str(label).removeprefix("tok"))


def draw_plots(rows: Sequence[Mapping[str, object]], out_dir: Path) -> list[Path]:
    """throughput_vs_batch.png, latency_vs_k.png, memory_vs_max_length.png, where the rows allow each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(selected, x_key, y_key, group_keys):
        lines: dict[tuple, list[tuple[float, float]]] = {}
        for row in selected:
            y = row.get(y_key)
            if y is None or y == "" or (isinstance(y, float) and math.isnan(y)):
                continue
            x = _batch_value(row["batch"]) if x_key == "batch" else row[x_key]
            lines.setdefault(tuple(row[k] for k in group_keys), []).append((float(x), float(y)))
        return {k: sorted(v) for k, v in lines.items() if len(v) > 1}

    written = []
    throughput = [r for r in rows if r.get("k") in (None, "")]
    latency = [r for r in rows if r.get("k") not in (None, "")]
    specs = [
        ("throughput_vs_batch.png", throughput, "batch", "pairs_per_s", "batch (pairs, or tokens for tokN)",
         "pairs/s", ("system", "dtype", "max_length")),
        ("latency_vs_k.png", latency, "k", "p50_ms", "rerank depth k (pairs of one query)", "p50 latency (ms)",
         ("system", "dtype", "max_length")),
        ("memory_vs_max_length.png", throughput, "max_length", "peak_mem_mb", "max_length (tokens)",
         "peak memory (MB)", ("system", "dtype", "batch")),
    ]
    for name, selected, x_key, y_key, x_label, y_label, label_keys in specs:
        lines = series(selected, x_key, y_key, label_keys)
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, points in lines.items():
            label = " ".join(str(v) for v in key)
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=label)
        if x_key in ("batch", "k"):
            ax.set_xscale("log", base=2)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written
