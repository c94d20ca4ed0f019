"""An embedding model is never followed by a bi-encoder of the same model: rescoring its own top 10 gives
back the same order. That pair is not run (`pairs_not_run`, as in the pipeline) and said in one line;
every other pair runs as before."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.pipeline import RunLog, run
from bench.rerank.bi_encoder import BiEncoderReranker
from bench.suites.rag.qa import QASet
from bench.suites.rag.run import RagSettings, evaluate_protocol, rescores_with_the_same_model
from tests.suites.rag_fakes import FakeBiEncoder, RankingEmbedder, RecordingReranker

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CHUNKS = [f"c{i:02d}" for i in range(1, 13)]


@pytest.fixture
def qa() -> QASet:
    return QASet(name="tiny", queries={"q1": "question one", "q2": "question two"},
                 corpus={c: f"text of {c}" for c in CHUNKS}, relevant_docs={"q1": ["c03"], "q2": ["c05"]})


def embedder(qa: QASet, name: str, model: str | None) -> RankingEmbedder:
    return RankingEmbedder(name=name, qa=qa, orders={"q1": CHUNKS, "q2": CHUNKS[::-1]}, model=model)


def test_the_same_model_pair_is_skipped_and_every_other_pair_runs(qa):
    log = RunLog()
    same_model = FakeBiEncoder(name="biencoder", model=MINILM)
    results = evaluate_protocol(
        qa, {"minilm": embedder(qa, "minilm", MINILM), "other": embedder(qa, "other", "BAAI/bge-small-en-v1.5")},
        {"biencoder": same_model, "recorder": RecordingReranker(name="recorder")},
        settings=RagSettings(), log=log, cache=False,
    )
    assert {r.system for r in results} == {"minilm", "minilm>>recorder", "other", "other>>biencoder",
                                           "other>>recorder"}
    assert len(same_model.seen) == 10 * len(qa.queries)  # scored once: after "other" only
    assert log.pairs_not_run == [{"system": "minilm>>biencoder", "model": MINILM}]
    assert log.skipped == []  # a choice, not a model that cannot be had
    assert "minilm>>biencoder" not in log.systems and "other>>biencoder" in log.systems


@pytest.mark.parametrize(("embedding", "rescoring", "skipped"), [
    ({"model": MINILM, "revision": None}, {"model": MINILM}, True),
    ({"model": MINILM + "/", "revision": None}, {"model": MINILM}, True),
    ({"model": MINILM, "revision": "abc"}, {"model": MINILM}, False),  # other weights
    ({"model": MINILM, "revision": None, "query_prefix": "query: "}, {"model": MINILM}, False),  # other vectors
    ({"model": MINILM, "revision": None, "normalize": False}, {"model": MINILM}, False),  # dot product, not cosine
    ({"model": "BAAI/bge-base-en-v1.5", "revision": None}, {"model": MINILM}, False),
    ({"kind": "fake"}, {"model": MINILM}, False),  # an embedder that names no model
])
def test_what_counts_as_the_same_model(embedding, rescoring, skipped):
    reranker = BiEncoderReranker(name="biencoder", device="cpu", **rescoring)  # never loaded here
    assert rescores_with_the_same_model(embedding, reranker) is skipped


def test_local_folders_compare_by_their_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reranker = FakeBiEncoder(model="./models/minilm/")
    assert rescores_with_the_same_model({"model": str(tmp_path / "models" / "minilm"), "revision": None}, reranker)


def test_a_cross_encoder_of_the_same_name_is_not_a_bi_encoder(qa):
    class SameIdCrossEncoder(RecordingReranker):
        def info(self) -> dict[str, object]:
            return {"kind": "cross_encoder", "model": MINILM, "revision": None}

    log = RunLog()
    results = evaluate_protocol(qa, {"minilm": embedder(qa, "minilm", MINILM)}, {"ce": SameIdCrossEncoder(name="ce")},
                                settings=RagSettings(), log=log, cache=False)
    assert {r.system for r in results} == {"minilm", "minilm>>ce"}
    assert log.skipped == [] and log.pairs_not_run == []


def test_through_the_suite_the_pair_is_a_one_line_note(compose, tiny_beir, tmp_path, capsys):
    cfg = compose("suite=rag", "reranker=[biencoder]", "suite.source=beir", f"suite.path={tiny_beir}",
                  "suite.embeddings.bge-base=null", "suite.embeddings.jina-v2-base=null")
    run(cfg, out_dir=tmp_path)
    assert set(pd.read_csv(tmp_path / "metrics.csv").system) == {"minilm"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pairs_not_run"] == [{"system": "minilm>>biencoder", "model": MINILM}]
    assert manifest["skipped"] == []
    printed = capsys.readouterr().out
    assert printed.count("minilm>>biencoder") == 1
    assert f"not run: minilm>>biencoder (rescoring with {MINILM}, the model that retrieved the candidates" in printed
