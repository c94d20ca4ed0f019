"""PASS/MISS checks and claims, on results made up by hand; the report renders them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from bench.profile.run import ProfileResults
from bench.profile.targets import Claim, PeakFraction, Speedup, write_report


def made_up() -> ProfileResults:
    results = ProfileResults(device="cpu", workload={"name": "toy", "pairs": 4})
    results.peak = {"flops": {"median": 100e9, "min": 90e9, "max": 110e9, "n": 3}, "matmul": "toy"}

    def add(system, batch, pairs_per_s, fractions=None, memory=None):
        results.rows.append({"system": system, "device": "cpu", "dtype": "float32", "batch": batch,
                             "max_length": 512, "k": None, "pairs_per_s": float(np.median(pairs_per_s))})
        results.spreads.append({})
        for r, value in enumerate(pairs_per_s):
            key = {"round": r, "system": system, "device": "cpu", "dtype": "float32", "batch": batch,
                   "max_length": 512, "k": None, "query": None}
            results.repetitions.append({**key, "measure": "pairs_per_s", "value": value})
            if fractions:
                results.repetitions.append({**key, "measure": "peak_fraction", "value": fractions[r]})
                results.repetitions.append({**key, "measure": "flops_per_s", "value": fractions[r] * 100e9})
        if memory is not None:
            results.repetitions.append({"round": 0, "system": system, "device": "cpu", "dtype": "float32",
                                        "batch": batch, "max_length": 512, "k": None, "query": None,
                                        "measure": "peak_mem_mb", "value": memory})

    add("fast", "tok16384", [30.0, 20.0, 33.0], fractions=[0.85, 0.6, 0.9], memory=87.0)
    add("slow", "32", [10.0, 10.0, 10.0], memory=100.0)
    results.scores[("fast", "torch", "float32", "tok16384", 512)] = np.array([1.0, 2.0, np.nan])
    results.scores[("slow", "torch", "float32", "32", 512)] = np.array([1.0, 2.000001, 3.0])
    return results


def test_peak_fraction_is_the_median_of_rounds():
    check = PeakFraction(system="fast", at_least=0.8).check(made_up())
    assert check["measured"] == pytest.approx(0.85) and check["verdict"] == "PASS"
    miss = PeakFraction(system="fast", at_least=0.9).check(made_up())
    assert miss["verdict"] == "MISS" and "short of 90%" in miss["detail"]


def test_speedup_is_taken_round_by_round():
    check = Speedup(system="fast", baseline="slow", at_least=2.5).check(made_up())
    assert check["measured"] == pytest.approx(3.0)  # rounds 3.0, 2.0, 3.3
    assert check["spread"]["min"] == pytest.approx(2.0) and check["verdict"] == "PASS"


def test_speedup_with_scores_that_differ_is_a_miss():
    ok = Speedup(system="fast", baseline="slow", at_least=2, scores_within=1e-5).check(made_up())
    assert ok["verdict"] == "PASS" and ok["max_abs_score_diff"] == pytest.approx(1e-6)
    bad = Speedup(system="fast", baseline="slow", at_least=2, scores_within=1e-7).check(made_up())
    assert bad["verdict"] == "MISS"


def test_unmeasured_system_is_not_a_pass():
    assert Speedup(system="fast", baseline="absent", at_least=1).check(made_up())["verdict"] == "NOT MEASURED"


def test_claims_have_no_verdict():
    claim = Claim(system="fast", versus="slow", measure="peak_mem_mb", claimed_ratio=0.87, claim="13% less").check(
        made_up()
    )
    assert claim["verdict"] == "-" and claim["measured"] == pytest.approx(0.87)
    assert "claimed ~0.87" in claim["detail"]


def test_report_files(tmp_path):
    results = made_up()
    results.targets = [PeakFraction(system="fast").check(results)]
    cfg = OmegaConf.create({"report": {"about": ["why"]}, "warmup": 1, "warmup_pairs": 4, "repetitions": 3})
    md, js, csv = write_report(cfg, results, tmp_path, "profile_toy")
    text = md.read_text()
    assert "**PASS**" in text and "why" in text and "## Machine" in text
    assert json.loads(js.read_text())["targets"][0]["verdict"] == "PASS"
    assert csv.read_text().startswith("system,device,runtime,dtype,batch")
