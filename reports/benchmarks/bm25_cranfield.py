"""Benchmark (not a test): BM25 indexing + top-100 retrieval on Cranfield, and what evaluation adds.

    python reports/benchmarks/bm25_cranfield.py [--data ../shared/data/cranfield] [--repeats 7]

Each repetition indexes from scratch (no cache), retrieves the top 100 for every judged query
and evaluates the run with bench's default measures, all in one process, side by side. Then the
`bench` command itself runs a BM25-only study three times, and the evaluation time its manifest
logs is compared with its wall time. The medians and the spread go to bm25_cranfield.md and .json
beside this script (or --out).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere: the package is the repository's
    sys.path.insert(0, str(REPO))

from bench.data.sources import local  # noqa: E402 - after the path set-up above
from bench.evaluate.measures import DEFAULT_MEASURES, evaluate  # noqa: E402
from bench.evaluate.summary import markdown_table  # noqa: E402
from bench.first_stage.bm25 import BM25  # noqa: E402
from bench.manifest import hardware, package_versions  # noqa: E402
from bench.paths import REPO_ROOT  # noqa: E402
from bench.profile.stats import summarise  # noqa: E402

TARGET_SECONDS = 2.0
TARGET_EVAL_SHARE = 0.10
COMMAND = "python reports/benchmarks/bm25_cranfield.py"


def one_repetition(folder: Path) -> dict[str, float]:
    """Seconds of each phase of one BM25 run in this process: load, index, search, evaluate."""
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
                check=True, capture_output=True, cwd=REPO_ROOT,
            )
            wall = time.perf_counter() - started
            timings = json.loads((Path(tmp) / "manifest.json").read_text())["timings_s"]
        out.append({"wall": wall, "evaluate": timings["evaluate:bm25"]})
    return out


def by_phase(reps: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Phase -> median, min, max (and n, spread) over the repetitions."""
    return {key: summarise([r[key] for r in reps]).as_dict() for key in reps[0]}


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def measure(folder: Path, repeats: int) -> dict[str, object]:
    cold = one_repetition(folder)  # first call pays imports (bm25s, pytrec_eval): reported apart
    stats = by_phase([one_repetition(folder) for _ in range(repeats)])
    med = {k: v["median"] for k, v in stats.items()}
    retrieval = med["index"] + med["search"]
    share = med["evaluate"] / (med["load"] + retrieval)
    cli = by_phase(end_to_end(folder, 3))
    cli_share = cli["evaluate"]["median"] / cli["wall"]["median"]
    return {
        "dataset": str(folder.name),
        "repeats": repeats,
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


def render(result: dict, folder: Path) -> str:
    stats, cold, cli = result["seconds"], result["cold_first_repetition"], result["cli_bm25_only_run_s"]
    retrieval, share = result["index_plus_search_s"], result["evaluation_share_of_bm25_run"]
    cli_share = result["evaluation_share_of_cli_run"]
    table = markdown_table(
        ["phase", "median s", "min s", "max s"],
        [[k, f"{v['median']:.4f}", f"{v['min']:.4f}", f"{v['max']:.4f}"] for k, v in stats.items()],
        [False, True, True, True],
    )
    queries = 225 if folder.name == "cranfield" else "judged"
    lines = [
        "# BM25 on Cranfield: indexing, retrieval, evaluation",
        "",
        f"`{COMMAND}` — {result['repeats']} repetitions in one process after one cold repetition; "
        f"medians (min–max). Machine: {result['hardware']['cpu']}, {result['hardware']['cores']} cores.",
        "",
        table,
        "",
        f"- index + top-100 retrieval for all {queries} queries: **{retrieval:.3f} s** "
        f"(target < {TARGET_SECONDS:.0f} s: {verdict(retrieval < TARGET_SECONDS)})",
        f"- evaluation ({len(DEFAULT_MEASURES)} measures) as a share of the in-process BM25 phases "
        f"(load + index + search): **{share:.1%}** (target < 10%: {verdict(share < TARGET_EVAL_SHARE)})",
        f"- the `bench dataset=local dataset.path=... first_stage=bm25 reranker=none` command, 3 runs: wall "
        f"{cli['wall']['median']:.2f} s median, of which evaluation {cli['evaluate']['median']:.3f} s = "
        f"**{cli_share:.1%}** (target < 10%: {verdict(cli_share < TARGET_EVAL_SHARE)})",
        f"- cold first repetition (imports included): index {cold['index']:.3f} s, search {cold['search']:.3f} s, "
        f"evaluate {cold['evaluate']:.3f} s",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "cranfield")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    if not (args.data / "corpus.jsonl").is_file():
        parser.error(f"{args.data} holds no corpus.jsonl: pass --data PATH_TO_CRANFIELD")
    result = measure(args.data, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bm25_cranfield.json").write_text(json.dumps(result, indent=2) + "\n")
    report = render(result, args.data)
    (args.out / "bm25_cranfield.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
