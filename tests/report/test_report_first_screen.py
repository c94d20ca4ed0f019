"""The report's first screen: skips grouped per system, toy profile shapes marked, RAG systems kept apart."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from bench.profile.output import TOY, weights_kind
from bench.report import ReportOptions, build_report
from bench.report.build import skipped_table
from bench.report.load import load_results
from bench.report.plots import PlotInput, plot_memory_vs_max_length, plot_throughput_vs_batch
from bench.report.style import SystemColors
from bench.report.tables import cost_table

NOT_CACHED = "not in the local Hugging Face cache"
FIX = "run once with network access"
TOY_BERT = {"architecture": "bert", "params": None,
            "shape": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": 30522}}
JINA_TINY = {"architecture": "jinabert", "params": 33046273, "model": "jinaai/jina-reranker-v1-tiny-en"}
PROFILE = """\
system,device,dtype,batch,max_length,k,pairs_per_s,tokens_per_s,p50_ms,p95_ms,p99_ms,peak_mem_mb,flops_per_pair,peak_fraction
toy-bert,cpu,float32,tok256,32,,300.0,9000,,,,50,,
toy-bert,cpu,float32,tok512,32,,280.0,8400,,,,60,,
toy-bert,cpu,float32,tok256,128,,90.0,4000,,,,70,,
jina-tiny,cpu,float32,tok1024,512,,30.0,9000,,,,400,,
jina-tiny,cpu,float32,tok4096,512,,28.0,8400,,,,500,,
jina-tiny,cpu,float32,tok1024,128,,100.0,9000,,,,300,,
"""


def profile_run(make_run, folder, *, pretrained: bool = False):
    weights = "pretrained" if pretrained else "random (seed 0)"
    systems = {"toy-bert": {"model": "toy-bert", "facts": TOY_BERT, "weights": "random (seed 0)"},
               "jina-tiny": {"model": "jina-tiny", "facts": JINA_TINY, "weights": weights}}
    run = make_run(folder, dataset=None, systems=systems, throughput=PROFILE)
    manifest = run / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"seed": 0,', '"seed": 0, "suite": "profile",', 1))
    return run


def test_weights_kind_reads_a_profile_manifest_entry():
    assert weights_kind({"facts": TOY_BERT, "weights": "random (seed 0)"}) == TOY
    assert weights_kind({"facts": JINA_TINY, "weights": "random (seed 3)"}) == "real shape, random weights"
    assert weights_kind({"facts": JINA_TINY, "weights": "pretrained"}) == "pretrained"
    assert weights_kind({"facts": JINA_TINY}) == "" and weights_kind(None) == ""  # a bench run's entry


def test_a_skip_repeated_by_every_run_is_one_row_listing_the_runs(tmp_path, make_beir_run, make_run):
    skip = {"system": "jina-tiny", "reason": NOT_CACHED, "fix": FIX}
    other = {"system": "bge-base", "reason": NOT_CACHED, "fix": FIX}
    for i, dataset in enumerate(["nq", "scifact", "fiqa"]):
        run = make_beir_run(tmp_path / "sweep" / str(i), dataset, {"bm25": [0.2, 0.4]})
        skipped = [skip, other] if i < 2 else [skip]
        make_run(run, dataset={"name": dataset}, systems={}, skipped=skipped)
    results = load_results([tmp_path / "sweep"])
    assert len(results.skipped) == 5  # what the runs say, one entry per run and system
    table = skipped_table(results)
    assert table.data.to_dict("records") == [
        {"system": "jina-tiny", "runs": 3, "skipped in": "0, 1, 2", "reason": NOT_CACHED, "fix": FIX},
        {"system": "bge-base", "runs": 2, "skipped in": "0, 1", "reason": NOT_CACHED, "fix": FIX},
    ]
    report = build_report([tmp_path / "sweep"], tmp_path / "report", ReportOptions(resamples=10, plots=False))
    md = report.markdown.read_text()
    assert md.count(f"| {NOT_CACHED}") == 2  # one line per system, not one per run
    assert "| jina-tiny | 3 | 0, 1, 2 |" in md
    assert "2 system(s) were skipped, by 3 run(s)" in md
    html = report.html.read_text()
    assert html.count(NOT_CACHED) == 2


def test_toy_shapes_are_marked_in_the_cost_table(tmp_path, make_run):
    profile_run(make_run, tmp_path / "profile")
    results = load_results([tmp_path / "profile"])
    assert dict(zip(results.throughput["system"], results.throughput["weights"], strict=True)) == {
        "toy-bert": TOY, "jina-tiny": "real shape, random weights"}
    table = cost_table(results)
    marked = dict(zip(table.data["system"], table.data["weights"], strict=True))
    assert marked == {"toy-bert": TOY, "jina-tiny": "real shape, random weights"}
    display = table.display.set_index("system")
    assert display.loc["toy-bert", "weights"] == TOY
    assert TOY in " ".join(table.notes)


def test_the_same_system_pretrained_and_random_stays_two_rows(tmp_path, make_run):
    profile_run(make_run, tmp_path / "runs" / "random")
    profile_run(make_run, tmp_path / "runs" / "real", pretrained=True)
    table = cost_table(load_results([tmp_path / "runs"]))
    jina = table.data[table.data["system"] == "jina-tiny"]
    assert sorted(jina["weights"]) == ["pretrained", "real shape, random weights"]


def test_a_bench_runs_throughput_is_not_called_a_toy(runs):
    table = cost_table(load_results([runs]))
    assert set(table.data["weights"]) == {""} and set(table.display["weights"]) == {"–"}


def test_rag_systems_are_not_listed_as_retrieval_systems(tmp_path, make_beir_run, make_rag_run):
    make_beir_run(tmp_path / "runs" / "beir", "scifact", {"bm25": [0.5, 0.7], "bm25>>biencoder": [0.6, 0.7]})
    make_rag_run(tmp_path / "runs" / "rag", "demo_qa", {"minilm": (0.7, 0.5), "minilm>>biencoder": (0.8, 0.6)})
    report = build_report([tmp_path / "runs"], tmp_path / "report", ReportOptions(resamples=10, plots=False))
    first = report.markdown.read_text().split("\n## ")[0]
    retrieval = re.search(r"Retrieval \(BEIR\) datasets: ([^;]*); systems: ([^.]*)\.", first)
    assert retrieval.group(1) == "scifact"
    assert retrieval.group(2) == "`bm25`, `bm25>>biencoder`"
    rag = re.search(r"RAG suite \(its own table\) QA sets: ([^;]*); embedding and reranker systems: ([^.]*)\.", first)
    assert rag.group(1) == "demo_qa" and rag.group(2) == "`minilm`, `minilm>>biencoder`"
    tables = {t.name: t for t in report.tables}
    assert "minilm" not in " ".join(tables["ndcg10"].data["system"])
    assert "minilm" not in " ".join(tables["measures"].data["system"])
    assert set(tables["rag"].data["reranker"]) == {"none", "biencoder"}


@pytest.fixture
def plot_input(tmp_path, make_run):
    profile_run(make_run, tmp_path / "profile")
    results = load_results([tmp_path / "profile"])
    return PlotInput(results, pd.DataFrame(), SystemColors(results.throughput["system"]), 10, 0)


def test_report_plot_legends_mark_toys_and_name_the_batch(plot_input):
    fig, _ = plot_throughput_vs_batch(plot_input)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"toy-bert ({TOY}) · cpu · float32 · max_length 32" in legend
    assert "jina-tiny · cpu · float32 · max_length 512" in legend
    ax = fig.axes[0]
    assert ax.get_xlabel() == "token budget per batch (tokens)"
    fig.draw_without_rendering()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["256", "512", "1024", "4096"]
    fig, _ = plot_memory_vs_max_length(plot_input)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert f"toy-bert ({TOY}) · cpu · float32 · token budget 256" in labels


def test_a_long_sweep_lists_ten_runs_and_counts_the_rest(tmp_path, make_beir_run, make_run):
    for i in range(12):
        run = make_beir_run(tmp_path / "sweep" / str(i), f"d{i}", {"bm25": [0.2, 0.4]})
        make_run(run, dataset={"name": f"d{i}"}, systems={}, skipped=[{"system": "jina-tiny", "reason": NOT_CACHED}])
    table = skipped_table(load_results([tmp_path / "sweep"]))
    assert table.data.loc[0, "runs"] == 12 and len(table.data.loc[0, "skipped in"].split(", ")) == 12
    assert table.display.loc[0, "skipped in"] == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … and 2 more"
