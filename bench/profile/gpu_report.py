"""The sections of a `bench profile` report that a CUDA run and the config's claims add.

    cuda_facts(device) -> dict                      the GPU a run measured on ({} when not CUDA)
    gpu_lines(facts) -> markdown lines              `## GPU`: name, capability, memory, CUDA, torch
    memory_lines(repetitions) -> markdown lines     `## CUDA memory per point`
    ratio_lines(repetitions, claims) -> lines       each Claim's ratio at every dtype and token budget

bench.profile.targets.render_markdown puts them into every profile report, so `bench profile` on
CUDA records them whatever the config (configs/profile/gpu.yaml, which `make gpu-check` runs, is
one such config); each is empty where there is nothing to show (a CPU run, a config without claims).

Sections:
- the GPU: torch.cuda.get_device_name, capability, memory, multiprocessors, CUDA and torch versions
  (the matmul peak is in the report's Machine section);
- CUDA memory per measurement point: the model's own peak allocated and reserved MB (weights plus
  what its scoring allocated, bench.profile.cuda.CudaMemory) and the process-wide peaks;
- ratios: each Claim's pair of systems (tiny : base, tiny : turbo) in pairs/s and memory at every
  dtype and token budget both were measured at, taken round by round, beside the claim. A Claim
  target itself reads one dtype at each system's first budget; the claims' hardware, batch and
  lengths are unpublished, so the whole range is shown.

Everything is read from the repetition rows (repetitions.csv's rows: round, system, device, dtype,
batch, max_length, k, query, measure, value), so the sections follow the recorded measurements.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.evaluate.summary import markdown_table
from bench.profile.stats import summarise

#: per-point memory measures of bench.profile.cuda.CudaMemory, in the table's order
MEMORY_MEASURES = ("peak_mem_mb", "peak_reserved_mb", "process_peak_mb", "process_reserved_mb")
MEASURE_NAMES = {"pairs_per_s": "pairs/s", "peak_mem_mb": "memory"}

Row = Mapping[str, Any]
PointKey = tuple[str, str, str, int]  # system, dtype, batch, max_length


def cuda_facts(device: str) -> dict[str, object]:
    """bench.profile.cuda.gpu_facts of the device a run used, or {} for a device that is not CUDA."""
    if not str(device).startswith("cuda"):
        return {}
    import torch

    from bench.profile.cuda import gpu_facts

    return gpu_facts(torch.device(device))


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


def claims_of(targets: Iterable[Row] | None) -> list[dict[str, Any]]:
    """The Claim targets among a profile config's `targets:` (DictConfigs or plain dicts)."""
    return [dict(t) for t in targets or [] if str(t.get("_target_", "")).endswith(".Claim")]


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
            if ratios.n == 0:  # a measure this point did not take
                continue
            rows.append({**pair, "dtype": dtype, "batch": batch, "max_length": max_length,
                         "ratio": ratios.median, "low": ratios.low, "high": ratios.high, "rounds": ratios.n})
    return rows


def memory_rows(repetitions: Sequence[Row]) -> list[dict[str, Any]]:
    """Per CUDA throughput point: median pairs/s and the largest of each CUDA memory measure over the rounds.

    Only rows measured on a CUDA device count: a CPU run's peak_mem_mb is a fresh process's resident
    memory, which the report's CPU memory section shows.
    """
    on_cuda = (r for r in repetitions if str(r.get("device", "")).startswith("cuda"))
    rows = []
    for (system, dtype, batch, max_length), measures in by_point(on_cuda).items():
        row: dict[str, Any] = {"system": system, "dtype": dtype, "batch": batch, "max_length": max_length,
                               "pairs_per_s": summarise(list(measures.get("pairs_per_s", {}).values())).median}
        for measure in MEMORY_MEASURES:
            values = measures.get(measure, {}).values()
            row[measure] = max(values) if values else float("nan")
        rows.append(row)
    return [r for r in rows if not math.isnan(r["peak_mem_mb"])]


def _fmt(value: Any, spec: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return spec.format(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return markdown_table(headers, rows).split("\n")


def gpu_lines(facts: Mapping[str, Any] | None) -> list[str]:
    """`## GPU` from cuda_facts; nothing for a run off CUDA."""
    if not facts:
        return []
    return [
        "## GPU", "",
        f"- {facts.get('name', 'unknown GPU')} (torch.cuda.get_device_name), compute capability "
        f"{facts.get('capability', '-')}, {_fmt(facts.get('memory_mb'), '{:,}')} MB, "
        f"{facts.get('multiprocessors', '-')} multiprocessors",
        f"- torch {facts.get('torch', '-')}, CUDA {facts.get('cuda', '-')}",
        "",
    ]


def memory_lines(repetitions: Sequence[Row]) -> list[str]:
    rows = memory_rows(repetitions)
    if not rows:  # no CUDA memory was measured (a CPU run, or memory.enabled=false)
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
        ["ratio", "dtype", "batch", "max_length", "measured", "rounds", "claimed", "claim"],
        ([f"{r['system']} : {r['versus']} {MEASURE_NAMES.get(r['measure'], r['measure'])}", r["dtype"], r["batch"],
          r["max_length"],
          f"{_fmt(r['ratio'], '{:.2f}')} ({_fmt(r['low'], '{:.2f}')}-{_fmt(r['high'], '{:.2f}')})", r["rounds"],
          _fmt(r["claimed_ratio"], "~{:g}"), r["claim"]] for r in rows),
    )
    return [*lines, ""]
