"""CPU peak memory of one model, measured in a fresh process so that models do not pollute each other.

    python -m bench.profile.memory SPEC.json      (prints one JSON line)

In one process, memory a model freed stays with the allocator and the next model's peak would
include it, so each (model, dtype, max_length, batch) runs in its own interpreter (with glibc's
mmap threshold fixed at 64 KB, see `measure_in_subprocess`): imports and a
warm-up of torch's kernels come first, then the baseline (resident set size) is taken, then the
model is loaded (timed) and scores the pairs once. `peak_mem_mb` is the peak resident memory above
the baseline: weights, activations, the tokenizer and whatever the scorer allocates.

The spec (written by `measure_in_subprocess`): checkpoint folder, architecture, vocab, dtype,
max_length, the scorer's config (with `_target_`), the pairs, torch's thread count, and the runtime
(with onnxruntime's settings). Under onnxruntime the load includes the PyTorch model the export is
verified against (released before scoring), as a reranker's `runtime: onnxruntime` loads it.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def measure_in_subprocess(spec: dict[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
    """Run the spec in a fresh interpreter and return what it measured (raises with its stderr)."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        path = Path(folder) / "spec.json"
        path.write_text(json.dumps(spec))
        # A fixed mmap threshold sends every freed block above 64 KB back to the OS at once (glibc
        # otherwise raises the threshold as blocks are freed and keeps them), so the peak RSS is the
        # peak of live memory, not of the allocator's history: repeated runs then agree to 0.1 MB.
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", MALLOC_MMAP_THRESHOLD_="65536")
        done = subprocess.run(
            [sys.executable, "-m", "bench.profile.memory", str(path)],
            capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"memory subprocess failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def _preimport(config_path: Path, runtime: str = "torch") -> None:
    """Import the model's code before the baseline, so that importing it is not counted as the model."""
    if runtime == "onnxruntime":
        import onnxruntime  # noqa: F401
    config = json.loads((config_path / "config.json").read_text())
    from bench.models.jinabert import is_jinabert_config

    if is_jinabert_config(config):
        return  # bench.models.jinabert is imported already
    model_type = str(config.get("model_type", "bert")).replace("-", "_")
    importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")


def _warm_up_kernels() -> None:
    """Start torch's thread pool and allocate its kernels' scratch space before the baseline."""
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        x = torch.randn(64, 64, 64)
        F.scaled_dot_product_attention(x[None], x[None], x[None])
        torch.nn.functional.gelu(x @ x).sum()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())

    import torch
    from hydra.utils import instantiate

    from bench.profile.measure import ProcessPeak, Stopwatch
    from bench.profile.systems import load_checkpoint

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    checkpoint = Path(spec["checkpoint"])
    runtime = spec.get("runtime", "torch")
    _preimport(checkpoint, runtime)
    scorer = instantiate(spec["scorer"])
    pairs = [tuple(pair) for pair in spec["pairs"]]
    device = torch.device("cpu")
    _warm_up_kernels()
    gc.collect()

    probe = ProcessPeak()
    probe.start()
    loaded = load_checkpoint(
        checkpoint, architecture=spec["architecture"], dtype=spec["dtype"], device=device, vocab=spec.get("vocab"),
        runtime=runtime, onnx=spec.get("onnx"),
    )
    after_load = probe.current_mb()
    score = scorer.bind(loaded)
    score(pairs, int(spec["max_length"]), Stopwatch(device))
    peak = probe.stop()
    print(json.dumps({
        "peak_mem_mb": round(peak, 1),
        "after_load_mb": round(after_load, 1),
        "baseline_mb": round(probe.baseline_mb, 1),
        "load_s": round(loaded.load_seconds, 4),
        "pairs": len(pairs),
        "method": probe.method,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
