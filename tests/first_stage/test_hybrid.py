"""Reciprocal rank fusion worked by hand on fixed component runs, then on the shipped demo set.

RRF (Cormack et al. 2009), k = 60, ranks from 1:

    bm25:  a b c d          a = 1/61 + 1/62    c = 1/63 + 1/61    b = 1/62    e = 1/63    d = 1/64
    dense: c a e            fused: a c b e d
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from bench.data.records import Document, Run
from bench.data.sources import demo
from bench.evaluate.measures import aggregate, evaluate
from bench.first_stage.base import FirstStage
from bench.first_stage.bm25 import BM25
from bench.first_stage.dense import Dense
from bench.first_stage.hybrid import Hybrid, reciprocal_rank_fusion


class FakeStage:
    """Returns fixed runs (best first): doc i of a list scores n - i. Records every top_k it is asked for."""

    def __init__(self, name: str, lists: Mapping[str, list[str]], *, honour_top_k: bool = True) -> None:
        self.name = name
        self.lists = {q: list(docs) for q, docs in lists.items()}
        self.honour_top_k = honour_top_k
        self.asked: list[int] = []
        self.indexed = 0

    def index(self, corpus: Mapping[str, Document]) -> None:
        self.indexed = len(corpus)

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        self.asked.append(top_k)
        out: Run = {}
        for q in queries:
            docs = self.lists.get(q, [])
            docs = docs[:top_k] if self.honour_top_k else docs
            out[q] = {d: float(len(docs) - i) for i, d in enumerate(docs)}
        return out

    def info(self) -> dict[str, object]:
        return {"kind": "fake", "name": self.name}


def hybrid(bm25: Mapping[str, list[str]], dense: Mapping[str, list[str]], **kwargs) -> Hybrid:
    return Hybrid(components={"bm25": FakeStage("bm25", bm25), "dense": FakeStage("dense", dense)}, **kwargs)


def ranking(docs: Mapping[str, float]) -> list[str]:
    return sorted(docs, key=lambda d: (-docs[d], d))


def test_is_a_first_stage_and_fakes_are_too():
    assert isinstance(FakeStage("x", {}), FirstStage)
    assert isinstance(hybrid({}, {}), FirstStage)


def test_rrf_equals_the_hand_computed_scores():
    run = hybrid({"q1": ["a", "b", "c", "d"]}, {"q1": ["c", "a", "e"]}).search({"q1": "?"}, top_k=10)
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "e": 1 / 63, "d": 1 / 64}
    assert list(run["q1"]) == ["a", "c", "b", "e", "d"]  # best first
    assert run["q1"] == pytest.approx(expected, rel=1e-6, abs=0)  # float32: 7 significant digits


def test_k_decides_whether_agreement_beats_one_first_place():
    # y is third in both lists; x and q are first in one list each
    lists = ({"q": ["x", "p", "y"]}, {"q": ["q", "r", "y"]})
    # k = 60: 2/63 for y beats 1/61 for a single first place (ties: document id descending)
    assert list(hybrid(*lists, k=60).search({"q": "?"}, top_k=5)["q"]) == ["y", "x", "q", "r", "p"]
    # k = 0: 1/1 beats 2/3
    assert list(hybrid(*lists, k=0).search({"q": "?"}, top_k=5)["q"]) == ["x", "q", "y", "r", "p"]


def test_ties_are_broken_by_document_id_descending_and_every_evaluator_sees_that_order():
    # b first in bm25 only, a first in dense only: both 1/61; x and y both 1/62 (trec_eval's rule: id descending)
    run = hybrid({"q": ["b", "x"]}, {"q": ["a", "y"]}).search({"q": "?"}, top_k=10)
    assert list(run["q"]) == ["b", "a", "y", "x"]
    scores = np.asarray(list(run["q"].values()), dtype=np.float32)
    assert (np.diff(scores) < 0).all()  # strictly decreasing, even in single precision
    assert run["q"] == pytest.approx({"a": 1 / 61, "b": 1 / 61, "x": 1 / 62, "y": 1 / 62}, rel=1e-6, abs=0)
    assert ranking(run["q"]) == ["b", "a", "y", "x"]
    # ir-measures' providers break exact ties their own (and different) ways; these scores leave them none
    for relevant, rr, ndcg in (("b", 1.0, 1.0), ("a", 0.5, 1 / math.log2(3)), ("y", 1 / 3, 0.5)):
        values = aggregate(evaluate({"q": {relevant: 1}}, run, ["RR@10", "nDCG@10"]))
        assert values == pytest.approx({"RR@10": rr, "nDCG@10": ndcg})


def test_ties_inside_a_component_are_ranked_by_document_id_descending():
    fused, sources = reciprocal_rank_fusion({"one": {"m": 1.0, "l": 1.0, "n": 2.0}}, k=60)
    assert fused == pytest.approx({"n": 1 / 61, "m": 1 / 62, "l": 1 / 63}, rel=1e-6)
    assert list(fused) == ["n", "m", "l"] and sources == {"n": ("one",), "l": ("one",), "m": ("one",)}


def test_input_order_does_not_change_the_result():
    forward = reciprocal_rank_fusion({"a": {"d1": 2.0, "d2": 1.0}, "b": {"d3": 5.0, "d1": 4.0}})
    backward = reciprocal_rank_fusion({"b": {"d1": 4.0, "d3": 5.0}, "a": {"d2": 1.0, "d1": 2.0}})
    assert list(forward[0].items()) == list(backward[0].items())


def test_components_retrieve_depth_but_at_least_top_k_and_the_fused_list_keeps_top_k():
    bm25, dense = FakeStage("bm25", {"q": list("abcdefgh")}), FakeStage("dense", {"q": list("hgfedcba")})
    fusion = Hybrid(components={"bm25": bm25, "dense": dense}, depth=5)
    assert len(fusion.search({"q": "?"}, top_k=3)["q"]) == 3
    assert len(fusion.search({"q": "?"}, top_k=8)["q"]) == 8
    assert bm25.asked == dense.asked == [5, 8]
    assert fusion.search({}, top_k=3) == {} and bm25.asked == [5, 8]  # nothing asked for no queries


def test_only_the_first_depth_candidates_of_a_component_count():
    # a component that returns more than it was asked for: ranks beyond depth are ignored
    long = FakeStage("bm25", {"q": ["a", "b", "c", "d"]}, honour_top_k=False)
    fusion = Hybrid(components={"bm25": long, "dense": FakeStage("dense", {"q": ["e", "f", "g"]})}, depth=2)
    run = fusion.search({"q": "?"}, top_k=2)
    assert list(run["q"]) == ["e", "a"]  # both 1/61: id descending
    assert set(fusion.search({"q": "?"}, top_k=1)["q"]) == {"e"}
    full = fusion.search({"q": "?"}, top_k=10)["q"]  # depth 10 now: every candidate counts
    assert set(full) == set("abcdefg")


def test_provenance_counts_where_the_fused_top_k_came_from():
    fusion = hybrid({"q1": ["a", "b", "c"], "q2": ["e"]}, {"q1": ["a", "d"], "q2": ["f", "e"]})
    run = fusion.search({"q1": "?", "q2": "?"}, top_k=2)
    # q1: a in both (2/61), then b and d tie at 1/62 -> d (id descending).  q2: e in both (1/61 + 1/62), f (1/61)
    assert {q: list(d) for q, d in run.items()} == {"q1": ["a", "d"], "q2": ["e", "f"]}
    info = fusion.info()
    assert info["provenance"] == {"all": 2, "only bm25": 0, "only dense": 2}
    assert info["queries"] == 2


def test_provenance_with_three_components_names_the_partial_overlaps():
    fusion = Hybrid(components=[FakeStage("one", {"q": ["a", "b"]}), FakeStage("two", {"q": ["a", "b"]}),
                                FakeStage("three", {"q": ["a", "c"]})])
    fusion.search({"q": "?"}, top_k=3)
    assert fusion.info()["provenance"] == {"all": 1, "one+two": 1, "only one": 0, "only two": 0, "only three": 1}


def test_info_records_the_fusion_and_each_component():
    fusion = hybrid({"q": ["a"]}, {"q": ["b"]}, k=20, depth=7)
    fusion.index({"d": Document("d", "", "text")})
    fusion.search({"q": "?"}, top_k=3)
    info = fusion.info()
    assert {key: info[key] for key in ("kind", "fusion", "k", "depth")} == {
        "kind": "hybrid", "fusion": "rrf", "k": 20, "depth": 7}
    assert info["components"] == {"bm25": {"kind": "fake", "name": "bm25"}, "dense": {"kind": "fake", "name": "dense"}}
    assert all(stage.indexed == 1 for stage in fusion.components.values())
    json.dumps(info)


def test_components_from_configs_and_defaults():
    built = Hybrid(components={"lexical": {"_target_": "bench.first_stage.bm25.BM25", "name": "lexical", "k1": 1.2},
                               "dense": None})  # null switches a component off
    assert list(built.components) == ["lexical"] and built.components["lexical"].params["k1"] == 1.2
    default = Hybrid()
    assert {name: type(stage) for name, stage in default.components.items()} == {"bm25": BM25, "dense": Dense}
    assert (default.k, default.depth) == (60, 100)


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="no components"):
        Hybrid(components={"bm25": None})
    with pytest.raises(ValueError, match="two components are named 'x'"):
        Hybrid(components=[FakeStage("x", {}), FakeStage("x", {})])
    with pytest.raises(ValueError, match="_target_"):
        Hybrid(components={"bm25": {"k1": 1.2}})
    with pytest.raises(TypeError, match="not a first stage"):
        Hybrid(components={"bm25": object()})
    with pytest.raises(ValueError, match="depth"):
        Hybrid(components=[FakeStage("x", {})], depth=0)


def test_the_config_builds_the_standalone_first_stages(compose):
    cfg = compose("first_stage=[bm25,dense,hybrid]", "reranker=none", "shard.documents=7", "cache=false")
    components = cfg.first_stage.hybrid.components
    # the same settings as first_stage=bm25 / first_stage=dense, hence the same index caches
    assert components.bm25 == cfg.first_stage.bm25 and components.dense == cfg.first_stage.dense
    built = instantiate(cfg.first_stage.hybrid)
    assert isinstance(built, Hybrid) and (built.name, built.k, built.depth) == ("hybrid", 60, 100)
    assert isinstance(built.components["bm25"], BM25) and isinstance(built.components["dense"], Dense)
    assert built.components["dense"].shard_documents == 7 and built.components["bm25"].cache is False


def test_on_the_demo_set_hybrid_differs_from_both_components_and_reuses_their_caches():
    dataset = demo()
    runs: dict[str, Run] = {}
    for stage in (BM25(), Dense(device="cpu")):
        stage.index(dataset.corpus)
        runs[stage.name] = stage.search(dataset.queries, top_k=100)
    fusion = Hybrid(components={"bm25": BM25(), "dense": Dense(device="cpu")})
    fusion.index(dataset.corpus)
    runs["hybrid"] = fusion.search(dataset.queries, top_k=100)
    info = fusion.info()
    assert info["components"]["bm25"]["cache_hit"] and info["components"]["dense"]["cache_hit"]
    # the fused run is RRF of the standalone runs
    for q, docs in runs["hybrid"].items():
        fused, _ = reciprocal_rank_fusion({"bm25": runs["bm25"][q], "dense": runs["dense"][q]}, depth=100)
        assert list(docs) == list(fused)[:100]
    ndcg = {name: aggregate(evaluate(dataset.qrels, run, ["nDCG@10"]))["nDCG@10"] for name, run in runs.items()}
    assert abs(ndcg["hybrid"] - ndcg["bm25"]) > 1e-3 and abs(ndcg["hybrid"] - ndcg["dense"]) > 1e-3, ndcg
    assert sum(info["provenance"].values()) == sum(len(d) for d in runs["hybrid"].values())


def test_bench_runs_hybrid_beside_bm25_and_dense(compose, tiny_beir, tmp_path):
    from bench.pipeline import run

    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25,dense,hybrid]", "reranker=none")
    metrics = run(cfg, out_dir=tmp_path)
    assert set(metrics.system) == {"bm25", "dense", "hybrid"}
    assert set(pd.read_csv(tmp_path / "metrics.csv").system) == {"bm25", "dense", "hybrid"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    info = manifest["systems"]["hybrid"]["info"]
    assert info["kind"] == "hybrid" and set(info["components"]) == {"bm25", "dense"}
    assert info["components"]["bm25"]["cache_hit"]  # indexed by first_stage=bm25 earlier in the run
    assert (tmp_path / "runs" / "hybrid.trec").is_file()
