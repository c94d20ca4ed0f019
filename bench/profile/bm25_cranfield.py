"""Benchmark (not a test): BM25 indexing + top-100 retrieval on Cranfield, and what evaluation adds.

    python -m bench.profile.bm25_cranfield [--data ../shared/data/cranfield] [--repeats 7]

Each repetition indexes from scratch (no cache), retrieves the top 100 for every judged query
and evaluates the run with bench's default measures, all in one process, side by side. The
medians and the spread go to reports/benchmarks/bm25_cranfield.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data.sources import local
from bench.evaluate.measures import DEFAULT_MEASURES, evaluate
from bench.first_stage.bm25 import BM25
from bench.manifest import hardware, package_versions

REPO = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 2.0
TARGET_EVAL_SHARE = 0.10


def one_repetition(folder: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    dataset = local(folder)
    t1 = time.perf_counter()
    bm25 = BM25(cache=False)
    bm25.index(dataset.corpus)
    t2 = time.perf_counter()
    run = bm25.search(dataset.queries, top_k=100)
    t3 = time.perf_counter()
    evaluate(dataset.qrels, run, DEFAULT_MEASURES)
    t4 = time.perf_counter()
    return {"load": t1 - t0, "index": t2 - t1, "search": t3 - t2, "evaluate": t4 - t3}


def end_to_end(folder: Path, repeats: int) -> list[dict[str, float]]:
    """Wall time of the `bench` command for a BM25-only run and the evaluation time it logged."""
    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "bench", "dataset=local", f"dataset.path={folder}", "first_stage=bm25",
                 "reranker=none", "cache=false", f"hydra.run.dir={tmp}"],
                check=True, capture_output=True, cwd=REPO,
            )
            wall = time.perf_counter() - started
            timings = json.loads((Path(tmp) / "manifest.json").read_text())["timings_s"]
        out.append({"wall": wall, "evaluate": timings["evaluate:bm25"]})
    return out


def summarise(reps: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for key in reps[0]:
        values = [r[key] for r in reps]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "cranfield")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    args = parser.parse_args(argv)
    if not (args.data / "corpus.jsonl").is_file():
        parser.error(f"{args.data} holds no corpus.jsonl: pass --data PATH_TO_CRANFIELD")
    cold = one_repetition(args.data)  # first call pays imports (bm25s, pytrec_eval): reported apart
    reps = [one_repetition(args.data) for _ in range(args.repeats)]
    stats = summarise(reps)
    med = {k: v["median"] for k, v in stats.items()}
    retrieval = med["index"] + med["search"]
    bm25_run = med["load"] + retrieval
    share = med["evaluate"] / bm25_run
    cli = summarise(end_to_end(args.data, 3))
    cli_share = cli["evaluate"]["median"] / cli["wall"]["median"]
    result = {
        "dataset": str(args.data.name),
        "repeats": args.repeats,
        "seconds": stats,
        "cold_first_repetition": cold,
        "index_plus_search_s": retrieval,
        "evaluation_share_of_bm25_run": share,
        "cli_bm25_only_run_s": cli,
        "evaluation_share_of_cli_run": cli_share,
        "targets": {
            "index_plus_search_under_2s": retrieval < TARGET_SECONDS,
            "evaluation_adds_under_10pct_of_phases": share < TARGET_EVAL_SHARE,
            "evaluation_adds_under_10pct_of_cli_run": cli_share < TARGET_EVAL_SHARE,
        },
        "hardware": hardware(),
        "versions": package_versions(("bm25s", "PyStemmer", "ir-measures", "numpy")),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bm25_cranfield.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# BM25 on Cranfield: indexing, retrieval, evaluation",
        "",
        f"`python -m bench.profile.bm25_cranfield` — {args.repeats} repetitions in one process after one "
        f"cold repetition; medians (min–max). Machine: {result['hardware']['cpu']}, "
        f"{result['hardware']['cores']} cores.",
        "",
        "| phase | median s | min s | max s |",
        "|---|---:|---:|---:|",
        *[f"| {k} | {v['median']:.4f} | {v['min']:.4f} | {v['max']:.4f} |" for k, v in stats.items()],
        "",
        f"- index + top-100 retrieval for all {225 if args.data.name == 'cranfield' else 'judged'} queries: "
        f"**{retrieval:.3f} s** (target < {TARGET_SECONDS:.0f} s: "
        f"{'PASS' if retrieval < TARGET_SECONDS else 'MISS'})",
        f"- evaluation ({len(DEFAULT_MEASURES)} measures) as a share of the in-process BM25 phases "
        f"(load + index + search): "
        f"**{share:.1%}** (target < 10%: {'PASS' if share < TARGET_EVAL_SHARE else 'MISS'})",
        f"- the `bench dataset=local dataset.path=... first_stage=bm25 reranker=none` command, 3 runs: wall "
        f"{cli['wall']['median']:.2f} s median, of which evaluation {cli['evaluate']['median']:.3f} s = "
        f"**{cli_share:.1%}** (target < 10%: {'PASS' if cli_share < TARGET_EVAL_SHARE else 'MISS'})",
        f"- cold first repetition (imports included): index {cold['index']:.3f} s, search {cold['search']:.3f} s, "
        f"evaluate {cold['evaluate']:.3f} s",
        "",
    ]
    (args.out / "bm25_cranfield.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
