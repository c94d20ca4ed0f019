"""Acceptance benchmark for the native JinaBERT: memory to load it, and reranking throughput.

    python -m bench.profile.jinabert_load [--pairs 256] [--repeats 3] [--out reports/benchmarks]

A random-weight model of jina-reranker-v1-tiny-en's shape is saved as a checkpoint to a temp dir.
(1) A fresh subprocess imports torch, transformers and bench.models.jinabert, resets its peak-RSS
counter, loads the checkpoint with from_pretrained and reports the peak RSS above that baseline
(limit: 300 MB), beside the size of the reference code's [12, 8192, 8192] float32 ALiBi table.
(2) Pairs of ~250 random token ids are scored by the same model with length-sorted, dynamically
padded batches and with a plain loop over batches of 32 in input order padded to the longest;
the two alternate over several repetitions and the medians are compared.
Writes jinabert_load.md and jinabert_load.json into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.manifest import git_commit, hardware

#: jina-reranker-v1-tiny-en (published config.json): 33,046,273 parameters.
TINY_SHAPE = dict(
    hidden_size=384,
    num_attention_heads=12,
    intermediate_size=1536,
    num_hidden_layers=4,
    vocab_size=61056,
    max_position_embeddings=8192,
)
TINY_PARAMETERS = 33_046_273
LOAD_LIMIT_MB = 300
MB = 1024 * 1024
PAD, CLS, SEP = 1, 0, 2  # the RoBERTa-style ids of the jina reranker tokenizer


# ----------------------------------------------------------------------------------------------
# Memory.


def _status_kb(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Peak resident memory (MB) inside the block, above the RSS at its start.

    Resets the kernel's high-water mark (VmHWM) through /proc/self/clear_refs; where that is not
    allowed, samples VmRSS every millisecond instead.
    """
    result: dict[str, float] = {}
    baseline = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        sampler = None
    except OSError:
        samples = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(_status_kb("VmRSS"))
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    try:
        yield result
    finally:
        if sampler is None:
            peak, method = _status_kb("VmHWM"), "VmHWM after clear_refs"
        else:
            done.set()
            sampler.join()
            peak, method = max(samples), "VmRSS sampled every 1 ms"
        result.update(
            baseline_mb=baseline / 1024,
            peak_mb=peak / 1024,
            peak_above_baseline_mb=(peak - baseline) / 1024,
            after_mb=_status_kb("VmRSS") / 1024,
            method=method,
        )


def measure_load(checkpoint: str) -> dict[str, object]:
    """Run in a fresh process: load through from_pretrained and report the memory it took."""
    import transformers  # noqa: F401 - part of the baseline, as the brief defines it

    from bench.models.jinabert import JinaBertForSequenceClassification

    start = time.perf_counter()
    with peak_rss() as memory:
        model = JinaBertForSequenceClassification.from_pretrained(checkpoint, torch_dtype=torch.float32)
    seconds = time.perf_counter() - start
    largest = max(
        [tensor.numel() for tensor in model.state_dict().values()]
        + [bias.numel() for bias in model.bert.alibi._biases.values()]
    )
    return {
        **memory,
        "seconds": seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameter_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / MB,
        "largest_tensor_elements": largest,
    }


def load_in_subprocess(checkpoint: Path) -> dict[str, object]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "bench.profile.jinabert_load", "--measure-load", str(checkpoint)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# Throughput.


def write_tiny_checkpoint(directory: Path) -> Path:
    """Random weights of jina-reranker-v1-tiny-en's shape, saved as a JinaBERT checkpoint."""
    from bench.models.jinabert import JinaBertConfig, JinaBertForSequenceClassification

    config = JinaBertConfig(**TINY_SHAPE, feed_forward_type="geglu", num_labels=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = JinaBertForSequenceClassification(config)
    model.save_pretrained(directory)
    # As published: no num_labels, so loading infers it from classifier.weight.
    config_file = directory / "config.json"
    written = json.loads(config_file.read_text())
    for key in ("id2label", "label2id", "num_labels"):
        written.pop(key, None)
    config_file.write_text(json.dumps(written, indent=2))
    return directory


def random_pairs(n: int, *, mean: int, sd: int, vocab: int, seed: int = 0) -> list[torch.Tensor]:
    """n token-id sequences `<s> query </s></s> document </s>`, total lengths ~ N(mean, sd) in [16, 512]."""
    generator = torch.Generator().manual_seed(seed)
    lengths = (torch.randn(n, generator=generator) * sd + mean).round().clamp(16, 512).long().tolist()
    pairs = []
    for length in lengths:
        ids = torch.randint(5, vocab, (length,), generator=generator)
        query = min(12, length // 4)
        ids[0], ids[query], ids[query + 1], ids[-1] = CLS, SEP, SEP, SEP
        pairs.append(ids)
    return pairs


def pad(batch: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), longest), PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask


def score_in_order(model, pairs: list[torch.Tensor], batch_size: int) -> torch.Tensor:
    """The plain loop: batches in input order, each padded to its longest pair."""
    scores = [model(*pad(pairs[i : i + batch_size])).logits[:, 0] for i in range(0, len(pairs), batch_size)]
    return torch.cat(scores)


def score_sorted(model, pairs: list[torch.Tensor], batch_size: int) -> torch.Tensor:
    """Length-sorted batches padded to their own longest pair; scores back in input order."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i]), reverse=True)
    scores = torch.empty(len(pairs))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        scores[chunk] = model(*pad([pairs[i] for i in chunk])).logits[:, 0].float()
    return scores


def padded_tokens(pairs: list[torch.Tensor], batch_size: int, *, sort: bool) -> int:
    lengths = [len(ids) for ids in pairs]
    if sort:
        lengths.sort(reverse=True)
    return sum(
        max(lengths[i : i + batch_size]) * len(lengths[i : i + batch_size]) for i in range(0, len(lengths), batch_size)
    )


def throughput(model, pairs: list[torch.Tensor], *, batch_size: int, repeats: int) -> dict[str, object]:
    strategies: dict[str, Callable[..., torch.Tensor]] = {"sorted": score_sorted, "plain": score_in_order}
    seconds: dict[str, list[float]] = {name: [] for name in strategies}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in strategies}
    scores: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        score_sorted(model, pairs[:batch_size], batch_size)  # warm-up
        for _ in range(repeats):  # alternate, so that drift on a shared machine hits both alike
            for name, strategy in strategies.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                scores[name] = strategy(model, pairs, batch_size)
                seconds[name].append(time.perf_counter() - start)
                cpu_seconds[name].append(time.process_time() - cpu_start)
    real = sum(len(ids) for ids in pairs)
    result: dict[str, object] = {"pairs": len(pairs), "batch_size": batch_size, "repeats": repeats}
    for name in strategies:
        median = statistics.median(seconds[name])
        result[name] = {
            "seconds": seconds[name],
            "median_seconds": median,
            "pairs_per_second": len(pairs) / median,
            "cpu_seconds": cpu_seconds[name],
            "median_cpu_seconds": statistics.median(cpu_seconds[name]),
            "padded_tokens": padded_tokens(pairs, batch_size, sort=name == "sorted"),
            "real_tokens": real,
        }
    result["speedup_sorted_over_plain"] = result["sorted"]["pairs_per_second"] / result["plain"]["pairs_per_second"]
    result["cpu_time_ratio_plain_over_sorted"] = (
        result["plain"]["median_cpu_seconds"] / result["sorted"]["median_cpu_seconds"]
    )
    result["max_abs_score_difference"] = float((scores["sorted"] - scores["plain"]).abs().max())
    return result


# ----------------------------------------------------------------------------------------------
# Report.


def machine() -> dict[str, object]:
    import transformers

    return {
        **hardware(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "git_commit": git_commit(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def render(results: dict) -> str:
    load, speed, host = results["load"], results["throughput"], results["machine"]
    table_mb = results["reference_alibi_table_bytes"] / MB
    verdict = "pass" if load["peak_above_baseline_mb"] < LOAD_LIMIT_MB else "FAIL"
    sorted_, plain = speed["sorted"], speed["plain"]
    lines = [
        "# JinaBERT: load memory and throughput",
        "",
        f"Run {results['date']} with `python -m bench.profile.jinabert_load`; float32, random weights of "
        f"jina-reranker-v1-tiny-en's shape (4 × 384, 12 heads, vocab 61056, max positions 8192; "
        f"{load['parameters']:,} parameters, published {TINY_PARAMETERS:,}).",
        "",
        f"Machine: {host['cpu']}, {host['cores']} logical cores, torch {host['torch']} "
        f"({host['torch_threads']} threads, the default), transformers {host['transformers']}, "
        f"Python {host['python']}. Load average (1/5/15 min) at the start {host['load_average_1_5_15']}, "
        f"at the end {results['load_average_at_end']}: the cores are shared, so wall-clock figures carry "
        "other processes' load; CPU seconds of this process are given beside them.",
        "",
        "## Memory to load (fresh process, peak RSS above the baseline after importing torch/transformers)",
        "",
        "| what | MB |",
        "|---|---|",
        f"| peak RSS above baseline while loading ({load['method']}) | {load['peak_above_baseline_mb']:.1f} |",
        f"| limit | {LOAD_LIMIT_MB} ({verdict}) |",
        f"| the float32 parameters themselves | {load['parameter_mb']:.1f} |",
        f"| the reference code's [12, 8192, 8192] float32 ALiBi table, never built here | {table_mb:,.0f} |",
        "",
        f"Baseline RSS {load['baseline_mb']:.0f} MB; load took {load['seconds']:.2f} s; largest tensor after "
        f"loading: {load['largest_tensor_elements']:,} elements (the table would be "
        f"{results['reference_alibi_table_bytes'] // 4:,}).",
        "",
        f"## Throughput ({speed['pairs']} pairs of ~250 tokens, batches of {speed['batch_size']}, "
        f"median of {speed['repeats']} alternating repetitions)",
        "",
        "| strategy | pairs/s | median s | median CPU s | padded tokens | runs (s) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in (
        ("length-sorted, dynamic padding", sorted_),
        ("input order, padded to batch longest", plain),
    ):
        runs = ", ".join(f"{s:.2f}" for s in row["seconds"])
        lines.append(
            f"| {label} | {row['pairs_per_second']:.1f} | {row['median_seconds']:.2f} | "
            f"{row['median_cpu_seconds']:.2f} | "
            f"{row['padded_tokens']:,} (real {row['real_tokens']:,}) | {runs} |"
        )
    lines += [
        "",
        f"Speed-up of sorted over plain: **{speed['speedup_sorted_over_plain']:.2f}×** in wall-clock pairs/s, "
        f"{speed['cpu_time_ratio_plain_over_sorted']:.2f}× in CPU time. "
        f"Largest score difference between the two: {speed['max_abs_score_difference']:.2e} "
        "(padding does not change a score).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mean-length", type=int, default=250)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    parser.add_argument("--measure-load", metavar="CHECKPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_load:
        print(json.dumps(measure_load(args.measure_load)))
        return {}

    from bench.models.jinabert import JinaBertForSequenceClassification

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_tiny_checkpoint(Path(tmp) / "jina-reranker-v1-tiny-shape")
        load = load_in_subprocess(checkpoint)
        model = JinaBertForSequenceClassification.from_pretrained(checkpoint)
    pairs = random_pairs(args.pairs, mean=args.mean_length, sd=60, vocab=TINY_SHAPE["vocab_size"])
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "dtype": "float32",
        "shape": TINY_SHAPE,
        "load": load,
        "load_limit_mb": LOAD_LIMIT_MB,
        "reference_alibi_table_bytes": 12 * 8192 * 8192 * 4,
        "throughput": throughput(model, pairs, batch_size=args.batch_size, repeats=args.repeats),
    }
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jinabert_load.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (args.out / "jinabert_load.md").write_text(report)
    print(report)
    return results


if __name__ == "__main__":
    main()
