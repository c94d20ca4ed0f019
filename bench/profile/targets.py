"""Checks with a verdict, and published claims next to what was measured: `targets:` in a profile config.

    PeakFraction(system, at_least)          achieved FLOP/s / the machine's matmul peak (peak.dtype)
    Speedup(system, baseline, at_least)     pairs/s ratio, taken round by round (both measured in the
                                            same round, so a slow spell hits both); optionally the two
                                            systems' scores must agree within `scores_within`; the
                                            baseline may run another runtime and be its best batch
                                            over several systems (`baseline_batch: best`)
    Claim(system, versus, measure, ...)     a measured ratio next to a published claim, no verdict
                                            (the claim's hardware, batch and lengths are unpublished)

`write_report` renders the results and verdicts to <dir>/<name>.md, .json and .csv (with the GPU, CUDA
memory and claim-ratio sections of bench.profile.gpu_report where the run has them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.evaluate.summary import markdown_table
from bench.profile import gpu_report, output
from bench.profile.stats import summarise


def _first_batch(results, system: str, dtype: str, max_length: int, runtime: str = "torch") -> str | None:
    for row in _throughput_rows(results, system, dtype, max_length, runtime):
        return row["batch"]
    return None


def _throughput_rows(results, system: str, dtype: str, max_length: int, runtime: str) -> list[dict[str, Any]]:
    """The system's throughput rows at (runtime, dtype, max_length); rows without a runtime are PyTorch's."""
    return [row for row in results.rows
            if (row["system"], row.get("runtime") or "torch", row["dtype"], row["max_length"], row["k"])
            == (system, runtime, dtype, max_length, None)]


def _ratio_by_round(results, measure: str, a: dict, b: dict) -> list[float]:
    top, bottom = results.values(measure, **a), results.values(measure, **b)
    return [top[r] / bottom[r] for r in sorted(top) if r in bottom and bottom[r]]


def _verdict(measured: float, at_least: float) -> str:
    if math.isnan(measured):
        return "NOT MEASURED"
    return "PASS" if measured >= at_least else "MISS"


@dataclass
class PeakFraction:
    system: str
    at_least: float = 0.8
    dtype: str = "float32"
    max_length: int = 512
    name: str | None = None
    runtime: str = "torch"

    def check(self, results) -> dict[str, Any]:
        batch = _first_batch(results, self.system, self.dtype, self.max_length, self.runtime)
        key = {"system": self.system, "runtime": self.runtime, "dtype": self.dtype, "batch": batch,
               "max_length": self.max_length, "k": None}
        fractions = summarise(list(results.values("peak_fraction", **key).values()))
        achieved = summarise(list(results.values("flops_per_s", **key).values()))
        peak = results.peak.get("flops", {})
        verdict = _verdict(fractions.median, self.at_least)
        detail = (
            f"{self.system} at {self.dtype}, batch {batch}, max_length {self.max_length}: achieved "
            f"{achieved.median / 1e9:.1f} GFLOP/s (rounds {achieved.low / 1e9:.1f}-{achieved.high / 1e9:.1f}) "
            f"against a matmul peak of {peak.get('median', float('nan')) / 1e9:.1f} GFLOP/s "
            f"(measurements {peak.get('min', float('nan')) / 1e9:.1f}-{peak.get('max', float('nan')) / 1e9:.1f}); "
            f"per-round fractions {fractions.low:.0%}-{fractions.high:.0%}"
        )
        if verdict == "MISS":
            detail += f"; short of {self.at_least:.0%} by {self.at_least - fractions.median:.0%} of peak"
        return {
            "name": self.name or f"{self.system}: fraction of matmul peak",
            "kind": "peak_fraction", "target": f">= {self.at_least:.0%}", "measured": fractions.median,
            "measured_text": f"{fractions.median:.1%}", "verdict": verdict, "detail": detail,
            "spread": fractions.as_dict(),
        }


@dataclass
class Speedup:
    system: str
    #: one system, or several: with baseline_batch "best" the best point over all of them
    baseline: str | list[str]
    at_least: float
    dtype: str = "float32"
    max_length: int = 512
    scores_within: float | None = None
    name: str | None = None
    #: the runtime `system` is measured under, and the baseline's (null: the same)
    runtime: str = "torch"
    baseline_runtime: str | None = None
    #: "first": each baseline system's first batch knob; "best": the baseline point (system, batch) with the
    #: highest median pairs/s
    baseline_batch: str = "first"

    def _baseline(self, results) -> dict[str, Any]:
        """The key of the baseline point (system, runtime, dtype, batch, max_length)."""
        runtime = self.baseline_runtime or self.runtime
        systems = [self.baseline] if isinstance(self.baseline, str) else list(self.baseline)
        if self.baseline_batch not in ("first", "best"):
            raise ValueError(f"Speedup.baseline_batch must be first or best, got {self.baseline_batch!r}")
        candidates = [row for system in systems
                      for row in _throughput_rows(results, system, self.dtype, self.max_length, runtime)]
        if self.baseline_batch == "best" and candidates:
            chosen = max(candidates, key=lambda row: _number(row.get("pairs_per_s")))
        else:
            chosen = candidates[0] if candidates else {"system": systems[0], "batch": None}
        return {"system": chosen["system"], "runtime": runtime, "dtype": self.dtype, "batch": chosen["batch"],
                "max_length": self.max_length, "k": None}

    def check(self, results) -> dict[str, Any]:
        a = {"system": self.system, "runtime": self.runtime, "dtype": self.dtype, "max_length": self.max_length,
             "k": None, "batch": _first_batch(results, self.system, self.dtype, self.max_length, self.runtime)}
        b = self._baseline(results)
        ratios = summarise(_ratio_by_round(results, "pairs_per_s", a, b))
        verdict = _verdict(ratios.median, self.at_least)
        detail = (
            f"{_describe(a)} / {_describe(b)} pairs/s, round by round: "
            f"median {ratios.median:.2f}x, rounds {ratios.low:.2f}-{ratios.high:.2f}x over {ratios.n} rounds"
        )
        out: dict[str, Any] = {}
        if self.scores_within is not None:
            verdict, diff = self._scores_verdict(results, a, b, verdict)
            detail += f"; largest score difference {diff:.2e} (allowed {self.scores_within:g})"
            out["max_abs_score_diff"] = diff
        if verdict == "MISS" and ratios.median < self.at_least:
            detail += f"; short of {self.at_least:g}x by {self.at_least - ratios.median:.2f}x"
        return {
            "name": self.name or f"{self.system} vs {b['system']}",
            "kind": "speedup", "target": f">= {self.at_least:g}x"
            + (f", scores within {self.scores_within:g}" if self.scores_within is not None else ""),
            "measured": ratios.median, "measured_text": f"{ratios.median:.2f}x", "verdict": verdict,
            "detail": detail, "spread": ratios.as_dict(), **out,
        }


    def _scores_verdict(self, results, a: dict, b: dict, verdict: str) -> tuple[str, float]:
        """The verdict once the two points' scores are compared, and their largest difference."""
        mine, theirs = (results.scores.get((x["system"], x["runtime"], x["dtype"], x["batch"], x["max_length"]))
                        for x in (a, b))
        if mine is None or theirs is None:
            return "NOT MEASURED", float("nan")
        both = ~np.isnan(mine) & ~np.isnan(theirs)
        diff = float(np.max(np.abs(mine[both] - theirs[both]))) if both.any() else float("nan")
        if not diff <= (self.scores_within or 0.0) and verdict == "PASS":
            verdict = "MISS"
        return verdict, diff


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not math.isnan(float(value)) else float("-inf")


def _describe(point: dict[str, Any]) -> str:
    """"jina-tiny (batch tok1024)", or "jina-tiny onnxruntime (batch 8)" under a runtime other than torch."""
    runtime = f" {point['runtime']}" if point.get("runtime") not in (None, "torch") else ""
    return f"{point['system']}{runtime} (batch {point['batch']})"


@dataclass
class Claim:
    system: str
    versus: str
    claim: str
    #: the claimed ratio system / versus of `measure` (5.0: five times the pairs/s; 0.87: 13% less
    #: memory); null where nothing is claimed and the ratio is shown for reference
    claimed_ratio: float | None = None
    measure: str = "pairs_per_s"  # pairs_per_s | peak_mem_mb
    source: str = ""
    dtype: str = "float32"
    max_length: int = 512
    name: str | None = None
    runtime: str = "torch"

    def check(self, results) -> dict[str, Any]:
        key = {"runtime": self.runtime, "dtype": self.dtype, "max_length": self.max_length, "k": None}
        a = {**key, "system": self.system,
             "batch": _first_batch(results, self.system, self.dtype, self.max_length, self.runtime)}
        b = {**key, "system": self.versus,
             "batch": _first_batch(results, self.versus, self.dtype, self.max_length, self.runtime)}
        ratios = summarise(_ratio_by_round(results, self.measure, a, b))
        what = "pairs/s" if self.measure == "pairs_per_s" else "peak memory"
        if math.isnan(ratios.median):
            detail = f"{what} of {self.system} or {self.versus} was not measured"
        else:
            spread = f" (rounds {ratios.low:.2f}-{ratios.high:.2f})" if ratios.n > 1 else ""
            claimed = f"claimed ~{self.claimed_ratio:g}" if self.claimed_ratio is not None else "no claim"
            detail = f"measured {self.system} / {self.versus} {what}: {ratios.median:.2f}{spread}; {claimed}"
        return {
            "name": self.name or f"{self.system} : {self.versus} {what}",
            "kind": "claim", "target": self.claim + (f" (~{self.claimed_ratio:g})" if self.claimed_ratio else ""),
            "measured": ratios.median,
            "measured_text": "-" if math.isnan(ratios.median) else f"{ratios.median:.2f}",
            "verdict": "-", "detail": detail, "source": self.source, "spread": ratios.as_dict(),
        }


def evaluate_targets(cfg: DictConfig, results) -> list[dict[str, Any]]:
    checks = [instantiate(OmegaConf.to_container(t, resolve=True)) for t in cfg.targets]
    return [check.check(results) for check in checks]


# ----------------------------------------------------------------------------------------------
# The report.


def _num(value: object, fmt: str = "{:.3g}") -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value) if isinstance(value, (int, float)) else str(value)


def _section(title: str, header: list[str], rows: list[list[object]]) -> list[str]:
    """A `## title` and its markdown table; nothing when there are no rows."""
    if not rows:
        return []
    return [f"## {title}", "", markdown_table(header, rows), ""]


def render_markdown(cfg: DictConfig, results, name: str, hardware: dict, versions: dict) -> str:
    """The report: what it is, the machine and workload, the verdicts, the tables, the systems."""
    command = cfg.report.get("command") or f"bench profile profile={name.removeprefix('profile_')}"
    lines = [
        *_head(cfg, command), *_machine(results, hardware, versions), *gpu_report.gpu_lines(hardware.get("cuda")),
        *_workload(cfg, results),
        *_section("Targets", ["check", "target", "measured", "verdict", "how"], _target_rows(results)),
        *_throughput(results),
        *_section("Model load", ["model", "runtime", "dtype", "load s (this process)", "parameters",
                                 "ONNX export: cache, max |score diff| from PyTorch on its probe pairs"],
                  _load_rows(results)),
        *_section("Memory (CPU: fresh subprocess per model)",
                  ["system", "runtime", "dtype", "batch", "max_length", "pairs", "peak MB above baseline",
                   "after load MB", "load s (fresh process)"], _memory_rows(results)),
        *gpu_report.memory_lines(results.repetitions),
        *gpu_report.ratio_lines(results.repetitions, gpu_report.claims_of(cfg.get("targets"))),
        *_section("Ranking agreement with PyTorch float32",
                  ["system", "runtime", "dtype", "batch", "reference", "max_length", "queries", "Kendall tau (mean)",
                   "tau (min)", "nDCG@10 reference", "nDCG@10", "change", "max |score diff|"],
                  _agreement_rows(results)),
        *_section("Where the time goes (torch.profiler, one untimed pass; shares of operator self time)",
                  ["system", "dtype", "batch", "max_length", "groups", "top operators"], _op_rows(results)),
        *_systems(results), *_skipped(results),
    ]
    return "\n".join(lines)


def _head(cfg: DictConfig, command: str) -> list[str]:
    return [
        f"# `{command}`: throughput, latency, memory", "", *(cfg.report.about or []), "",
        f"Regenerate with `{command}` "
        "(this file, its .json and .csv are rewritten by the run; the run directory keeps throughput.csv, "
        "repetitions.csv with every repetition, agreement.csv, summary.json, manifest.json and the plots).",
        "",
    ]


def _machine(results, hardware: dict, versions: dict) -> list[str]:
    flops = results.peak.get("flops", {})

    def giga(key: str) -> str:
        return _num(flops.get(key, float("nan")) / 1e9, "{:.1f}")

    return [
        "## Machine",
        "",
        f"- CPU: {hardware.get('cpu')} ({hardware.get('cores')} logical cores), torch threads: "
        f"{hardware.get('torch_threads')}; GPU: {hardware.get('gpu') or 'none'}; device used: {results.device}",
        f"- {hardware.get('platform')}, Python {hardware.get('python')}",
        "- " + ", ".join(f"{k} {v}" for k, v in versions.items() if k in (
            "torch", "transformers", "sentence-transformers", "tokenizers", "numpy") and v),
        f"- matmul peak ({results.peak.get('matmul')}), measured "
        f"{results.peak.get('when', 'once per round')}: median {giga('median')} GFLOP/s, measurements "
        f"{giga('min')}-{giga('max')}",
        "",
    ]


def _workload(cfg: DictConfig, results) -> list[str]:
    workload = {k: v for k, v in results.workload.items() if k != "query_ids"}
    return [
        "## Workload",
        "",
        *(f"- {k}: {v}" for k, v in workload.items()),
        f"- warm-up: {cfg.warmup} untimed run(s) of {cfg.warmup_pairs} pairs per point; "
        f"{cfg.repetitions} timed repetitions, each measuring every system once in a rotated order "
        "(interleaved); values are medians over the repetitions, spreads are (max-min)/median",
        "",
    ]


def _target_rows(results) -> list[list[object]]:
    return [[t["name"], t["target"], t["measured_text"], f"**{t['verdict']}**", t["detail"]] for t in results.targets]


def _throughput(results) -> list[str]:
    table = output.format_table(results.rows, dict(enumerate(results.spreads)))
    return [
        "## Throughput and latency", "", "```", table, "```", "",
        "FLOP/pair: analytic FLOPs per pair actually computed (bench.profile.flops), "
        "so a system that skips work is not credited for it; 'of peak' = pairs/s x FLOP/pair / matmul "
        "peak (the mean of the peaks just before and after the point when bracketed), median of the "
        "per-round fractions.",
        "",
    ]


def _load_rows(results) -> list[list[object]]:
    return [[x["model"], x.get("runtime", "torch"), x["dtype"], _num(x["load_s"]), f"{x['params']:,}",
             _export_text(x.get("onnx"))] for x in results.loads]


def _export_text(onnx: dict[str, Any] | None) -> str:
    if not onnx:
        return "-"
    return f"{onnx.get('export_cache')}, {_num(onnx.get('verification_max_abs_diff'), '{:.2e}')}"


def _memory_rows(results) -> list[list[object]]:
    return [[m["system"], m.get("runtime", "torch"), m["dtype"], m["batch"], m["max_length"], m["pairs"],
             _num(m["peak_mem_mb"], "{:.1f}"), _num(m["after_load_mb"], "{:.1f}"), _num(m["load_s"])]
            for m in results.memory]


def _agreement_rows(results) -> list[list[object]]:
    return [[a["system"], a.get("runtime", "torch"), a["dtype"], a["batch"], a["reference"], a["max_length"],
             a["queries"], _num(a.get("kendall_tau_mean"), "{:.4f}"),
             _num(a.get("kendall_tau_min"), "{:.4f}"), _num(a.get("ndcg10_reference"), "{:.4f}"),
             _num(a.get("ndcg10"), "{:.4f}"), _num(a.get("ndcg10_change"), "{:+.4f}"),
             _num(a.get("max_abs_score_diff"), "{:.2e}")] for a in results.agreement]


def _op_rows(results) -> list[list[object]]:
    return [[o["system"], o["dtype"], o["batch"], o["max_length"],
             ", ".join(f"{k} {v:.0%}" for k, v in o["groups"].items()),
             ", ".join(f"{t['op'].removeprefix('aten::')} {t['share']:.0%}" for t in o["top"][:5])]
            for o in getattr(results, "ops", None) or []]


def _systems(results) -> list[str]:
    return ["## Systems", "", *(_system_line(name, info) for name, info in results.systems.items()), ""]


def _system_line(system: str, info: dict[str, Any]) -> str:
    facts = info.get("facts", {})
    shape = facts.get("shape", {})
    scorer = info.get("scorer", {})
    return (
        f"- **{system}**: {facts.get('model', info.get('model'))} ({facts.get('architecture')}, "
        f"{shape.get('layers')} x {shape.get('hidden')}, {shape.get('heads')} heads, intermediate "
        f"{shape.get('intermediate')}, vocab {shape.get('vocab')}, {shape.get('attention')} attention, "
        f"{shape.get('feed_forward')}); weights {info.get('weights')}; throughput over "
        f"{info.get('throughput_pairs')} pairs, mean tokens per pair by max_length "
        f"{info.get('mean_tokens_per_pair')}; parameters {_num(info.get('params_counted'), '{:,}')} "
        f"counted (published {_num(facts.get('params'), '{:,}')}); scorer "
        f"`{scorer.get('_target_', '').rsplit('.', 1)[-1]}`"
        f"{' ' + json.dumps({k: v for k, v in scorer.items() if k != '_target_'})}"
    )


def _skipped(results) -> list[str]:
    if not results.skips:
        return []
    return ["## Skipped", "", *(f"- {s['system']} {s['what']}: {s['reason']}" for s in results.skips), ""]


def write_report(cfg: DictConfig, results, folder: Path, name: str, *, table: str = "") -> list[Path]:
    from bench.manifest import hardware, package_versions

    folder.mkdir(parents=True, exist_ok=True)
    info, versions = hardware(), package_versions()
    if cuda := gpu_report.cuda_facts(results.device):  # the GPU's capability, SMs, CUDA version
        info["cuda"] = cuda
    md = folder / f"{name}.md"
    md.write_text(render_markdown(cfg, results, name, info, versions) + "\n", encoding="utf-8")
    js = folder / f"{name}.json"
    summary = {"hardware": info, "versions": versions, **results.summary()}
    js.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    csv = output.write_csv(folder / f"{name}.csv", results.rows, output.THROUGHPUT_COLUMNS)
    return [md, js, csv]
