"""Cranfield from ../shared: bench's BM25 number equals a direct bm25s + ir-measures run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bm25s
import ir_measures
import pandas as pd
import pytest
import Stemmer

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def direct_bm25_ndcg10(folder: Path, *, remove_self_hits: bool) -> float:
    """bm25s used as its README shows, with bench's parameters, evaluated by ir-measures directly."""
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines() if line.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (folder / "queries.jsonl").read_text().splitlines())}
    lines = (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]  # BEIR: header, then qid docid score
    qrels = [ir_measures.Qrel(q, d, int(s)) for q, d, s in (line.split("\t") for line in lines if line.strip())]
    judged = {q.query_id for q in qrels}
    docs.sort(key=lambda d: d["_id"])
    stemmer = Stemmer.Stemmer("english").stemWords
    texts = [f"{d['title']} {d['text']}" if d["title"] and d["text"] else d["title"] or d["text"] for d in docs]
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    qids = [q for q in queries if q in judged]
    tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    strings = [[{i: t for t, i in tokens.vocab.items()}[i] for i in ids] for ids in tokens.ids]
    hits, scores = retriever.retrieve(strings, k=101, show_progress=False)
    run = []
    for row, qid in enumerate(qids):
        ranked = [(docs[int(i)]["_id"], float(s)) for i, s in zip(hits[row], scores[row], strict=True) if s > 0]
        if remove_self_hits:  # BEIR's convention: a document whose id equals the query id is no hit
            ranked = [(d, s) for d, s in ranked if d != qid]
        run.extend(ir_measures.ScoredDoc(qid, d, s) for d, s in ranked[:100])
    return ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]


@pytest.mark.parametrize(("setting", "removes"), [("true", True), ("false", False), ("auto", False)])
def test_cli_bm25_equals_direct_bm25s_to_four_decimals(cranfield, tmp_path, setting, removes):
    # Cranfield numbers queries 1..225 and documents 1..1400: the BEIR self-hit rule would remove 13 real
    # hits (one judged relevant), so `auto` keeps them for a local folder and says so; `true` forces removal.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "dataset=local", f"dataset.path={cranfield}", "reranker=none",
         "first_stage=bm25", f"remove_self_hits={setting}", f"output_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    ours = metrics[(metrics.system == "bm25") & (metrics.measure == "nDCG@10")].value.item()
    assert round(ours, 4) == round(direct_bm25_ndcg10(cranfield, remove_self_hits=removes), 4)
    assert metrics.dataset.unique().tolist() == ["cranfield"]
    assert ("removed 13 retrieved documents" in done.stdout) == removes
    assert ("kept 13 retrieved documents" in done.stdout) == (setting == "auto")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["systems"]["bm25"]["self_hits"]["removed"] is removes
    assert manifest["systems"]["bm25"]["self_hits"]["found"] == 13
