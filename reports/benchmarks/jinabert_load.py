"""Acceptance benchmark for the native JinaBERT: memory to load it, and reranking throughput.

    python reports/benchmarks/jinabert_load.py [--pairs 256] [--repeats 3] [--out reports/benchmarks]

A random-weight model of jina-tiny's shape (the facts of configs/reranker/jina-tiny.yaml, built by
bench.profile.architectures) is saved as a checkpoint to a temp dir.
(1) bench.profile.memory measures loading it in a fresh process: torch, transformers and
bench.models.jinabert are imported and torch's kernels warmed up first, then the peak-RSS counter
is reset and the checkpoint loaded through bench.rerank.loading (model and tokenizer); the peak RSS
above that baseline is compared with a 300 MB limit, beside the size of the reference code's
[heads, 8192, 8192] float32 ALiBi table.
(2) Pairs of ~250 random token ids are scored by the same model with length-sorted, dynamically
padded batches and with a plain loop over batches of 32 in input order padded to the longest;
the two alternate over several repetitions and the medians are compared.
Writes jinabert_load.md and jinabert_load.json into --out (default: beside this script).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere: the package is the repository's
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402 - after the path set-up above

from bench.evaluate.summary import markdown_table  # noqa: E402
from bench.manifest import git_commit, hardware  # noqa: E402
from bench.profile.architectures import FAMILY_CONFIG, random_checkpoint  # noqa: E402
from bench.profile.flops import Shape  # noqa: E402
from bench.profile.memory import measure_in_subprocess  # noqa: E402
from bench.profile.stats import summarise  # noqa: E402
from bench.profile.systems import load_checkpoint, reranker_group_facts  # noqa: E402

MODEL = "jina-tiny"
COMMAND = "python reports/benchmarks/jinabert_load.py"
LOAD_LIMIT_MB = 300
MB = 1024 * 1024
PAD, CLS, SEP = 1, 0, 2  # the RoBERTa-style ids of the jina reranker tokenizer
MAX_POSITIONS = int(FAMILY_CONFIG["jinabert"]["max_position_embeddings"])


# ----------------------------------------------------------------------------------------------
# Memory.


def load_memory(checkpoint: Path, shape: Shape) -> dict[str, Any]:
    """Peak RSS above a fresh process's baseline while it loads the checkpoint (and scores nothing)."""
    return measure_in_subprocess({
        "checkpoint": str(checkpoint),
        "architecture": "jinabert",
        "vocab": shape.vocab,
        "dtype": "float32",
        "max_length": 512,
        "scorer": {"_target_": "bench.profile.scorers.PlainLoop", "batch_size": 32},
        "pairs": [],
        "threads": torch.get_num_threads(),
    })


def model_sizes(model: torch.nn.Module) -> dict[str, Any]:
    """Parameters, their float32 MB, and the largest tensor the loaded model holds (ALiBi biases included)."""
    largest = max(
        [tensor.numel() for tensor in model.state_dict().values()]
        + [bias.numel() for bias in model.bert.alibi.tables()]
    )
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameter_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / MB,
        "largest_tensor_elements": largest,
    }


# ----------------------------------------------------------------------------------------------
# Throughput.


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


STRATEGIES: dict[str, Callable[..., torch.Tensor]] = {"sorted": score_sorted, "plain": score_in_order}


def throughput(model, pairs: list[torch.Tensor], *, batch_size: int, repeats: int) -> dict[str, object]:
    seconds: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    scores: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        score_sorted(model, pairs[:batch_size], batch_size)  # warm-up
        for _ in range(repeats):  # alternate, so that drift on a shared machine hits both alike
            for name, strategy in STRATEGIES.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                scores[name] = strategy(model, pairs, batch_size)
                seconds[name].append(time.perf_counter() - start)
                cpu_seconds[name].append(time.process_time() - cpu_start)
    real = sum(len(ids) for ids in pairs)
    result: dict[str, Any] = {"pairs": len(pairs), "batch_size": batch_size, "repeats": repeats}
    for name in STRATEGIES:
        median = summarise(seconds[name]).median
        result[name] = {
            "seconds": seconds[name],
            "median_seconds": median,
            "pairs_per_second": len(pairs) / median,
            "cpu_seconds": cpu_seconds[name],
            "median_cpu_seconds": summarise(cpu_seconds[name]).median,
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
    return "\n".join([*_head(results), *_memory(results), *_throughput(results["throughput"])])


def _head(results: dict) -> list[str]:
    load, host, facts = results["load"], results["machine"], results["facts"]
    shape = facts["shape"]
    return [
        "# JinaBERT: load memory and throughput",
        "",
        f"Run {results['date']} with `{COMMAND}`; float32, random weights of {facts['model']}'s shape "
        f"({shape['layers']} × {shape['hidden']}, {shape['heads']} heads, vocab {shape['vocab']}, max positions "
        f"{MAX_POSITIONS}; {load['parameters']:,} parameters, published {facts['params']:,}).",
        "",
        f"Machine: {host['cpu']}, {host['cores']} logical cores, torch {host['torch']} "
        f"({host['torch_threads']} threads, the default), transformers {host['transformers']}, "
        f"Python {host['python']}. Load average (1/5/15 min) at the start {host['load_average_1_5_15']}, "
        f"at the end {results['load_average_at_end']}: the cores are shared, so wall-clock figures carry "
        "other processes' load; CPU seconds of this process are given beside them.",
        "",
    ]


def _memory(results: dict) -> list[str]:
    load = results["load"]
    table_bytes = results["reference_alibi_table_bytes"]
    heads = results["facts"]["shape"]["heads"]
    verdict = "pass" if load["peak_mem_mb"] < LOAD_LIMIT_MB else "FAIL"
    rows = [
        [f"peak RSS above baseline while loading ({load['method']})", f"{load['peak_mem_mb']:.1f}"],
        ["limit", f"{LOAD_LIMIT_MB} ({verdict})"],
        ["the float32 parameters themselves", f"{load['parameter_mb']:.1f}"],
        [f"the reference code's [{heads}, {MAX_POSITIONS}, {MAX_POSITIONS}] float32 ALiBi table, never built here",
         f"{table_bytes / MB:,.0f}"],
    ]
    return [
        "## Memory to load (fresh process, peak RSS above the baseline after importing torch/transformers "
        "and the model's code)",
        "",
        markdown_table(["what", "MB"], rows),
        "",
        f"Baseline RSS {load['baseline_mb']:.0f} MB; RSS after loading {load['after_load_mb']:.1f} MB above it; "
        f"load (model and tokenizer) took {load['load_s']:.2f} s; largest tensor after loading: "
        f"{load['largest_tensor_elements']:,} elements (the table would be {table_bytes // 4:,}).",
        "",
    ]


def _throughput(speed: dict) -> list[str]:
    rows = []
    for label, row in (
        ("length-sorted, dynamic padding", speed["sorted"]),
        ("input order, padded to batch longest", speed["plain"]),
    ):
        runs = ", ".join(f"{s:.2f}" for s in row["seconds"])
        rows.append([label, f"{row['pairs_per_second']:.1f}", f"{row['median_seconds']:.2f}",
                     f"{row['median_cpu_seconds']:.2f}", f"{row['padded_tokens']:,} (real {row['real_tokens']:,})",
                     runs])
    return [
        f"## Throughput ({speed['pairs']} pairs of ~250 tokens, batches of {speed['batch_size']}, "
        f"median of {speed['repeats']} alternating repetitions)",
        "",
        markdown_table(["strategy", "pairs/s", "median s", "median CPU s", "padded tokens", "runs (s)"], rows),
        "",
        f"Speed-up of sorted over plain: **{speed['speedup_sorted_over_plain']:.2f}×** in wall-clock pairs/s, "
        f"{speed['cpu_time_ratio_plain_over_sorted']:.2f}× in CPU time. "
        f"Largest score difference between the two: {speed['max_abs_score_difference']:.2e} "
        "(padding does not change a score).",
        "",
    ]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    facts = reranker_group_facts(MODEL)
    shape = Shape.from_facts(facts["shape"])
    started = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = random_checkpoint(facts, Path(tmp) / f"{MODEL}-shape", seed=0)
        load = load_memory(checkpoint, shape)
        model = load_checkpoint(
            checkpoint, architecture="jinabert", dtype="float32", device=torch.device("cpu"), vocab=shape.vocab
        ).model
    pairs = random_pairs(args.pairs, mean=args.mean_length, sd=60, vocab=shape.vocab)
    return {
        **started,
        "dtype": "float32",
        "facts": facts,
        "load": {**load, **model_sizes(model)},
        "load_limit_mb": LOAD_LIMIT_MB,
        "reference_alibi_table_bytes": shape.heads * MAX_POSITIONS * MAX_POSITIONS * 4,
        "throughput": throughput(model, pairs, batch_size=args.batch_size, repeats=args.repeats),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mean-length", type=int, default=250)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    results = measure(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jinabert_load.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (args.out / "jinabert_load.md").write_text(report)
    print(report)
    return results


if __name__ == "__main__":
    main()
