"""Bad config values and command-line misuse: each is refused before any work, in one line that names
the key, the value and what is allowed, with exit status 2, no traceback and nothing cached.

Every row runs `bench ...` in this process (tests/errors/harness.py); a row is refused by validation or
by Hydra's composition, so it takes milliseconds once the first row has imported bench.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.errors.harness import cache_files, run_cli


@dataclass(frozen=True)
class Row:
    argv: tuple[str, ...]
    words: tuple[str, ...]   # all in the message line (stderr's last line)
    status: int = 2
    one_line: bool = True    # False: argparse's usage lines come first (the message is still the last line)

    @property
    def id(self) -> str:
        return " ".join(self.argv)[:80] or "(no arguments)"


def row(*argv: str, words: tuple[str, ...] | str, status: int = 2, one_line: bool = True) -> Row:
    return Row(tuple(argv), (words,) if isinstance(words, str) else tuple(words), status, one_line)


STUDY = ("first_stage=bm25", "reranker=none")  # the smallest study, should a row not be refused

ROWS = [
    # --- top-level keys of configs/config.yaml
    row("top_k=0", *STUDY, words=("bench: top_k=0:", "integer >= 1")),
    row("top_k=abc", *STUDY, words=("top_k=abc:", "integer >= 1")),
    row("top_k=1.5", *STUDY, words=("top_k=1.5:", "integer")),
    row("top_k=-5", *STUDY, words="top_k=-5:"),
    row("top_k=${nope}", *STUDY, words=("top_k", "cannot be resolved", "nope")),
    row("rerank_depth=0", *STUDY, words=("rerank_depth=0:", "null", "from 1 to top_k (100)")),
    row("rerank_depth=-3", *STUDY, words=("rerank_depth=-3:", "from 1 to top_k")),
    row("rerank_depth=101", *STUDY, words=("rerank_depth=101:", "top_k (100)")),
    row("rerank_depth=abc", *STUDY, words="rerank_depth=abc:"),
    row("top_k=10", "rerank_depth=20", *STUDY, words=("rerank_depth=20:", "top_k (10)")),
    row("measures=[nDCG@10,nDCG@10]", *STUDY, words=("measures=[nDCG@10,nDCG@10]:", "listed twice")),
    row("measures=[]", *STUDY, words=("measures=[]:", "non-empty list")),
    row("measures=nDCG@10", *STUDY, words=("measures=nDCG@10:", "list of ir-measures names")),
    row("measures=[foo]", *STUDY, words=("measures=[foo]:", "'foo' is not an ir-measures name")),
    row("measures=[nDCG@x]", *STUDY, words=("'nDCG@x'", "Did you mean 'nDCG@10'?")),
    row("shard.queries=0", *STUDY, words=("shard.queries=0:", "integer >= 1")),
    row("shard.documents=-1", *STUDY, words=("shard.documents=-1:", "integer >= 1")),
    row("device=cuda:99", *STUDY, words=("device=cuda:99:", "CUDA")),
    row("device=tpu", *STUDY, words=("device=tpu:", "auto, cpu, cuda")),
    row("dtype=float8", *STUDY, words=("dtype=float8:", "float32, float16, bfloat16")),
    row("remove_self_hits=maybe", *STUDY, words=("remove_self_hits=maybe:", "auto", "true or false")),
    row("cache=maybe", *STUDY, words=("cache=maybe:", "true or false")),
    row("quiet=loud", *STUDY, words=("quiet=loud:", "true or false")),
    # --- selected first stages and rerankers
    row("reranker=jina-tiny", "reranker.jina-tiny.dtype=float8", words=("reranker.jina-tiny.dtype=float8:", "float32")),
    row("reranker=jina-tiny", "reranker.jina-tiny.token_budget=abc", words=("reranker.jina-tiny.token_budget=abc:",
                                                                              '"auto"')),
    row("reranker=bge-base", "reranker.bge-base.batch_size=0", words="reranker.bge-base.batch_size=0:"),
    row("reranker=minilm-l6", "reranker.minilm-l6.max_length=0", words="reranker.minilm-l6.max_length=0:"),
    row("reranker=minilm-l6", "reranker.minilm-l6.device=cuda:99", words="reranker.minilm-l6.device=cuda:99:"),
    row("first_stage=dense", "reranker=none", "first_stage.dense.batch_size=0",
        words="first_stage.dense.batch_size=0:"),
    row("first_stage=dense", "reranker=none", "first_stage.dense.device=gpu", words=("first_stage.dense.device=gpu:",
                                                                                   "auto, cpu")),
    row("first_stage=hybrid", "reranker=none", "first_stage.hybrid.k=0", words=("first_stage.hybrid.k=0:", "> 0")),
    row("first_stage=hybrid", "reranker=none", "first_stage.hybrid.components.bm25=null",
        "first_stage.hybrid.components.dense=null", words=("first_stage.hybrid.components=", "at least one")),
    row("first_stage=run_file", "reranker=none", words=("first_stage.run_file.path=???:", "required")),
    row("first_stage=run_file", "reranker=none", "first_stage.run_file.path={tmp}/no.trec",
        words=("first_stage.run_file.path={tmp}/no.trec:", "no such file")),
    row("executor=ray", "executor.replicas=0", *STUDY, words=("executor.replicas=0:", "integer >= 1")),
    # --- datasets
    row("dataset=local", *STUDY, words=("dataset.path=???:", "required")),
    row("dataset=local", "dataset.path={tmp}/nowhere", *STUDY, words=("dataset.path={tmp}/nowhere:", "no such folder")),
    row("dataset=cqadupstack", *STUDY, words=("dataset.subset=???:", "required")),
    row("dataset=synthetic", "dataset.documents=10", *STUDY, words=("dataset.documents=10:", "100 x 3 = 300")),
    row("dataset=synthetic", "dataset.queries=0", *STUDY, words=("dataset.queries=0:", "integer >= 1")),
    # --- suite=rag
    row("suite=rag", "suite.embeddings=null", words=("suite.embeddings=null:", "switch one off")),
    row("suite=rag", "suite.embeddings.minilm=null", "suite.embeddings.bge-base=null",
        "suite.embeddings.jina-v2-base=null", words=("suite.embeddings=", "at least one embedding model")),
    row("suite=rag", "suite.rerank_k=20", words=("suite.rerank_k=20:", "suite.retrieve_k (10)")),
    row("suite=rag", "suite.source=beri", words=("suite.source=beri:", "Did you mean 'beir'?")),
    row("suite=rag", "suite.source=beir", words=("suite.path=null:", "needs suite.path")),
    row("suite=rag", "+suite.sourc=qa", words=("suite.sourc=qa:", "Did you mean 'source'?")),
    row("suite=rag", "suite.path={tmp}/no.json", words=("suite.path={tmp}/no.json:", "not found")),
    row("suite=rag", "suite.chunk_overlap=-1", words=("suite.chunk_overlap=-1:", "suite.chunk_size (512)")),
    row("suite=rag", "suite.embeddings.minilm.device=cuda:99", words="suite.embeddings.minilm.device=cuda:99:"),
    # --- Hydra's own: overrides it cannot apply
    row("foo=1", words=("bench: foo=1:", "'foo' is not a key", "+foo=1")),
    row("top_kk=5", words=("top_kk=5:", "Did you mean 'top_k'?")),
    row("dataset=nope", words=("dataset=nope:", "no such config in configs/dataset/", "scifact")),
    row("dataset=scifct", words=("dataset=scifct:", "Did you mean 'scifact'?")),
    row("reranker=[jina-tiny,nope]", words=("reranker=nope:", "configs/reranker/", "minilm-l6")),
    row("top_k=[1", words=("top_k=[1:", "cannot read this override")),
    row("+top_k=3", words=("top_k", "already")),
    # --- subcommands and flags
    row("--bogus", words=("bench: error:", "--bogus"), one_line=False),
    row("report", words=("bench report: error:", "RUN_DIR"), one_line=False),
    row("report", "{tmp}/nowhere", words=("bench report:", "{tmp}/nowhere", "no such directory")),
    row("report", "{tmp}", "--resamples", "abc", words=("--resamples", "invalid int value"), one_line=False),
    row("report", "{tmp}", "--test", "z", words=("--test", "invalid choice"), one_line=False),
    row("aggregate", words=("bench aggregate: error:", "dirs"), one_line=False),
    row("aggregate", "{tmp}/nowhere", words=("bench aggregate:", "{tmp}/nowhere")),
    row("aggregate", "{tmp}", words=("bench aggregate:", "no metrics.csv under {tmp}")),
    row("profile", "foo=1", words=("bench profile: foo=1:", "'foo' is not a key")),
    row("profile", "profile=nope", words=("bench profile: profile=nope:", "smoke")),
]


def test_the_table_is_large_and_has_no_repeated_rows():
    assert len(ROWS) >= 40
    assert len({r.argv for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("case", ROWS, ids=[r.id for r in ROWS])
def test_a_bad_input_is_refused_in_one_line(case: Row, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    argv = [a.replace("{tmp}", str(work)) for a in case.argv]
    words = [w.replace("{tmp}", str(work)) for w in case.words]
    status, out, err = run_cli(argv, tmp_path, monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == case.status, err
    assert "Traceback" not in err and "Traceback" not in out
    assert lines, "no message on stderr"
    if case.one_line:
        assert len(lines) == 1, err
    for word in words:
        assert word in lines[-1], f"{word!r} not in {lines[-1]!r}"
    assert cache_files(tmp_path) == []
    assert not list(tmp_path.rglob("metrics.csv")) and not list(tmp_path.rglob("manifest.json"))


def test_every_problem_is_its_own_line(tmp_path, monkeypatch, capsys):
    status, _, err = run_cli(["top_k=0", "dtype=float8", "measures=[]", *STUDY], tmp_path, monkeypatch, capsys)
    lines = err.splitlines()
    assert status == 2
    assert [line.split(":", 2)[1].strip() for line in lines] == ["top_k=0", "dtype=float8", "measures=[]"]
    assert all(line.startswith("bench: ") for line in lines)


def test_the_traceback_goes_to_the_runs_log(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    status, _, err = run_cli(["rerank_depth=0", f"output_dir={out}", *STUDY], tmp_path, monkeypatch, capsys)
    assert status == 2 and err.startswith("bench: rerank_depth=0:")
    log = (out / "bench.log").read_text()
    assert "Traceback" in log and "ConfigError: rerank_depth=0:" in log
    assert not (tmp_path / "reports").exists()


def test_bench_traceback_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from bench.cli import main
    from bench.validate import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_TRACEBACK", "1")
    monkeypatch.setattr("sys.argv", ["bench", "top_k=0", f"output_dir={tmp_path / 'out'}", *STUDY])
    with pytest.raises(ConfigError, match="top_k=0"):
        main()


def test_a_warm_cache_does_not_hide_a_bad_dtype(tmp_path, monkeypatch, capsys):
    """With every score cached no model loads, so a dtype was never read: the config is checked first."""
    args = ["dataset=demo", *STUDY, "quiet=true"]
    status, _, err = run_cli([*args, f"output_dir={tmp_path / 'warm'}"], tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert json.loads((tmp_path / "warm" / "manifest.json").read_text())["config"]["dtype"] == "float32"
    status, _, err = run_cli([*args, "dtype=float8", f"output_dir={tmp_path / 'bad'}"], tmp_path, monkeypatch,
                             capsys)
    assert status == 2 and err.startswith("bench: dtype=float8:")
    assert not (tmp_path / "bad" / "manifest.json").exists()
