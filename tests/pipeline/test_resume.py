"""Long studies that finish: resume after kill -9, damaged caches recomputed, concurrent runs, run dirs,
progress and logs. Pipeline-level; the store's own checks are in tests/store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.pipeline import run
from bench.store.entries import sha256_file

REPO = Path(__file__).resolve().parents[2]
HASH = ["+reranker.hash._target_=tests.pipeline.fakes.HashReranker", "+reranker.hash.name=hash"]


def _bench(args: list[str], cache: Path, *, cwd: Path = REPO, env: dict[str, str] | None = None,
           wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    full_env = {**os.environ, "BENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO),
                **(env or {})}
    command = [sys.executable, "-m", "bench", *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def _outputs(folder: Path) -> dict[str, bytes]:
    """The files whose content must not depend on how the run got its scores."""
    names = ["metrics.csv", "per_query.csv", *[f"runs/{p.name}" for p in sorted((folder / "runs").glob("*.trec"))]]
    return {name: (folder / name).read_bytes() for name in names}


# ------------------------------------------------------------------------------------------------
# Damaged cache entries of every kind are moved aside and recomputed.


def _resign(entry: Path) -> None:
    record = json.loads((entry / "entry.json").read_text())
    for name in record["files"]:
        record["files"][name] = {"bytes": (entry / name).stat().st_size, "sha256": sha256_file(entry / name)}
    if "shape" in record:
        record["shape"] = list(np.load(entry / "data.npy").shape)
    (entry / "entry.json").write_text(json.dumps(record))


def _drop_a_row(entry: Path) -> None:
    np.save(entry / "data.npy", np.load(entry / "data.npy")[:-1])
    _resign(entry)


def _nan(entry: Path, name: str = "data.npy") -> None:
    array = np.load(entry / name).astype(np.float32)
    array.reshape(-1)[0] = np.nan
    np.save(entry / name, array)
    _resign(entry)


def _bm25_fewer_documents(entry: Path) -> None:
    record = json.loads((entry / "entry.json").read_text())
    record["documents"] -= 1
    (entry / "entry.json").write_text(json.dumps(record))


ARRAY_DAMAGE = {
    "truncated": lambda e: (e / "data.npy").write_bytes((e / "data.npy").read_bytes()[:-7]),
    "wrong rows": _drop_a_row,
    "nan": _nan,
    "garbage": lambda e: (e / "data.npy").write_bytes(os.urandom((e / "data.npy").stat().st_size)),
    "empty": lambda e: (e / "data.npy").write_bytes(b""),
}
BM25_DAMAGE = {
    "truncated": lambda e: (e / "data.csc.index.npy").write_bytes((e / "data.csc.index.npy").read_bytes()[:-9]),
    "wrong rows": _bm25_fewer_documents,
    "nan": lambda e: _nan(e, "data.csc.index.npy"),
    "garbage": lambda e: (e / "vocab.index.json").write_bytes(b"{not json" * 10),
    "empty": lambda e: (e / "vocab.index.json").write_bytes(b""),
}


def _entry(cache: Path, kind: str) -> Path:
    if kind == "bm25":
        [entry] = sorted((cache / "bm25").iterdir())
        return entry
    shards = sorted((cache / kind).glob("*/shard-00001-of-*"))
    assert shards, f"no second shard under {cache / kind}"
    return shards[0]


@pytest.mark.parametrize("damage", sorted(ARRAY_DAMAGE))
@pytest.mark.parametrize("kind", ["bm25", "embeddings", "scores"])
def test_a_damaged_cache_entry_is_reported_moved_aside_and_recomputed(compose, tiny_beir, tmp_path, kind, damage,
                                                                       _isolated_cache, capsys):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25,dense]", "reranker=none", *HASH,
                  "shard.queries=1", "shard.documents=2")
    run(cfg, out_dir=tmp_path / "clean")
    entry = _entry(_isolated_cache, kind)
    (BM25_DAMAGE if kind == "bm25" else ARRAY_DAMAGE)[damage](entry)

    run(cfg, out_dir=tmp_path / "after")
    assert _outputs(tmp_path / "after") == _outputs(tmp_path / "clean")
    manifest = json.loads((tmp_path / "after" / "manifest.json").read_text())
    [problem] = manifest["cache_entries_quarantined"]
    assert problem["path"] == str(entry) and problem["reason"]
    assert Path(problem["moved_to"]).parent == _isolated_cache / "quarantine"
    assert "failed verification" in (tmp_path / "after" / "bench.log").read_text()
    assert "1 cache entries failed verification" in capsys.readouterr().out
    if kind != "bm25":
        counts = [s["shards"] for s in manifest["systems"].values() if "shards" in s and s["shards"]["quarantined"]]
        assert [c["computed"] for c in counts] == [1]

    run(cfg, out_dir=tmp_path / "third")  # the recomputed entry is good: everything reused, nothing moved
    third = json.loads((tmp_path / "third" / "manifest.json").read_text())
    assert third["cache_entries_quarantined"] == []
    assert all(s["shards"]["computed"] == 0 for s in third["systems"].values() if "shards" in s)


def test_non_finite_scores_stop_the_run_and_are_never_cached(compose, tiny_beir, tmp_path, _isolated_cache):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none",
                  "+reranker.nan._target_=tests.pipeline.fakes.NanReranker", "+reranker.nan.name=nan",
                  "shard.queries=1")
    with pytest.raises(ValueError, match=r"non-finite scores in shard 1 \(first: query 'q2'"):
        run(cfg, out_dir=tmp_path)
    [folder] = (_isolated_cache / "scores").iterdir()
    assert sorted(p.name for p in folder.glob("shard-*")) == ["shard-00000-of-00002"]


def test_cache_false_writes_no_shards(compose, tiny_beir, tmp_path, _isolated_cache):
    cfg = compose("dataset=local", f"dataset.path={tiny_beir}", "first_stage=bm25", "reranker=none", *HASH,
                  "cache=false", "shard.queries=1")
    run(cfg, out_dir=tmp_path)
    assert not (_isolated_cache / "scores").exists()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["systems"]["bm25>>hash"]["score_cache"] == "off"
    assert manifest["systems"]["bm25>>hash"]["shards"] == {"total": 2, "computed": 2, "reused": 0, "quarantined": 0}


# ------------------------------------------------------------------------------------------------
# kill -9 and resume.

STUDY = ["dataset=demo", "first_stage=bm25", "reranker=none", *HASH, "shard.queries=2"]  # 40 queries: 20 shards


@pytest.mark.parametrize("kill_after", [1, 9])
def test_a_run_killed_at_any_moment_resumes_with_identical_results(tmp_path, kill_after):
    cache = tmp_path / "cache"
    victim = _bench([*STUDY, f"output_dir={tmp_path / 'killed'}"], cache, env={"BENCH_TEST_DELAY": "0.25"},
                    wait=False)
    scores = cache / "scores"
    deadline = time.monotonic() + 120
    while len(list(scores.glob("*/shard-*"))) < kill_after:
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    done_before = len(list(scores.glob("*/shard-*")))
    assert 1 <= done_before < 20

    resumed = _bench([*STUDY, f"output_dir={tmp_path / 'resumed'}"], cache)
    assert resumed.returncode == 0, resumed.stderr
    clean = _bench([*STUDY, f"output_dir={tmp_path / 'clean'}"], tmp_path / "other-cache")
    assert clean.returncode == 0, clean.stderr
    assert _outputs(tmp_path / "resumed") == _outputs(tmp_path / "clean")
    shards = json.loads((tmp_path / "resumed" / "manifest.json").read_text())["systems"]["bm25>>hash"]["shards"]
    assert shards == {"total": 20, "computed": 20 - done_before, "reused": done_before, "quarantined": 0}
    assert f"{done_before} shards" in resumed.stderr  # the reuse is said, not only recorded


# ------------------------------------------------------------------------------------------------
# Concurrency and run directories.


def test_two_identical_runs_at_once_share_one_cache_safely(tmp_path, tiny_beir):
    cache = tmp_path / "cache"
    args = ["dataset=local", f"dataset.path={tiny_beir}", "first_stage=[bm25,dense]", "reranker=none", *HASH,
            "shard.queries=1", "shard.documents=2"]
    runs = [_bench([*args, f"output_dir={tmp_path / name}"], cache, wait=False) for name in ("a", "b")]
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")
    assert not (cache / "quarantine").exists()
    again = _bench([*args, f"output_dir={tmp_path / 'c'}"], cache)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert again.returncode == 0 and manifest["cache_entries_quarantined"] == []
    assert all(s["shards"]["computed"] == 0 for s in manifest["systems"].values() if "shards" in s)


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path):
    procs = [_bench(["dataset=demo", "first_stage=bm25", "reranker=none", f"top_k={k}"], tmp_path / "cache",
                    cwd=tmp_path, wait=False) for k in (10, 20)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    folders = sorted((tmp_path / "reports" / "runs").iterdir())
    assert len(folders) == 2
    top_ks = sorted(json.loads((f / "manifest.json").read_text())["config"]["top_k"] for f in folders)
    assert top_ks == [10, 20]
    for folder in folders:
        assert (folder / "metrics.csv").is_file() and (folder / "bench.log").stat().st_size > 0


# ------------------------------------------------------------------------------------------------
# Progress on stderr, the table on stdout, stage lines in bench.log.


def test_progress_goes_to_stderr_the_table_to_stdout_and_stages_to_the_log(tmp_path):
    cache = tmp_path / "cache"
    first = _bench([*STUDY, f"output_dir={tmp_path / 'one'}"], cache)
    assert first.returncode == 0, first.stderr
    assert "| bm25>>hash |" in first.stdout and "pair/s" not in first.stdout and "loading" not in first.stdout
    assert "rerank bm25>>hash" in first.stderr and "pair/s" in first.stderr
    for line in ("loading dataset demo", "loaded demo: 175 documents, 40 queries", "indexing bm25: 175 documents",
                 "searching bm25: 40 queries", "reranking bm25>>hash: 1250 pairs in 20 shards of 2 queries, 0 shards",
                 "evaluating bm25>>hash"):
        assert line in first.stderr
        assert line in (tmp_path / "one" / "bench.log").read_text()

    quiet = _bench([*STUDY, f"output_dir={tmp_path / 'two'}", "quiet=true"], cache)
    assert quiet.returncode == 0 and "| bm25>>hash |" in quiet.stdout
    assert "pair/s" not in quiet.stderr and "loading" not in quiet.stderr
    log = (tmp_path / "two" / "bench.log").read_text()
    assert "index reused from the cache" in log and "every shard reused from the cache" in log
    metrics = pd.read_csv(tmp_path / "two" / "metrics.csv")
    assert set(metrics.system) == {"bm25", "bm25>>hash"}
