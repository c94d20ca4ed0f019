"""The Python API: the README's custom-reranker example runs as written, from Python and from the CLI,
and `bench.run` gives the command's numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import bench

REPO = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- example: custom-reranker.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its custom-reranker example"
    return match.group(1)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_import_bench_is_light_and_lists_its_api():
    code = "import sys, bench; print('torch' in sys.modules, 'run' in dir(bench), 'Reranker' in dir(bench))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bench.nope  # noqa: B018


def test_the_readme_example_runs_from_python_and_from_the_cli(tmp_path, monkeypatch, capsys):
    code = readme_example()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    printed = capsys.readouterr().out
    assert "| bm25>>overlap |" in printed and "| bm25 |" in printed
    result: bench.Result = namespace["result"]
    assert set(result.metrics.system) == {"bm25", "bm25>>overlap"}
    assert result.output_dir.is_relative_to(tmp_path / "reports" / "runs")
    assert set(result.runs) == {"bm25", "bm25>>overlap"} and len(result.runs["bm25>>overlap"]) == 40
    overlap = result.metrics.query("system == 'bm25>>overlap' and measure == 'nDCG@10'").value.item()
    assert overlap != pytest.approx(result.metrics.query("system == 'bm25' and measure == 'nDCG@10'").value.item())

    # the same class from the command line, both ways the README shows
    module = code.split("result = bench.run")[0]
    (tmp_path / "my_rerankers.py").write_text(module)
    (tmp_path / "my_configs" / "reranker").mkdir(parents=True)
    (tmp_path / "my_configs" / "reranker" / "overlap.yaml").write_text(
        "overlap: {_target_: my_rerankers.WordOverlap}\n")
    for name, extra in {
        "plus": ["+reranker.overlap._target_=my_rerankers.WordOverlap"],
        "searchpath": ["hydra.searchpath=[file://my_configs]", "reranker=[overlap]"],
    }.items():
        args = ["dataset=demo", "first_stage=bm25", *(["reranker=none"] if name == "plus" else []), *extra,
                f"output_dir={tmp_path / name}", "quiet=true"]
        done = _cli(args, tmp_path)
        assert done.returncode == 0, done.stderr
        cli = pd.read_csv(tmp_path / name / "metrics.csv")
        pd.testing.assert_frame_equal(cli, result.metrics, check_dtype=False)


def test_run_equals_the_command_and_returns_what_it_wrote(tmp_path):
    result = bench.run("dataset=demo", "first_stage=bm25", "reranker=none", output_dir=tmp_path / "api")
    done = _cli(["dataset=demo", "first_stage=bm25", "reranker=none", f"output_dir={tmp_path / 'cli'}"], tmp_path)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(result.metrics, pd.read_csv(tmp_path / "cli" / "metrics.csv"), check_dtype=False)
    assert result.manifest["config"]["first_stage"]["bm25"]["k1"] == 0.9
    assert "| bm25 |" in str(result) and "<table" in result._repr_html_()
    assert pd.api.types.is_string_dtype(result.per_query.query_id) and len(result.per_query) == 40 * 7


def test_own_first_stage_and_dataset_objects(tmp_path):
    demo = bench.load_demo()
    small = bench.Dataset(name="demo-5", split="test", source="test",
                          corpus=demo.corpus, queries=dict(list(demo.queries.items())[:5]),
                          qrels={q: demo.qrels[q] for q in list(demo.queries)[:5]}, report=demo.report)
    bm25 = bench.BM25(name="mine", k1=1.2, b=0.75)
    result = bench.run("first_stage=none", "reranker=none", dataset=small, first_stages={"mine": bm25},
                       output_dir=tmp_path)
    assert set(result.metrics.system) == {"mine"} and set(result.metrics.dataset) == {"demo-5"}
    bm25_direct = bench.BM25(k1=1.2, b=0.75)
    bm25_direct.index(small.corpus)
    expected = bench.evaluate_run(small.qrels, bm25_direct.search(small.queries, 100))
    got = result.metrics.set_index("measure").value
    assert got["nDCG@10"] == pytest.approx(expected["nDCG@10"])
