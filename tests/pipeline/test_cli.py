"""The `bench` command end to end, in a subprocess as a user runs it (in this process where only its files and
messages are checked: tests/errors/harness.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.errors.harness import run_cli

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_default_main_job_on_the_demo_prints_the_table(tmp_path):
    done = bench(f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| system (nDCG@10) | demo | avg | Δ vs first stage |" in done.stdout
    for system in ("| bm25 |", "| dense |", "| hybrid |", "| bm25>>biencoder |", "| hybrid>>biencoder |"):
        assert system in done.stdout
    # the bi-encoder is the dense stage's own model: that pair is not run, and said once
    assert "| dense>>biencoder |" not in done.stdout and done.stdout.count("not run: dense>>biencoder") == 1
    # the zoo's cross-encoders cannot be had offline: one block, with the exact commands that fix each
    assert done.stdout.count("skipped 5 rerankers whose model or service is unavailable here:") == 1
    assert done.stdout.count("hf download ") == 5 and "hf download jinaai/jina-reranker-v1-tiny-en" in done.stdout
    assert "'reranker.jina-tiny.model=/path/to/jina-reranker-v1-tiny-en'" in done.stdout
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    bm25 = metrics[(metrics.system == "bm25") & (metrics.measure == "nDCG@10")].value.item()
    assert 0.0 < bm25 < 1.0


def test_multirun_over_two_datasets_and_two_systems_aggregates_into_one_table(tmp_path, tiny_beir):
    other = tmp_path / "tiny2"
    shutil.copytree(tiny_beir, other)
    sweep = tmp_path / "sweep"
    done = bench("-m", "dataset=local", f"dataset.path={tiny_beir},{other}", "first_stage=bm25",
                 "reranker=none,biencoder", f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(sweep.glob("*/metrics.csv"))) == 4
    agg = subprocess.run([sys.executable, "-m", "bench", "aggregate", str(sweep)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert agg.returncode == 0, agg.stderr
    table = pd.read_csv(sweep / "aggregate_metrics.csv")
    ndcg = table[table.measure == "nDCG@10"]
    assert set(ndcg.dataset) == {"tiny", "tiny2"}
    assert set(ndcg.system) == {"bm25", "bm25>>biencoder"}
    assert len(ndcg) == 4
    assert "| bm25>>biencoder |" in agg.stdout


def test_joblib_launcher_runs_a_sweep(tmp_path, tiny_beir):
    sweep = tmp_path / "sweep"
    done = bench("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "dataset=local",
                 f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none", "top_k=2,3",
                 f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(sweep.glob("*/metrics.csv"))) == 2


def test_bad_dataset_path_is_a_clear_error(tmp_path):
    done = bench("dataset=local", f"dataset.path={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode != 0
    assert str(tmp_path / "nowhere") in done.stderr


def test_a_sweep_over_a_setting_aggregates_with_the_setting_as_a_column(tmp_path):
    """top_k=10,20 changes BM25's R@100: one study with a top_k column, not "these runs are not one study"."""
    sweep = tmp_path / "sweep"
    done = bench("-m", "dataset=demo", "first_stage=bm25", "reranker=none", "top_k=10,20", "quiet=true",
                 f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr[-3000:]
    agg = subprocess.run([sys.executable, "-m", "bench", "aggregate", str(sweep)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert agg.returncode == 0, agg.stderr[-3000:]
    assert "Traceback" not in agg.stderr
    assert "| system (nDCG@10) | top_k | demo | avg | Δ vs first stage |" in agg.stdout
    table = pd.read_csv(sweep / "aggregate_metrics.csv")
    assert list(table.columns[:3]) == ["dataset", "system", "top_k"]
    assert set(table.system) == {"bm25"}
    recall = table[table.measure == "R@100"].set_index("top_k").value
    assert sorted(recall.index) == [10, 20] and recall[10] < recall[20]
    for top_k in (10, 20):  # each row is its own job's number
        own = pd.read_csv(sweep / str(top_k // 10 - 1) / "metrics.csv").set_index("measure").value
        assert recall[top_k] == own["R@100"]


def test_profile_help_says_what_bench_profile_is():
    done = bench("profile", "--help")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("bench profile: throughput, latency and memory") and "powered by Hydra" not in done.stdout


def test_output_dir_leaves_nothing_under_reports_runs(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    status, _, err = run_cli(["first_stage=bm25", "reranker=none", "quiet=true", f"output_dir={out}"], tmp_path,
                             monkeypatch, capsys)
    assert status == 0, err
    assert (out / "metrics.csv").is_file() and (out / "bench.log").stat().st_size > 0
    assert (out / ".hydra" / "config.yaml").is_file()  # Hydra's record of the run sits beside its results
    assert not (tmp_path / "reports").exists()


def test_a_bad_value_in_a_sweep_names_the_job_and_logs_its_traceback(tmp_path, monkeypatch, capsys):
    sweep = tmp_path / "sweep"
    status, _, err = run_cli(["-m", "top_k=0,5", "first_stage=bm25", "reranker=none", "quiet=true",
                              f"hydra.sweep.dir={sweep}"], tmp_path, monkeypatch, capsys)
    lines = err.splitlines()
    assert status == 2 and "Traceback" not in err
    assert "top_k=0" in lines[0] and lines[-1].startswith("bench: top_k=0: must be an integer >= 1")
    assert "ConfigError: top_k=0" in (sweep / "0" / "bench.log").read_text()
    assert (sweep / "1" / "metrics.csv").is_file()  # the other job of the sweep ran
