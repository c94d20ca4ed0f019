"""Reproduction: OK within the tolerance, OFF with the delta, not comparable with the reason."""

from __future__ import annotations

import math

import pytest

from bench.report.load import load_results
from bench.report.reproduction import (
    NOT_COMPARABLE,
    OFF,
    OK,
    canonical_dataset,
    judge,
    published_bm25,
    reproduction_rows,
    reproduction_table,
    unit,
)


def _row(rows, **where):
    found = rows
    for key, value in where.items():
        found = found[found[key] == value]
    assert len(found) == 1, (where, found)
    return found.iloc[0]


@pytest.fixture
def rows(runs):
    return reproduction_rows(load_results([runs]), tolerance=0.01)


def test_reranker_per_dataset(rows):
    nq = _row(rows, benchmark="BEIR nDCG@10", system="bm25>>jina-tiny", dataset="nq")
    assert (nq["published"], nq["measured"], nq["status"]) == (pytest.approx(0.495), pytest.approx(0.5), OK)
    scifact = _row(rows, benchmark="BEIR nDCG@10", system="bm25>>jina-tiny", dataset="scifact")
    assert scifact["status"] == OFF and scifact["delta"] == pytest.approx(-0.04)
    cranfield = _row(rows, benchmark="BEIR nDCG@10", system="bm25>>jina-tiny", dataset="cranfield")
    assert cranfield["status"] == NOT_COMPARABLE and "not in the published table" in cranfield["reason"]
    assert math.isnan(cranfield["delta"])


def test_reranker_average_over_other_datasets_is_not_comparable(rows):
    average = _row(rows, benchmark="BEIR nDCG@10 average", system="bm25>>jina-tiny")
    assert average["status"] == NOT_COMPARABLE
    assert "over 17 BEIR datasets; the runs cover 3" in average["reason"]
    assert average["published"] == pytest.approx(0.4854) and average["measured"] == pytest.approx(0.52)
    assert "how many datasets" in _row(rows, benchmark="BEIR nDCG@10 average", system="bm25>>bge-base")["reason"]


def test_bm25_against_three_sources(rows):
    nq = rows[(rows["benchmark"] == "BM25 nDCG@10") & (rows["dataset"] == "nq")].set_index("source")
    assert nq.loc["pyserini-flat", "status"] == OK and nq.loc["pyserini-flat", "delta"] == pytest.approx(-0.0055)
    assert nq.loc["bm25s-lucene", "status"] == OK
    assert nq.loc["beir-paper", "status"] == OFF and nq.loc["beir-paper", "delta"] == pytest.approx(-0.029)
    assert "does not state k1/b" in nq.loc["beir-paper", "reason"]
    cranfield = _row(rows, benchmark="BM25 nDCG@10", dataset="cranfield")
    assert cranfield["status"] == NOT_COMPARABLE and "not in any published BM25 table" in cranfield["reason"]


def test_demo_rag_set_is_not_comparable(rows):
    blog = _row(rows, benchmark="RAG hit rate (blog)")
    assert blog["status"] == NOT_COMPARABLE and blog["measured"] == pytest.approx(0.85)
    assert "Llama 2 paper" in blog["reason"] and "demo-qa" in blog["reason"] and "bge-small" in blog["reason"]
    card = _row(rows, benchmark="RAG hit rate (model card)")
    assert card["published"] == pytest.approx(0.85) and card["status"] == NOT_COMPARABLE
    assert _row(rows, benchmark="RAG MRR (blog)")["status"] == NOT_COMPARABLE


def test_blog_protocol_with_its_three_embeddings_is_compared(tmp_path, make_rag_run):
    make_rag_run(tmp_path / "rag", "llama2", {
        "jina-embeddings-v2-base-en>>jina-tiny": (0.84, 0.70), "BAAI/bge-base-en-v1.5>>jina-tiny": (0.83, 0.60),
        "cohere-embed-english-v3.0>>jina-tiny": (0.82, 0.62), "e5-small>>jina-tiny": (0.10, 0.10),
    })
    rows = reproduction_rows(load_results([tmp_path]), tolerance=0.01)
    hit = _row(rows, benchmark="RAG hit rate (blog)")
    assert hit["measured"] == pytest.approx(0.83)  # e5-small is not one of the blog's embeddings: left out
    assert hit["status"] == OK and hit["delta"] == pytest.approx(0.83 - 0.8316)
    mrr = _row(rows, benchmark="RAG MRR (blog)")
    assert mrr["measured"] == pytest.approx(0.64)
    assert mrr["status"] == OFF and mrr["delta"] == pytest.approx(0.64 - 0.6761)
    assert _row(rows, benchmark="RAG hit rate (model card)")["status"] == NOT_COMPARABLE


def test_other_first_stage_depth_or_split_is_not_comparable(tmp_path, make_beir_run):
    make_beir_run(tmp_path / "a", "nq", {"dense": [0.5], "dense>>jina-tiny": [0.5]})
    make_beir_run(tmp_path / "b", "scifact", {"bm25": [0.8], "bm25>>jina-tiny": [0.8]}, depth=50)
    make_beir_run(tmp_path / "c", "msmarco", {"bm25": [0.228]}, split="test")
    rows = reproduction_rows(load_results([tmp_path]), tolerance=0.01)
    dense = _row(rows, benchmark="BEIR nDCG@10", system="dense>>jina-tiny")
    assert dense["status"] == NOT_COMPARABLE and "this run reranks dense top-100" in dense["reason"]
    shallow = _row(rows, benchmark="BEIR nDCG@10", system="bm25>>jina-tiny")
    assert shallow["status"] == NOT_COMPARABLE and "top-50" in shallow["reason"]
    msmarco = rows[rows["dataset"] == "msmarco"]
    assert set(msmarco["status"]) == {NOT_COMPARABLE}
    assert all("published on the dev split; this run used test" in r for r in msmarco["reason"])


def test_bm25_with_other_parameters_is_not_comparable_to_sources_that_fix_them(tmp_path, make_run):
    make_run(tmp_path / "r", dataset={"name": "nq", "split": "test"},
             systems={"bm25": {"first_stage": "bm25", "reranker": None, "info": {"k1": 1.2, "b": 0.75}}},
             metrics=[("nq", "bm25", "nDCG@10", 0.33)])
    rows = reproduction_rows(load_results([tmp_path]), tolerance=0.01).set_index("source")
    assert rows.loc["pyserini-flat", "status"] == NOT_COMPARABLE
    assert "source uses k1=0.9 b=0.4; this run k1=1.2 b=0.75" in rows.loc["pyserini-flat", "reason"]
    assert rows.loc["beir-paper", "status"] == OK  # the paper states no k1/b


def test_tolerance_is_configurable(runs):
    results = load_results([runs])
    loose = reproduction_rows(results, tolerance=0.05)
    assert _row(loose, benchmark="BEIR nDCG@10", dataset="scifact")["status"] == OK
    table = reproduction_table(results, tolerance=0.01)
    assert "OFF (-0.0400)" in table.display["status"].tolist()


def test_helpers():
    assert canonical_dataset("beir/dbpedia/test") == "dbpedia-entity"
    assert canonical_dataset("Touche2020") == "webis-touche2020"
    assert canonical_dataset("climate_fever") == "climate-fever"
    assert canonical_dataset("cranfield") == "cranfield"
    assert unit(48.54) == pytest.approx(0.4854) and unit(0.8316) == 0.8316
    assert judge(0.30, 0.31, 0.01) == (pytest.approx(0.01), OK)
    assert judge(0.30, 0.3101, 0.01)[1] == OFF
    sources = published_bm25()
    assert sources["beir-paper"]["ndcg10"]["trec-covid"] == 0.656
    assert sources["pyserini-flat"]["ndcg10"]["scifact"] == 0.6789
    assert sources["bm25s-lucene"]["ndcg10"]["msmarco"] == 0.228
