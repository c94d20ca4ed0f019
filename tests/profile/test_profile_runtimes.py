"""`bench profile`'s runtime axis: torch and onnxruntime side by side, agreement with PyTorch float32,
the runtime column in throughput.csv, the report and the cost table, and the shipped runtimes profile."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from bench.errors import InputError
from bench.profile.config import SystemConfig
from bench.profile.run import ProfileResults, build_systems, run
from bench.profile.targets import Speedup, write_report
from bench.profile.workload import bm25_candidates
from bench.report.load import load_results
from bench.report.tables import cost_table
from tests.profile.conftest import compose_profile

pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'bench[onnx]') is not installed")


def read_rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """profile=smoke's JinaBERT and PyTorch loop under both runtimes, float32 and int8: one round."""
    out = tmp_path_factory.mktemp("runtimes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        cfg = compose_profile(
            "profile=smoke", "repetitions=1", "plots=false", "~systems.toy-bert", "sweep.dtype=[float32,int8]",
            "sweep.runtime=[torch,onnxruntime]", "sweep.max_length=[48]", "sweep.k=[4]", "peak.bracket=false",
        )
        results = run(cfg, out)
    return cfg, results, out


def test_every_system_is_measured_under_each_runtime(measured):
    _, results, out = measured
    rows = [r for r in read_rows(out / "throughput.csv") if not r["k"]]
    assert {(r["system"], r["runtime"], r["dtype"]) for r in rows} == {
        ("toy-jina", "torch", "float32"), ("toy-jina", "torch", "int8"),
        ("toy-jina", "onnxruntime", "float32"), ("toy-jina", "onnxruntime", "int8"),
        ("toy-bert-loop", "torch", "float32"), ("toy-bert-loop", "torch", "int8"),
    }
    assert all(float(r["pairs_per_s"]) > 0 for r in rows)
    latency = {(r["runtime"], r["dtype"]) for r in read_rows(out / "throughput.csv") if r["k"]}
    assert ("onnxruntime", "float32") in latency
    # the loop runs PyTorch only: skipped under onnxruntime, with the reason
    skipped = {s["what"]: s["reason"] for s in results.skips if s["system"] == "toy-bert-loop"}
    assert "PyTorch models only" in skipped["onnxruntime float32 batch 4"]
    reps = read_rows(out / "repetitions.csv")
    assert {r["runtime"] for r in reps if r["measure"] == "pairs_per_s"} == {"torch", "onnxruntime"}
    onnx_load = next(x for x in results.loads if x["runtime"] == "onnxruntime" and x["dtype"] == "float32")
    assert onnx_load["onnx"]["verification_max_abs_diff"] <= 1e-4


def test_agreement_with_pytorch_float32_for_every_other_runtime_and_dtype(measured):
    _, _, out = measured
    rows = {(a["system"], a["runtime"], a["dtype"]): a for a in read_rows(out / "agreement.csv")}
    assert set(rows) == {("toy-jina", "torch", "int8"), ("toy-jina", "onnxruntime", "float32"),
                         ("toy-jina", "onnxruntime", "int8"), ("toy-bert-loop", "torch", "int8")}
    assert all(a["reference"] == "torch float32" for a in rows.values())
    same = rows["toy-jina", "onnxruntime", "float32"]
    assert float(same["max_abs_score_diff"]) <= 1e-4 and float(same["kendall_tau_min"]) == 1.0
    quantised = rows["toy-jina", "onnxruntime", "int8"]
    assert 1e-6 < float(quantised["max_abs_score_diff"]) < 1.0
    assert -1.0 <= float(quantised["kendall_tau_mean"]) <= 1.0


def test_a_runtime_of_another_system_on_the_same_model_is_compared_with_its_pytorch_float32(tmp_path):
    cfg = compose_profile(
        "profile=smoke", "repetitions=1", "plots=false", "~systems.toy-bert", "~systems.toy-bert-loop",
        "sweep.max_length=[48]", "sweep.k=[]", "sweep.dtype=[float32]", "peak.bracket=false", "memory.enabled=false",
    )
    with open_dict(cfg):  # the same facts and seed as toy-jina: the same checkpoint
        cfg.systems["toy-jina-onnx"] = OmegaConf.merge(OmegaConf.structured(SystemConfig), {
            "facts": OmegaConf.to_container(cfg.systems["toy-jina"].facts), "batch": [1, 4], "latency": False,
            "scorer": {"_target_": "bench.profile.scorers.Engine", "token_budget": None, "batch_size": 4},
            "sweep": {"runtime": ["onnxruntime"]},
        })
    results = run(cfg, tmp_path)
    [row] = [a for a in results.agreement if a["system"] == "toy-jina-onnx"]
    assert row["reference"] == "toy-jina torch float32" and row["batch"] == "1"
    assert row["max_abs_score_diff"] <= 1e-4
    best = Speedup(system="toy-jina", baseline=["toy-jina-onnx"], baseline_runtime="onnxruntime",
                   baseline_batch="best", at_least=0.0, max_length=48).check(results)
    fastest = max((r for r in results.rows if r["system"] == "toy-jina-onnx"), key=lambda r: r["pairs_per_s"])
    assert f"toy-jina-onnx onnxruntime (batch {fastest['batch']})" in best["detail"]
    assert best["verdict"] == "PASS" and best["measured"] > 0


def made_up_runtimes() -> ProfileResults:
    """A PyTorch point and two onnxruntime points of another system, three rounds, by hand."""
    results = ProfileResults(device="cpu", workload={"name": "toy", "pairs": 3})
    points = [("mine", "torch", "tok1024", [12.0, 11.0, 13.0]), ("theirs", "onnxruntime", "1", [4.0, 4.0, 4.0]),
              ("theirs", "onnxruntime", "8", [10.0, 10.0, 12.0])]
    for system, runtime, batch, values in points:
        key = {"system": system, "device": "cpu", "runtime": runtime, "dtype": "float32", "batch": batch,
               "max_length": 512, "k": None}
        results.rows.append({**key, "pairs_per_s": float(np.median(values))})
        results.spreads.append({})
        results.repetitions += [{**key, "round": r, "query": None, "measure": "pairs_per_s", "value": v}
                                for r, v in enumerate(values)]
    return results


def test_speedup_against_the_best_batch_of_another_runtime():
    check = Speedup(system="mine", baseline="theirs", baseline_runtime="onnxruntime", baseline_batch="best",
                    at_least=1.1).check(made_up_runtimes())
    assert check["measured"] == pytest.approx(1.1)  # rounds 12/10, 11/10, 13/12: the batch-8 point
    assert "theirs onnxruntime (batch 8)" in check["detail"] and check["verdict"] == "PASS"
    first = Speedup(system="mine", baseline="theirs", baseline_runtime="onnxruntime", at_least=1.1).check(
        made_up_runtimes())
    assert first["measured"] == pytest.approx(3.0) and "(batch 1)" in first["detail"]
    same_runtime = Speedup(system="mine", baseline="theirs", at_least=1.1).check(made_up_runtimes())
    assert same_runtime["verdict"] == "NOT MEASURED"  # theirs has no PyTorch point


def test_report_and_cost_table_carry_the_runtime(measured, tmp_path):
    cfg, results, out = measured
    md, _, csv_path = write_report(cfg, results, tmp_path, "profile_toy_runtimes")
    text = md.read_text()
    assert "## Ranking agreement with PyTorch float32" in text and "onnxruntime" in text
    assert read_rows(csv_path)[0].keys() >= {"runtime", "dtype", "pairs_per_s"}
    table = cost_table(load_results([out]))
    data = table.data.set_index(["system", "runtime", "dtype"])
    assert ("toy-jina", "onnxruntime", "float32") in data.index and ("toy-jina", "torch", "float32") in data.index
    assert "runtime" in table.display.columns


def test_an_unknown_runtime_is_refused_with_the_closest_name():
    cfg = compose_profile("profile=smoke", "sweep.runtime=[torch,onnxrt]")
    with pytest.raises(InputError, match="Did you mean 'onnxruntime'"):
        build_systems(cfg)


def test_the_shipped_runtimes_profile_composes():
    cfg = compose_profile("profile=runtimes")
    systems = build_systems(cfg)
    assert systems["jina-tiny"].runtimes == ["torch", "onnxruntime"]
    assert systems["jina-tiny-batches"].runtimes == ["onnxruntime"]
    assert list(systems["jina-tiny-batches"].scorers) == ["1", "8", "32"]
    assert systems["jina-tiny"].source is systems["jina-tiny-batches"].source, "one checkpoint, one reference"
    assert cfg.onnx.optimization == "all" and cfg.sweep.max_length == [512]
    assert cfg.report.name == "profile_runtimes"


def test_a_missing_dataset_falls_back_to_the_demo_set_when_asked(tmp_path):
    workload = bm25_candidates(str(tmp_path / "absent"), queries=1, depth=5, if_missing="demo")
    assert "absent" in str(workload.about["dataset"]) and "demo" in str(workload.about["dataset"])
    assert 0 < len(workload.pairs) <= 5
    with pytest.raises(InputError, match="if_missing"):
        bm25_candidates(str(tmp_path / "absent"), if_missing="skip")
    with pytest.raises(Exception, match="absent"):
        bm25_candidates(str(tmp_path / "absent"))
