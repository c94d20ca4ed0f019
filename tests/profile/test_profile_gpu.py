"""`make gpu-check`'s pieces that run without a GPU: the config, the script's no-CUDA path and exit status
(reports/benchmarks/gpu_check.py, loaded by its path), the CUDA sections every profile report gets, from a
recorded table, the per-model memory arithmetic, the offline tokenizer cache."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bench.errors import InputError
from bench.profile import cuda, gpu_report, measure
from bench.profile.gpu_report import gpu_lines, memory_lines, ratio_lines, ratio_rows
from bench.profile.run import ProfileResults, run
from bench.profile.systems import reranker_group_facts
from bench.profile.targets import write_report
from tests.profile.conftest import compose_profile

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "reports" / "benchmarks" / "gpu_check.py"


def load_script():
    """reports/benchmarks/gpu_check.py as a module (it is run as a file, not imported from the package)."""
    spec = importlib.util.spec_from_file_location("gpu_check_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = load_script()
ZOO = {"jina-tiny", "jina-turbo", "jina-base", "bge-base", "mxbai-base", "minilm-l6"}


# -- configs/profile/gpu.yaml ---------------------------------------------------------------------------------


def test_gpu_profile_covers_the_zoo_in_three_dtypes_over_budgets():
    cfg = compose_profile("profile=gpu")
    assert cfg.device == "cuda" and list(cfg.sweep.dtype) == ["float32", "float16", "bfloat16"]
    assert set(cfg.systems) == ZOO | {"minilm-l6-st"}
    for name in ZOO:
        system = cfg.systems[name]
        assert system.reranker == name and system.scorer._target_.endswith(".Engine")
        assert len(system.batch) >= 2 and system.batch[0] == 65536, name  # the targets read the first budget
    architectures = {reranker_group_facts(name)["architecture"] for name in ZOO}
    assert architectures == {"jinabert", "bert", "xlm-roberta", "deberta-v2"}
    peer = cfg.systems["minilm-l6-st"]
    assert peer.reranker == "minilm-l6" and peer.scorer._target_.endswith(".SentenceTransformers")
    assert cfg.peak.dtype == "float16" and cfg.report.name == "profile_gpu" and cfg.report.command == "make gpu-check"


def test_gpu_targets_are_the_stated_ones():
    cfg = compose_profile("profile=gpu")
    targets = [instantiate(OmegaConf.to_container(t, resolve=True)) for t in cfg.targets]
    kinds = {type(t).__name__: t for t in targets}
    peak, speedup = kinds["PeakFraction"], kinds["Speedup"]
    assert (peak.system, peak.dtype, peak.at_least) == ("jina-tiny", "float16", 0.5)  # within 2x of the FLOPs' time
    assert (speedup.system, speedup.baseline, speedup.dtype) == ("minilm-l6", "minilm-l6-st", "float16")
    assert (speedup.at_least, speedup.scores_within) == (1.5, 1e-3)
    claims = {(t.system, t.versus, t.measure): t.claimed_ratio for t in targets if type(t).__name__ == "Claim"}
    assert claims[("jina-tiny", "jina-base", "pairs_per_s")] == 5
    assert claims[("jina-tiny", "jina-turbo", "peak_mem_mb")] == 0.87
    assert ("jina-tiny", "jina-turbo", "pairs_per_s") in claims


def test_an_unknown_peak_dtype_is_refused_before_anything_runs(tmp_path):
    cfg = compose_profile("profile=smoke", "peak.dtype=float61", "device=cpu")
    with pytest.raises(InputError, match=r"peak\.dtype.*float16"):
        run(cfg, tmp_path)


# -- the command ----------------------------------------------------------------------------------------------


def test_without_cuda_it_says_so_in_one_line_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("run_tests", "run_profile", "check"):
        monkeypatch.setattr(gpu_check, name, lambda *a, **k: pytest.fail("nothing runs without CUDA"))
    assert gpu_check.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gpu-check: no CUDA device (torch.cuda.is_available() is False")
    assert lines[0].endswith("): nothing to check")


def test_the_script_runs_as_a_file_from_any_folder(tmp_path):
    """`python reports/benchmarks/gpu_check.py` as make runs it, with no GPU visible: the one line, exit 0."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # on a GPU machine too: the no-CUDA path, not the whole check
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 1 and done.stdout.startswith("gpu-check: no CUDA device ("), done.stdout


def test_a_python_without_torch_is_no_cuda_either(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert "torch cannot be imported" in gpu_check.cuda_problem()


@pytest.mark.parametrize(("tests", "profile_fails", "expected"), [(0, False, 0), (1, False, 1), (0, True, 1)])
def test_exit_status_is_1_when_a_test_failed_or_the_profile_could_not_run(monkeypatch, capsys, tests, profile_fails,
                                                                          expected):
    def profile(overrides):
        if profile_fails:
            raise RuntimeError("no tokenizer")
        assert overrides == ["repetitions=2"]

    monkeypatch.setattr(gpu_check, "cuda_problem", lambda: None)
    monkeypatch.setattr(gpu_check, "describe_device", lambda: "Fake GPU")
    monkeypatch.setattr(gpu_check, "run_tests", lambda: tests)
    monkeypatch.setattr(gpu_check, "run_profile", profile)
    assert gpu_check.main(["repetitions=2"]) == expected
    out = capsys.readouterr().out
    assert "gpu-check: Fake GPU" in out and ("profile FAILED: RuntimeError: no tokenizer" in out) == profile_fails


def test_no_tests_and_no_profile_flags(monkeypatch):
    monkeypatch.setattr(gpu_check, "cuda_problem", lambda: None)
    monkeypatch.setattr(gpu_check, "describe_device", lambda: "Fake GPU")
    monkeypatch.setattr(gpu_check, "run_tests", lambda: pytest.fail("--no-tests"))
    monkeypatch.setattr(gpu_check, "run_profile", lambda overrides: pytest.fail("--no-profile"))
    assert gpu_check.main(["--no-tests", "--no-profile"]) == 0


# -- the GPU, CUDA memory and claim-ratio sections of every profile report, from a recorded table -------------


def recorded() -> list[dict]:
    """Two rounds of a float16 run at one budget: tiny, turbo and base, with CUDA memory."""
    values = {  # system -> (pairs/s per round, model peak MB per round)
        "jina-tiny": ((100.0, 120.0), (86.0, 90.0)),
        "jina-turbo": ((50.0, 60.0), (100.0, 100.0)),
        "jina-base": ((20.0, 30.0), (400.0, 400.0)),
    }
    rows = [{"round": r, "system": "matmul", "device": "cuda", "dtype": "float16", "batch": None, "max_length": None,
             "k": None, "query": None, "measure": "peak_flops", "value": 7e14} for r in (0, 1)]
    for system, (speed, memory) in values.items():
        for r in (0, 1):
            key = {"round": r, "system": system, "device": "cuda", "dtype": "float16", "batch": "tok65536",
                   "max_length": 512, "k": None, "query": None}
            rows += [{**key, "measure": "pairs_per_s", "value": speed[r]},
                     {**key, "measure": "peak_mem_mb", "value": memory[r]},
                     {**key, "measure": "peak_reserved_mb", "value": memory[r] + 20},
                     {**key, "measure": "process_peak_mb", "value": 3000.0},
                     {**key, "measure": "process_reserved_mb", "value": 3500.0}]
        rows.append({**key, "k": 10, "query": "q1", "measure": "latency_ms", "value": 5.0})  # not a throughput row
    return rows


CLAIMS = [
    {"_target_": "bench.profile.targets.Claim", "system": "jina-tiny", "versus": "jina-base",
     "measure": "pairs_per_s", "claimed_ratio": 5, "claim": "almost five times as fast", "dtype": "float16"},
    {"_target_": "bench.profile.targets.Claim", "system": "jina-tiny", "versus": "jina-turbo",
     "measure": "peak_mem_mb", "claimed_ratio": 0.87, "claim": "13% less memory", "dtype": "float16"},
]
GPU = {"name": "NVIDIA H100 80GB HBM3", "capability": "9.0", "memory_mb": 81559, "multiprocessors": 132,
       "cuda": "13.0", "torch": "2.11.0+cu130"}
PEAK = {"flops": {"median": 7e14, "min": 6.9e14, "max": 7.1e14}, "matmul": "8192x8192 float16, median of 5"}


def test_ratios_are_taken_round_by_round_beside_the_claims():
    rows = {(r["system"], r["versus"], r["measure"]): r for r in ratio_rows(recorded(), CLAIMS)}
    speed = rows[("jina-tiny", "jina-base", "pairs_per_s")]
    assert speed["ratio"] == pytest.approx((100 / 20 + 120 / 30) / 2)  # rounds 5.0 and 4.0
    assert (speed["low"], speed["high"], speed["rounds"], speed["claimed_ratio"]) == (4.0, 5.0, 2, 5)
    memory = rows[("jina-tiny", "jina-turbo", "peak_mem_mb")]
    assert memory["ratio"] == pytest.approx((0.86 + 0.90) / 2) and memory["batch"] == "tok65536"


def test_gpu_memory_and_ratio_sections_render_the_recorded_rows():
    text = "\n".join([*gpu_lines(GPU), *memory_lines(recorded()), *ratio_lines(recorded(), CLAIMS)])
    assert ("- NVIDIA H100 80GB HBM3 (torch.cuda.get_device_name), compute capability 9.0, 81,559 MB, "
            "132 multiprocessors") in text
    assert "- torch 2.11.0+cu130, CUDA 13.0" in text
    assert "| jina-tiny | float16 | tok65536 | 512 | 110.0 | 90.0 | 110.0 | 3000 | 3500 |" in text
    assert "| jina-tiny : jina-base pairs/s | float16 | tok65536 | 512 | 4.50 (4.00-5.00) | 2 | ~5 |" in text
    assert "| jina-tiny : jina-turbo memory | float16 | tok65536 | 512 | 0.88 (0.86-0.90) | 2 | ~0.87 |" in text


def on_cpu(rows: list[dict]) -> list[dict]:
    return [{**r, "device": "cpu"} for r in rows]


def test_a_cpu_run_has_no_gpu_or_cuda_memory_section_but_its_ratios():
    rows = on_cpu(recorded())  # a CPU run's peak_mem_mb is a fresh process's memory, not CUDA's
    assert gpu_lines({}) == [] and memory_lines(rows) == []
    assert "jina-tiny : jina-base pairs/s" in "\n".join(ratio_lines(rows, CLAIMS))
    assert ratio_lines(rows, []) == []


def results_of(rows: list[dict], device: str) -> ProfileResults:
    results = ProfileResults(device=device, workload={"name": "toy", "pairs": 4})
    results.repetitions, results.peak = rows, PEAK
    return results


REPORT_CFG = {"report": {"about": ["why"]}, "warmup": 1, "warmup_pairs": 4, "repetitions": 2, "targets": CLAIMS}


def test_every_profile_report_on_cuda_records_the_gpu_memory_and_ratios(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(cuda, "gpu_facts", lambda device: asked.append(device) or GPU)
    md, js, _ = write_report(OmegaConf.create(REPORT_CFG), results_of(recorded(), "cuda"), tmp_path, "profile_x")
    text = md.read_text()
    assert asked == [torch.device("cuda")]
    assert text.index("## Machine") < text.index("## GPU\n") < text.index("## Workload")
    assert "| jina-tiny | float16 | tok65536 | 512 | 110.0 | 90.0 | 110.0 | 3000 | 3500 |" in text
    assert "| jina-tiny : jina-base pairs/s | float16 | tok65536 | 512 | 4.50 (4.00-5.00) | 2 | ~5 |" in text
    assert json.loads(js.read_text())["hardware"]["cuda"] == GPU


def test_a_cpu_profile_report_asks_no_gpu_and_keeps_the_ratios(monkeypatch, tmp_path):
    monkeypatch.setattr(cuda, "gpu_facts", lambda device: pytest.fail("no GPU facts off CUDA"))
    assert gpu_report.cuda_facts("cpu") == {}
    md, js, _ = write_report(OmegaConf.create(REPORT_CFG), results_of(on_cpu(recorded()), "cpu"), tmp_path, "p")
    text = md.read_text()
    assert "## GPU" not in text and "## CUDA memory per point" not in text
    assert "| jina-tiny : jina-base pairs/s | float16 | tok65536 | 512 | 4.50 (4.00-5.00) | 2 | ~5 |" in text
    assert "cuda" not in json.loads(js.read_text())["hardware"]


# -- CUDA memory and peak, with torch.cuda's counters faked ---------------------------------------------------


def test_cuda_memory_is_the_model_plus_what_was_allocated_above_the_start(monkeypatch):
    counters = {"allocated": 1000 * cuda.MB, "reserved": 1200 * cuda.MB}
    for name in ("synchronize", "empty_cache", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: counters["allocated"])
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: counters["reserved"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 1300 * cuda.MB)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 1600 * cuda.MB)
    probe = measure.memory_probe(torch.device("cuda"), 66.0)
    probe.start()
    found = probe.stop()
    assert found == {"peak_mem_mb": 66.0 + 300, "peak_reserved_mb": 66.0 + 400, "process_peak_mb": 1300.0,
                     "process_reserved_mb": 1600.0}
    assert measure.Stopwatch(torch.device("cuda"), resident_mb=7.0).probe.resident_mb == 7.0
    assert measure.Stopwatch(torch.device("cpu"), resident_mb=7.0).probe is None


def test_matmul_peak_on_cuda_goes_to_the_event_timer(monkeypatch):
    calls = []
    monkeypatch.setattr(measure, "matmul_peak_cuda", lambda device, **kw: calls.append(kw) or 1e15)
    assert measure.matmul_peak(torch.device("cuda"), size=512, repeats=2, dtype=torch.float16) == 1e15
    assert calls == [{"size": 512, "repeats": 2, "dtype": torch.float16}]


def test_weights_mb_counts_parameters_and_buffers():
    layer = torch.nn.BatchNorm1d(8)  # 16 parameters, 17 buffer values (mean, var, int64 count)
    assert cuda.weights_mb(layer) == pytest.approx((16 * 4 + 16 * 4 + 8) / cuda.MB)


# -- the offline tokenizer travels as a Hugging Face cache ----------------------------------------------------


def test_tokenizer_cache_is_what_the_hub_reads_offline(tmp_path):
    from huggingface_hub import snapshot_download
    from transformers import AutoTokenizer

    snapshot = gpu_check.write_tokenizer_cache(tmp_path)
    assert not list(snapshot.rglob("*.safetensors")), "weights do not travel"
    found = snapshot_download(gpu_check.TOKENIZER_MODEL, cache_dir=tmp_path, local_files_only=True)
    assert found == str(snapshot)
    assert len(AutoTokenizer.from_pretrained(found)) == 30522
