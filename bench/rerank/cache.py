"""Reranker scores cached on disk per (model identity, dataset, first-stage run).

A re-run of the same reranker over the same candidates reads the scores instead of loading
the model. A cache file that does not cover every pair is ignored (and overwritten).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.data.cache import cache_dir
from bench.data.records import Run


def score_cache_path(key: str) -> Path:
    return cache_dir() / "scores" / f"{key}.json"


def load_scores(key: str, wanted: Run) -> Run | None:
    path = score_cache_path(key)
    if not path.is_file():
        return None
    try:
        cached: Run = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    for qid, docs in wanted.items():
        have = cached.get(qid, {})
        if any(d not in have for d in docs):
            return None
    return {qid: {d: float(cached[qid][d]) for d in docs} for qid, docs in wanted.items()}


def save_scores(key: str, scores: Run) -> None:
    path = score_cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(scores))
    tmp.replace(path)
