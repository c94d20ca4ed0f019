"""`bench profile`'s core: every system measured side by side, interleaved, several repetitions.

    results = run(cfg, out_dir)        cfg composed from configs/profile (see bench.profile.config)

Order of work:
1. The pairs (`cfg.pairs`), the systems (facts -> random-weight checkpoint, or the real one), each
   loaded once per runtime and dtype through bench.rerank.loading (load time recorded); runtime
   onnxruntime exports the model to ONNX and verifies it first (bench.rerank.onnx).
2. Warm-up: every measurement point scores a few pairs, untimed.
3. `repetitions` rounds. Each round measures the machine's matmul peak (`peak.dtype`), then every
   throughput point once (all pairs, tokenisation included; the order rotates from round to
   round), then every latency point (the top-k of each latency query). So a slow spell on a shared
   machine hits every system, and ratios are taken round by round. With `peak.bracket`, the peak
   is measured again after every throughput point, and each point's fraction of peak uses the mean
   of the peaks just before and just after it (a shared machine's peak can halve within a minute).
4. Memory: CUDA, per measurement (peak allocated and reserved, reset in between); CPU, one fresh
   subprocess per (system, runtime, dtype, max_length) (bench.profile.memory).
5. Ranking agreement of every runtime and dtype other than PyTorch float32 with PyTorch float32 on the
   same model (max |score diff|, Kendall's tau, nDCG@10 change).
6. Files: throughput.csv, repetitions.csv, agreement.csv, summary.json, manifest.json, plots,
   and the targets report when the config asks for one.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.errors import InputError, ModelUnavailable, did_you_mean
from bench.models.runtime import DTYPES, pick_device
from bench.profile import output
from bench.profile.cuda import weights_mb
from bench.profile.flops import mean_pair_flops
from bench.profile.measure import Stopwatch, matmul_peak
from bench.profile.memory import measure_in_subprocess
from bench.profile.scorers import Bound, Scorer, Unsupported
from bench.profile.stats import kendall_tau, percentile, summarise
from bench.profile.systems import PROFILE_DTYPES, Loaded, ModelSource, reranker_group_facts, runtime_problem
from bench.profile.workload import Workload
from bench.rerank.engine import encode_pairs

log = logging.getLogger("bench.profile")


@dataclass(frozen=True)
class Point:
    """One measurement: a system under a runtime at a dtype, batch knob and max_length (and rerank
    depth k for latency)."""

    system: str
    dtype: str
    batch: str
    max_length: int
    k: int | None = None
    runtime: str = "torch"

    def key(self, device: str) -> dict[str, object]:
        return {"system": self.system, "device": device, "runtime": self.runtime, "dtype": self.dtype,
                "batch": self.batch, "max_length": self.max_length, "k": self.k}


#: what agreement is measured against: PyTorch at float32
REFERENCE = ("torch", "float32")


def variant(runtime: str, dtype: str) -> str:
    """How a (runtime, dtype) is named in skips: the dtype alone under torch, else "onnxruntime int8"."""
    return dtype if runtime == "torch" else f"{runtime} {dtype}"


@dataclass
class System:
    name: str
    source: ModelSource
    scorers: dict[str, Scorer]  # batch label -> scorer
    dtypes: list[str]
    max_lengths: list[int]
    ks: list[int]
    latency: bool
    memory: bool
    scorer_config: dict[str, Any]
    subset: int | None = None
    runtimes: list[str] = field(default_factory=lambda: ["torch"])

    def pair_index(self, total: int) -> np.ndarray:
        """Indices of the pairs this system's throughput is measured on: all, or every n-th."""
        if not self.subset or self.subset >= total:
            return np.arange(total)
        return np.arange(0, total, -(-total // self.subset))

    @property
    def first_batch(self) -> str:
        return next(iter(self.scorers))


@dataclass
class ProfileResults:
    """Everything a run measured; `rows` are throughput.csv's rows."""

    device: str
    workload: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    spreads: list[dict[str, Any]] = field(default_factory=list)
    repetitions: list[dict[str, Any]] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    peak: dict[str, Any] = field(default_factory=dict)
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    skips: list[dict[str, str]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    #: (system, runtime, dtype, batch, max_length) -> scores of every pair (NaN where not measured)
    scores: dict[tuple[str, str, str, str, int], np.ndarray] = field(default_factory=dict)

    def values(self, measure: str, **key: object) -> dict[int, float]:
        """round -> value of `measure` at the point matching `key` (system, runtime, dtype, batch, max_length, k)."""
        found = {}
        for rep in self.repetitions:
            if rep["measure"] == measure and _matches(rep, key):
                found[rep["round"]] = rep["value"]
        return found

    def row(self, **key: object) -> dict[str, Any] | None:
        for row in self.rows:
            if _matches(row, key):
                return row
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "workload": self.workload,
            "systems": self.systems,
            "rows": [{"row": row, "spread": spread} for row, spread in zip(self.rows, self.spreads, strict=True)],
            "loads": self.loads,
            "memory": self.memory,
            "peak": self.peak,
            "agreement": self.agreement,
            "targets": self.targets,
            "ops": self.ops,
            "skips": self.skips,
        }


def _matches(record: dict[str, Any], key: dict[str, object]) -> bool:
    """Whether a row or repetition has every value of `key`; one without a runtime is PyTorch's."""
    return all(((record.get(k) or "torch") if k == "runtime" else record.get(k)) == v for k, v in key.items())


# ----------------------------------------------------------------------------------------------
# Systems and points.


def build_systems(cfg: DictConfig) -> dict[str, System]:
    """Systems from cfg.systems; systems whose model facts and seed agree share one checkpoint."""
    if not cfg.systems:
        raise InputError("the profile config lists no systems: add some under `systems:`")
    sources: dict[str, ModelSource] = {}
    systems: dict[str, System] = {}
    for name, spec in cfg.systems.items():
        if spec.facts is not None:
            facts = OmegaConf.to_container(spec.facts, resolve=True)
        elif spec.reranker:
            facts = reranker_group_facts(spec.reranker)
        else:
            raise InputError(f"systems.{name}: give `reranker: <configs/reranker name>` or inline `facts:`")
        key = json.dumps([facts, spec.seed, spec.pretrained], sort_keys=True, default=str)
        source_name = spec.reranker or name
        source = sources.setdefault(key, ModelSource(source_name, facts, spec.pretrained, spec.seed))
        source.shape  # noqa: B018 - checks the facts now, before anything is measured
        scorer_config = OmegaConf.to_container(spec.scorer, resolve=True)
        scorer = instantiate(scorer_config)
        scorers = {}
        for value in spec.batch or [None]:
            configured = scorer if value is None else scorer.with_batch(value)
            scorers[configured.label()] = configured
        sweep = OmegaConf.merge(cfg.sweep, spec.sweep or {})
        systems[name] = System(
            name, source, scorers, list(sweep.dtype), [int(x) for x in sweep.max_length],
            [int(x) for x in sweep.k], spec.latency, spec.memory, scorer_config, spec.subset,
            _runtimes(name, sweep),
        )
    return systems


def _runtimes(name: str, sweep: DictConfig) -> list[str]:
    """The system's sweep.runtime, refusing an unknown runtime with the closest known one."""
    from bench.rerank.onnx import RUNTIMES

    runtimes = [str(r) for r in sweep.runtime]
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            raise InputError(f"systems.{name}: sweep.runtime has {runtime!r}.{did_you_mean(runtime, RUNTIMES)} "
                             f"Choose from {', '.join(RUNTIMES)}")
    return runtimes


def _rotate(items: list, n: int) -> list:
    if not items:
        return items
    n %= len(items)
    return items[n:] + items[:n]


class Profiler:
    """Holds the loaded systems and bound scorers of one run, and measures them."""

    def __init__(self, cfg: DictConfig, workload: Workload, systems: dict[str, System], device: torch.device):
        self.cfg = cfg
        self.workload = workload
        self.systems = systems
        self.device = device
        self.device_name = device.type
        self.results = ProfileResults(device=str(device), workload=workload.describe())
        self.bound: dict[Point, Bound] = {}
        self.lengths: dict[tuple[str, int], np.ndarray] = {}
        self.latency_lengths: dict[tuple[str, int, int], np.ndarray] = {}
        self.flops: dict[Point, float] = {}

    def skip(self, system: str, what: str, reason: str) -> None:
        log.warning("skipping %s %s: %s", system, what, reason)
        self.results.skips.append({"system": system, "what": what, "reason": reason})

    # -- setting up ------------------------------------------------------------------------

    def load(self, scratch: Path) -> None:
        """Prepare and load every system under each of its runtimes and dtypes, bind its scorers, describe it."""
        for system in self.systems.values():
            try:
                system.source.prepare(scratch)
            except ModelUnavailable as exc:
                self.skip(system.name, "all", str(exc))
                continue
            for runtime in system.runtimes:
                for dtype in system.dtypes:
                    self.load_variant(system, runtime, dtype)
            self.results.systems[system.name] = self.describe(system)

    def load_variant(self, system: System, runtime: str, dtype: str) -> None:
        """Load the system at (runtime, dtype) and bind its scorers, or record why it cannot be."""
        problem = runtime_problem(runtime, dtype, self.device)
        if problem:
            self.skip(system.name, variant(runtime, dtype), problem)
            return
        try:
            loaded = self.load_dtype(system, dtype, runtime)
        except ModelUnavailable as exc:  # onnxruntime missing, or an export that fails verification
            self.skip(system.name, variant(runtime, dtype), str(exc))
            return
        self.bind_scorers(system, loaded)

    def load_dtype(self, system: System, dtype: str, runtime: str = "torch") -> Loaded:
        """The system's model at `dtype` under `runtime` (loaded once per model: its load time is
        recorded then), and the token lengths of the workload's pairs at each max_length."""
        source = system.source
        fresh = (runtime, dtype) not in source.loaded
        loaded = source.load(dtype, self.device, runtime, onnx=OmegaConf.to_container(self.cfg.onnx, resolve=True))
        if fresh:
            self.results.loads.append({"model": source.name, "runtime": runtime, "dtype": dtype,
                                       "load_s": loaded.load_seconds, "params": loaded.params,
                                       **({"onnx": loaded.onnx.describe()} if loaded.onnx else {})})
        for max_length in system.max_lengths:
            if (source.name, max_length) not in self.lengths:
                encoded = encode_pairs(loaded.tokenizer, self.workload.pairs, max_length=max_length)
                self.lengths[(source.name, max_length)] = encoded.lengths
        return loaded

    def bind_scorers(self, system: System, loaded: Loaded) -> None:
        """A measurement point per (scorer, max_length) of the system at the loaded dtype, with its FLOPs."""
        index = system.pair_index(len(self.workload.pairs))
        for label, scorer in system.scorers.items():
            try:
                bound = scorer.bind(loaded)
            except Unsupported as exc:
                self.skip(system.name, f"{variant(loaded.runtime, loaded.dtype)} batch {label}", str(exc))
                continue
            for max_length in system.max_lengths:
                point = Point(system.name, loaded.dtype, label, max_length, runtime=loaded.runtime)
                self.bound[point] = bound
                lengths = self.lengths[(system.source.name, max_length)][index]
                self.flops[point] = mean_pair_flops(
                    system.source.shape, lengths, cls_only_last_layer=scorer.first_token_only(loaded)
                )

    def describe(self, system: System) -> dict[str, Any]:
        """The system's entry in summary.json and the manifest: model, pairs, facts, weights, scorer."""
        source = system.source
        index = system.pair_index(len(self.workload.pairs))
        return {
            "model": source.name,
            "throughput_pairs": int(len(index)),
            "mean_tokens_per_pair": {
                ml: round(float(self.lengths[(source.name, ml)][index].mean()), 1)
                for ml in system.max_lengths if (source.name, ml) in self.lengths
            },
            "facts": source.facts,
            "weights": "pretrained" if source.pretrained else f"random (seed {source.seed})",
            "params_counted": next((x["params"] for x in self.results.loads if x["model"] == source.name), None),
            "scorer": system.scorer_config,
            "checkpoint": str(source.path) if source.pretrained else "scratch (deleted after the run)",
        }

    def throughput_points(self) -> list[Point]:
        return list(self.bound)

    def latency_points(self) -> list[Point]:
        points = []
        for system in self.systems.values():
            if not system.latency:
                continue
            for point in self.bound:
                if point.system == system.name and point.batch == system.first_batch:
                    points += [replace(point, k=k) for k in system.ks]
        return points

    def latency_queries(self) -> list[str]:
        queries = list(self.workload.queries)
        limit = self.cfg.latency.queries
        return queries if limit is None else queries[:limit]

    # -- measuring -------------------------------------------------------------------------

    def record(self, round_: int, point: Point, measure: str, value: float, query: str | None = None) -> None:
        self.results.repetitions.append(
            {"round": round_, **point.key(self.device_name), "query": query, "measure": measure, "value": float(value)}
        )

    def pairs_of(self, system: System) -> list[tuple[str, str]]:
        return [self.workload.pairs[i] for i in system.pair_index(len(self.workload.pairs))]

    def warm_up(self) -> None:
        pairs = self.workload.pairs[: self.cfg.warmup_pairs]
        for _ in range(self.cfg.warmup):
            for point, bound in self.bound.items():
                bound(pairs, point.max_length, Stopwatch(self.device))

    def measure_peak(self, round_: int) -> float:
        peak = matmul_peak(self.device, size=self.cfg.peak.size, repeats=self.cfg.peak.repeats,
                           dtype=DTYPES[self.cfg.peak.dtype])
        self.results.repetitions.append(
            {"round": round_, "system": "matmul", "device": self.device_name, "runtime": "torch",
             "dtype": self.cfg.peak.dtype,
             "batch": None, "max_length": None, "k": None, "query": None, "measure": "peak_flops", "value": peak}
        )
        return peak

    def measure_throughput(self, round_: int, point: Point) -> float:
        """Score the point's pairs once and record what it took; returns the achieved FLOP/s."""
        system = self.systems[point.system]
        index = system.pair_index(len(self.workload.pairs))
        pairs = [self.workload.pairs[i] for i in index]
        loaded = system.source.loaded[point.runtime, point.dtype]
        resident = weights_mb(loaded.model) if self.device.type == "cuda" and loaded.model is not None else 0.0
        watch = Stopwatch(self.device, resident_mb=resident)
        with watch.phase("total", memory=True):
            scores = self.bound[point](pairs, point.max_length, watch)
        seconds = watch.seconds["total"]
        tokens = float(self.lengths[(system.source.name, point.max_length)][index].sum())
        pairs_per_s = len(pairs) / seconds
        self.record(round_, point, "seconds", seconds)
        self.record(round_, point, "pairs_per_s", pairs_per_s)
        self.record(round_, point, "tokens_per_s", tokens / seconds)
        self.record(round_, point, "flops_per_s", pairs_per_s * self.flops[point])
        for phase in ("tokenize", "model"):
            if phase in watch.seconds:
                self.record(round_, point, f"{phase}_s", watch.seconds[phase])
        for measure, value in watch.memory.get("total", {}).items():
            self.record(round_, point, measure, value)
        full = np.full(len(self.workload.pairs), np.nan)
        full[index] = scores
        self.results.scores[(point.system, point.runtime, point.dtype, point.batch, point.max_length)] = full
        return pairs_per_s * self.flops[point]

    def measure_latency(self, round_: int, point: Point) -> None:
        for qid in self.latency_queries():
            chosen = [self.workload.pairs[i] for i in self.workload.top_k(qid, point.k)]
            if not chosen:
                continue
            watch = Stopwatch(self.device)
            with watch.phase("total"):
                self.bound[replace(point, k=None)](chosen, point.max_length, watch)
            self.record(round_, point, "latency_ms", watch.seconds["total"] * 1000, query=qid)

    def measure_memory_cpu(self) -> None:
        for system in self.systems.values():
            if not system.memory:
                continue
            pairs = self.pairs_of(system)
            if self.cfg.memory.pairs:
                pairs = pairs[: self.cfg.memory.pairs]
            scorer = system.scorers[system.first_batch]
            for point in [p for p in self.bound if p.system == system.name and p.batch == system.first_batch]:
                spec = {
                    "checkpoint": str(system.source.path),
                    "architecture": system.source.architecture,
                    "vocab": system.source.shape.vocab,
                    "dtype": point.dtype,
                    "runtime": point.runtime,
                    "onnx": OmegaConf.to_container(self.cfg.onnx, resolve=True),
                    "max_length": point.max_length,
                    "scorer": {"_target_": f"{type(scorer).__module__}.{type(scorer).__qualname__}", **asdict(scorer)},
                    "pairs": [list(p) for p in pairs],
                    "threads": torch.get_num_threads(),
                }
                try:
                    found = measure_in_subprocess(spec, timeout=self.cfg.memory.timeout_s)
                except Exception as exc:  # a failed measurement is reported, the others go on
                    self.skip(system.name, f"memory {variant(point.runtime, point.dtype)} max_length "
                                           f"{point.max_length}", str(exc)[-500:])
                    continue
                self.results.memory.append({**point.key(self.device_name), **found})
                self.record(0, point, "peak_mem_mb", found["peak_mem_mb"])
                self.record(0, point, "subprocess_load_s", found["load_s"])

    def op_breakdown(self, point: Point) -> dict[str, Any]:
        """One untimed pass under torch.profiler: self time per operator, grouped."""
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        pairs = self.pairs_of(self.systems[point.system])
        with profile(activities=activities) as prof:
            self.bound[point](pairs, point.max_length, Stopwatch(self.device))
        return group_ops(prof.key_averages(), cuda=self.device.type == "cuda")

    def run(self) -> ProfileResults:
        throughput, latency = self.throughput_points(), self.latency_points()
        log.info("%d throughput and %d latency points, %d repetitions", len(throughput), len(latency),
                 self.cfg.repetitions)
        self.warm_up()
        peaks = []
        bracket = bool(self.cfg.peak.bracket)
        for round_ in range(self.cfg.repetitions):
            before = self.measure_peak(round_)
            peaks.append(before)
            for point in _rotate(throughput, round_):
                achieved = self.measure_throughput(round_, point)
                if bracket:
                    after = self.measure_peak(round_)
                    peaks.append(after)
                    reference, before = (before + after) / 2, after
                else:
                    reference = before
                self.record(round_, point, "peak_fraction", achieved / reference)
            for point in _rotate(latency, round_):
                self.measure_latency(round_, point)
            log.info("round %d/%d done (matmul peak %.1f GFLOP/s)", round_ + 1, self.cfg.repetitions, before / 1e9)
        how = "before and after every throughput point" if bracket else "once per round"
        self.results.peak = {
            "flops": summarise(peaks).as_dict(),
            "matmul": f"{self.cfg.peak.size}x{self.cfg.peak.size} {self.cfg.peak.dtype}, "
                      f"median of {self.cfg.peak.repeats}",
            "when": how,
        }
        if self.cfg.memory.enabled and self.device.type == "cpu":
            self.measure_memory_cpu()
        if self.cfg.op_breakdown:  # torch.profiler sees PyTorch's operators only
            for point in [p for p in throughput if p.runtime == "torch"]:
                self.results.ops.append({**point.key(self.device_name), **self.op_breakdown(point)})
        self.summarise(throughput, latency)
        self.results.agreement = agreement(self.results, self.workload, self.systems)
        return self.results

    # -- summarising -----------------------------------------------------------------------

    def summarise(self, throughput: list[Point], latency: list[Point]) -> None:
        by_point: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for rep in self.results.repetitions:
            key = (rep["system"], rep.get("runtime", "torch"), rep["dtype"], rep["batch"], rep["max_length"], rep["k"])
            by_point[key][rep["measure"]].append(rep["value"])
        for point in throughput:
            values = by_point[(point.system, point.runtime, point.dtype, point.batch, point.max_length, None)]
            spread = {m: summarise(values[m]).as_dict() for m in ("pairs_per_s", "tokens_per_s", "peak_fraction")}
            memory = max(values["peak_mem_mb"]) if values.get("peak_mem_mb") else None
            row = {
                **point.key(self.device_name),
                "pairs_per_s": spread["pairs_per_s"]["median"],
                "tokens_per_s": spread["tokens_per_s"]["median"],
                "peak_mem_mb": memory,
                "flops_per_pair": self.flops[point],
                "peak_fraction": spread["peak_fraction"]["median"],
            }
            for phase in ("tokenize_s", "model_s", "peak_reserved_mb"):
                if values.get(phase):
                    spread[phase] = summarise(values[phase]).as_dict()
            self.results.rows.append(row)
            self.results.spreads.append(spread)
        for point in latency:
            samples = by_point[(point.system, point.runtime, point.dtype, point.batch, point.max_length,
                                point.k)]["latency_ms"]
            base = replace(point, k=None)
            system = self.systems[point.system]
            idx = [i for q in self.latency_queries() for i in self.workload.top_k(q, point.k)]
            lengths = self.lengths[(system.source.name, point.max_length)][idx]
            scorer = system.scorers[point.batch]
            loaded = system.source.loaded[point.runtime, point.dtype]
            row = {
                **point.key(self.device_name),
                "p50_ms": percentile(samples, 50),
                "p95_ms": percentile(samples, 95),
                "p99_ms": percentile(samples, 99),
                "flops_per_pair": mean_pair_flops(
                    system.source.shape, lengths, cls_only_last_layer=scorer.first_token_only(loaded)
                ) if base in self.flops else None,
            }
            self.results.rows.append(row)
            self.results.spreads.append({"latency_ms": summarise(samples).as_dict()})


#: operator groups of the op breakdown (by name; the first match wins)
OP_GROUPS = (
    ("matrix products", ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "quantized::linear_dynamic")),
    ("attention", ("aten::_scaled_dot_product", "aten::_flash_attention", "aten::_efficient_attention")),
)


def group_ops(events, *, cuda: bool = False) -> dict[str, Any]:
    """Shares of self time: matrix products, attention, everything else; and the top operators."""
    def self_time(event) -> float:
        return float(event.self_device_time_total if cuda else event.self_cpu_time_total)

    rows = sorted(((e.key, self_time(e)) for e in events if e.key.startswith(("aten::", "quantized::"))),
                  key=lambda item: -item[1])
    total = sum(t for _, t in rows) or 1.0
    groups: dict[str, float] = defaultdict(float)
    for name, spent in rows:
        group = next((g for g, prefixes in OP_GROUPS if name.startswith(prefixes)), "other operators")
        groups[group] += spent / total
    return {
        "clock": "device" if cuda else "cpu",
        "groups": {k: round(v, 4) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top": [{"op": name, "share": round(spent / total, 4)} for name, spent in rows[:8]],
    }


def agreement(results: ProfileResults, workload: Workload, systems: dict[str, System]) -> list[dict[str, Any]]:
    """Every runtime and dtype other than PyTorch float32, at its system's first batch, against PyTorch
    float32 on the same model and max_length: max |score diff|, Kendall tau per query, nDCG@10 change."""
    rows = []
    for (name, runtime, dtype, batch, max_length), scores in results.scores.items():
        if (runtime, dtype) == REFERENCE or batch != systems[name].first_batch:
            continue
        found = _reference(results, systems, name, batch, max_length)
        if found is None:
            continue
        label, reference = found
        rows.append({"system": name, "runtime": runtime, "dtype": dtype, "reference": label, "batch": batch,
                     "max_length": max_length, **_compare(workload, reference, scores)})
    return rows


def _reference(results: ProfileResults, systems: dict[str, System], name: str, batch: str,
               max_length: int) -> tuple[str, np.ndarray] | None:
    """PyTorch float32 scores of the same model: this system's (same batch, else its first), else those of
    another system with the same checkpoint (scores do not depend on batching); None when none was measured."""
    own = [(name, batch), (name, systems[name].first_batch)]
    others = [(other, system.first_batch) for other, system in systems.items()
              if other != name and system.source is systems[name].source]
    for system, at in own + others:
        scores = results.scores.get((system, *REFERENCE, at, max_length))
        if scores is not None:
            return " ".join([*([system] if system != name else []), *REFERENCE]), scores
    return None


def _compare(workload: Workload, reference: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    both = ~np.isnan(reference) & ~np.isnan(scores)
    groups = [[i for i in idx if both[i]] for idx in workload.queries.values()]
    taus = [kendall_tau(reference[idx], scores[idx]) for idx in groups if len(idx) > 1]
    taus = [t for t in taus if not np.isnan(t)]
    row: dict[str, Any] = {
        "queries": len(workload.queries),
        "kendall_tau_mean": float(np.mean(taus)) if taus else None,
        "kendall_tau_min": float(np.min(taus)) if taus else None,
        "max_abs_score_diff": float(np.max(np.abs(reference[both] - scores[both]))) if both.any() else None,
    }
    if workload.qrels:
        row["ndcg10_reference"] = _ndcg10(workload, reference, both)
        row["ndcg10"] = _ndcg10(workload, scores, both)
        row["ndcg10_change"] = row["ndcg10"] - row["ndcg10_reference"]
    return row


def _ndcg10(workload: Workload, scores: np.ndarray, kept: np.ndarray) -> float:
    """Mean nDCG@10 over the workload's queries of the candidates reordered by `scores`."""
    from bench.evaluate.measures import aggregate, evaluate

    run = {q: {workload.doc_ids[i]: float(scores[i]) for i in idx if kept[i]} for q, idx in workload.queries.items()}
    return aggregate(evaluate(workload.qrels or {}, run, ["nDCG@10"]))["nDCG@10"]


AGREEMENT_COLUMNS = ("system", "runtime", "dtype", "reference", "batch", "max_length", "queries", "kendall_tau_mean",
                     "kendall_tau_min", "max_abs_score_diff", "ndcg10_reference", "ndcg10", "ndcg10_change")


def run(cfg: DictConfig, out_dir: Path) -> ProfileResults:
    """Measure every system of `cfg`, write the run's files into `out_dir`, return the results."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    for dtype in cfg.sweep.dtype:
        if dtype not in PROFILE_DTYPES:
            raise InputError(f"sweep.dtype: unknown dtype {dtype!r}.{did_you_mean(dtype, PROFILE_DTYPES)} "
                             f"Choose from {', '.join(PROFILE_DTYPES)}")
    if cfg.peak.dtype not in DTYPES:
        raise InputError(f"peak.dtype: unknown dtype {cfg.peak.dtype!r}.{did_you_mean(cfg.peak.dtype, list(DTYPES))} "
                         f"Choose from {', '.join(DTYPES)}")
    workload: Workload = instantiate(cfg.pairs)
    systems = build_systems(cfg)
    profiler = Profiler(cfg, workload, systems, device)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        profiler.load(Path(scratch))
        results = profiler.run()
        for system in systems.values():
            system.source.unload()
    write_outputs(cfg, results, out_dir)
    return results


def write_outputs(cfg: DictConfig, results: ProfileResults, out_dir: Path) -> None:
    from bench.manifest import write_manifest
    from bench.profile.targets import evaluate_targets, write_report

    output.write_csv(out_dir / "throughput.csv", results.rows, output.THROUGHPUT_COLUMNS)
    output.write_csv(out_dir / "repetitions.csv", results.repetitions, output.REPETITION_COLUMNS)
    output.write_csv(out_dir / "agreement.csv", results.agreement, AGREEMENT_COLUMNS)
    results.targets = evaluate_targets(cfg, results)
    (out_dir / "summary.json").write_text(json.dumps(results.summary(), indent=2, default=str) + "\n")
    write_manifest(out_dir / "manifest.json", {
        "suite": "profile",
        "config": OmegaConf.to_container(cfg, resolve=True),
        "device": results.device,
        "workload": results.workload,
        "systems": results.systems,
        "peak": results.peak,
        "skips": results.skips,
    })
    table = output.format_table(results.rows, dict(enumerate(results.spreads)))
    print(table)
    if cfg.plots:
        kinds = {name: output.weights_kind(entry) for name, entry in results.systems.items()}
        output.draw_plots(results.rows, out_dir, {n: k for n, k in kinds.items() if k == output.TOY})
    if cfg.report.dir and cfg.report.name:
        write_report(cfg, results, Path(cfg.report.dir), cfg.report.name, table=table)
    print(f"\nprofile written to {out_dir}")
