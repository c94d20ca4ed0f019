"""The CUDA sections of reports/benchmarks/profile_gpu.md, rendered from a profile run's files.

    cuda_sections(repetitions, gpu=..., peak=..., claims=...) -> markdown   recorded rows in, text out
    render_run(run_dir) -> markdown                                         the same, read from a run folder

A run folder of `bench profile profile=gpu` holds repetitions.csv (every measure of every round),
summary.json (the matmul peak), manifest.json (the config, whose Claim targets name the ratios to
show) and gpu.json (written by bench.profile.gpu_check: `bench.profile.cuda.gpu_facts`). So the
sections can be rebuilt on any machine without a GPU: `python -m bench.profile.gpu_check --report RUN_DIR`.

Sections:
- the GPU: torch.cuda.get_device_name, capability, memory, CUDA and torch versions, the matmul peak;
- CUDA memory per measurement point: the model's own peak allocated and reserved MB (weights plus
  what its scoring allocated, bench.profile.cuda.CudaMemory) and the process-wide peaks;
- ratios: each Claim's pair of systems (tiny : base, tiny : turbo) in pairs/s and memory at every
  dtype and token budget both were measured at, taken round by round, beside the claim.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.evaluate.summary import markdown_table
from bench.profile.stats import summarise

#: per-point memory measures of bench.profile.cuda.CudaMemory, in the table's order
MEMORY_MEASURES = ("peak_mem_mb", "peak_reserved_mb", "process_peak_mb", "process_reserved_mb")
MEASURE_NAMES = {"pairs_per_s": "pairs/s", "peak_mem_mb": "memory"}

Row = Mapping[str, Any]
PointKey = tuple[str, str, str, int]  # system, dtype, batch, max_length


def _number(text: str) -> int | None:
    return int(float(text)) if text not in ("", None) else None


def read_repetitions(path: Path) -> list[dict[str, Any]]:
    """repetitions.csv back into rows with numbers where the profile wrote numbers."""
    with Path(path).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["round"] = int(row["round"])
        row["max_length"] = _number(row["max_length"])
        row["k"] = _number(row["k"])
        row["value"] = float(row["value"])
    return rows


def _throughput_rows(repetitions: Iterable[Row]) -> Iterable[Row]:
    return (r for r in repetitions if r.get("system") != "matmul" and r.get("k") in (None, ""))


def by_point(repetitions: Iterable[Row]) -> dict[PointKey, dict[str, dict[int, float]]]:
    """(system, dtype, batch, max_length) -> measure -> round -> value, for throughput points."""
    found: dict[PointKey, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in _throughput_rows(repetitions):
        key = (str(row["system"]), str(row["dtype"]), str(row["batch"]), int(row["max_length"]))
        found[key][str(row["measure"])][int(row["round"])] = float(row["value"])
    return found


def ratio_by_round(rounds_a: Mapping[int, float], rounds_b: Mapping[int, float]) -> list[float]:
    """a / b for every round both were measured in (a slow spell hits both points of one round)."""
    return [rounds_a[r] / rounds_b[r] for r in sorted(rounds_a) if r in rounds_b and rounds_b[r]]


def claim_pairs(claims: Iterable[Row]) -> list[dict[str, Any]]:
    """Each (system, versus, measure) of the Claim targets once, with the claimed ratio and text."""
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for claim in claims:
        key = (claim["system"], claim["versus"], claim.get("measure", "pairs_per_s"))
        entry = pairs.setdefault(key, {"system": key[0], "versus": key[1], "measure": key[2],
                                       "claimed_ratio": None, "claim": ""})
        if claim.get("claimed_ratio") is not None:
            entry["claimed_ratio"] = claim["claimed_ratio"]
        entry["claim"] = entry["claim"] or claim.get("claim", "")
    return list(pairs.values())


def ratio_rows(repetitions: Sequence[Row], claims: Iterable[Row]) -> list[dict[str, Any]]:
    """For every claim pair, dtype and token budget measured for both systems: the median ratio and its range."""
    points = by_point(repetitions)
    rows = []
    for pair in claim_pairs(claims):
        for (system, dtype, batch, max_length), measures in points.items():
            if system != pair["system"]:
                continue
            other = points.get((pair["versus"], dtype, batch, max_length))
            if other is None:
                continue
            ratios = summarise(ratio_by_round(measures.get(pair["measure"], {}), other.get(pair["measure"], {})))
            if ratios.n == 0:  # a measure this device does not take (CUDA memory on a CPU)
                continue
            rows.append({**pair, "dtype": dtype, "batch": batch, "max_length": max_length,
                         "ratio": ratios.median, "low": ratios.low, "high": ratios.high, "rounds": ratios.n})
    return rows


def memory_rows(repetitions: Sequence[Row]) -> list[dict[str, Any]]:
    """Per throughput point: median pairs/s and the largest of each CUDA memory measure over the rounds."""
    rows = []
    for (system, dtype, batch, max_length), measures in by_point(repetitions).items():
        row: dict[str, Any] = {"system": system, "dtype": dtype, "batch": batch, "max_length": max_length,
                               "pairs_per_s": summarise(list(measures.get("pairs_per_s", {}).values())).median}
        for measure in MEMORY_MEASURES:
            values = measures.get(measure, {}).values()
            row[measure] = max(values) if values else float("nan")
        rows.append(row)
    return rows


def _fmt(value: Any, spec: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return spec.format(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return markdown_table(headers, rows).split("\n")


def gpu_lines(gpu: Mapping[str, Any], peak: Mapping[str, Any]) -> list[str]:
    flops = peak.get("flops", {})
    return [
        "## GPU", "",
        f"- {gpu.get('name', 'unknown GPU')} (torch.cuda.get_device_name), compute capability "
        f"{gpu.get('capability', '-')}, {_fmt(gpu.get('memory_mb'), '{:,}')} MB, "
        f"{gpu.get('multiprocessors', '-')} multiprocessors",
        f"- torch {gpu.get('torch', '-')}, CUDA {gpu.get('cuda', '-')}",
        f"- matmul peak ({peak.get('matmul', '-')}, CUDA events): median "
        f"{_fmt(flops.get('median', float('nan')) / 1e12)} TFLOP/s, measurements "
        f"{_fmt(flops.get('min', float('nan')) / 1e12)}-{_fmt(flops.get('max', float('nan')) / 1e12)}",
        "",
    ]


def memory_lines(repetitions: Sequence[Row]) -> list[str]:
    rows = [r for r in memory_rows(repetitions) if not math.isnan(r["peak_mem_mb"])]
    if not rows:  # no CUDA memory was measured (a CPU run)
        return []
    lines = ["## CUDA memory per point", "",
             "The model's own peak: its weights plus what its scoring allocated above the start of the "
             "measurement (allocated: tensors; reserved: the caching allocator's segments), the largest over "
             "the rounds; process-wide: the allocator's peaks with every loaded model counted.", ""]
    lines += _table(
        ["system", "dtype", "batch", "max_length", "pairs/s", "peak allocated MB", "peak reserved MB",
         "process allocated MB", "process reserved MB"],
        ([r["system"], r["dtype"], r["batch"], r["max_length"], _fmt(r["pairs_per_s"]), _fmt(r["peak_mem_mb"]),
          _fmt(r["peak_reserved_mb"]), _fmt(r["process_peak_mb"], "{:.0f}"), _fmt(r["process_reserved_mb"], "{:.0f}")]
         for r in rows),
    )
    return [*lines, ""]


def ratio_lines(repetitions: Sequence[Row], claims: Iterable[Row]) -> list[str]:
    rows = ratio_rows(repetitions, claims)
    if not rows:
        return []
    lines = ["## Ratios beside the published claims, every dtype and token budget", "",
             "Median of the per-round ratios (range over the rounds); the claims' hardware, batch and lengths "
             "are unpublished.", ""]
    lines += _table(
        ["ratio", "dtype", "batch", "measured", "rounds", "claimed", "claim"],
        ([f"{r['system']} : {r['versus']} {MEASURE_NAMES.get(r['measure'], r['measure'])}", r["dtype"], r["batch"],
          f"{_fmt(r['ratio'], '{:.2f}')} ({_fmt(r['low'], '{:.2f}')}-{_fmt(r['high'], '{:.2f}')})", r["rounds"],
          _fmt(r["claimed_ratio"], "~{:g}"), r["claim"]] for r in rows),
    )
    return [*lines, ""]


def cuda_sections(
    repetitions: Sequence[Row], *, gpu: Mapping[str, Any], peak: Mapping[str, Any], claims: Iterable[Row] = ()
) -> str:
    """The GPU, CUDA memory per point, and the claim ratios at every dtype and budget, as markdown."""
    return "\n".join([*gpu_lines(gpu, peak), *memory_lines(repetitions), *ratio_lines(repetitions, claims)])


def claims_of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Claim targets of a profile config (as manifest.json records it)."""
    return [dict(t) for t in config.get("targets") or [] if str(t.get("_target_", "")).endswith(".Claim")]


def render_run(run_dir: Path) -> str:
    """cuda_sections from a run folder's repetitions.csv, summary.json, manifest.json and gpu.json."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    gpu_file = run_dir / "gpu.json"
    gpu = json.loads(gpu_file.read_text()) if gpu_file.is_file() else {"name": manifest["hardware"].get("gpu")}
    return cuda_sections(read_repetitions(run_dir / "repetitions.csv"), gpu=gpu, peak=summary.get("peak", {}),
                         claims=claims_of(manifest.get("config", {})))
