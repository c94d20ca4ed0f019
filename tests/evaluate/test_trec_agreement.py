"""The numbers in metrics.csv and per_query.csv agree with the runs/*.trec files they sit beside.

A study is run on a run full of ties (at rank 1 between a relevant and a non-relevant document,
across the cut-offs at 10 and 100, and between scores that differ only past the sixth decimal or
past single precision). Its TREC files are then evaluated twice, from the files alone:

- by pytrec_eval (trec_eval), which ranks by the scores in the file;
- by the small implementation below, which takes the ranks from the order of the lines.

Both must give back the written values to 1e-9.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest
import pytrec_eval

from bench.data.records import Dataset, Document, Qrels, Run
from bench.first_stage.run_file import read_trec_run
from bench.pipeline import run

MEASURES = ["nDCG@10", "RR@10", "R@100", "AP@100", "Success@1", "Success@5", "Success@10"]
#: candidates kept per query: q5's 130 documents are cut inside a group of equal scores
TOP_K = 120


def tied_run() -> tuple[Run, Qrels]:
    """Runs and qrels made to tie everywhere it matters."""
    run: Run = {
        # a (relevant) and b (not) tie at rank 1
        "q1": {"a": 1.0, "b": 1.0, "c": 0.5},
        # eight documents tie across rank 10: ranks 7..14 all score 0.3
        "q2": {**{f"top{i}": 1.0 - i / 100 for i in range(6)}, **{f"t{i}": 0.3 for i in range(8)}, "z": 0.1},
        # equal to six decimals only: 0.1234561 and 0.1234564 must stay apart
        "q3": {"x1": 0.1234561, "x2": 0.1234564, "x3": 0.1234560, "x4": 0.05},
        # equal in single precision only (trec_eval reads a C float): a tie, broken by id descending
        "q4": {"p": 0.5 + 1e-12, "r": 0.5, "s": 0.25},
    }
    rng = random.Random(7)
    # 130 documents in groups of seven equal scores: ties across rank 100 and across top_k = 120 as well
    run["q5"] = {f"d{i:03d}": float(130 - i // 7 * 7) for i in rng.sample(range(130), 130)}
    qrels: Qrels = {
        "q1": {"a": 1, "c": 0},
        "q2": {"t2": 1, "t6": 2, "top3": 1, "missing": 1},
        "q3": {"x1": 1, "x3": 2},
        "q4": {"p": 1},
        "q5": {f"d{i:03d}": 1 + i % 3 for i in range(0, 130, 4)},
        "q6": {"never": 1},  # judged but not retrieved: 0 on every measure
    }
    return run, qrels


class FixedStage:
    """A first stage that returns a fixed run."""

    name = "tied"

    def __init__(self, fixed: Run) -> None:
        self.fixed = fixed

    def index(self, corpus: Mapping[str, Document]) -> None:
        pass

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        return {q: dict(self.fixed.get(q, {})) for q in queries}

    def info(self) -> dict[str, object]:
        return {"kind": "fixed"}


def tied_dataset(fixed: Run, qrels: Qrels) -> Dataset:
    ids = {d for docs in fixed.values() for d in docs} | {d for docs in qrels.values() for d in docs}
    corpus = {d: Document(d, "", f"text of {d}") for d in sorted(ids)}
    return Dataset("ties", "test", corpus, {q: f"query {q}" for q in qrels}, qrels)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Qrels, Run]:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bench.paths import CONFIG_DIR

    fixed, qrels = tied_run()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["first_stage=[]", "reranker=none", "cache=false",
                                                       f"top_k={TOP_K}", f"measures=[{','.join(MEASURES)}]"])
    OmegaConf.update(cfg, "first_stage", {}, force_add=True)  # only the supplied first stage runs
    out = tmp_path_factory.mktemp("ties")
    run(cfg, out_dir=out, dataset=tied_dataset(fixed, qrels), first_stages={"tied": FixedStage(fixed)}, show=False)
    return out, qrels, fixed


# --- from the file's line order -----------------------------------------------------------------


def ranks_from_file(path: Path) -> dict[str, list[str]]:
    """Each query's documents in the order of the file's lines; the rank column must count 1, 2, ..."""
    ranked: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, doc, rank, _, _ = line.split()
        docs = ranked.setdefault(qid, [])
        docs.append(doc)
        assert int(rank) == len(docs), f"{path}: rank {rank} of {doc} is not the line's position"
    return ranked


def by_hand(judged: Mapping[str, int], docs: list[str]) -> dict[str, float]:
    """trec_eval's definitions (relevant: grade >= 1; gain: the grade; discount log2(rank + 1))."""
    grade = [judged.get(d, 0) for d in docs]
    relevant = sum(1 for g in judged.values() if g >= 1)
    first = next((i + 1 for i, g in enumerate(grade[:10]) if g >= 1), None)
    ideal = sorted(judged.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    hits, precision_sum = 0, 0.0
    for i, g in enumerate(grade[:100]):
        if g >= 1:
            hits += 1
            precision_sum += hits / (i + 1)
    values = {
        "nDCG@10": sum(g / math.log2(i + 2) for i, g in enumerate(grade[:10])) / idcg if idcg else 0.0,
        "RR@10": 1 / first if first else 0.0,
        "R@100": hits / relevant if relevant else 0.0,
        "AP@100": precision_sum / relevant if relevant else 0.0,
    }
    for k in (1, 5, 10):
        values[f"Success@{k}"] = float(any(g >= 1 for g in grade[:k]))
    return values


# --- from the file's scores, through trec_eval ----------------------------------------------------

TREC_EVAL = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "AP@100": "map_cut_100", "Success@1": "success_1",
             "Success@5": "success_5", "Success@10": "success_10"}


def by_trec_eval(qrels: Qrels, path: Path) -> dict[tuple[str, str], float]:
    file_run = read_trec_run(path)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map_cut.100",
                                                       "success.1,5,10", "recip_rank"})
    found = evaluator.evaluate(file_run)
    values: dict[tuple[str, str], float] = {}
    for qid in qrels:
        measured = found.get(qid)  # trec_eval leaves out a query with nothing retrieved: 0, as bench
        for ours, theirs in TREC_EVAL.items():
            values[(ours, qid)] = measured[theirs] if measured else 0.0
        rr = measured["recip_rank"] if measured else 0.0
        values[("RR@10", qid)] = rr if rr >= 1 / 10 else 0.0  # recip_rank has no cut-off: beyond 10 is 0
    return values


def written(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_csv(out / "metrics.csv"),
            pd.read_csv(out / "per_query.csv", dtype={"query_id": str}))


def test_the_file_order_gives_back_every_written_value(study):
    out, qrels, _ = study
    metrics, per_query = written(out)
    ranked = ranks_from_file(out / "runs" / "tied.trec")
    expected = {(m, q): v for q in qrels for m, v in by_hand(qrels[q], ranked.get(q, [])).items()}
    got = {(r.measure, r.query_id): r.value for r in per_query.itertuples()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    for row in metrics.itertuples():
        mean = sum(v for (m, _), v in expected.items() if m == row.measure) / len(qrels)
        assert row.value == pytest.approx(mean, abs=1e-9), row.measure


def test_trec_eval_on_the_file_gives_back_every_written_value(study):
    out, qrels, _ = study
    _, per_query = written(out)
    expected = by_trec_eval(qrels, out / "runs" / "tied.trec")
    got = {(r.measure, r.query_id): r.value for r in per_query.itertuples()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def test_the_file_is_in_trec_eval_order_with_scores_at_full_precision(study):
    out, _, fixed = study
    ranked = ranks_from_file(out / "runs" / "tied.trec")
    assert ranked["q1"] == ["b", "a", "c"]  # tie at 1.0: id descending
    assert ranked["q2"][6:] == [f"t{i}" for i in range(7, -1, -1)] + ["z"]
    assert ranked["q3"] == ["x2", "x1", "x3", "x4"]  # apart although equal to six decimals
    assert ranked["q4"] == ["r", "p", "s"]  # equal as C floats: trec_eval ties them, so bench does
    # the cut at top_k keeps the documents ranked first: of the tied group across it, the highest ids
    assert ranked["q5"] == sorted(fixed["q5"], key=lambda d: (fixed["q5"][d], d), reverse=True)[:TOP_K]
    kept = {q: {d: fixed[q][d] for d in docs} for q, docs in ranked.items()}
    assert read_trec_run(out / "runs" / "tied.trec") == kept  # every score read back exactly


def test_the_rank_1_tie_gives_one_answer_to_rr_and_success(study):
    out, _, _ = study
    _, per_query = written(out)
    q1 = per_query[per_query.query_id == "q1"].set_index("measure").value
    # b (not relevant) is first, a second: RR@10 = 1/2 and Success@1 = 0, never RR@10 = 1 beside Success@1 = 0
    assert (q1["RR@10"], q1["Success@1"], q1["Success@5"]) == (0.5, 0.0, 1.0)
