"""bench.data.synthetic: deterministic BEIR-layout collections with real BM25 signal."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.data.beir import read_jsonl
from bench.data.sources import local
from bench.data.synthetic import make_vocabulary, synthetic, synthetic_folder, write_synthetic
from bench.evaluate.measures import aggregate, evaluate

FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")


def _bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = write_synthetic(tmp_path / "a", documents=5000, queries=40, seed=7)
    b = write_synthetic(tmp_path / "b", documents=5000, queries=40, seed=7)

    assert _bytes(a) == _bytes(b)


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    a = _bytes(write_synthetic(tmp_path / "a", documents=500, queries=10, seed=0))
    b = _bytes(write_synthetic(tmp_path / "b", documents=500, queries=10, seed=1))

    for name in FILES:
        assert a[name] != b[name], name


def test_a_longer_collection_starts_with_the_same_documents(tmp_path: Path) -> None:
    """Documents come in fixed blocks with their own random streams: growing the corpus keeps its head."""
    small = (write_synthetic(tmp_path / "s", documents=5000, queries=5, seed=3) / "corpus.jsonl").read_text()
    large = (write_synthetic(tmp_path / "l", documents=9000, queries=5, seed=3) / "corpus.jsonl").read_text()
    # judged documents differ (other positions are drawn), so compare unjudged ones only
    judged = {line.split("\t")[1] for folder in ("s", "l")
              for line in (tmp_path / folder / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    small_docs = {json.loads(x)["_id"]: x for x in small.splitlines()}
    large_docs = {json.loads(x)["_id"]: x for x in large.splitlines()}
    same = [d for d in small_docs if d not in judged]
    assert len(same) > 4900
    assert all(small_docs[d] == large_docs[d] for d in same)


def test_counts_and_layout(tmp_path: Path) -> None:
    folder = write_synthetic(tmp_path / "c", documents=1234, queries=17, judged_per_query=4, doc_length=30)

    docs = [record for _, record in read_jsonl(folder / "corpus.jsonl")]
    queries = [record for _, record in read_jsonl(folder / "queries.jsonl")]
    qrels = (folder / "qrels" / "test.tsv").read_text().splitlines()
    assert len(docs) == 1234 and len({d["_id"] for d in docs}) == 1234
    assert len(queries) == 17
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    assert len(qrels) == 1 + 17 * 4
    lengths = [len(d["text"].split()) for d in docs]
    assert min(lengths) >= 15 and max(lengths) <= 45
    assert all(d["title"] for d in docs)
    grades = [int(line.split("\t")[2]) for line in qrels[1:]]
    assert grades.count(2) == 17 and grades.count(1) == 17 * 3


def test_vocabulary_is_distinct_pronounceable_and_not_stopwords() -> None:
    words = make_vocabulary(30_000)

    assert len(set(words)) == 30_000
    assert all(w.isalpha() and w.islower() and len(w) >= 6 for w in words)
    assert make_vocabulary(500) == words[:500]
    assert len(set(make_vocabulary(250_000))) == 250_000  # three-syllable words beyond 490^2


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need at least"):
        write_synthetic(tmp_path / "x", documents=10, queries=5, judged_per_query=3)


def test_folder_loads_through_local_with_a_clean_report(tmp_path: Path) -> None:
    folder = write_synthetic(tmp_path / "beir", documents=800, queries=12)

    dataset = local(folder)
    report = dataset.report.as_dict()
    assert len(dataset.corpus) == 800 and len(dataset.queries) == 12
    assert sum(len(v) for v in dataset.qrels.values()) == 36
    problems = {k: v for k, v in report.items() if k not in ("checksum", "examples") and v}
    assert problems == {}


def test_synthetic_caches_the_folder_and_loads_it(tmp_path: Path, _isolated_cache: Path) -> None:
    dataset = synthetic(documents=600, queries=6, seed=2)
    folder = synthetic_folder(documents=600, queries=6, seed=2)

    assert folder.parent == _isolated_cache / "synthetic"
    assert dataset.name == "synthetic-600x6-s2" and len(dataset.corpus) == 600
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temporary folder left
    stamp = (folder / "corpus.jsonl").stat().st_mtime_ns
    again = synthetic(documents=600, queries=6, seed=2, name="mine")
    assert again.name == "mine" and again.corpus == dataset.corpus
    assert (folder / "corpus.jsonl").stat().st_mtime_ns == stamp  # reused, not rewritten
    assert synthetic_folder(documents=600, queries=6, seed=3) != folder


def test_dataset_config_builds_a_synthetic_collection(compose) -> None:
    from hydra.utils import instantiate

    cfg = compose("dataset=synthetic", "dataset.documents=300", "dataset.queries=5")
    dataset = instantiate(cfg.dataset)

    assert len(dataset.corpus) == 300 and len(dataset.queries) == 5


def test_bm25_finds_the_judged_documents(tmp_path: Path) -> None:
    from bench.first_stage.bm25 import BM25

    dataset = local(write_synthetic(tmp_path / "bm25", documents=2000, queries=40, seed=0))
    bm25 = BM25(cache=False)
    bm25.index(dataset.corpus)
    run = bm25.search(dataset.queries, top_k=100)
    ndcg = aggregate(evaluate(dataset.qrels, run, ["nDCG@10"]))["nDCG@10"]

    rng = random.Random(0)
    ids = sorted(dataset.corpus)
    shuffled = {q: {d: float(100 - i) for i, d in enumerate(rng.sample(ids, 100))} for q in dataset.queries}
    random_ndcg = aggregate(evaluate(dataset.qrels, shuffled, ["nDCG@10"]))["nDCG@10"]
    assert ndcg > 0.5
    assert ndcg > random_ndcg + 0.4
