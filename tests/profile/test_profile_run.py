"""`bench profile` end to end on toy architectures: files, rows, agreement, the CLI, config errors."""

from __future__ import annotations

import csv
import json

import pytest
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from bench.errors import InputError
from bench.paths import CONFIG_DIR
from bench.profile.cli import main
from bench.profile.output import THROUGHPUT_COLUMNS
from bench.profile.run import build_systems, run
from tests.profile.conftest import compose_profile


def read_rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_every_shipped_profile_composes():
    for name in ("default", "targets", "zoo", "smoke", "investigate"):
        cfg = compose_profile(f"profile={name}")
        assert cfg.systems, name
        assert OmegaConf.to_container(cfg, resolve=True)


def test_a_misspelt_key_is_refused():
    with pytest.raises(Exception, match="repetitons"):
        compose_profile("profile=smoke", "repetitons=3")


def test_smoke_run_writes_rows_for_every_point(smoke_cfg, tmp_path):
    results = run(smoke_cfg, tmp_path)
    rows = read_rows(tmp_path / "throughput.csv")
    assert list(rows[0]) == list(THROUGHPUT_COLUMNS)
    throughput = [r for r in rows if not r["k"]]
    latency = [r for r in rows if r["k"]]
    # toy-bert: 2 budgets x 2 max_lengths; toy-bert-loop: 2 max_lengths; toy-jina: 2 max_lengths
    assert len(throughput) == 8
    assert {r["batch"] for r in throughput if r["system"] == "toy-bert"} == {"tok256", "tok512"}
    # latency for toy-bert and toy-jina (the loop opts out): 2 max_lengths x 2 k
    assert len(latency) == 8 and {r["k"] for r in latency} == {"4", "8"}
    for row in throughput:
        assert float(row["pairs_per_s"]) > 0 and float(row["tokens_per_s"]) > 0
        assert float(row["flops_per_pair"]) > 0 and float(row["peak_fraction"]) > 0
        assert row["device"] == "cpu" and row["dtype"] == "float32"
    for row in latency:
        assert float(row["p50_ms"]) <= float(row["p95_ms"]) <= float(row["p99_ms"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["suite"] == "profile"
    assert manifest["hardware"]["cpu"] and "torch" in manifest["versions"]
    assert manifest["systems"]["toy-jina"]["facts"]["architecture"] == "jinabert"
    assert manifest["systems"]["toy-bert"]["params_counted"] > 0
    reps = read_rows(tmp_path / "repetitions.csv")
    assert {"pairs_per_s", "peak_flops", "latency_ms", "tokenize_s", "model_s"} <= {r["measure"] for r in reps}
    # bracketed peak: one before each round, one after every throughput point
    peaks = [r for r in reps if r["measure"] == "peak_flops"]
    assert len(peaks) == smoke_cfg.repetitions * (len(throughput) + 1)
    assert manifest["peak"]["when"] == "before and after every throughput point"
    # the engine computes the last layer for the first token only: fewer FLOPs than the loop
    engine = results.row(system="toy-bert", batch="tok512", max_length=128, k=None)
    loop = results.row(system="toy-bert-loop", max_length=128, k=None)
    assert engine["flops_per_pair"] < loop["flops_per_pair"]


def test_int8_is_a_separate_dtype_with_ranking_agreement(tmp_path):
    cfg = compose_profile(
        "profile=smoke", "repetitions=1", "plots=false", "sweep.dtype=[float32,int8,float16]",
        "sweep.max_length=[64]", "sweep.k=[4]", "~systems.toy-bert-loop",
    )
    results = run(cfg, tmp_path)
    assert {r["dtype"] for r in results.rows} == {"float32", "int8"}
    assert any(s["what"] == "float16" for s in results.skips)  # float16 needs CUDA
    agreement = read_rows(tmp_path / "agreement.csv")
    assert {a["system"] for a in agreement} == {"toy-bert", "toy-jina"}
    for row in agreement:
        assert row["dtype"] == "int8" and -1 <= float(row["kendall_tau_mean"]) <= 1
        assert float(row["max_abs_score_diff"]) > 0


def test_cli_runs_into_the_given_directory(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["profile=smoke", "repetitions=1", "plots=false", "sweep.dtype=[float32]", "sweep.max_length=[32]",
                 "sweep.k=[4]", f"hydra.run.dir={out}"])
    assert code == 0
    assert (out / "throughput.csv").is_file() and (out / "manifest.json").is_file()
    assert "toy-jina" in capsys.readouterr().out


def test_unknown_reranker_suggests_a_name(tmp_path):
    cfg = compose_profile("profile=smoke", "systems.toy-bert.reranker=jina-tinny", "systems.toy-bert.facts=null")
    with pytest.raises(InputError, match="Did you mean 'jina-tiny'"):
        run(cfg, tmp_path)


def test_op_breakdown_groups_operators():
    from types import SimpleNamespace

    from bench.profile.run import group_ops

    events = [SimpleNamespace(key=k, self_cpu_time_total=t, self_device_time_total=0.0) for k, t in [
        ("aten::addmm", 50.0), ("aten::mm", 10.0), ("aten::_scaled_dot_product_flash_attention_for_cpu", 30.0),
        ("aten::gelu", 10.0), ("ProfilerStep", 1000.0),  # not an operator: left out
    ]]
    found = group_ops(events)
    assert found["groups"] == {"matrix products": 0.6, "attention": 0.3, "other operators": 0.1}
    assert found["top"][0] == {"op": "aten::addmm", "share": 0.5}


def test_a_reranker_system_takes_its_facts_from_the_reranker_config_group():
    """jina-base in profile=targets names its reranker config: one source for the model's facts."""
    cfg = compose_profile("profile=targets")
    assert cfg.systems["jina-base"].reranker == "jina-base" and cfg.systems["jina-base"].facts is None
    facts = OmegaConf.to_container(compose_config_group_facts("jina-base"))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):  # as inside a running app
        systems = build_systems(cfg)
    assert systems["jina-base"].source.facts == facts
    assert systems["jina-base"].source.shape.vocab == 30528


def compose_config_group_facts(name):
    """The reranker's facts as `bench reranker=[name]` composes them."""
    from hydra import compose

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=[f"reranker=[{name}]"]).reranker[name].facts


def test_unknown_dtype_suggests_a_name(tmp_path):
    cfg = compose_profile("profile=smoke", "sweep.dtype=[flaot32]")
    with pytest.raises(InputError, match="Did you mean 'float32'"):
        run(cfg, tmp_path)
