"""What a profile run writes: throughput.csv (the columns other modules read), the printed table, plots.

throughput.csv has one row per measurement point:

    throughput rows  (k empty)   pairs_per_s, tokens_per_s: medians over the repetitions;
                                 peak_mem_mb; flops_per_pair; peak_fraction (median)
    latency rows     (k set)     p50_ms, p95_ms, p99_ms over every (query, repetition) sample

`runtime` is torch (bench's engine) or onnxruntime (the model's verified ONNX export).
`batch` is the scorer's batch knob: a batch size (`32`) or a token budget (`tok16384`). Empty cells
are measures that do not apply (or were not measured: see summary.json's skips).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

THROUGHPUT_COLUMNS = (
    "system", "device", "runtime", "dtype", "batch", "max_length", "k", "pairs_per_s", "tokens_per_s",
    "p50_ms", "p95_ms", "p99_ms", "peak_mem_mb", "flops_per_pair", "peak_fraction",
)
REPETITION_COLUMNS = ("round", "system", "device", "runtime", "dtype", "batch", "max_length", "k", "query", "measure",
                      "value")


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
    headers = ["system", "device", "runtime", "dtype", "batch", "max_len", "k", "pairs/s", "spread", "tokens/s",
               "p50 ms", "p95 ms", "p99 ms", "mem MB", "FLOP/pair", "of peak"]
    lines = []
    for i, row in enumerate(rows):
        spread = (spreads or {}).get(i, {}).get("pairs_per_s", {}).get("spread")
        fraction = row.get("peak_fraction")
        lines.append([
            str(row["system"]), str(row["device"]), str(row.get("runtime") or "torch"), str(row["dtype"]),
            str(row["batch"]), str(row["max_length"]),
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


TOY = "toy shape, random weights"


def weights_kind(entry: Mapping[str, object] | None) -> str:
    """What a profiled system ran, from its manifest entry ("systems" of a profile's manifest.json):

    "toy shape, random weights"   inline facts naming no published model (toy-bert, toy-jina)
    "real shape, random weights"  a published model's shape (facts.model), seeded random weights
    "pretrained"                  the real checkpoint (`systems.<name>.pretrained=true`)
    ""                            the entry does not say (not a profile run)
    """
    if not isinstance(entry, Mapping):
        return ""
    facts = entry.get("facts") if isinstance(entry.get("facts"), Mapping) else {}
    weights = str(entry.get("weights") or "")
    if weights == "pretrained":
        return "pretrained"
    if not weights.startswith("random"):
        return ""
    return "real shape, random weights" if facts.get("model") else TOY


def _batch_value(label: str) -> int:
    return int(str(label).removeprefix("tok"))


def batch_text(label: object) -> str:
    """How a batch knob reads in a legend: `tok16384` -> "token budget 16384", `32` -> "batch 32"."""
    text = str(label)
    return f"token budget {text.removeprefix('tok')}" if text.startswith("tok") else f"batch {text}"


def plain_number(value: float, _position: object = None) -> str:
    """A tick label: 4, 16, 16384 (never 2^2 or 1.6e4)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _legend_label(key: tuple, keys: Sequence[str], kinds: Mapping[str, str]) -> str:
    """("toy-bert", "torch", "float32", 32) over (system, runtime, dtype, batch) -> "toy-bert float32, batch 32";
    a runtime other than torch is named: "toy-bert onnxruntime float32, batch 32"."""
    named = dict(zip(keys, key, strict=True))
    runtime = named.get("runtime")
    label = f"{named['system']} {runtime + ' ' if runtime and runtime != 'torch' else ''}{named['dtype']}"
    if "max_length" in named:
        label += f", max_length {named['max_length']}"
    if "batch" in named:
        label += f", {batch_text(named['batch'])}"
    kind = kinds.get(str(named["system"]))
    return f"{label} ({kind})" if kind else label


#: name -> (rows it draws: throughput or latency, x, y, title, x label, y label, what one line holds fixed)
PLOT_SPECS = (
    ("throughput_vs_batch.png", "throughput", "batch", "pairs_per_s", "Throughput against batch size",
     "batch size (pairs per batch), or token budget (tokens per batch)", "throughput (pairs/s)",
     ("system", "runtime", "dtype", "max_length")),
    ("latency_vs_k.png", "latency", "k", "p50_ms", "Latency of reranking one query's top k",
     "rerank depth k (pairs of one query)", "median latency (ms)", ("system", "runtime", "dtype", "max_length")),
    ("memory_vs_max_length.png", "throughput", "max_length", "peak_mem_mb", "Peak memory against max_length",
     "max_length (tokens per query-document pair)", "peak memory (MB)", ("system", "runtime", "dtype", "batch")),
)


def build_figures(rows: Sequence[Mapping[str, object]], kinds: Mapping[str, str] | None = None) -> dict[str, object]:
    """file name -> matplotlib Figure, for each plot the rows allow (a line needs two points).

    `kinds` marks systems in the legends, e.g. {"toy-bert": "toy shape, random weights"}.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    kinds = kinds or {}

    def series(selected, x_key, y_key, group_keys):
        lines: dict[tuple, list[tuple[float, float]]] = {}
        for row in selected:
            y = row.get(y_key)
            if y is None or y == "" or (isinstance(y, float) and math.isnan(y)):
                continue
            x = _batch_value(row["batch"]) if x_key == "batch" else row[x_key]
            lines.setdefault(tuple(row.get(k) for k in group_keys), []).append((float(x), float(y)))
        return {k: sorted(v) for k, v in lines.items() if len(v) > 1}

    chosen = {
        "throughput": [r for r in rows if r.get("k") in (None, "")],
        "latency": [r for r in rows if r.get("k") not in (None, "")],
    }
    devices = sorted({str(r.get("device")) for r in rows if r.get("device")})
    where = f" ({', '.join(devices)})" if devices else ""
    figures: dict[str, object] = {}
    for name, which, x_key, y_key, title, x_label, y_label, label_keys in PLOT_SPECS:
        lines = series(chosen[which], x_key, y_key, label_keys)
        if not lines:
            continue
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        ax = fig.subplots()
        xs_all: set[float] = set()
        for key, points in lines.items():
            xs, ys = zip(*points, strict=True)
            xs_all.update(xs)
            ax.plot(xs, ys, marker="o", label=_legend_label(key, label_keys, kinds))
        if x_key in ("batch", "k") and max(xs_all) / max(min(xs_all), 1e-9) >= 4:
            ax.set_xscale("log", base=2)
        # ticks at the values measured, written as plain numbers (not 2^2, 2^3)
        ax.xaxis.set_major_locator(FixedLocator(sorted(xs_all)))
        ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
        ax.xaxis.set_minor_locator(NullLocator())
        if x_key == "batch":  # say which knob when every line has the same one
            budgets = {str(r["batch"]).startswith("tok") for r in chosen[which] if r.get(y_key) not in (None, "")}
            x_label = {frozenset({True}): "token budget (tokens per batch)",
                       frozenset({False}): "batch size (pairs per batch)"}.get(frozenset(budgets), x_label)
        ax.set_title(f"{title}{where}")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, title="system dtype, " + ("batch" if "batch" in label_keys else "max_length"),
                  title_fontsize=7)
        figures[name] = fig
    return figures


def draw_plots(rows: Sequence[Mapping[str, object]], out_dir: Path,
               kinds: Mapping[str, str] | None = None) -> list[Path]:
    """throughput_vs_batch.png, latency_vs_k.png, memory_vs_max_length.png, where the rows allow each."""
    written = []
    for name, fig in build_figures(rows, kinds).items():
        path = out_dir / name
        fig.savefig(path, dpi=120)
        written.append(path)
    return written
