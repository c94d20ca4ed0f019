"""Reading run directories: discovery, depths, duplicates and clear errors on bad input."""

from __future__ import annotations

import json

import pytest

from bench.errors import InputError
from bench.report.build import build_report
from bench.report.load import ReportInputError, find_run_dirs, load_results, split_system

HEADER = "dataset,system,measure,value\n"


def test_finds_every_run_below_a_sweep_in_natural_order(runs):
    found = [p.relative_to(runs).as_posix() for p in find_run_dirs([runs])]
    assert found == ["beir/0", "beir/1", "beir/2", "depth/0", "depth/1", "profile/0", "rag/0"]


def test_natural_order_puts_10_after_9(tmp_path, make_beir_run):
    for i in (10, 9, 1):
        make_beir_run(tmp_path / str(i), "nq", {"bm25": [0.5]})
    assert [p.name for p in find_run_dirs([tmp_path])] == ["1", "9", "10"]


def test_split_system():
    assert split_system("bm25>>jina-tiny") == ("bm25", "jina-tiny")
    assert split_system("dense") == ("dense", None)


def test_rows_carry_run_suite_and_depth(runs):
    results = load_results([runs])
    row = results.metrics_all.query("dataset == 'nq' and system == 'bm25>>jina-tiny' and measure == 'nDCG@10'")
    assert sorted(row["depth"]) == [50.0, 100.0]
    assert set(row["run"]) == {"beir/0", "depth/0"}
    assert set(results.metrics.loc[results.metrics["dataset"] == "demo-qa", "suite"]) == {"rag"}
    assert results.systems["bm25>>jina-tiny"].params == 33046273
    assert results.systems["bm25>>jina-tiny"].depths == {50, 100}
    assert results.systems["bm25"].info == {"k1": 0.9, "b": 0.4}
    assert results.dataset_meta["nq"]["split"] == "test"
    assert results.skipped == [{"run": "profile/0", "system": "bm25>>mxbai-base", "reason": "weights not cached",
                                "fix": "run make models"}]


def test_main_view_keeps_the_depth_covering_most_datasets(runs):
    results = load_results([runs])
    main = results.metrics.query("system == 'bm25>>jina-tiny' and measure == 'nDCG@10'")
    assert set(main["depth"]) == {100.0}
    assert main.set_index("dataset")["value"].to_dict() == pytest.approx({"nq": 0.5, "scifact": 0.76, "cranfield": 0.3})
    assert set(results.per_query.query("system == 'bm25>>jina-tiny'")["depth"]) == {100.0}
    assert any("depths 50, 100" in note for note in results.notes)


def test_duplicate_results_keep_the_latest_run(tmp_path, make_beir_run):
    make_beir_run(tmp_path / "old", "nq", {"bm25": [0.1, 0.3]}, created="2024-01-01T00:00:00")
    make_beir_run(tmp_path / "new", "nq", {"bm25": [0.5, 0.7]}, created="2024-06-01T00:00:00")
    results = load_results([tmp_path])
    ndcg = results.metrics.query("measure == 'nDCG@10'")
    assert ndcg["value"].tolist() == pytest.approx([0.6])
    assert sorted(results.per_query["value"]) == pytest.approx([0.5, 0.7])
    assert any("more than one run" in note for note in results.notes)


def test_a_bad_number_names_file_line_and_column(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("dataset,system,measure,value\nnq,bm25,nDCG@10,0.3\nnq,bm25,RR@10,abc\n")
    with pytest.raises(InputError, match=r"metrics.csv:3: column 'value' holds 'abc', not a number; rerun"):
        load_results([run])


def test_a_missing_column_is_named(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "per_query.csv").write_text("dataset,system,query_id,value\nnq,bm25,q1,0.3\n")
    (run / "metrics.csv").write_text("dataset,system,measure,value\n")
    with pytest.raises(InputError, match=r"per_query.csv: missing column\(s\) measure"):
        load_results([run])


def test_invalid_manifest_names_the_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{\n  "config": {,\n}')
    with pytest.raises(ReportInputError, match=r"manifest.json, line 2: invalid JSON"):
        load_results([run])


def test_missing_or_empty_directories_are_errors(tmp_path):
    with pytest.raises(ReportInputError, match="no such directory"):
        load_results([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="no run found"):
        load_results([tmp_path / "empty"])


def test_empty_values_are_counted_not_lost_silently(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("dataset,system,measure,value\nnq,bm25,nDCG@10,0.3\nnq,bm25,RR@10,\n")
    results = load_results([run])
    assert len(results.metrics) == 1
    assert any("1 row(s) of metrics.csv have no value" in note for note in results.notes)


def run_with_metrics(tmp_path, text: str, name: str = "metrics.csv"):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(HEADER + "nq,bm25,nDCG@10,0.3\n")
    (run / name).write_text(text)
    return run


@pytest.mark.parametrize("text, line, what", [
    (HEADER + "nq,bm25,nDCG@10,0.3\nnq,bm25,R@", 3, "3 field(s) where the header has 4"),  # cut mid-row
    (HEADER + "nq,bm25,nDCG@10,0.3\nnq,bm25,RR@10,0.5,0.1\n", 3, "5 field(s) where the header has 4"),
    (HEADER + "nq,bm25,nDCG@10,0.3\nnq,bm25,RR@10,", 3, "the last row has no 'value' and the file no final "
                                                          "newline: the file is cut off"),
    (HEADER + "nq,bm25,,0.3\n", 2, "column 'measure' is empty"),
])
def test_a_cut_or_ragged_metrics_file_is_an_error_naming_file_and_line(tmp_path, text, line, what):
    run = run_with_metrics(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_results([run])
    message = str(caught.value)
    assert message.startswith(f"{run / 'metrics.csv'}:{line}: {what}")
    assert "rerun the study that wrote" in message and "\n" not in message


@pytest.mark.parametrize("end, what", [("", "the last row has no 'value'"), ("\n", "column 'query_id' is empty")])
def test_a_cut_per_query_file_is_an_error_naming_it(tmp_path, end, what):
    text = "dataset,system,measure,query_id,value\nnq,bm25,nDCG@10,q1,0.3\nnq,bm25,R@,," + end
    run = run_with_metrics(tmp_path, text, "per_query.csv")
    with pytest.raises(InputError, match=rf"per_query.csv:3: {what}"):
        load_results([run])


def test_out_pointing_at_a_file_is_an_input_error(tmp_path, runs):
    taken = tmp_path / "report.md"
    taken.write_text("not a folder")
    with pytest.raises(InputError, match=r"--out .*report.md: a file is there; give a folder"):
        build_report([runs], taken)


def test_pairs_the_run_did_not_score_are_listed_with_the_skipped_systems(tmp_path, make_beir_run):
    folder = make_beir_run(tmp_path / "run", "demo", {"dense": [0.5, 0.7]})
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["pairs_not_run"] = [{"system": "dense>>biencoder", "model": "sentence-transformers/all-MiniLM-L6-v2"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    skipped = load_results([folder]).skipped
    assert [row["system"] for row in skipped] == ["dense>>biencoder"]
    assert "all-MiniLM-L6-v2, the model that retrieved the candidates" in skipped[0]["reason"]
    assert "the dense row shows that order" in skipped[0]["fix"]
    assert "reranker.biencoder.model=" in skipped[0]["fix"]
