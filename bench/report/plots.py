"""The report's plots: matplotlib figures (Agg, no pyplot state), each saved as PNG and SVG.

Each `plot_*` function takes a `PlotInput` and returns (figure, caption), or raises
`NoData` with the reason it cannot be drawn; `draw_all` saves what was drawn and lists
what was skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from bench.profile.output import TOY, batch_text
from bench.report.load import MAIN_MEASURE, RETRIEVAL_SUITE, Results
from bench.report.significance import bootstrap_ci
from bench.report.style import LINESTYLES, MARKERS, RC, REFERENCE_GREY, FirstStageStyles, SystemColors
from bench.report.tables import system_order

#: boxplot's `vert` became `orientation` in matplotlib 3.10.
HORIZONTAL = ({"orientation": "horizontal"} if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
              else {"vert": False})


class NoData(Exception):
    """A plot has nothing to draw; the message says why."""


@dataclass
class PlotInput:
    results: Results
    deltas: pd.DataFrame
    colors: SystemColors
    resamples: int
    seed: int


@dataclass
class Plot:
    name: str
    title: str
    caption: str
    png: Path
    svg: Path


def _figure(width: float, height: float, **kwargs: object) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def _main_metric(results: Results, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    frame = results.metrics if frame is None else frame
    return frame[(frame["suite"] == RETRIEVAL_SUITE) & (frame["measure"] == MAIN_MEASURE)]


def _legend_below(fig: Figure, handles: list, ncol: int | None = None) -> None:
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol or min(3, len(handles)),
                   frameon=False)


def _batch_number(batch: object) -> float:
    text = str(batch).strip()
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else np.nan


def _token_budget(batch: object) -> float:
    match = re.fullmatch(r"tok(\d+)", str(batch).strip())
    return float(match.group(1)) if match else np.nan


def _log2_x(ax: Axes, values: list[float]) -> None:
    """Ticks at the values run; a log2 scale when they span a factor of 8 or more."""
    values = sorted({float(v) for v in values if v > 0})
    if len(values) > 1 and values[-1] / values[0] >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(NullLocator())


def _plain_log(axis: Axis) -> None:
    """Log scale labelled 20, 50, 100, 200 rather than 2×10¹."""
    axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _text(value: object) -> str:
    """`512.0` -> `512`; anything else as is."""
    try:
        number = float(str(value))
    except ValueError:
        return str(value)
    return f"{number:g}"


def _pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both x and y (higher is better), by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for x2, y2 in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot_quality_vs_throughput(data: PlotInput) -> tuple[Figure, str]:
    results = data.results
    speed = results.throughput.dropna(subset=["pairs_per_s"])
    if speed.empty:
        raise NoData("no throughput rows with pairs/s")
    quality = _main_metric(results)
    systems = set(quality["system"])
    best = speed.groupby(["system", "device"])["pairs_per_s"].max()
    points = []
    for (profiled, device), pairs_per_s in best.items():
        matched = [profiled] if profiled in systems else sorted(
            s for s in systems if results.system(s).reranker == profiled)
        points.extend((str(device), s, float(pairs_per_s)) for s in matched)
    if not points:
        raise NoData("no profiled system matches a system with nDCG@10 (profiled: "
                     + ", ".join(sorted(set(speed["system"]))) + ")")
    shown = sorted({s for _, s, _ in points})
    per_system = quality.pivot_table(index="system", columns="dataset", values="value", aggfunc="first")
    common = per_system.loc[shown].dropna(axis=1).columns
    if len(common) == 0:
        raise NoData("the profiled systems share no dataset with nDCG@10")
    score = per_system[common].mean(axis=1)
    params = {s: results.system(s).params or results.system(results.system(s).reranker or s).params for s in shown}
    known = [p for p in params.values() if p]
    biggest = max(known) if known else 1
    devices = sorted({d for d, _, _ in points})
    styles = FirstStageStyles(results.system(s).first_stage for s in shown)
    fig = _figure(5.2 * len(devices) + 0.6, 5.0)
    axes = fig.subplots(1, len(devices), sharey=True, squeeze=False)[0]
    for ax, device in zip(axes, devices, strict=True):
        mine = [(s, x, float(score[s])) for d, s, x in points if d == device]
        for system, x, y in mine:
            size = 40 + 400 * np.sqrt(params[system] / biggest) if params[system] else 60
            ax.scatter(x, y, s=size, color=data.colors(system), alpha=0.85, edgecolor="white", linewidth=0.8,
                       marker=styles.marker(results.system(system).first_stage), zorder=3)
        front = _pareto([(x, y) for _, x, y in mine])
        xs = [mine[i][1] for i in front]
        ys = [mine[i][2] for i in front]
        ax.plot(xs, ys, color="black", linewidth=1.2, zorder=2)
        ax.scatter(xs, ys, s=220, facecolor="none", edgecolor="black", linewidth=1.2, zorder=4)
        for first_stage in sorted({results.system(s).first_stage for s, _, _ in mine}):
            if first_stage in per_system.index and per_system.loc[first_stage, common].notna().all():
                level = float(per_system.loc[first_stage, common].mean())
                ax.axhline(level, color=REFERENCE_GREY, linestyle="--", linewidth=1)
                ax.annotate(f"{first_stage} alone", (0.01, level), xycoords=("axes fraction", "data"),
                            textcoords="offset points", xytext=(2, 3), fontsize=10, color=REFERENCE_GREY)
        _plain_log(ax.xaxis)
        ax.set_title(f"device: {device}")
        ax.set_xlabel("throughput (query–document pairs/s, log scale)")
    axes[0].set_ylabel(f"nDCG@10 (mean over {len(common)} datasets)")
    handles = [Line2D([], [], marker=styles.marker(results.system(s).first_stage), linestyle="",
                      color=data.colors(s), markersize=9, label=s) for s in shown]
    handles.append(Line2D([], [], marker="o", linestyle="-", color="black", markerfacecolor="none", markersize=11,
                          label="Pareto front"))
    _legend_below(fig, handles)
    caption = (f"Mean nDCG@10 over {', '.join(common)} against the best pairs/s profiled, per device. "
               "Marker area grows with the parameter count; ringed points joined by the black line are the "
               "Pareto front (nothing else is both faster and better). Dashed: the first stage alone.")
    return fig, caption


#: The widest a figure gets (inches); wider content wraps onto more rows.
MAX_WIDTH = 11.0


def plot_ndcg_by_dataset(data: PlotInput) -> tuple[Figure, str]:
    results = data.results
    quality = _main_metric(results)
    if quality.empty:
        raise NoData("no nDCG@10 rows")
    wide = quality.pivot_table(index="system", columns="dataset", values="value", aggfunc="first")
    systems = system_order(wide.index, results)
    datasets = list(wide.columns)
    per_query = _main_metric(results, results.per_query)
    groups = {key: rows["value"].to_numpy() for key, rows in per_query.groupby(["system", "dataset"])}
    styles = FirstStageStyles(results.system(s).first_stage for s in systems)
    group_width = 0.22 * len(systems) + 0.45
    per_row = max(1, min(len(datasets), int((MAX_WIDTH - 1.2) // group_width)))
    rows = math.ceil(len(datasets) / per_row)
    row_height = 3.6 if rows == 1 else 2.7
    fig = _figure(max(6.5, 1.2 + per_row * group_width), 0.6 + row_height * rows + 0.3 * math.ceil(len(systems) / 4))
    axes = fig.subplots(rows, 1, squeeze=False, sharey=True)[:, 0]
    width = 0.8 / len(systems)
    with_ci = 0
    tops: list[float] = []
    for row, ax in enumerate(axes):
        shown = datasets[row * per_row:(row + 1) * per_row]
        x = np.arange(len(shown))
        for i, system in enumerate(systems):
            heights = wide.loc[system, shown].to_numpy(dtype=float)
            errors = np.full((2, len(shown)), np.nan)
            for j, dataset in enumerate(shown):
                values = groups.get((system, dataset))
                if values is not None and len(values) >= 2:
                    low, high = bootstrap_ci(values, resamples=data.resamples, seed=data.seed)
                    errors[:, j] = [max(0.0, heights[j] - low), max(0.0, high - heights[j])]
                    with_ci += 1
            ax.bar(x + (i - (len(systems) - 1) / 2) * width, heights, width * 0.95, yerr=errors,
                   color=data.colors(system), label=system, capsize=2, error_kw={"linewidth": 1},
                   hatch=styles.hatch(results.system(system).first_stage), edgecolor="white", linewidth=0.5)
            tops.append(np.nanmax(heights + np.nan_to_num(errors[1])))
        ax.set_xticks(x, shown)
        ax.set_xlim(-0.5, per_row - 0.5)
        ax.set_ylabel("nDCG@10")
        ax.grid(axis="x", visible=False)
    axes[-1].set_xlabel("dataset")
    axes[0].set_ylim(0, min(1.02, max(0.1, max(tops) * 1.05)))
    _legend_below(fig, axes[0].get_legend_handles_labels()[0], ncol=min(4, len(systems)))
    caption = (f"nDCG@10 per dataset and system. Error bars: 95% bootstrap CI of the mean over queries "
               f"({data.resamples} resamples, seed {data.seed}); {with_ci} of "
               f"{int(wide.notna().to_numpy().sum())} bars have per-query data for one.")
    return fig, caption


def plot_delta_distribution(data: PlotInput) -> tuple[Figure, str]:
    deltas = data.deltas
    if deltas.empty:
        raise NoData("no reranker system has per-query nDCG@10 paired with its first stage")
    systems = system_order(deltas["system"].unique(), data.results)[::-1]
    fig = _figure(8.0, 1.2 + 0.75 * len(systems))
    ax = fig.subplots()
    rng = np.random.default_rng(data.seed)
    labels = []
    for i, system in enumerate(systems):
        values = deltas.loc[deltas["system"] == system, "delta"].to_numpy(dtype=float)
        ax.boxplot(values, positions=[i], widths=0.55, **HORIZONTAL, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": data.colors(system), "alpha": 0.3},
                   medianprops={"color": "black"})
        ax.scatter(values, i + rng.uniform(-0.2, 0.2, len(values)), s=18, color=data.colors(system),
                   alpha=0.8, zorder=3, edgecolor="white", linewidth=0.4)
        wins, ties, losses = int((values > 0).sum()), int((values == 0).sum()), int((values < 0).sum())
        labels.append(f"{system}\n{wins} better · {ties} same · {losses} worse")
    ax.axvline(0, color=REFERENCE_GREY, linewidth=1)
    ax.set_yticks(range(len(systems)), labels)
    ax.set_xlabel("Δ nDCG@10 per query (reranked − first stage alone)")
    ax.grid(axis="y", visible=False)
    caption = ("Per-query change in nDCG@10 from reranking, pooled over datasets: box = quartiles, "
               "line = median, dots = queries. Right of the grey line the reranker helped.")
    return fig, caption


def plot_ndcg_vs_depth(data: PlotInput) -> tuple[Figure, str]:
    quality = _main_metric(data.results, data.results.metrics_all).dropna(subset=["depth"])
    depths = quality.groupby("system")["depth"].nunique()
    swept = sorted(depths[depths >= 2].index)
    if not swept:
        raise NoData("every reranker system ran at a single rerank depth")
    fig = _figure(7.0, 4.8)
    ax = fig.subplots()
    all_depths: list[float] = []
    used: dict[str, int] = {}
    styles = FirstStageStyles(data.results.system(s).first_stage for s in swept)
    for system in system_order(swept, data.results):
        wide = quality[quality["system"] == system].pivot_table(index="depth", columns="dataset", values="value",
                                                                 aggfunc="first").dropna(axis=1)
        if wide.shape[1] == 0:
            continue
        used[system] = wide.shape[1]
        first_stage = data.results.system(system).first_stage
        ax.plot(wide.index, wide.mean(axis=1), marker=styles.marker(first_stage), color=data.colors(system),
                linestyle=styles.linestyle(first_stage), label=system, linewidth=2)
        all_depths.extend(wide.index)
    if not used:
        raise NoData("no dataset was run at every depth of a swept system")
    _log2_x(ax, all_depths)
    ax.set_xlabel("rerank depth k (candidates from the first stage)")
    ax.set_ylabel("nDCG@10 (mean over datasets run at every k)")
    _legend_below(fig, ax.get_legend_handles_labels()[0])
    counts = ", ".join(f"{s}: {n}" for s, n in used.items())
    return fig, f"nDCG@10 against rerank depth. Datasets averaged per system: {counts}."


def _shown(system: str, frame: pd.DataFrame) -> str:
    """The system's name in a legend, marked when `bench profile` ran a toy shape (not a real model)."""
    toy = "weights" in frame and (frame.loc[frame["system"].astype(str) == system, "weights"] == TOY).any()
    return f"{system} ({TOY})" if toy else system


def _series(frame: pd.DataFrame, fixed: str, x: str, y: str) -> list[tuple[str, pd.DataFrame, object]]:
    """(label, rows, fixed value) per (system, device, dtype), holding `fixed` at its most common value."""
    out = []
    for (system, device, dtype), rows in frame.groupby(["system", "device", "dtype"], dropna=False, sort=True):
        mode = rows[fixed].astype(str).value_counts().index[0]
        rows = rows[rows[fixed].astype(str) == mode].groupby(x, as_index=False)[y].max().sort_values(x)
        out.append((str(system), rows.assign(device=device, dtype=dtype), _text(mode)))
    return out


def _series_style(device: str, dtype: str, devices: list[str], dtypes: list[str]) -> dict[str, object]:
    return {"linestyle": LINESTYLES[devices.index(device) % len(LINESTYLES)],
            "marker": MARKERS[dtypes.index(dtype) % len(MARKERS)]}


def plot_throughput_vs_batch(data: PlotInput) -> tuple[Figure, str]:
    frame = data.results.throughput.dropna(subset=["pairs_per_s"]).copy()
    frame["batch_n"] = frame["batch"].map(_batch_number)
    frame["budget"] = frame["batch"].map(_token_budget)
    panels = [(kind, label, frame.dropna(subset=[kind])) for kind, label in
              (("batch_n", "batch size (pairs per forward pass)"), ("budget", "token budget per batch (tokens)"))]
    panels = [p for p in panels if len(p[2])]
    if not panels:
        raise NoData("no throughput rows with pairs/s and a batch size")
    devices = sorted(frame["device"].astype(str).unique())
    dtypes = sorted(frame["dtype"].astype(str).unique())
    lines = frame.groupby(["system", "device", "dtype"], dropna=False).ngroups
    fig = _figure(6.0 * len(panels) + 0.5, 4.2 + 0.3 * math.ceil(lines / 2))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    handles = {}
    for ax, (kind, label, rows) in zip(axes, panels, strict=True):
        for system, series, length in _series(rows, "max_length", kind, "pairs_per_s"):
            device, dtype = str(series["device"].iloc[0]), str(series["dtype"].iloc[0])
            name = f"{_shown(system, frame)} · {device} · {dtype} · max_length {length}"
            (line,) = ax.plot(series[kind], series["pairs_per_s"], color=data.colors(system), linewidth=2,
                              label=name, **_series_style(device, dtype, devices, dtypes))
            handles[name] = line
        _log2_x(ax, list(rows[kind]))
        _plain_log(ax.yaxis)
        ax.set_xlabel(label)
    axes[0].set_ylabel("throughput (pairs/s, log scale)")
    _legend_below(fig, list(handles.values()), ncol=min(2, len(handles)))
    caption = ("Throughput against batch size, one line per system, device and dtype, at that series' most "
               "profiled max_length (in the legend). Line style: device; marker: dtype.")
    return fig, caption


def plot_memory_vs_max_length(data: PlotInput) -> tuple[Figure, str]:
    frame = data.results.throughput.dropna(subset=["peak_mem_mb", "max_length"])
    if frame.empty:
        raise NoData("no throughput rows with peak memory and max_length")
    devices = sorted(frame["device"].astype(str).unique())
    dtypes = sorted(frame["dtype"].astype(str).unique())
    series_list = _series(frame, "batch", "max_length", "peak_mem_mb")
    fig = _figure(8.0, 4.2 + 0.3 * math.ceil(len(series_list) / 2))
    ax = fig.subplots()
    for system, series, batch in series_list:
        device, dtype = str(series["device"].iloc[0]), str(series["dtype"].iloc[0])
        ax.plot(series["max_length"], series["peak_mem_mb"], color=data.colors(system), linewidth=2,
                label=f"{_shown(system, frame)} · {device} · {dtype} · {batch_text(batch)}",
                **_series_style(device, dtype, devices, dtypes))
    _log2_x(ax, list(frame["max_length"]))
    ax.set_xlabel("max_length (tokens per query–document pair)")
    ax.set_ylabel("peak memory (MB)")
    _legend_below(fig, ax.get_legend_handles_labels()[0], ncol=min(2, len(series_list)))
    caption = ("Peak memory against max_length, one line per system, device and dtype, at that series' most "
               "profiled batch (in the legend). Line style: device; marker: dtype.")
    return fig, caption


PLOTS: tuple[tuple[str, str, Callable[[PlotInput], tuple[Figure, str]]], ...] = (
    ("quality_vs_throughput", "Quality against throughput", plot_quality_vs_throughput),
    ("ndcg10_by_dataset", "nDCG@10 per dataset", plot_ndcg_by_dataset),
    ("delta_distribution", "Per-query Δ nDCG@10 against the first stage", plot_delta_distribution),
    ("ndcg10_vs_depth", "nDCG@10 against rerank depth", plot_ndcg_vs_depth),
    ("throughput_vs_batch", "Throughput against batch size", plot_throughput_vs_batch),
    ("memory_vs_max_length", "Peak memory against max_length", plot_memory_vs_max_length),
)


def draw_all(data: PlotInput, out_dir: Path) -> tuple[list[Plot], list[tuple[str, str]]]:
    """Draw every plot that has data into `out_dir` (PNG and SVG); return drawn and (name, reason) skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn, skipped = [], []
    for name, title, draw in PLOTS:
        with matplotlib.rc_context(RC):
            try:
                fig, caption = draw(data)
            except NoData as reason:
                skipped.append((name, str(reason)))
                continue
            fig.suptitle(title, fontsize=13)
            png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
            fig.savefig(png, metadata={"Software": None})
            fig.savefig(svg, metadata={"Date": None})
        drawn.append(Plot(name, title, caption, png, svg))
    return drawn, skipped
