"""CUDA measurements for `bench profile`: the matmul peak timed with CUDA events, one model's peak memory.

    matmul_peak_cuda(device, size=8192, repeats=5, dtype=torch.float16)   FLOP/s of the GPU's matmul
    CudaMemory(device, resident_mb=weights_mb(model))                      start() / stop() -> MB
    gpu_facts(device)                                                      name, capability, memory

Why CUDA events: a float16 8192^3 product takes about a millisecond on a datacenter GPU, close to
what launching it and reading a host clock cost; events recorded on the stream around `inner`
back-to-back products time the GPU's own work.

Why memory is counted per model: a profile holds every system's model on the GPU at once (each
dtype a copy), so the allocator's own peak (torch.cuda.max_memory_allocated) counts all of them.
What one model needs on its own is its weights plus what its scoring allocated above the start of
the measurement (padded batches, activations, attention bias, the allocator's extra segments):
`peak_mem_mb` and `peak_reserved_mb` are that, comparable with the CPU profile's peak resident
memory of one model in a fresh process. The process-wide peaks are kept beside them.
"""

from __future__ import annotations

import statistics
from itertools import chain

import torch

from bench.profile.flops import matmul_flops

MB = 2**20


def matmul_peak_cuda(
    device: torch.device, *, size: int = 8192, repeats: int = 5, dtype: torch.dtype = torch.float16, inner: int = 10
) -> float:
    """FLOP/s of size x size products at `dtype`: the median of `repeats` timings of `inner` products each.

    Random operands (a GPU multiplies zeros faster), one untimed product first (cuBLAS picks its
    kernel), and CUDA events around the products.
    """
    if repeats < 1 or inner < 1:
        raise ValueError(f"matmul_peak_cuda needs repeats >= 1 and inner >= 1, got {repeats} and {inner}")
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=generator, device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    torch.cuda.synchronize(device)
    seconds = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            torch.mm(a, b, out=out)
        end.record()
        end.synchronize()
        seconds.append(start.elapsed_time(end) / 1000 / inner)
    return matmul_flops(size) / statistics.median(seconds)


def weights_mb(model: torch.nn.Module) -> float:
    """MB of the model's parameters and buffers (what it holds on its device while loaded)."""
    tensors = chain(model.parameters(), model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors) / MB


class CudaMemory:
    """One model's peak CUDA memory between start() and stop(): its weights plus what was allocated above the start.

    `resident_mb`: the measured model's weights (`weights_mb`), already on the device at start().
    stop() returns, in MB:

        peak_mem_mb          resident_mb + (peak allocated - allocated at start)
        peak_reserved_mb     resident_mb + (peak reserved - reserved at start): the segments the
                             caching allocator added for this measurement
        process_peak_mb      the allocator's peak allocated, every tensor of the process counted
        process_reserved_mb  the allocator's peak reserved, likewise
    """

    def __init__(self, device: torch.device, resident_mb: float = 0.0) -> None:
        self.device = device
        self.resident_mb = resident_mb
        self.allocated_at_start = 0
        self.reserved_at_start = 0

    def start(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()  # reserved memory then grows for this measurement only
        torch.cuda.reset_peak_memory_stats(self.device)
        self.allocated_at_start = torch.cuda.memory_allocated(self.device)
        self.reserved_at_start = torch.cuda.memory_reserved(self.device)

    def stop(self) -> dict[str, float]:
        torch.cuda.synchronize(self.device)
        allocated = torch.cuda.max_memory_allocated(self.device)
        reserved = torch.cuda.max_memory_reserved(self.device)
        return {
            "peak_mem_mb": self.resident_mb + (allocated - self.allocated_at_start) / MB,
            "peak_reserved_mb": self.resident_mb + (reserved - self.reserved_at_start) / MB,
            "process_peak_mb": allocated / MB,
            "process_reserved_mb": reserved / MB,
        }


def gpu_facts(device: torch.device | None = None) -> dict[str, object]:
    """The GPU a report was measured on: name (torch.cuda.get_device_name), capability, memory, CUDA version."""
    device = device or torch.device("cuda")
    properties = torch.cuda.get_device_properties(device)
    return {
        "name": torch.cuda.get_device_name(device),
        "capability": f"{properties.major}.{properties.minor}",
        "memory_mb": round(properties.total_memory / MB),
        "multiprocessors": properties.multi_processor_count,
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
    }
