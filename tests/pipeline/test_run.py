"""bench.pipeline.run through Hydra's compose(): files written, numbers equal direct evaluation,
skips reported, self-hits counted, reranker scores cached."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.data.sources import local
from bench.errors import InputError
from bench.evaluate.measures import aggregate, evaluate
from bench.first_stage.bm25 import BM25
from bench.first_stage.run_file import read_trec_run
from bench.pipeline import run
from tests.checkpoints import make_bert_checkpoint


@pytest.fixture
def tiny_ranker(tmp_path: Path) -> Path:
    return make_bert_checkpoint(tmp_path / "tiny-ce")


def test_bm25_run_writes_tidy_files_equal_to_direct_evaluation(compose, tiny_beir, tmp_path):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none")
    out = tmp_path / "out"
    metrics = run(cfg, out_dir=out)
    for name in ("metrics.csv", "per_query.csv", "manifest.json", "summary.md", "runs/bm25.trec"):
        assert (out / name).is_file(), name
    dataset = local(tiny_beir)
    direct = BM25()
    direct.index(dataset.corpus)
    expected = aggregate(evaluate(dataset.qrels, direct.search(dataset.queries, top_k=100)))
    on_disk = pd.read_csv(out / "metrics.csv")
    assert list(on_disk.columns) == ["dataset", "system", "measure", "value"]
    for measure, value in expected.items():
        row = on_disk[(on_disk.system == "bm25") & (on_disk.measure == measure)]
        assert row.value.item() == pytest.approx(value)
    assert len(metrics) == len(cfg.measures)
    per_query = pd.read_csv(out / "per_query.csv", dtype={"query_id": str})
    assert set(per_query.query_id) == {"q1", "q2"}  # q3 has no test qrels
    # the TREC file holds the same ranking that was evaluated
    assert read_trec_run(out / "runs" / "bm25.trec")["q1"]


def test_manifest_records_config_counts_and_versions(compose, tiny_beir, tmp_path):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none")
    run(cfg, out_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["first_stage"]["bm25"]["k1"] == 0.9
    assert manifest["dataset"]["counts"] == {"documents": 4, "queries": 2, "qrels": 3}
    assert manifest["dataset"]["load_report"]["queries_without_qrels"] == 1
    assert manifest["versions"]["ir-measures"]
    assert manifest["hardware"]["cores"] >= 1
    assert "evaluate:bm25" in manifest["timings_s"]


def test_rerankers_run_and_unavailable_ones_are_skipped_with_a_reason(compose, tiny_beir, tiny_ranker, tmp_path):
    cfg = compose(
        "dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[minilm-l6,jina-tiny]",
        f"reranker.minilm-l6.model={tiny_ranker}", "device=cpu",
    )
    metrics = run(cfg, out_dir=tmp_path)
    assert set(metrics.system) == {"bm25", "bm25>>minilm-l6"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    [skip] = manifest["skipped"]
    assert skip["system"] == "jina-tiny"
    assert "jinaai/jina-reranker-v1-tiny-en" in skip["reason"] or "cache" in skip["reason"]
    assert skip["fix"]
    info = manifest["systems"]["bm25>>minilm-l6"]["info"]
    assert info["architecture"] == "bert" and info["scored_pairs"] > 0
    assert manifest["systems"]["bm25>>minilm-l6"]["facts"]["published"]["beir_ndcg10_avg"] == 48.64


def test_reranked_run_is_the_first_stage_candidates_reordered(compose, tiny_beir, tiny_ranker, tmp_path):
    cfg = compose(
        "dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[minilm-l6]",
        f"reranker.minilm-l6.model={tiny_ranker}", "device=cpu", "rerank_depth=1",
    )
    run(cfg, out_dir=tmp_path)
    first = read_trec_run(tmp_path / "runs" / "bm25.trec")
    reranked = read_trec_run(tmp_path / "runs" / "bm25__minilm-l6.trec")
    for qid, docs in reranked.items():
        top = sorted(first[qid], key=first[qid].get, reverse=True)[:1]
        assert sorted(docs) == sorted(top)


def test_scores_are_cached_and_reused_without_loading_the_model(compose, tiny_beir, tiny_ranker, tmp_path, monkeypatch):
    overrides = ("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[minilm-l6]",
                 f"reranker.minilm-l6.model={tiny_ranker}", "device=cpu")
    first = run(compose(*overrides), out_dir=tmp_path / "a")

    def no_loading(self):
        raise AssertionError("the model was loaded although its scores were cached")

    monkeypatch.setattr("bench.rerank.cross_encoder.CrossEncoderReranker.load", no_loading)
    second = run(compose(*overrides), out_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(first, second)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["systems"]["bm25>>minilm-l6"]["score_cache"] == "hit"


@pytest.fixture
def self_hit_beir(tiny_beir: Path) -> Path:
    """tiny_beir with a query whose id equals the document BM25 retrieves first for it (its only relevant one)."""
    (tiny_beir / "queries.jsonl").write_text(
        '{"_id": "d1", "text": "why do cats purr"}\n{"_id": "q2", "text": "dogs barking"}\n'
    )
    (tiny_beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nd1\td1\t1\nq2\td2\t1\n")
    (tiny_beir / "qrels" / "train.tsv").unlink()
    return tiny_beir


def test_self_hits_are_removed_and_counted(compose, self_hit_beir, tmp_path, capsys):
    on = run(compose("dataset=local", f"dataset.path={self_hit_beir}", "first_stage=bm25", "reranker=none",
                     "remove_self_hits=true"), out_dir=tmp_path / "on")
    assert "bm25: removed 1 retrieved documents whose id equals the query id (BEIR's convention; " \
           "remove_self_hits=true)" in capsys.readouterr().out
    off = run(compose("dataset=local", f"dataset.path={self_hit_beir}", "first_stage=bm25", "reranker=none",
                      "remove_self_hits=false"), out_dir=tmp_path / "off")
    assert "whose id equals the query id" not in capsys.readouterr().out  # false asked to keep them: no note
    manifest = json.loads((tmp_path / "on" / "manifest.json").read_text())
    assert manifest["self_hits_removed"] == {"bm25": 1}
    assert manifest["systems"]["bm25"]["self_hits"] == {"setting": "true", "removed": True, "found": 1,
                                                        "why": "remove_self_hits=true"}
    ndcg = {name: frame.set_index("measure").value["nDCG@10"] for name, frame in (("on", on), ("off", off))}
    assert ndcg["off"] > ndcg["on"]  # the only relevant document of d1 was the self-hit


def test_auto_keeps_self_hits_of_a_local_folder_and_says_why(compose, self_hit_beir, tmp_path, capsys):
    cfg = compose("dataset=local", f"dataset.path={self_hit_beir}", "first_stage=bm25", "reranker=none")
    assert cfg.remove_self_hits == "auto"  # the default
    run(cfg, out_dir=tmp_path)
    assert "bm25: kept 1 retrieved documents whose id equals the query id (remove_self_hits=auto: off, tiny " \
           "is not from BEIR's public table" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["self_hits_removed"] == {}
    record = manifest["systems"]["bm25"]["self_hits"]
    assert (record["removed"], record["found"]) == (False, 1)
    assert record["why"].startswith("remove_self_hits=auto: off") and "tiny" in record["why"]
    judged = pd.read_csv(tmp_path / "per_query.csv", dtype={"query_id": str})
    assert judged[(judged.query_id == "d1") & (judged.measure == "Success@1")].value.item() == 1.0


def test_auto_removes_self_hits_of_a_public_beir_dataset(compose, self_hit_beir, tmp_path, capsys):
    dataset = local(self_hit_beir)
    dataset.ignore_identical_ids = True  # what bench.data.sources.beir sets
    run(compose("first_stage=bm25", "reranker=none"), out_dir=tmp_path, dataset=dataset)
    assert "bm25: removed 1 retrieved documents whose id equals the query id (BEIR's convention; " \
           "remove_self_hits=auto: on, tiny is a public BEIR dataset" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["self_hits_removed"] == {"bm25": 1}
    record = manifest["systems"]["bm25"]["self_hits"]
    assert record["removed"] and record["why"].startswith("remove_self_hits=auto: on")


def test_remove_self_hits_accepts_auto_true_or_false_only(compose, tiny_beir, tmp_path):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none",
                  "remove_self_hits=sometimes")
    with pytest.raises(InputError, match="remove_self_hits.*sometimes.*auto"):
        run(cfg, out_dir=tmp_path)


def test_jina_tiny_config_runs_a_local_jinabert_checkpoint_natively(compose, tiny_beir, tmp_path):
    from tests.checkpoints import make_jinabert_checkpoint

    checkpoint = make_jinabert_checkpoint(tmp_path / "jina-tiny-local")
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[jina-tiny]",
                  f"reranker.jina-tiny.model={checkpoint}", "device=cpu")
    metrics = run(cfg, out_dir=tmp_path / "out")
    assert "bm25>>jina-tiny" in set(metrics.system)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    info = manifest["systems"]["bm25>>jina-tiny"]["info"]
    assert info["architecture"] == "jinabert" and info["source"] == "local"
    assert manifest["config"]["reranker"]["jina-tiny"]["trust_remote_code"] is False


def test_a_bi_encoder_never_rescores_its_own_dense_candidates(compose, tiny_beir, tmp_path, capsys):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25,dense]", "reranker=[biencoder]")
    metrics = run(cfg, out_dir=tmp_path)
    assert set(metrics.system) == {"bm25", "bm25>>biencoder", "dense"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pairs_not_run"] == [{"system": "dense>>biencoder",
                                          "model": "sentence-transformers/all-MiniLM-L6-v2"}]
    out = capsys.readouterr().out
    assert out.count("not run: dense>>biencoder") == 1


def test_models_that_cannot_be_had_are_one_block_of_exact_fix_commands(compose, tiny_beir, tmp_path, capsys):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25,dense]",
                  "reranker=[jina-tiny,bge-base]", "reranker.bge-base.revision=abc123")
    run(cfg, out_dir=tmp_path)
    out = capsys.readouterr().out
    assert out.count("skipped 2 rerankers whose model or service is unavailable here:") == 1
    assert "  hf download jinaai/jina-reranker-v1-tiny-en\n" in out
    assert "  hf download BAAI/bge-reranker-base --revision abc123\n" in out
    assert "  'reranker.jina-tiny.model=/path/to/jina-reranker-v1-tiny-en'\n" in out
    assert "  'reranker.bge-base.model=/path/to/bge-reranker-base'\n" in out
    assert "To fix" not in out  # no per-model repetition
    [tiny, bge] = json.loads((tmp_path / "manifest.json").read_text())["skipped"]
    assert (tiny["model"], bge["revision"]) == ("jinaai/jina-reranker-v1-tiny-en", "abc123")


def test_judgements_dropped_on_loading_are_one_note_line(compose, tiny_beir, tmp_path, capsys):
    # two judgements of q1 name a document the corpus lacks, one names a query queries.jsonl lacks
    (tiny_beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tgone1\t1\nq1\tgone2\t1\nq2\td2\t2\nghost\td3\t1\n")
    run(compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none"), out_dir=tmp_path)
    out = capsys.readouterr().out
    assert out.count("qrels: ") == 1
    assert ("qrels: 2 judgements name documents not in the corpus, 1 name queries not in queries.jsonl: dropped\n"
            in out)
    report = json.loads((tmp_path / "manifest.json").read_text())["dataset"]["load_report"]
    assert (report["qrels_unknown_document"], report["qrels_unknown_query"]) == (2, 1)


def test_the_ending_records_every_skip_alike_and_prints_nothing_when_not_shown(compose, tiny_beir, tmp_path, capsys):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=[jina-tiny]")
    run(cfg, out_dir=tmp_path, show=False)
    assert capsys.readouterr().out == ""
    assert (tmp_path / "summary.md").read_text().startswith("| system (nDCG@10) |")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    [skip] = manifest["skipped"]
    assert (skip["system"], skip["kind"], skip["config"]) == ("jina-tiny", "reranker", "reranker.jina-tiny")
    assert manifest["pairs_not_run"] == [] and manifest["cache_entries_quarantined"] == []
    # nothing in a study is random: no seed is recorded as if it had been used
    assert "seed" not in manifest and "seed" not in manifest["config"]


def test_a_bi_encoder_pair_is_not_run_only_when_model_and_normalisation_match():
    from types import SimpleNamespace

    from bench.pipeline import same_model

    def thing(**info):
        return SimpleNamespace(info=lambda: info)

    dense = thing(kind="dense", model="m", revision=None, normalize=True)
    assert same_model(dense, thing(kind="bi_encoder", model="m", revision=None, normalize=True)) == "m"
    # dot products of unnormalised vectors can order the candidates differently: worth running
    assert same_model(dense, thing(kind="bi_encoder", model="m", revision=None, normalize=False)) is None
    assert same_model(dense, thing(kind="bi_encoder", model="other", revision=None, normalize=True)) is None
