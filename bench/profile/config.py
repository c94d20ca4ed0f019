"""The schema of `bench profile`'s configuration, registered with Hydra's ConfigStore.

The primary config is `bench_profile` (this schema); its defaults pick one option of the
`profile` group, configs/profile/<name>.yaml (`# @package _global_`), which fills the fields:

    bench profile                                   configs/profile/default.yaml
    bench profile profile=targets                   configs/profile/targets.yaml
    bench profile profile=zoo repetitions=5 'sweep.max_length=[128,256,512]'
    bench profile hydra.run.dir=/tmp/p              where the run's files go (or output_dir=...)

Every field is typed, so a misspelt key or a wrong type is an error before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

PRIMARY = "bench_profile"


@dataclass
class SweepConfig:
    #: float32 | bfloat16 | float16 (CUDA) | int8 (CPU: dynamic quantisation of the linear layers)
    dtype: list[str] = field(default_factory=lambda: ["float32"])
    #: truncation lengths (tokens per pair)
    max_length: list[int] = field(default_factory=lambda: [512])
    #: rerank depths for the online-latency rows (the top-k of one query)
    k: list[int] = field(default_factory=lambda: [10, 100])
    #: torch (bench's engine) | onnxruntime (the model exported to ONNX, bench.rerank.onnx; float32 or
    #: int8, the latter onnxruntime's dynamic quantisation): each system is measured under each
    runtime: list[str] = field(default_factory=lambda: ["torch"])


@dataclass
class SystemConfig:
    #: a configs/reranker/<name>.yaml whose `facts` describe the model
    reranker: str | None = None
    #: or the facts inline (architecture, shape, params, model), for models without a reranker config
    facts: dict[str, Any] | None = None
    #: false: random weights of the architecture (no download); true: the real checkpoint
    pretrained: bool = False
    #: seed of the random weights
    seed: int = 0
    #: how pairs become scores: a `_target_` in bench.profile.scorers (Engine, PlainLoop, SentenceTransformers)
    scorer: Any = field(default_factory=lambda: {"_target_": "bench.profile.scorers.Engine"})
    #: values of the scorer's batch knob to sweep (Engine: token budget; loops: pairs per batch); null: its own
    batch: list[int] | None = None
    #: this system's own sweep lists (dtype, max_length, k, runtime), replacing the global ones it names
    sweep: dict[str, Any] | None = None
    #: throughput over every n-th pair so that about this many remain (null: all pairs); for slow
    #: models, keeps the length distribution while cutting the time
    subset: int | None = None
    #: measure online latency (the top-k of one query) for this system
    latency: bool = True
    #: measure peak memory for this system
    memory: bool = True


@dataclass
class OnnxConfig:
    #: onnxruntime's graph optimisation level: disabled | basic | extended | all
    optimization: str = "all"
    #: onnxruntime's intra-op threads (null: as many as torch uses, one per core unless `threads` says)
    threads: int | None = None


@dataclass
class PeakConfig:
    #: side of the square matrices whose product measures the machine's peak FLOP/s
    size: int = 4096
    #: the matrices' dtype (float32 | float16 | bfloat16): every point's fraction of peak is against
    #: this one peak; on a GPU float16 (CUDA-event timed), so that float16 points meet their own peak
    dtype: str = "float32"
    #: products timed per measurement (their median); one measurement per repetition, interleaved
    repeats: int = 3
    #: also measure the peak after every throughput point; each point's fraction then uses the mean
    #: of the peaks just before and after it (on a shared machine the peak can halve within a minute)
    bracket: bool = False


@dataclass
class MemoryConfig:
    #: measure peak memory (CUDA: in process, per measurement; CPU: one fresh subprocess per point)
    enabled: bool = True
    #: CPU: score only the first N pairs of the workload in the subprocess (null: all of them)
    pairs: int | None = None
    #: CPU: seconds a memory subprocess may take
    timeout_s: float = 900.0


@dataclass
class LatencyConfig:
    #: queries whose top-k is reranked once per repetition (null: every query of the workload)
    queries: int | None = None


@dataclass
class ReportConfig:
    #: also write <dir>/<name>.md|json|csv (e.g. reports/benchmarks/profile_targets); null: only the run dir
    dir: str | None = None
    name: str | None = None
    #: the command that regenerates the report, shown in its title (null: bench profile profile=<name without profile_>)
    command: str | None = None
    #: lines printed under the report's title (what the benchmark is for)
    about: list[str] = field(default_factory=list)


@dataclass
class ProfileConfig:
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"profile": "default"}])
    #: the pairs: a `_target_` in bench.profile.workload (bm25_candidates, synthetic)
    pairs: Any = None
    #: name -> system; every system is measured side by side with the others, interleaved
    systems: dict[str, SystemConfig] = field(default_factory=dict)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    #: auto (CUDA when present) | cpu | cuda | cuda:1
    device: str = "auto"
    #: torch threads (null: torch's default, one per core)
    threads: int | None = None
    #: untimed runs of every measurement point before the first repetition
    warmup: int = 1
    #: pairs scored by each warm-up run
    warmup_pairs: int = 64
    #: timed repetitions; each repetition measures every point once, in a rotated order
    repetitions: int = 3
    peak: PeakConfig = field(default_factory=PeakConfig)
    #: settings of the onnxruntime points (sweep.runtime)
    onnx: OnnxConfig = field(default_factory=OnnxConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    #: draw throughput_vs_batch.png, latency_vs_k.png, memory_vs_max_length.png
    plots: bool = True
    #: after the repetitions, run each throughput point once under torch.profiler and record where
    #: the time goes (matrix products, attention, the rest) in summary.json and the report
    op_breakdown: bool = False
    #: checks with a verdict: `_target_`s in bench.profile.targets (PeakFraction, Speedup, Claim)
    targets: list[Any] = field(default_factory=list)
    report: ReportConfig = field(default_factory=ReportConfig)
    #: where the run's files go (null: Hydra's run directory)
    output_dir: str | None = None


def register() -> None:
    ConfigStore.instance().store(name=PRIMARY, node=ProfileConfig)
