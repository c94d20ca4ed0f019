"""`bench aggregate` over synthetic run directories laid out like a Hydra multirun.

Each fake job has what a real one has: metrics.csv, manifest.json with the resolved "config", and
.hydra/overrides.yaml with the command line's overrides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.cli import _dispatch
from bench.errors import InputError
from bench.evaluate.aggregate import StudyError, find_metrics, flatten, merge, merge_runs, read_run


def main(argv: list[str]) -> int:
    """`bench aggregate *argv` as the command runs it: an input error ends in one line and exit status 2."""
    try:
        return _dispatch("aggregate", argv)
    except SystemExit as exc:
        return int(exc.code or 0)


MEASURES = ("nDCG@10", "R@100")
BM25 = {"_target_": "bench.first_stage.bm25.BM25", "name": "bm25", "k1": 0.9, "b": 0.4, "cache": True}
BIENCODER = {"_target_": "bench.rerank.bi_encoder.BiEncoderReranker", "name": "biencoder", "batch_size": 64}


def config(dataset: str = "demo", reranker: str = "none", **top: Any) -> dict[str, Any]:
    return {
        "dataset": {"_target_": "bench.data.sources.demo", "name": dataset, "split": "test"},
        "first_stage": {"bm25": dict(BM25)},
        "reranker": {"biencoder": dict(BIENCODER)} if reranker == "biencoder" else {},
        "top_k": 100, "rerank_depth": None, "measures": list(MEASURES), "seed": 0, "cache": True,
        "quiet": False, "output_dir": None, "shard": {"queries": 256, "documents": 10000},
        "executor": {"_target_": "bench.executor.local.LocalExecutor"}, **top,
    }


def job(folder: Path, values: dict[str, tuple[float, float]], *, overrides: list[str], cfg: dict | None,
        dataset: str = "demo", suite: str | None = None) -> Path:
    """One job of a sweep: `values` is system -> (nDCG@10, R@100)."""
    folder.mkdir(parents=True)
    lines = ["dataset,system,measure,value"]
    for system, numbers in values.items():
        lines += [f"{dataset},{system},{m},{v!r}" for m, v in zip(MEASURES, numbers, strict=True)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if cfg is not None:
        manifest: dict[str, Any] = {"config": cfg, "systems": {s: {} for s in values}}
        if suite:
            manifest["suite"] = suite
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def depth_sweep(sweep: Path) -> Path:
    """bench -m first_stage=bm25 reranker=none,biencoder rerank_depth=10,50 (Hydra's job order)."""
    bm25 = (0.30, 0.80)
    jobs = [("none", 10, {"bm25": bm25}),
            ("none", 50, {"bm25": bm25}),
            ("biencoder", 10, {"bm25": bm25, "bm25>>biencoder": (0.35, 0.80)}),
            ("biencoder", 50, {"bm25": bm25, "bm25>>biencoder": (0.42, 0.80)})]
    for number, (reranker, depth, values) in enumerate(jobs):
        job(sweep / str(number), values, cfg=config(reranker=reranker, rerank_depth=depth),
            overrides=["first_stage=bm25", f"reranker={reranker}", f"rerank_depth={depth}"])
    return sweep


def ndcg(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.measure == "nDCG@10"].reset_index(drop=True)


def test_flatten_gives_dotted_keys():
    flat = flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2], "f": {}})
    assert flat == {"a.b": 1, "a.c.d": None, "e": "[1, 2]"}


def test_a_depth_sweep_is_one_study_with_rerank_depth_as_a_column(tmp_path):
    sweep = depth_sweep(tmp_path / "sweep")
    merged, columns = merge_runs([read_run(p) for p in sorted(sweep.glob("*/metrics.csv"))])
    assert columns == ["rerank_depth"]  # reranker=... is in the system name, not a column
    rows = ndcg(merged)
    assert sorted(rows.system) == ["bm25", "bm25>>biencoder", "bm25>>biencoder"]  # names stay as they are
    # bm25 is the same result in all four jobs: kept once, its rerank_depth empty
    [bm25] = rows[rows.system == "bm25"].to_dict("records")
    assert bm25["value"] == 0.30 and repr(bm25["rerank_depth"]) == ""
    reranked = rows[rows.system == "bm25>>biencoder"].set_index("rerank_depth").value.to_dict()
    assert reranked == {10: 0.35, 50: 0.42}


def test_the_cli_writes_the_depth_column_and_a_delta_per_depth(tmp_path, capsys):
    sweep = depth_sweep(tmp_path / "sweep")
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "| system (nDCG@10) | rerank_depth | demo | avg | Δ vs first stage |" in out
    assert "| bm25 |  | 0.3000 | 0.3000 |  |" in out
    assert "| bm25>>biencoder | 10 | 0.3500 | 0.3500 | +0.0500 |" in out
    assert "| bm25>>biencoder | 50 | 0.4200 | 0.4200 | +0.1200 |" in out
    written = pd.read_csv(sweep / "aggregate_metrics.csv")
    assert list(written.columns) == ["dataset", "system", "rerank_depth", "measure", "value", "run_dir"]
    assert len(written) == 3 * len(MEASURES)
    assert (sweep / "aggregate_summary.md").read_text() == out.split("\n", 1)[1]


def test_first_stage_rows_are_kept_apart_when_they_differ(tmp_path):
    """top_k changes BM25's R@100 but not its nDCG@10: two rows, told apart by top_k."""
    sweep = tmp_path / "sweep"
    for number, (top_k, recall) in enumerate([(10, 0.5), (20, 0.6)]):
        job(sweep / str(number), {"bm25": (0.30, recall)}, cfg=config(top_k=top_k),
            overrides=["first_stage=bm25", "reranker=none", f"top_k={top_k}"])
    merged, columns = merge_runs([read_run(p) for p in sorted(sweep.glob("*/metrics.csv"))])
    assert columns == ["top_k"]
    recall = merged[merged.measure == "R@100"].set_index("top_k").value.to_dict()
    assert recall == {10: 0.5, 20: 0.6}
    assert ndcg(merged).value.tolist() == [0.30, 0.30]


def test_datasets_by_rerankers_needs_no_column(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    number = 0
    for dataset, base in (("scifact", 0.6), ("nfcorpus", 0.3)):
        for reranker in ("none", "biencoder"):
            values = {"bm25": (base, 0.9)}
            if reranker == "biencoder":
                values["bm25>>biencoder"] = (base + 0.05, 0.9)
            job(sweep / str(number), values, dataset=dataset, cfg=config(dataset, reranker),
                overrides=[f"dataset={dataset}", f"reranker={reranker}"])
            number += 1
    merged = merge(sorted(sweep.glob("*/metrics.csv")))
    assert list(merged.columns) == ["dataset", "system", "measure", "value", "run_dir"]
    assert len(ndcg(merged)) == 4
    assert main([str(sweep)]) == 0
    assert "| system (nDCG@10) | nfcorpus | scifact | avg | Δ vs first stage |" in capsys.readouterr().out


def test_a_setting_of_one_model_only_counts_for_the_systems_that_use_it(tmp_path):
    """reranker.biencoder.batch_size=16,64: bm25 is one row, the bi-encoder's rows differ by batch size."""
    sweep = tmp_path / "sweep"
    for number, (size, value) in enumerate([(16, 0.41), (64, 0.42)]):
        cfg = config(reranker="biencoder")
        cfg["reranker"]["biencoder"]["batch_size"] = size
        job(sweep / str(number), {"bm25": (0.3, 0.8), "bm25>>biencoder": (value, 0.8)}, cfg=cfg,
            overrides=["reranker=biencoder", f"reranker.biencoder.batch_size={size}"])
    merged, columns = merge_runs([read_run(p) for p in sorted(sweep.glob("*/metrics.csv"))])
    assert columns == ["reranker.biencoder.batch_size"]
    rows = ndcg(merged)
    assert len(rows[rows.system == "bm25"]) == 1
    assert rows[rows.system == "bm25>>biencoder"].set_index("reranker.biencoder.batch_size").value.to_dict() == {
        16: 0.41, 64: 0.42}


def test_bookkeeping_never_becomes_a_column(tmp_path):
    sweep = tmp_path / "sweep"
    for number, quiet in enumerate([True, False]):
        job(sweep / str(number), {"bm25": (0.3, 0.8)}, cfg=config(quiet=quiet, shard={"queries": 64 * (number + 1)}),
            overrides=[f"quiet={quiet}"])
    merged, columns = merge_runs([read_run(p) for p in sorted(sweep.glob("*/metrics.csv"))])
    assert columns == [] and len(ndcg(merged)) == 1


def test_without_a_manifest_the_overrides_are_the_settings(tmp_path):
    sweep = tmp_path / "sweep"
    for number, depth in enumerate([10, 50]):
        job(sweep / str(number), {"bm25": (0.3, 0.8), "bm25>>biencoder": (0.3 + depth / 1000, 0.8)}, cfg=None,
            overrides=["dataset=demo", "first_stage=bm25", "reranker=biencoder", f"rerank_depth={depth}"])
    merged, columns = merge_runs([read_run(p) for p in sorted(sweep.glob("*/metrics.csv"))])
    assert columns == ["rerank_depth"]  # the group choices are the dataset column and the system names
    assert ndcg(merged)[lambda t: t.system == "bm25>>biencoder"].rerank_depth.tolist() == [10, 50]


def test_different_results_that_no_setting_explains_exit_2_naming_the_runs(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    job(sweep / "0", {"bm25": (0.3, 0.8)}, cfg=config(), overrides=[])
    job(sweep / "1", {"bm25": (0.5, 0.8)}, cfg=config(quiet=True), overrides=["quiet=true"])
    with pytest.raises(StudyError, match="demo / bm25 has different results in .*/0, .*/1"):
        merge(sorted(sweep.glob("*/metrics.csv")))
    assert main([str(sweep)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("bench aggregate: demo / bm25 has different results in ")
    assert str(sweep / "0") in line and str(sweep / "1") in line and "not one study" in line
    assert "Traceback" not in captured.err and not (sweep / "aggregate_metrics.csv").exists()


def test_a_beir_study_and_a_rag_study_are_not_one_study(tmp_path, capsys):
    job(tmp_path / "beir", {"bm25": (0.3, 0.8)}, dataset="scifact", cfg=config("scifact"), overrides=[])
    job(tmp_path / "rag", {"minilm": (0.7, 0.5), "minilm>>biencoder": (0.8, 0.6)}, dataset="demo-qa",
        cfg={"suite": {"name": "rag"}, "seed": 0}, suite="rag", overrides=["suite=rag"])
    assert main([str(tmp_path / "beir"), str(tmp_path / "rag")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "different suites" in line and str(tmp_path / "beir") in line and str(tmp_path / "rag") in line


def test_swapped_results_cannot_be_tabulated(tmp_path):
    """Two settings swept, and bm25's results follow neither: no column can tell the rows apart."""
    sweep = tmp_path / "sweep"
    for number, (top_k, depth, value) in enumerate([(10, 10, 0.3), (10, 50, 0.4), (20, 10, 0.4), (20, 50, 0.3)]):
        job(sweep / str(number), {"bm25": (value, 0.8)}, cfg=config(top_k=top_k, rerank_depth=depth),
            overrides=[f"top_k={top_k}", f"rerank_depth={depth}"])
    with pytest.raises(StudyError, match="different results"):
        merge(sorted(sweep.glob("*/metrics.csv")))


def test_a_rerun_with_other_numbers_is_caught_even_when_a_sweep_hides_it(tmp_path, capsys):
    """Depth 10 and 50 agree, but a second depth-50 job disagrees: two results at rerank_depth=50."""
    sweep = tmp_path / "sweep"
    for number, (depth, value) in enumerate([(10, 0.3), (50, 0.3), (50, 0.4)]):
        job(sweep / str(number), {"bm25": (value, 0.8)}, cfg=config(rerank_depth=depth),
            overrides=[f"rerank_depth={depth}"])
    assert main([str(sweep)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "although they share rerank_depth=50" in line
    assert str(sweep / "1") in line and str(sweep / "2") in line


# -- damaged or wrong input: one InputError line naming the file, exit status 2 ---------------------------


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("bench aggregate: ") and "Traceback" not in captured.err
    return line


@pytest.mark.parametrize("tail, where, what", [
    ("demo,bm25,R@", 3, "3 field(s) where the header has 4: the file is cut off"),  # cut mid-row
    ("demo,bm25,R@100,", 3, "the last row has no 'value' and the file no final newline"),  # cut after a comma
    ("demo,bm25,R@,,\n", 3, "5 field(s) where the header has 4"),
    ("demo,bm25,R@100,high\n", 3, "column 'value' holds 'high', not a number"),  # was a TypeError
    ("demo,,R@100,0.8\n", 3, "column 'system' is empty"),
])
def test_a_damaged_metrics_file_is_named_with_its_line(tmp_path, capsys, tail, where, what):
    sweep = depth_sweep(tmp_path / "sweep")
    damaged = sweep / "2" / "metrics.csv"
    damaged.write_text("dataset,system,measure,value\ndemo,bm25,nDCG@10,0.3\n" + tail)
    with pytest.raises(InputError, match=rf"{damaged}:{where}: "):
        read_run(damaged)
    assert main([str(sweep)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"bench aggregate: {damaged}:{where}: {what}")
    assert f"rerun the study that wrote {damaged.parent}, or delete {damaged}" in line
    assert not (sweep / "aggregate_metrics.csv").exists()


def test_wrong_columns_name_the_file(tmp_path, capsys):
    sweep = depth_sweep(tmp_path / "sweep")
    wrong = sweep / "0" / "metrics.csv"
    wrong.write_text("dataset,system,score\ndemo,bm25,0.3\n")
    assert main([str(sweep)]) == 2
    assert one_line_error(capsys).startswith(f"bench aggregate: {wrong}: missing column(s) measure, value")


def test_a_missing_path_is_an_input_error(tmp_path, capsys):
    with pytest.raises(InputError, match="nowhere: no such run directory or metrics.csv"):
        find_metrics([tmp_path / "nowhere"])
    with pytest.raises(InputError, match=r"nowhere/metrics.csv: no such file"):
        read_run(tmp_path / "nowhere" / "metrics.csv")
    assert main([str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: no such run directory" in one_line_error(capsys)


def test_runs_that_are_not_one_study_raise_an_input_error(tmp_path):
    sweep = tmp_path / "sweep"
    job(sweep / "0", {"bm25": (0.3, 0.8)}, cfg=config(), overrides=[])
    job(sweep / "1", {"bm25": (0.5, 0.8)}, cfg=config(quiet=True), overrides=["quiet=true"])
    with pytest.raises(InputError, match=f"{sweep / '0'}"):
        merge(sorted(sweep.glob("*/metrics.csv")))
