"""Timers, memory probes and the matmul peak; the CUDA path with torch.cuda mocked."""

from __future__ import annotations

import torch

from bench.profile import measure
from bench.profile.measure import CudaMemory, ProcessPeak, Stopwatch, matmul_peak, memory_probe


def test_cpu_stopwatch_times_phases_and_reads_no_memory():
    watch = Stopwatch(torch.device("cpu"))
    assert memory_probe(torch.device("cpu")) is None
    for _ in range(2):
        with watch.phase("total", memory=True), watch.phase("tokenize"):
            pass
    assert watch.seconds["total"] >= watch.seconds["tokenize"] >= 0
    assert watch.memory == {}


class FakeCuda:
    """Records the calls the CUDA path makes; reports made-up peaks."""

    def __init__(self):
        self.calls = []
        self.peak = 0

    def synchronize(self, device=None):
        self.calls.append("synchronize")

    def empty_cache(self):
        self.calls.append("empty_cache")

    def reset_peak_memory_stats(self, device=None):
        self.calls.append("reset")

    def max_memory_allocated(self, device=None):
        self.peak += 2**20
        return self.peak

    def max_memory_reserved(self, device=None):
        return 8 * 2**20

    def memory_allocated(self, device=None):  # nothing else is loaded: the peaks above the start are the peaks
        return 0

    def memory_reserved(self, device=None):
        return 0


def test_cuda_phase_synchronises_and_resets_peak_memory(monkeypatch):
    fake = FakeCuda()
    for name in ("synchronize", "empty_cache", "reset_peak_memory_stats", "max_memory_allocated",
                 "max_memory_reserved", "memory_allocated", "memory_reserved"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    device = torch.device("cuda")
    watch = Stopwatch(device)
    assert isinstance(watch.probe, CudaMemory)
    with watch.phase("total", memory=True):
        pass
    # synchronise, empty the cache and reset before; synchronise at the start and end of the timer
    assert fake.calls[:3] == ["synchronize", "empty_cache", "reset"]
    assert fake.calls.count("synchronize") >= 3
    assert watch.memory["total"] == {"peak_mem_mb": 1.0, "peak_reserved_mb": 8.0, "process_peak_mb": 1.0,
                                     "process_reserved_mb": 8.0}
    with watch.phase("total", memory=True):
        pass
    assert watch.memory["total"]["peak_mem_mb"] == 2.0  # the max over repeated phases
    fake.calls.clear()
    with watch.phase("tokenize"):  # timing only: no cache emptying, no reset
        pass
    assert fake.calls == ["synchronize", "synchronize"]


def test_matmul_peak_is_positive():
    assert matmul_peak(torch.device("cpu"), size=64, repeats=2) > 0


def test_process_peak_sees_an_allocation():
    probe = ProcessPeak()
    probe.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
    block += 1
    peak = probe.stop()
    del block
    assert peak > 32
    assert probe.method


def test_status_parsing():
    status = "Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"
    assert measure._status_kb("VmHWM", status) == 2048
    assert measure._status_kb("VmRSS", status) == 1024
