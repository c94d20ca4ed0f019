"""reports/benchmarks/scale.py end to end on tiny synthetic collections (the smoke path).

`--quick` (2k and 10k documents, every stage, the sharding comparison) takes minutes on two
cores, so the fast test runs two tiny sizes through the stages that need no model, and the
`slow` one runs every stage, the sharding comparison and the plan.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "reports" / "benchmarks" / "scale.py"
NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?$")


def run_script(tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "scale.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "1000,2000", "--queries", "10,20", "--out", str(out),
         "--workdir", str(tmp_path), *extra],
        capture_output=True, text=True, timeout=900, check=False, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("bench-scale-")], "scratch folder left behind"
    return out.read_text()


def section_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading`, as lists of stripped cells."""
    part = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in part.splitlines() if line.startswith("|")]
    for index, line in enumerate(lines):
        if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            start = index + 1
            break
    else:
        raise AssertionError(f"no table under {heading}")
    rows = []
    for line in lines[start:]:
        if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            break  # a second table begins
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if rows and len(cells) != len(rows[0]):
            break
        rows.append(cells)
    return rows


def test_smoke_path_writes_the_stage_table_and_numeric_exponents(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    text = run_script(tmp_path, "--stages", "load,bm25,evaluate", "--repeats", "0", "--zoo-pairs", "0",
                      "--minilm-docs", "0", "--save-raw", str(raw))

    assert text.startswith("# Scale benchmark")
    assert "python reports/benchmarks/scale.py --sizes 1000,2000 --queries 10,20" in text
    assert "AMD" in text or "cores" in text  # the machine is described
    stages = section_rows(text, "Stages per size")
    seen = {(row[0], row[1]) for row in stages}
    for stage in ("load", "bm25 index", "bm25 search top-100", "evaluate (7 measures)"):
        for documents in ("1,000", "2,000"):
            assert (stage, documents) in seen
    for row in stages:
        assert NUMBER.match(row[4].removeprefix("≈ ")), row  # time of the full work
        assert NUMBER.match(row[6]), row  # CPU seconds
        assert NUMBER.match(row[7]), row  # peak RSS
    exponents = {row[0]: row for row in section_rows(text, "Growth with collection size")}
    assert set(exponents) == {"load", "bm25 index", "bm25 search top-100", "evaluate (7 measures)"}
    for row in exponents.values():
        assert NUMBER.match(row[1]), row  # time exponent
        assert NUMBER.match(row[2]) or row[2] == "–", row  # memory: – when no stage rise was above zero
    plan = {row[0]: row for row in section_rows(text, "Plan: the whole zoo on full BEIR")}
    assert plan["**test splits, total**"][2] == "46,379"
    # one row per option of the `reranker` config group that selects a reranker, then the total
    part = text.split("## Plan: the whole zoo on full BEIR", 1)[1].split("\n## ", 1)[0]
    costs = [line.split("|")[1].strip() for line in part.splitlines() if line.startswith("|") and line.count("|") == 13]
    options = sorted(p.stem for p in (REPO / "configs" / "reranker").glob("*.yaml") if p.stem != "none")
    assert costs == ["reranker", "---", *options, "**zoo total** (models with a cost)"]

    # --render-from rebuilds the same page from the saved measurements, measuring nothing
    again = tmp_path / "again.md"
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "1000,2000", "--queries", "10,20",
                           "--render-from", str(raw), "--out", str(again)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert again.read_text() == text


@pytest.mark.slow
def test_smoke_path_with_every_stage_sharding_and_the_zoo_plan(tmp_path: Path) -> None:
    text = run_script(tmp_path, "--repeats", "1", "--rerank-pairs", "8", "--shard-rerank-queries", "2",
                      "--shard-rerank-depth", "5", "--zoo-pairs", "0", "--minilm-docs", "0")

    stages = {row[0] for row in section_rows(text, "Stages per size")}
    assert {"dense encode", "dense search top-100", "rerank jina-tiny (random)"} <= stages
    exponents = {row[0]: row for row in section_rows(text, "Growth with collection size")}
    assert NUMBER.match(exponents["dense encode"][1])
    sharding = text.split("## Sharding and resume", 1)[1]
    ratios = re.findall(r"^\| (dense|rerank) \| [\d.]+ \| ([\d.]+) \|", sharding, re.MULTILINE)
    assert {unit for unit, _ in ratios} == {"dense", "rerank"}
    plan = {row[0]: row for row in section_rows(text, "Plan: the whole zoo on full BEIR")}
    assert "46,379" in plan["**test splits, total**"]
    assert "ESTIMATE" in text
    assert "Failures" not in text
