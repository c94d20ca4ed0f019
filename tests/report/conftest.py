"""Small synthetic run directories with numbers simple enough to check by hand.

The `runs` fixture is a sweep folder like a Hydra multirun:

    runs/beir/0  nq        bm25, bm25>>jina-tiny, bm25>>bge-base at depth 100 (4 queries)
    runs/beir/1  scifact   the same systems (5 queries; bge-base equals bm25 on every query)
    runs/beir/2  cranfield the same systems (1 query: too few to test)
    runs/depth/0 nq, scifact  bm25>>jina-tiny at depth 50
    runs/rag/0   demo-qa   two embeddings, without and with jina-tiny (suite "rag")
    runs/profile/0         throughput.csv for jina-tiny and bge-base on cpu

Per-query nDCG@10 (metrics.csv holds their means):

    nq:        bm25 .2 .4 .6 .0 (.30)   jina-tiny .5 .6 .7 .2 (.50)   bge-base .3 .5 .6 .2 (.40)
    scifact:   bm25 .5 .7 .9 .6 .8 (.70)   jina-tiny .6 .7 1.0 .6 .9 (.76)   bge-base = bm25
    cranfield: bm25 .1   jina-tiny .3   bge-base .2
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PER_QUERY = {
    "nq": {"bm25": [0.2, 0.4, 0.6, 0.0], "bm25>>jina-tiny": [0.5, 0.6, 0.7, 0.2],
           "bm25>>bge-base": [0.3, 0.5, 0.6, 0.2]},
    "scifact": {"bm25": [0.5, 0.7, 0.9, 0.6, 0.8], "bm25>>jina-tiny": [0.6, 0.7, 1.0, 0.6, 0.9],
                "bm25>>bge-base": [0.5, 0.7, 0.9, 0.6, 0.8]},
    "cranfield": {"bm25": [0.1], "bm25>>jina-tiny": [0.3], "bm25>>bge-base": [0.2]},
}
RECALL = {"nq": 0.8, "scifact": 0.9, "cranfield": 0.5}
JINA_PUBLISHED = {
    "beir_ndcg10_avg": 48.54, "beir_datasets": 17, "loco_ndcg10": 70.29, "rag_hit_rate_card": 85.00,
    "rag_blog": {"hit_rate": 0.8316, "mrr": 0.6761},
    "beir_ndcg10": {"nq": 0.495, "scifact": 0.80}, "beir_ndcg10_source": "synthetic test numbers",
}
FACTS = {
    "bm25": {},
    "jina-tiny": {"params": 33046273, "architecture": "jinabert", "model": "jinaai/jina-reranker-v1-tiny-en",
                  "published": JINA_PUBLISHED},
    "bge-base": {"params": 278044931, "architecture": "xlm-roberta", "model": "BAAI/bge-reranker-base",
                 "published": {"beir_ndcg10_avg": 47.89}},
}


def system_entry(name: str, depth: int | None = 100, **info: Any) -> dict[str, Any]:
    first_stage, _, reranker = name.partition(">>")
    return {"first_stage": first_stage, "reranker": reranker or None,
            "rerank_depth": depth if reranker else None, "info": info,
            "facts": FACTS.get(reranker or first_stage, {})}


def write_run(folder: Path, *, dataset: dict[str, Any] | None, systems: dict[str, Any],
              metrics: list[tuple[str, str, str, float]] = (),
              per_query: list[tuple[str, str, str, str, float]] = (),
              throughput: str | None = None, suite: str | None = None, created: str = "2024-05-01T12:00:00",
              skipped: list[dict[str, str]] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "config": {"seed": 0}, "dataset": dataset, "systems": systems, "skipped": list(skipped),
        "versions": {"python": "3.11"}, "hardware": {"cpu": "test cpu", "cores": 2, "gpu": None, "device": "cpu"},
        "git_commit": "0123456789abcdef", "seed": 0, "created": created,
    }
    if suite:
        manifest["suite"] = suite
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if metrics:
        lines = ["dataset,system,measure,value"] + [f"{d},{s},{m},{v!r}" for d, s, m, v in metrics]
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    if per_query:
        lines = ["dataset,system,measure,query_id,value"] + [f"{d},{s},{m},{q},{v!r}" for d, s, m, q, v in per_query]
        (folder / "per_query.csv").write_text("\n".join(lines) + "\n")
    if throughput:
        (folder / "throughput.csv").write_text(throughput)
    return folder


def beir_run(folder: Path, dataset: str, values: dict[str, list[float]], *, depth: int = 100,
             split: str = "test", created: str = "2024-05-01T12:00:00", recall: float | None = None) -> Path:
    metrics, per_query = [], []
    for system, scores in values.items():
        metrics.append((dataset, system, "nDCG@10", round(float(sum(scores)) / len(scores), 10)))
        metrics.append((dataset, system, "RR@10", round(min(1.0, float(sum(scores)) / len(scores) + 0.1), 10)))
        per_query += [(dataset, system, "nDCG@10", f"q{i + 1}", float(v)) for i, v in enumerate(scores)]
    if recall is not None:
        metrics.append((dataset, "bm25", f"R@{depth}", recall))
    systems = {name: system_entry(name, depth, **({"k1": 0.9, "b": 0.4} if name == "bm25" else {}))
               for name in values}
    return write_run(folder, dataset={"name": dataset, "split": split, "source": "synthetic",
                                      "counts": {"queries": len(next(iter(values.values())))}},
                     systems=systems, metrics=metrics, per_query=per_query, created=created)


THROUGHPUT = """\
system,device,dtype,batch,max_length,k,pairs_per_s,tokens_per_s,p50_ms,p95_ms,p99_ms,peak_mem_mb,flops_per_pair,peak_fraction
jina-tiny,cpu,float32,8,512,,100.0,51200,,,,400,,
jina-tiny,cpu,float32,16,512,,150.0,76800,,,,500,,
jina-tiny,cpu,float32,32,512,,140.0,71680,,,,700,,
jina-tiny,cpu,float32,16,128,,300.0,38400,,,,300,,
jina-tiny,cpu,float32,16,256,,220.0,56320,,,,380,,
jina-tiny,cpu,float32,tok4096,512,,180.0,92160,,,,450,,
jina-tiny,cpu,float32,16,512,100,,,600,700,800,500,,
bge-base,cpu,float32,8,512,,20.0,10240,,,,1500,,
bge-base,cpu,float32,16,512,,25.0,12800,,,,1900,,
bge-base,cpu,float32,16,128,,70.0,8960,,,,1100,,
bge-base,cpu,float32,16,256,,45.0,11520,,,,1400,,
bge-base,cpu,float32,16,512,100,,,3000,3500,3900,1900,,
"""


def rag_run(folder: Path, dataset: str, values: dict[str, tuple[float, float]], **manifest: Any) -> Path:
    metrics = []
    for system, (hit, mrr) in values.items():
        metrics += [(dataset, system, "Success@5", hit), (dataset, system, "RR@5", mrr)]
    systems = {name: system_entry(name, 10) for name in values}
    return write_run(folder, dataset={"name": dataset, "split": "test", "source": manifest.get("source", "demo")},
                     systems=systems, metrics=metrics, suite="rag")


def make_runs(root: Path) -> Path:
    for i, (dataset, values) in enumerate(PER_QUERY.items()):
        beir_run(root / "beir" / str(i), dataset, values, recall=RECALL[dataset])
    beir_run(root / "depth" / "0", "nq", {"bm25>>jina-tiny": [0.4, 0.5, 0.6, 0.3]}, depth=50)
    beir_run(root / "depth" / "1", "scifact", {"bm25>>jina-tiny": [0.6, 0.7, 0.9, 0.6, 0.9]}, depth=50)
    rag_run(root / "rag" / "0", "demo-qa", {
        "bge-small": (0.70, 0.50), "bge-small>>jina-tiny": (0.80, 0.60),
        "e5-small": (0.60, 0.40), "e5-small>>jina-tiny": (0.90, 0.70),
    })
    write_run(root / "profile" / "0", dataset=None, throughput=THROUGHPUT,
              systems={"jina-tiny": {"first_stage": None, "reranker": "jina-tiny", "facts": FACTS["jina-tiny"]},
                       "bge-base": {"first_stage": None, "reranker": "bge-base", "facts": FACTS["bge-base"]}},
              skipped=[{"system": "bm25>>mxbai-base", "reason": "weights not cached", "fix": "run make models"}])
    return root


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return make_runs(tmp_path / "runs")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    """One report over the fixture runs, shared by the tests that only read it."""
    from bench.report import ReportOptions, build_report

    root = make_runs(tmp_path_factory.mktemp("shared") / "runs")
    return build_report([root], root.parent / "report", ReportOptions(baseline="bge-base", resamples=200))


@pytest.fixture
def make_run() -> Callable[..., Path]:
    return write_run


@pytest.fixture
def make_beir_run() -> Callable[..., Path]:
    return beir_run


@pytest.fixture
def make_rag_run() -> Callable[..., Path]:
    return rag_run


@pytest.fixture
def throughput_csv() -> str:
    return THROUGHPUT
