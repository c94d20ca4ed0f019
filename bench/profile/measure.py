"""Timing and memory: one context manager that names phases, synchronises CUDA and reads peak memory.

    watch = Stopwatch(device)
    with watch.phase("total", memory=True):
        with watch.phase("tokenize"):
            ...
    watch.seconds["tokenize"], watch.memory["total"]   # memory: CUDA only (see below)

On CUDA a phase starts and ends with torch.cuda.synchronize (so the time covers the kernels, not
just their launch); with memory=True it also empties the cache and resets the peak-memory
counters first, and `memory[name]` holds the phase's peak allocated and reserved MB of the
measured model (`Stopwatch(device, resident_mb=...)`, see bench.profile.cuda.CudaMemory).
On a CPU the peak resident memory of a process cannot be told apart per model in one process
(freed memory stays with the allocator), so CPU memory is measured in a fresh subprocess per
model (`bench.profile.memory`), with `ProcessPeak` below.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.profile.cuda import CudaMemory, matmul_peak_cuda
from bench.profile.flops import matmul_flops

MB = 2**20


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """perf_counter after the device has finished the work queued so far."""
    synchronize(device)
    return time.perf_counter()


def memory_probe(device: torch.device, resident_mb: float = 0.0) -> CudaMemory | None:
    """The in-process memory reader for a device: CUDA's counters, or None (CPU: use a subprocess)."""
    return CudaMemory(device, resident_mb) if device.type == "cuda" else None


class Stopwatch:
    """Seconds (summed over repeated phases) and, on CUDA, peak memory (max over them) per phase."""

    def __init__(self, device: torch.device, *, resident_mb: float = 0.0) -> None:
        self.device = device
        self.probe = memory_probe(device, resident_mb)
        self.seconds: dict[str, float] = defaultdict(float)
        self.memory: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str, *, memory: bool = False) -> Iterator[None]:
        probe = self.probe if memory else None
        if probe is not None:
            probe.start()
        started = now(self.device)
        try:
            yield
        finally:
            self.seconds[name] += now(self.device) - started
            if probe is not None:
                found = probe.stop()
                before = self.memory.get(name, {})
                self.memory[name] = {k: max(v, before.get(k, 0.0)) for k, v in found.items()}


def matmul_peak(
    device: torch.device, *, size: int = 4096, repeats: int = 3, dtype: torch.dtype = torch.float32
) -> float:
    """FLOP/s of a size x size matrix product at `dtype`: the median of `repeats` after one warm-up.

    On CUDA the products are timed with CUDA events (`bench.profile.cuda.matmul_peak_cuda`).
    """
    if device.type == "cuda":
        return matmul_peak_cuda(device, size=size, repeats=repeats, dtype=dtype)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        started = now(device)
        torch.mm(a, b, out=out)
        times.append(now(device) - started)
    return matmul_flops(size) / statistics.median(times)


# ----------------------------------------------------------------------------------------------
# Resident memory of this process (Linux /proc), for the CPU memory subprocess.


def _status_kb(field: str, status: str | None = None) -> int:
    text = status if status is not None else Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"/proc/self/status has no {field} line")
    return int(found.group(1))


class ProcessPeak:
    """Peak resident memory (MB) of this process since start(), above the RSS at start().

    The kernel's high-water mark (VmHWM) is reset by writing 5 to /proc/self/clear_refs; where that
    is not allowed, a thread samples VmRSS every millisecond instead (and may miss a short peak).
    """

    def __init__(self) -> None:
        self.baseline_mb = 0.0
        self.method = ""
        self._sampled = 0
        self._stop = False
        self._thread = None

    def start(self) -> None:
        self.baseline_mb = _status_kb("VmRSS") / 1024
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM reset through /proc/self/clear_refs"
        except OSError:
            import threading

            self.method = "VmRSS sampled every 1 ms"
            self._sampled = _status_kb("VmRSS")
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop:
            self._sampled = max(self._sampled, _status_kb("VmRSS"))
            time.sleep(0.001)

    def current_mb(self) -> float:
        return _status_kb("VmRSS") / 1024 - self.baseline_mb

    def peak_mb(self) -> float:
        if self._thread is None:
            return _status_kb("VmHWM") / 1024 - self.baseline_mb
        return max(self._sampled, _status_kb("VmRSS")) / 1024 - self.baseline_mb

    def stop(self) -> float:
        peak = self.peak_mb()
        self._stop = True
        if self._thread is not None:
            self._thread.join()
        return peak
