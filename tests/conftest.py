"""Fixtures shared by every test folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    """A BEIR folder small enough to check by hand.

    corpus:  d1 Cats / d2 Dogs / d3 Birds / d4 (no title) Fish
    queries: q1 "why do cats purr", q2 "dogs barking", q3 "morning birdsong"
    qrels/test.tsv:  q1-d1 1, q2-d2 2, q2-d1 0      -> split "test" evaluates q1 and q2
    qrels/train.tsv: q3-d3 1                         -> q3 counts as a query without test qrels
    """
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "Cats purr when they are happy."},
        {"_id": "d2", "title": "Dogs", "text": "Dogs bark at strangers."},
        {"_id": "d3", "title": "Birds", "text": "Birds sing in the morning."},
        {"_id": "d4", "title": "", "text": "Fish swim in water."},
    ]
    queries = [
        {"_id": "q1", "text": "why do cats purr"},
        {"_id": "q2", "text": "dogs barking"},
        {"_id": "q3", "text": "morning birdsong"},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    header = "query-id\tcorpus-id\tscore\n"
    (folder / "qrels" / "test.tsv").write_text(header + "q1\td1\t1\nq2\td2\t2\nq2\td1\t0\n", encoding="utf-8")
    (folder / "qrels" / "train.tsv").write_text(header + "q3\td3\t1\n", encoding="utf-8")
    return folder


REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own BENCH_CACHE and never reaches the model hub."""
    cache = tmp_path_factory.mktemp("bench-cache")
    monkeypatch.setenv("BENCH_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def compose():
    """Compose the real Hydra config tree with overrides, as `bench` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture
def cranfield() -> Path:
    """The Cranfield collection from ../shared; the test skips when it is absent."""
    folder = SHARED / "data" / "cranfield"
    if not (folder / "corpus.jsonl").is_file():
        pytest.skip(f"{folder} is absent (../shared is only beside the project in CI and dev machines)")
    return folder
