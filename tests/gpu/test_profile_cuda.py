"""`bench profile`'s CUDA measurements on a real GPU: the event-timed matmul peak, one model's peak memory,
and the smoke profile end to end on CUDA in float32 and float16 (seconds: toy architectures)."""

from __future__ import annotations

import csv

import pytest
import torch

from bench.profile.cuda import MB, CudaMemory, gpu_facts, matmul_peak_cuda
from bench.profile.measure import Stopwatch, matmul_peak
from bench.profile.run import run
from tests.profile.conftest import compose_profile

pytestmark = pytest.mark.gpu


def test_float16_matmul_peak_outruns_float32(cuda):
    half = matmul_peak_cuda(cuda, size=4096, repeats=3, dtype=torch.float16)
    single = matmul_peak(cuda, size=4096, repeats=3, dtype=torch.float32)  # dispatches to the CUDA timer
    # any CUDA GPU with tensor cores multiplies float16 faster than float32 (TF32 or not) and above 10 TFLOP/s
    assert half > single > 0 and half > 1e13, f"float16 {half / 1e12:.1f} TFLOP/s, float32 {single / 1e12:.1f} TFLOP/s"


def test_cuda_memory_counts_the_model_and_what_was_allocated_above_the_start(cuda):
    kept = torch.empty(64 * MB, dtype=torch.uint8, device=cuda)  # another model, already loaded
    probe = CudaMemory(cuda, resident_mb=10.0)
    probe.start()
    scratch = torch.empty(256 * MB, dtype=torch.uint8, device=cuda)
    del scratch
    found = probe.stop()
    assert found["peak_mem_mb"] == pytest.approx(10.0 + 256, abs=2)
    assert found["peak_reserved_mb"] >= 10.0 + 256
    assert found["process_peak_mb"] >= 64 + 256
    del kept


def test_stopwatch_phase_reads_cuda_memory(cuda):
    watch = Stopwatch(cuda, resident_mb=5.0)
    with watch.phase("total", memory=True):
        torch.ones(32 * MB // 4, device=cuda).sum().item()
    assert watch.seconds["total"] > 0
    assert watch.memory["total"]["peak_mem_mb"] >= 5.0 + 32


def test_gpu_facts_name_the_device(cuda):
    facts = gpu_facts(cuda)
    assert facts["name"] == torch.cuda.get_device_name(cuda) and facts["memory_mb"] > 0


def test_smoke_profile_runs_on_cuda_in_float16(tmp_path):
    cfg = compose_profile("profile=smoke", "device=cuda", "repetitions=1", "plots=false",
                          "sweep.dtype=[float32,float16]", "sweep.max_length=[64]", "sweep.k=[4]",
                          "peak.dtype=float16", "peak.size=1024", f"report.dir={tmp_path / 'report'}",
                          "report.name=smoke_cuda")
    results = run(cfg, tmp_path)
    rows = [r for r in results.rows if r["k"] is None]
    assert {r["dtype"] for r in rows} == {"float32", "float16"}
    assert all(r["device"] == "cuda" and r["pairs_per_s"] > 0 for r in rows)
    assert all(r["peak_mem_mb"] and r["peak_mem_mb"] > 0 for r in rows), "CUDA memory was not measured"
    with (tmp_path / "repetitions.csv").open() as handle:
        measures = {row["measure"] for row in csv.DictReader(handle)}
    assert {"peak_mem_mb", "peak_reserved_mb", "process_peak_mb", "peak_flops"} <= measures
    assert {a["dtype"] for a in results.agreement} == {"float16"}
    assert "float16" in results.peak["matmul"]
    report = (tmp_path / "report" / "smoke_cuda.md").read_text()  # any CUDA run's report records the GPU and memory
    assert f"## GPU\n\n- {torch.cuda.get_device_name()} (torch.cuda.get_device_name)" in report
    assert "## CUDA memory per point" in report
