"""Measured against published: OK within a tolerance, OFF with the delta, or not comparable and why.

Published numbers come from two places: each reranker's `facts.published` in the run
manifests (from the model zoo YAML) and the data files beside this module
(`published_bm25.yaml`, `protocols.yaml`). A number is compared only when the dataset set,
split and protocol match; otherwise its row says "not comparable" and gives the reason.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench.report.load import MAIN_MEASURE, RAG_SUITE, RETRIEVAL_SUITE, Results
from bench.report.tables import DASH, Table, fmt

HERE = Path(__file__).parent
OK, OFF, NOT_COMPARABLE = "OK", "OFF", "not comparable"
COLUMNS = ["benchmark", "system", "dataset", "source", "published", "measured", "delta", "status", "reason"]


@cache
def _data(name: str) -> dict[str, Any]:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def protocols() -> dict[str, Any]:
    return _data("protocols.yaml")


def published_bm25() -> dict[str, Any]:
    return _data("published_bm25.yaml")["sources"]


def canonical_dataset(name: str) -> str:
    """`beir/dbpedia/test`, `DBpedia`, `dbpedia-entity` -> `dbpedia-entity`."""
    text = name.strip().lower().replace("_", "-")
    for prefix in ("beir/", "beir-", "beir:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    for suffix in ("/test", "/dev", "/train"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return protocols()["beir"]["aliases"].get(text, text)


def published_split(dataset: str) -> str:
    splits = protocols()["beir"]["split"]
    return splits.get(canonical_dataset(dataset), splits["default"])


def unit(value: float) -> float:
    """Published scores come as 0-1 or ×100; reports use 0-1."""
    return float(value) / 100.0 if float(value) > 1.0 else float(value)


def judge(published: float, measured: float, tolerance: float) -> tuple[float, str]:
    delta = measured - published
    return delta, (OK if abs(delta) <= tolerance + 1e-12 else OFF)


def _row(benchmark: str, system: str, dataset: str, source: str, published: float, measured: float,
         tolerance: float, reason: str = "", problem: str = "") -> dict[str, object]:
    """A compared row, or a not-comparable one when `problem` says why."""
    row = {"benchmark": benchmark, "system": system, "dataset": dataset, "source": source,
           "published": published, "measured": measured}
    if problem or np.isnan(measured):
        return row | {"delta": np.nan, "status": NOT_COMPARABLE, "reason": problem or "not measured"}
    delta, status = judge(published, measured, tolerance)
    return row | {"delta": delta, "status": status, "reason": reason}


def _split_problem(results: Results, dataset: str) -> tuple[str, str]:
    """(problem, caveat): a split that differs from the published one, or a note that it is unknown."""
    split = (results.dataset_meta.get(dataset) or {}).get("split")
    wanted = published_split(dataset)
    if split is None:
        return "", f"split not recorded (published: {wanted})"
    if str(split) != wanted:
        return f"published on the {wanted} split; this run used {split}", ""
    return "", ""


def _reranker_beir(results: Results, tolerance: float) -> list[dict[str, object]]:
    """Each reranker system's nDCG@10 against its published BEIR average and per-dataset table."""
    metrics = results.metrics
    frame = metrics[(metrics["suite"] == RETRIEVAL_SUITE) & (metrics["measure"] == MAIN_MEASURE)]
    rows: list[dict[str, object]] = []
    for system, mine in frame.groupby("system", sort=True):
        info = results.system(str(system))
        if info.reranker is None or not info.published:
            continue
        protocol = _protocol_problem(info.first_stage, mine["depth"].iloc[0])
        values = mine.set_index("dataset")["value"]
        if "beir_ndcg10_avg" in info.published:
            rows.append(_beir_average_row(str(system), info.published, values, tolerance, protocol))
        rows += _beir_dataset_rows(results, str(system), info.published, values, tolerance, protocol)
    return rows


def _protocol_problem(first_stage: str, depth: float) -> str:
    """Why a run's reranking differs from the published protocol (BM25 top-100), or ''."""
    usual = protocols()["reranker_beir"]
    if first_stage.lower().startswith(usual["first_stage"]) and depth == usual["depth"]:
        return ""
    depth_text = DASH if np.isnan(depth) else str(int(depth))
    return (f"published numbers rerank {usual['first_stage'].upper()} top-{usual['depth']}; "
            f"this run reranks {first_stage} top-{depth_text}")


def _beir_average_row(system: str, published: dict[str, Any], values: pd.Series, tolerance: float,
                      protocol: str) -> dict[str, object]:
    """The mean over the run's datasets against the published BEIR average, when the dataset sets can match."""
    count = published.get("beir_datasets")
    names = sorted(values.index)
    listing = ", ".join(names)
    if count is None:
        problem = "the published average does not say over how many datasets"
    elif len(names) != int(count):
        problem = f"published average is over {int(count)} BEIR datasets; the runs cover {len(names)} ({listing})"
    elif not {canonical_dataset(n) for n in names} <= set(protocols()["beir"]["datasets"]):
        problem = f"the runs include non-BEIR datasets ({listing})"
    else:
        problem = protocol
    return _row("BEIR nDCG@10 average", system, f"{len(names)} datasets", "model card",
                unit(published["beir_ndcg10_avg"]), float(values.mean()), tolerance,
                f"the {count} published datasets are not named; the counts match", problem)


def _beir_dataset_rows(results: Results, system: str, published: dict[str, Any], values: pd.Series,
                       tolerance: float, protocol: str) -> list[dict[str, object]]:
    """Each of the run's datasets against the published per-dataset table (none when there is no table)."""
    table = {canonical_dataset(k): unit(v) for k, v in (published.get("beir_ndcg10") or {}).items()}
    source = str(published.get("beir_ndcg10_source") or "model zoo")
    rows: list[dict[str, object]] = []
    for dataset, measured in (values.items() if table else ()):
        key = canonical_dataset(str(dataset))
        if key not in table:
            rows.append(_row("BEIR nDCG@10", system, str(dataset), source, np.nan, float(measured),
                             tolerance, problem="dataset not in the published table"))
            continue
        split_problem, caveat = _split_problem(results, str(dataset))
        rows.append(_row("BEIR nDCG@10", system, str(dataset), source, table[key], float(measured),
                         tolerance, caveat, split_problem or protocol))
    return rows


def _bm25_params_problem(info: dict[str, Any], params: dict[str, float] | None) -> tuple[str, str]:
    if not params:
        return "", "the source does not state k1/b"
    mine = {key: info.get(key) for key in params}
    if any(value is None for value in mine.values()):
        return "", "this run does not record k1/b"
    if any(abs(float(mine[key]) - float(params[key])) > 1e-9 for key in params):
        theirs = " ".join(f"{k}={v}" for k, v in params.items())
        ours = " ".join(f"{k}={v}" for k, v in mine.items())
        return f"source uses {theirs}; this run {ours}", ""
    return "", ""


def _bm25(results: Results, tolerance: float) -> list[dict[str, object]]:
    metrics = results.metrics
    frame = metrics[(metrics["suite"] == RETRIEVAL_SUITE) & (metrics["measure"] == MAIN_MEASURE)]
    sources = published_bm25()
    rows: list[dict[str, object]] = []
    for system, mine in frame.groupby("system", sort=True):
        info = results.system(str(system))
        if info.reranker is not None or not info.first_stage.lower().startswith("bm25"):
            continue
        for dataset, measured in mine.set_index("dataset")["value"].items():
            key = canonical_dataset(str(dataset))
            having = {name: source for name, source in sources.items() if key in source["ndcg10"]}
            if not having:
                rows.append(_row("BM25 nDCG@10", str(system), str(dataset), "BEIR paper, Pyserini, bm25s",
                                 np.nan, float(measured), tolerance,
                                 problem="dataset not in any published BM25 table"))
                continue
            split_problem, split_caveat = _split_problem(results, str(dataset))
            for name, source in having.items():
                params_problem, params_caveat = _bm25_params_problem(info.info, source.get("params"))
                caveats = "; ".join(filter(None, [source.get("protocol", ""), params_caveat, split_caveat]))
                rows.append(_row("BM25 nDCG@10", str(system), str(dataset), name, float(source["ndcg10"][key]),
                                 float(measured), tolerance, caveats, split_problem or params_problem))
    return rows


def _canonical_embedding(name: str) -> str | None:
    lowered = name.strip().lower()
    for canonical, aliases in protocols()["rag_blog"]["embeddings"].items():
        names = {a.lower() for a in aliases} | {a.lower().rsplit("/", 1)[-1] for a in aliases}
        if lowered in names or lowered.rsplit("/", 1)[-1] in names:
            return canonical
    return None


def _rag(results: Results, tolerance: float) -> list[dict[str, object]]:
    frame = results.metrics[results.metrics["suite"] == RAG_SUITE]
    blog = protocols()["rag_blog"]
    rows: list[dict[str, object]] = []
    if frame.empty:
        return rows
    frame = frame.assign(
        embedding=[results.system(s).first_stage for s in frame["system"]],
        reranker=[results.system(s).reranker for s in frame["system"]],
    )
    for (dataset, reranker), mine in frame.dropna(subset=["reranker"]).groupby(["dataset", "reranker"]):
        published: dict[str, Any] = {}
        for system in mine["system"].unique():
            published |= results.system(str(system)).published
        if not published:
            continue
        meta = results.dataset_meta.get(str(dataset)) or {}
        known_set = (canonical_dataset(str(dataset)) in blog["qa_sets"]
                     or blog["paper_id"] in str(meta.get("source", "")))
        embeddings = {e: _canonical_embedding(e) for e in mine["embedding"].unique()}
        wanted = set(blog["embeddings"])
        chosen = [e for e, c in embeddings.items() if c in wanted]
        covered = {embeddings[e] for e in chosen}
        problems = []
        if not known_set:
            problems.append(f"blog QA set is LLM-generated questions on the Llama 2 paper (arXiv {blog['paper_id']}); "
                            f"this is `{dataset}`")
        if covered != wanted:
            problems.append(f"blog averages over {', '.join(sorted(wanted))}; these runs use "
                            f"{', '.join(sorted(embeddings))}")
        use = chosen if covered == wanted else sorted(embeddings)
        for prefix, label, key in (("Success@", "hit rate", "hit_rate"), ("RR@", "MRR", "mrr")):
            values = mine[mine["measure"].str.startswith(prefix) & mine["embedding"].isin(use)]
            cutoffs = sorted({m.split("@")[1] for m in values["measure"]})
            measured = float(values["value"].mean()) if len(values) else np.nan
            extra = [] if cutoffs in ([], ["5"]) else [f"blog measures at 5 after reranking; runs at {cutoffs}"]
            problem = "; ".join(problems + extra)
            name = f"{reranker} over {len(use)} embedding(s)"
            if isinstance(published.get("rag_blog"), dict) and key in published["rag_blog"]:
                rows.append(_row(f"RAG {label} (blog)", name, str(dataset), blog["title"],
                                 unit(published["rag_blog"][key]), measured, tolerance,
                                 "average over the blog's 3 embeddings", problem))
            if key == "hit_rate" and "rag_hit_rate_card" in published:
                rows.append(_row("RAG hit rate (model card)", name, str(dataset), "model card",
                                 unit(published["rag_hit_rate_card"]), measured, tolerance,
                                 problem=protocols()["rag_card"]["reason"]))
    return rows


def reproduction_rows(results: Results, tolerance: float) -> pd.DataFrame:
    rows = _reranker_beir(results, tolerance) + _bm25(results, tolerance) + _rag(results, tolerance)
    return pd.DataFrame(rows, columns=COLUMNS)


def reproduction_table(results: Results, tolerance: float) -> Table | None:
    data = reproduction_rows(results, tolerance)
    if data.empty:
        return None
    display = data.copy()
    for name in ("published", "measured"):
        display[name] = [fmt(v, 4) for v in data[name]]
    display["delta"] = [fmt(v, 4, signed=True) for v in data["delta"]]
    display["status"] = [f"OFF ({fmt(d, 4, signed=True)})" if s == OFF else s
                         for s, d in zip(data["status"], data["delta"], strict=True)]
    counts = data["status"].value_counts()
    notes = [f"OK: |measured − published| ≤ {tolerance:g}; OFF: further apart (delta shown); not comparable: "
             "the dataset set, split or protocol differs (the reason column says how), so no delta is given. "
             + ", ".join(f"{counts.get(s, 0)} {s}" for s in (OK, OFF, NOT_COMPARABLE)) + "."]
    return Table("reproduction", "Reproduction: measured against published", data, display, None, notes)
