"""The pairs a profile scores: BM25 candidates of a BEIR folder, or a length distribution."""

from __future__ import annotations

from transformers import AutoTokenizer

from bench.profile.architectures import offline_tokenizer_path
from bench.profile.workload import bm25_candidates, synthetic


def test_bm25_candidates_are_grouped_by_query_in_rank_order(tiny_beir):
    workload = bm25_candidates(str(tiny_beir), queries=None, depth=3, cache=False)
    assert list(workload.queries) == ["q1", "q2"]  # q3 has no test qrels
    for index in workload.queries.values():
        assert all(workload.pairs[i][0] for i in index)
        assert len(index) <= 3
    assert workload.doc_ids[workload.queries["q1"][0]] == "d1"  # the cat document first for the cat query
    assert workload.qrels["q1"] == {"d1": 1}
    assert bm25_candidates(str(tiny_beir), queries=1, depth=3, cache=False).describe()["queries"] == 1


def test_synthetic_pairs_have_the_asked_lengths():
    workload = synthetic(queries=2, depth=3, query_tokens=5, doc_lengths=[7, 20, 1])
    tokenizer = AutoTokenizer.from_pretrained(str(offline_tokenizer_path()))
    lengths = [len(tokenizer(q, d)["input_ids"]) for q, d in workload.pairs]
    assert lengths == [5 + n + 3 for n in [7, 20, 1, 7, 20, 1]]
    assert workload.qrels is None and list(workload.queries) == ["q1", "q2"]


def test_synthetic_lognormal_is_seeded():
    a = synthetic(queries=1, depth=5, doc_tokens={"median": 30, "sigma": 0.3, "min": 10, "max": 60}, seed=3)
    b = synthetic(queries=1, depth=5, doc_tokens={"median": 30, "sigma": 0.3, "min": 10, "max": 60}, seed=3)
    assert a.pairs == b.pairs
    assert all(10 <= len(d.split()) <= 60 for _, d in a.pairs)
