"""`bench suite=rag` through Hydra's compose(): the shipped QA set, BEIR folders, skips, bad input, tables."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import open_dict

from bench.data.records import Run
from bench.errors import InputError, ModelUnavailable
from bench.paths import REPO_ROOT
from bench.pipeline import run
from bench.suites.rag import report
from bench.suites.rag.embedders import ApiEmbedder, JinaBertEmbedder, SentenceTransformerEmbedder
from bench.suites.rag.qa import QADatasetError, load_qa_json
from bench.suites.rag.run import CONFIG_KEYS, DEMO_QA, RagSettings, path_in_cwd_or_repo, retrieve, suite_config
from tests.suites.rag_fakes import RecordingReranker

ONLY_MINILM = ("suite.embeddings.bge-base=null", "suite.embeddings.jina-v2-base=null")


def read_trec(path: Path) -> Run:
    out: Run = {}
    for line in path.read_text().splitlines():
        qid, _, doc, _rank, score, _ = line.split()
        out.setdefault(qid, {})[doc] = float(score)
    return out


def ranked(docs: dict[str, float]) -> list[str]:
    return sorted(docs, key=lambda d: -docs[d])


@pytest.mark.skipif(not DEMO_QA.is_file(), reason="the shipped demo QA set is not there yet")
def test_shipped_demo_runs_offline_with_a_recording_reranker_and_no_same_model_biencoder(compose, tmp_path):
    cfg = compose("suite=rag", "reranker=[biencoder]", *ONLY_MINILM)
    with open_dict(cfg):
        cfg.reranker.recorder = {"_target_": "tests.suites.rag_fakes.RecordingReranker", "name": "recorder"}
    RecordingReranker.calls = []
    out = tmp_path / "out"
    metrics = run(cfg, out_dir=out)

    for name in ("metrics.csv", "per_query.csv", "manifest.json", "summary.md", "qa_dataset.json",
                 "runs/minilm.trec", "runs/minilm__recorder.trec"):
        assert (out / name).is_file(), name
    # the bi-encoder is MiniLM itself: rescoring MiniLM's own top 10 gives the same order, so it is not run
    assert not (out / "runs" / "minilm__biencoder.trec").exists()
    qa = load_qa_json(DEMO_QA)
    on_disk = pd.read_csv(out / "metrics.csv")
    assert list(on_disk.columns) == ["dataset", "system", "measure", "value"]
    assert set(on_disk.system) == {"minilm", "minilm>>recorder"}
    assert set(on_disk.measure) == {"Success@5", "RR@5"} and set(on_disk.dataset) == {"demo_qa"}
    assert len(metrics) == 4
    per_query = pd.read_csv(out / "per_query.csv", dtype={"query_id": str})
    assert len(per_query) == 2 * 2 * len(qa.queries)

    # the numbers are LlamaIndex's hit rate and MRR of the saved top-5 lists
    for system in on_disk.system.unique():
        lists = {q: ranked(d) for q, d in read_trec(out / "runs" / f"{system.replace('>>', '__')}.trec").items()}
        assert all(len(v) == 5 for v in lists.values()) and set(lists) == set(qa.queries)
        hits = [any(d in qa.relevant_docs[q] for d in lists[q]) for q in qa.queries]
        rr = [next((1 / r for r, d in enumerate(lists[q], 1) if d in qa.relevant_docs[q]), 0.0) for q in qa.queries]
        row = on_disk[on_disk.system == system].set_index("measure").value
        assert row["Success@5"] == pytest.approx(np.mean(hits))
        assert row["RR@5"] == pytest.approx(np.mean(rr))

    # the recorder saw exactly minilm's top 10 for every question, nothing else
    top10 = retrieve(SentenceTransformerEmbedder(name="minilm", model="sentence-transformers/all-MiniLM-L6-v2"),
                     qa, 10)
    allowed = {(qa.queries[q], qa.corpus[c]) for q, chunks in top10.items() for c in chunks}
    assert len(RecordingReranker.calls) == 10 * len(qa.queries)
    assert set(RecordingReranker.calls) == allowed
    # and no-reranker keeps minilm's first 5
    assert {q: ranked(d) for q, d in read_trec(out / "runs" / "minilm.trec").items()} == {
        q: c[:5] for q, c in top10.items()}

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"] == "rag"
    assert manifest["dataset"]["name"] == "demo_qa"
    assert manifest["dataset"]["counts"]["questions"] == len(qa.queries)
    assert manifest["protocol"] == {"retrieve_k": 10, "rerank_k": 5, "hit_rate": "Success@5", "mrr": "RR@5"}
    assert manifest["systems"]["minilm>>recorder"]["rerank_depth"] == 10
    # a pair left out by choice is recorded as the pipeline records it, not as a model that failed
    assert manifest["skipped"] == []
    assert manifest["pairs_not_run"] == [{"system": "minilm>>biencoder",
                                          "model": "sentence-transformers/all-MiniLM-L6-v2"}]
    assert manifest["systems"]["minilm>>recorder"]["score_cache"] == "miss"  # the pipeline's score cache
    # the config is what the suite reads, nothing of the retrieval study's (dataset, first_stage, top_k, ...)
    assert set(manifest["config"]) == set(CONFIG_KEYS)
    assert "seed" not in manifest
    summary = (out / "summary.md").read_text()
    assert "| minilm | recorder |" in summary and "Average over embedding models" in summary
    assert load_qa_json(out / "qa_dataset.json").to_json_dict() == qa.to_json_dict()


def test_unavailable_models_are_skipped_with_a_reason(compose, tiny_beir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    cfg = compose(
        "suite=rag", "reranker=[biencoder]", "suite.source=beir", f"suite.path={tiny_beir}",
        "suite.embeddings.bge-base.model=./no-such-model",
        "suite.embeddings.jina-v2-base.model=./no-such-jina",
        "+suite.embeddings.api._target_=bench.suites.rag.embedders.ApiEmbedder",
        "+suite.embeddings.api.model=text-embedding-3-small", "+suite.embeddings.api.api_key_env=NO_SUCH_KEY",
        "reranker.biencoder.model=./no-such-reranker",
    )
    with open_dict(cfg):
        cfg.reranker.recorder = {"_target_": "tests.suites.rag_fakes.RecordingReranker", "name": "recorder"}
    run(cfg, out_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    skipped = {(s["kind"], s["system"]): s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {("embedding", "bge-base"), ("embedding", "jina-v2-base"), ("embedding", "api"),
                            ("reranker", "biencoder")}
    assert "no-such-model" in skipped[("embedding", "bge-base")]
    assert "NO_SUCH_KEY is not set" in skipped[("embedding", "api")]
    assert set(pd.read_csv(tmp_path / "metrics.csv").system) == {"minilm", "minilm>>recorder"}
    assert {s["config"] for s in manifest["skipped"]} == {
        "suite.embeddings.bge-base", "suite.embeddings.jina-v2-base", "suite.embeddings.api", "reranker.biencoder"}
    printed = capsys.readouterr().out
    # one block, as the pipeline prints it; the kind tells an embedding from a reranker
    assert printed.count("skipped 1 reranker and 3 embedding models whose model or service is unavailable here:\n") == 1
    assert re.search(r"\n  embedding api +the environment variable NO_SUCH_KEY is not set\n", printed)
    assert re.search(r"\n  reranker biencoder +\S", printed)
    assert "  embedding api: export NO_SUCH_KEY=" in printed


def test_beir_folder_through_the_suite(compose, tiny_beir, tmp_path):
    cfg = compose("suite=rag", "reranker=none", *ONLY_MINILM, "suite.source=beir", f"suite.path={tiny_beir}")
    run(cfg, out_dir=tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert set(metrics.dataset) == {"tiny"} and set(metrics.system) == {"minilm"}
    # 4 documents: every relevant one is in the top 5, and MiniLM puts "cats purr" / "dogs bark" first
    assert metrics.set_index("measure").value.to_dict() == {"Success@5": 1.0, "RR@5": 1.0}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["dataset"]["kind"] == "beir" and manifest["dataset"]["split"] == "test"
    assert manifest["dataset"]["counts"] == {"questions": 2, "chunks": 4, "relevant_pairs": 2}
    assert load_qa_json(tmp_path / "qa_dataset.json").relevant_docs == {"q1": ["d1"], "q2": ["d2"]}


@pytest.mark.slow
def test_cranfield_through_the_cli(cranfield, tmp_path):
    relative = Path("..") / cranfield.relative_to(REPO_ROOT.parent)
    command = [sys.executable, "-m", "bench", "suite=rag", "reranker=none", *ONLY_MINILM,
               "suite.source=beir", f"suite.path={relative}", f"hydra.run.dir={tmp_path}"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| minilm | none |" in done.stdout
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert set(metrics.dataset) == {"cranfield"} and set(metrics.system) == {"minilm"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # every non-empty document is a chunk (Cranfield has two empty ones); 225 judged queries
    left_out = manifest["dataset"]["report"]["left_out"]
    assert manifest["dataset"]["counts"]["chunks"] == 1400 - left_out["empty_documents"]
    assert manifest["dataset"]["counts"]["questions"] == 225 - left_out["questions_without_relevant"]
    assert 0.3 < metrics.set_index(["system", "measure"]).value[("minilm", "Success@5")] <= 1.0


def test_relative_paths_resolve_against_the_working_directory_then_the_repository_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert path_in_cwd_or_repo("pyproject.toml") == REPO_ROOT / "pyproject.toml"
    (tmp_path / "pyproject.toml").write_text("")
    assert path_in_cwd_or_repo("pyproject.toml") == Path("pyproject.toml")
    assert path_in_cwd_or_repo("../shared/data/cranfield") in (Path("../shared/data/cranfield"),
                                                               REPO_ROOT / "../shared/data/cranfield")


def test_settings_given_from_python_are_checked_too():
    with pytest.raises(InputError, match=r"unknown config key suite.retreive_k. Did you mean 'retrieve_k'\?"):
        RagSettings.from_params({"retreive_k": 5})
    with pytest.raises(InputError, match=r"unknown config key suite.zzz. Known keys: chunk_overlap, chunk_size"):
        RagSettings.from_params({"zzz": 1})
    with pytest.raises(InputError, match=r"suite.source='bier' is not one of qa, documents, beir. Did you mean 'beir'"):
        RagSettings.from_params({"source": "bier"})


def test_the_suite_reads_only_its_own_keys_of_the_composed_config(compose):
    cfg = compose("suite=rag", "reranker=[biencoder]", "device=cpu")
    view = suite_config(cfg)
    assert set(view) == set(CONFIG_KEYS)
    assert view.reranker.biencoder.device == "cpu"  # interpolations of shared settings still resolve
    for key in ("dataset", "first_stage", "top_k", "rerank_depth", "remove_self_hits", "measures"):
        assert key in cfg and key not in view
        with pytest.raises(AttributeError):
            getattr(view, key)


def test_bad_settings_and_bad_qa_files_are_errors(compose, tmp_path):
    with pytest.raises(InputError, match=r"suite.retreive_k\b.*Did you mean 'retrieve_k'\?"):
        run(compose("suite=rag", "reranker=none", "+suite.retreive_k=5"), out_dir=tmp_path)
    with pytest.raises(InputError, match=r"suite.source='?bier'?\b.* one of qa, documents, beir. Did you mean 'beir'"):
        run(compose("suite=rag", "reranker=none", "suite.source=bier"), out_dir=tmp_path)
    with pytest.raises(ValueError, match="rerank_k"):
        run(compose("suite=rag", "reranker=none", "suite.rerank_k=20"), out_dir=tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"queries": {"q1": "Why?"}, "corpus": {"c1": "Because."},
                               "relevant_docs": {"q1": ["c2"]}, "mode": "text"}))
    with pytest.raises(QADatasetError, match="unknown chunk ids.*'q1' -> 'c2'"):
        run(compose("suite=rag", "reranker=none", f"suite.path={bad}"), out_dir=tmp_path)


# ------------------------------------------------------------------------------------------------
# Embedding backends.


class EmbeddingServer(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        EmbeddingServer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if body["model"] == "missing":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"error": "no such model"}')
            return
        # a vector per text from its letters, returned out of order (the API gives an index)
        data = [{"index": i, "embedding": [float(t.count(c)) for c in "abcdefgh"] + [1.0]}
                for i, t in enumerate(body["input"])][::-1]
        payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def embedding_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbeddingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    EmbeddingServer.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_api_embedder_against_a_mock_server(embedding_server, monkeypatch):
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    embedder = ApiEmbedder(name="api", model="m", api_base=embedding_server, api_key_env="TEST_EMBED_KEY",
                           batch_size=2)
    vectors = embedder.encode_documents(["aaa", "bbb", "ab"])
    assert vectors.shape == (3, 9)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors[0, 0] > vectors[0, 1] and vectors[1, 1] > vectors[1, 0]  # rows in input order
    assert [len(r["input"]) for r in EmbeddingServer.requests] == [2, 1]
    assert EmbeddingServer.requests[0]["path"] == "/v1/embeddings"
    assert EmbeddingServer.requests[0]["auth"] == "Bearer sk-test"
    missing = ApiEmbedder(name="api", model="missing", api_base=embedding_server, api_key_env="TEST_EMBED_KEY")
    with pytest.raises(ModelUnavailable, match="HTTP 404"):
        missing.encode_queries(["x"])


def test_jinabert_embedder_uses_the_native_encoder(tmp_path):
    from tests.checkpoints import make_jinabert_checkpoint

    folder = make_jinabert_checkpoint(tmp_path / "jina-emb", prefix="", layers=2, hidden=32, heads=4, intermediate=64)
    embedder = JinaBertEmbedder(name="jina", model=str(folder), device="cpu")
    vectors = embedder.encode_documents(["heat transfer", "the quick brown fox"])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.identity()["source"] == "local"


# ------------------------------------------------------------------------------------------------
# Tables.


def test_tables_by_system_and_average_by_reranker():
    metrics = pd.DataFrame(
        [("d", s, m, v) for s, (hit, mrr) in {
            "e5": (0.6, 0.4), "e5>>jina-tiny": (0.9, 0.7), "bge": (0.7, 0.5), "bge>>jina-tiny": (0.8, 0.6),
        }.items() for m, v in (("Success@5", hit), ("RR@5", mrr))],
        columns=["dataset", "system", "measure", "value"],
    )
    systems = report.by_system(metrics, hit="Success@5", mrr="RR@5", embeddings=["bge", "e5"], rerankers=["jina-tiny"])
    assert systems.values.tolist() == [["bge", "none", 0.7, 0.5], ["bge", "jina-tiny", 0.8, 0.6],
                                       ["e5", "none", 0.6, 0.4], ["e5", "jina-tiny", 0.9, 0.7]]
    averages = report.by_reranker(systems, published={"jina-tiny": {"hit_rate": 0.8316, "mrr": 0.6761}})
    row = averages.set_index("reranker").loc["jina-tiny"]
    assert row["hit rate"] == pytest.approx(0.85) and row["MRR"] == pytest.approx(0.65)
    assert row["embeddings"] == "bge, e5" and row["published hit rate"] == 0.8316
    text = report.render(metrics, hit="Success@5", mrr="RR@5", title="t", embeddings=["bge", "e5"],
                         rerankers=["jina-tiny"], published={"jina-tiny": {"hit_rate": 0.8316, "mrr": 0.6761}})
    assert "| jina-tiny | 0.8500 | 0.6500 | bge, e5 | 0.8316 | 0.6761 |" in text
    assert "| none | 0.6500 | 0.4500 | bge, e5 |  |  |" in text
