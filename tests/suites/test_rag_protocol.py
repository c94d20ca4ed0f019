"""The protocol on a fixture small enough to check by hand: retrieve 10, rerank to 5, hit rate and MRR.

Fixture: 12 chunks c01..c12, one relevant chunk per question. The fake embedding model ranks

    q1: relevant c03 at rank 1     q2: relevant c05 at rank 3
    q3: relevant c07 at rank 8     q4: relevant c12 at rank 11 (outside the top 10)

No reranker (first 5):       hit rate (1 + 1 + 0 + 0) / 4 = 0.5      MRR (1 + 1/3) / 4 = 1/3
Oracle reranker (relevant first): q1, q2, q3 at rank 1, q4 not retrievable: 3/4 and 3/4
Reversing reranker (top 10 reversed): q1 -> rank 10, q2 -> rank 8, q3 -> rank 3: 1/4 and (1/3) / 4
"""

from __future__ import annotations

import random

import pytest

from bench.evaluate.measures import aggregate, evaluate
from bench.pipeline import RunLog
from bench.suites.rag.qa import QASet, save_qa_json
from bench.suites.rag.run import RagSettings, as_run, evaluate_protocol, rerank_top, retrieve, run_suite
from tests.suites.rag_fakes import RankingEmbedder, RecordingReranker

CHUNKS = [f"c{i:02d}" for i in range(1, 13)]
RELEVANT = {"q1": "c03", "q2": "c05", "q3": "c07", "q4": "c12"}


def order_with(relevant: str, rank: int) -> list[str]:
    others = [c for c in CHUNKS if c != relevant]
    return others[: rank - 1] + [relevant] + others[rank - 1 :]


@pytest.fixture
def qa() -> QASet:
    return QASet(
        name="tiny",
        queries={q: f"question {q}" for q in RELEVANT},
        corpus={c: f"text of {c}" for c in CHUNKS},
        relevant_docs={q: [c] for q, c in RELEVANT.items()},
    )


@pytest.fixture
def embedder(qa: QASet) -> RankingEmbedder:
    ranks = {"q1": 1, "q2": 3, "q3": 8, "q4": 11}
    return RankingEmbedder(name="fake", qa=qa, orders={q: order_with(RELEVANT[q], r) for q, r in ranks.items()})


def oracle(qa: QASet):
    relevant_texts = {(qa.queries[q], qa.corpus[c]) for q, c in RELEVANT.items()}
    return lambda q, d: 1.0 if (q, d) in relevant_texts else 0.0


def metric(results, system: str) -> dict[str, float]:
    (result,) = [r for r in results if r.system == system]
    return aggregate(result.per_query)


def test_hit_rate_and_mrr_equal_hand_computed_values(qa, embedder):
    results = evaluate_protocol(
        qa, {"fake": embedder},
        {"oracle": RecordingReranker(name="oracle", score_fn=oracle(qa)),
         "flat": RecordingReranker(name="flat", score_fn=lambda q, d: 0.0)},
        settings=RagSettings(), log=RunLog(), cache=False,
    )
    assert metric(results, "fake") == pytest.approx({"Success@5": 0.5, "RR@5": 1 / 3})
    assert metric(results, "fake>>oracle") == pytest.approx({"Success@5": 0.75, "RR@5": 0.75})
    # all-equal scores keep the embedding's order: the same numbers as no reranker
    assert metric(results, "fake>>flat") == pytest.approx({"Success@5": 0.5, "RR@5": 1 / 3})


def test_a_reversing_reranker_reorders_only_the_top_10(qa, embedder):
    candidates_rank: dict[tuple[str, str], int] = {}
    for q, order in embedder.order_of_text.items():
        for rank, chunk in enumerate(order, start=1):
            candidates_rank[(q, qa.corpus[chunk])] = rank
    reverse = RecordingReranker(name="reverse", score_fn=lambda q, d: float(candidates_rank[(q, d)]))
    results = evaluate_protocol(qa, {"fake": embedder}, {"reverse": reverse}, settings=RagSettings(),
                                log=RunLog(), cache=False)
    assert metric(results, "fake>>reverse") == pytest.approx({"Success@5": 0.25, "RR@5": (1 / 3) / 4})


def test_a_reranker_never_sees_chunks_outside_the_embedding_top_10(qa, embedder):
    recorder = RecordingReranker(name="oracle", score_fn=oracle(qa))
    evaluate_protocol(qa, {"fake": embedder}, {"oracle": recorder}, settings=RagSettings(), log=RunLog(),
                      cache=False)
    top10 = {(qa.queries[q], qa.corpus[c]) for q in RELEVANT for c in embedder.order_of_text[qa.queries[q]][:10]}
    assert len(recorder.seen) == 4 * 10
    assert set(recorder.seen) == top10
    assert (qa.queries["q4"], qa.corpus["c12"]) not in set(recorder.seen)


def test_retrieve_and_rerank_depths_follow_the_settings(qa, embedder):
    recorder = RecordingReranker(name="oracle", score_fn=oracle(qa))
    settings = RagSettings(retrieve_k=8, rerank_k=3)
    results = evaluate_protocol(qa, {"fake": embedder}, {"oracle": recorder}, settings=settings, log=RunLog(),
                                cache=False)
    assert len(recorder.seen) == 4 * 8
    # q3's chunk is at rank 8: inside the 8 the reranker sees, so the oracle lifts it to rank 1
    assert metric(results, "fake>>oracle") == pytest.approx({"Success@3": 0.75, "RR@3": 0.75})
    assert metric(results, "fake") == pytest.approx({"Success@3": 0.5, "RR@3": 1 / 3})


def test_retrieval_is_the_dense_search_over_cached_shards(qa, embedder, _isolated_cache):
    expected = {q: order[:10] for q, order in ((q, embedder.order_of_text[text]) for q, text in qa.queries.items())}
    assert retrieve(embedder, qa, 10, cache=False) == expected
    assert embedder.encoded_documents == len(CHUNKS)
    assert retrieve(embedder, qa, 10, name="fake", shard_documents=5) == expected  # 12 chunks: 3 shards
    [store] = (_isolated_cache / "embeddings").iterdir()
    assert len(list(store.glob("shard-*-of-00003"))) == 3
    # the same embedder (identity) again: every chunk vector comes from the store, the ranking is the same
    again = RankingEmbedder(name="fake", qa=qa, orders={q: embedder.order_of_text[t] for q, t in qa.queries.items()})
    assert retrieve(again, qa, 10, shard_documents=5) == expected
    assert again.encoded_documents == 0


def test_retrieval_shards_follow_the_shard_setting(compose, qa, embedder, tmp_path, _isolated_cache):
    cfg = compose("suite=rag", "reranker=none", "shard.documents=4")
    save_qa_json(qa, tmp_path / "tiny.json")
    run_suite(cfg=cfg, out_dir=tmp_path / "out", show=False, source="qa", path=str(tmp_path / "tiny.json"),
              embeddings={"fake": embedder})
    [store] = (_isolated_cache / "embeddings").iterdir()
    assert len(list(store.glob("shard-*-of-00003"))) == 3  # 12 chunks in shards of 4


def test_ties_in_reranker_scores_keep_the_retrieval_order(qa):
    dataset = qa.as_dataset()
    candidates = {"q1": ["c09", "c02", "c05", "c01"]}
    flat = RecordingReranker(score_fn=lambda q, d: 0.0)
    ranking, status = rerank_top(flat, dataset, candidates, 3)
    assert ranking == {"q1": ["c09", "c02", "c05"]}
    assert status is None


def llamaindex_hit_rate(retrieved: list[str], expected: set[str]) -> float:
    """LlamaIndex's HitRate (non-granular): 1 when any expected id was retrieved."""
    return 1.0 if any(doc in expected for doc in retrieved) else 0.0


def llamaindex_mrr(retrieved: list[str], expected: set[str]) -> float:
    """LlamaIndex's MRR (non-granular): 1 / rank of the first expected id, 0 when none."""
    for rank, doc in enumerate(retrieved, start=1):
        if doc in expected:
            return 1.0 / rank
    return 0.0


def test_ir_measures_agrees_with_llamaindex_definitions_on_random_rankings():
    rng = random.Random(0)
    docs = [f"d{i}" for i in range(30)]
    rankings = {f"q{i}": rng.sample(docs, 5) for i in range(200)}
    relevant = {q: set(rng.sample(docs, rng.randint(1, 3))) for q in rankings}
    qrels = {q: {d: 1 for d in rel} for q, rel in relevant.items()}
    values = evaluate(qrels, as_run(rankings), ["Success@5", "RR@5"])
    by = {(v.measure, v.query_id): v.value for v in values}
    for q, retrieved in rankings.items():
        assert by[("Success@5", q)] == llamaindex_hit_rate(retrieved, relevant[q])
        assert by[("RR@5", q)] == pytest.approx(llamaindex_mrr(retrieved, relevant[q]))


def test_llamaindex_metric_classes_agree_when_installed():
    metrics = pytest.importorskip("llama_index.core.evaluation")
    rng = random.Random(1)
    docs = [f"d{i}" for i in range(20)]
    for _ in range(50):
        retrieved = rng.sample(docs, 5)
        expected = rng.sample(docs, rng.randint(1, 2))
        run = as_run({"q": retrieved})
        values = {v.measure: v.value for v in evaluate({"q": {d: 1 for d in expected}}, run, ["Success@5", "RR@5"])}
        assert values["Success@5"] == metrics.HitRate().compute(expected_ids=expected, retrieved_ids=retrieved).score
        assert values["RR@5"] == pytest.approx(metrics.MRR().compute(expected_ids=expected,
                                                                   retrieved_ids=retrieved).score)


def test_as_run_scores_encode_the_order_exactly():
    run = as_run({"q": ["b", "a", "c"]})
    assert sorted(run["q"], key=lambda d: -run["q"][d]) == ["b", "a", "c"]
