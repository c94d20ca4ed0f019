"""Bad data files and failing services, one row each, through the `bench` command as a user types it.

A bad file (BEIR folder, run file, QA set, document) stops the command with exit status 2 and one
line on stderr that names the file (and line or id) and what is wrong, before anything is cached. A
rerank service that fails (garbage, NaN scores, refused connections, a server that drips its answer)
is skipped like a model that cannot be had: exit 0, every other system's results written, the skip
line on stdout, and no scores of the failed shard in the cache.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tests.errors.harness import cache_dir, cache_files, run_cli
from tests.rerank.mock_rerank_server import MockRerankServer

KEY_ENV = "BENCH_TEST_RERANK_KEY"
KEY = "sk-bad-data-NEVER-SHOWN"

CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats purr when they are happy."},
    {"_id": "d2", "title": "Dogs", "text": "Dogs bark at strangers."},
    {"_id": "d3", "title": "Birds", "text": "Birds sing in the morning."},
]
QUERIES = [{"_id": "q1", "text": "why do cats purr"}, {"_id": "q2", "text": "dogs barking"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
RUN = "q1 Q0 d1 1 3.0 x\nq1 Q0 d2 2 2.0 x\nq2 Q0 d2 1 9.0 x\n"
QA = {"queries": {"q1": "What do cats do?", "q2": "Which animal barks?"},
      "corpus": {"c1": "Cats purr.", "c2": "Dogs bark."},
      "relevant_docs": {"q1": ["c1"], "q2": ["c2"]}, "mode": "text"}


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@dataclass
class Case:
    """What a row builds its bad input in: a temporary folder and a mock rerank service."""

    tmp: Path
    server: MockRerankServer

    def beir(self, **files: str | bytes) -> Path:
        """A good three-document BEIR folder, with `files` ("corpus", "queries", "qrels") replaced."""
        folder = self.tmp / "beir"
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        texts = {"corpus": jsonl(CORPUS), "queries": jsonl(QUERIES), "qrels": QRELS} | files
        for name, path in (("corpus", "corpus.jsonl"), ("queries", "queries.jsonl"), ("qrels", "qrels/test.tsv")):
            _write(folder / path, texts[name])
        return folder

    def study(self, *overrides: str, **files: str | bytes) -> list[str]:
        return ["dataset=local", f"dataset.path={self.beir(**files)}", "first_stage=[bm25]", "reranker=none",
                *overrides]

    def run_file(self, text: str | bytes) -> list[str]:
        path = self.tmp / "first.trec"
        _write(path, text)
        return ["dataset=local", f"dataset.path={self.beir()}", "first_stage=run_file",
                f"first_stage.run_file.path={path}", "reranker=none"]

    def qa(self, data: object) -> list[str]:
        path = self.tmp / "qa.json"
        _write(path, data if isinstance(data, str | bytes) else json.dumps(data))
        return ["suite=rag", f"suite.path={path}", "reranker=none"]

    def service(self, *faults: str, timeout: float = 2.0, url: str | None = None) -> list[str]:
        """The BM25 study with the cohere reranker pointed at the mock, which answers with `faults` first."""
        self.server.inject(*faults)
        return self.study("reranker=[cohere]", f"reranker.cohere.url={url or self.server.url}",
                          f"reranker.cohere.api_key_env={KEY_ENV}", "reranker.cohere.max_retries=0",
                          f"reranker.cohere.timeout={timeout}")


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def with_qa(**changes: object) -> dict[str, object]:
    return {**json.loads(json.dumps(QA)), **changes}


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1/rerank"


@dataclass(frozen=True)
class Row:
    """One bad input: how to build it (the argv), what the one line must say, and the exit status."""

    id: str
    build: Callable[[Case], list[str]]
    says: tuple[str, ...]
    status: int = 2
    #: where the message must appear: stderr for a refusal, stdout for a skipped reranker
    stream: str = "err"
    tags: frozenset[str] = field(default_factory=frozenset)


ROWS = [
    # -- BEIR folders --------------------------------------------------------------------------------------
    Row("empty-corpus", lambda c: c.study(corpus=""), ("corpus.jsonl: no documents",)),
    Row("blank-corpus", lambda c: c.study(corpus="\n  \n"), ("corpus.jsonl: no documents",)),
    Row("corpus-of-empty-documents", lambda c: c.study(corpus=jsonl([{"_id": "d1", "text": " "}, {"_id": "d2"}])),
        ("corpus.jsonl: all 2 documents are empty",)),
    Row("empty-queries", lambda c: c.study(queries=""), ("queries.jsonl: no queries",)),
    Row("qrels-header-only", lambda c: c.study(qrels="query-id\tcorpus-id\tscore\n"),
        ("test.tsv: no judgements", "dataset.split=")),
    Row("qrels-all-unknown", lambda c: c.study(qrels="query-id\tcorpus-id\tscore\nQ1\tD1\t1\nq9\td1\t1\n"),
        ("test.tsv: none of its 2 judgements names a known query and document", "line 2", "'Q1'")),
    Row("corpus-id-with-space", lambda c: c.study(corpus=jsonl([*CORPUS, {"_id": "d 4", "text": "x"}])),
        ("corpus.jsonl:4: id 'd 4' contains whitespace", "TREC")),
    Row("query-id-with-tab", lambda c: c.study(queries=jsonl([{"_id": "q\t1", "text": "x"}, *QUERIES[1:]])),
        ("queries.jsonl:1: id 'q\\t1' contains whitespace",)),
    Row("qrels-id-with-space", lambda c: c.study(qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td 2\t1\n"),
        ("test.tsv:3: id 'd 2' contains whitespace",)),
    Row("corpus-broken-json", lambda c: c.study(corpus=jsonl(CORPUS[:2]) + '{"_id": "d3", "text": \n'),
        ("corpus.jsonl:3: not valid JSON",)),
    Row("corpus-latin-1", lambda c: c.study(corpus=jsonl(CORPUS).encode() + b'{"_id": "d4", "text": "caf\xe9"}\n'),
        ("corpus.jsonl:4: not valid JSON", "utf-8")),
    Row("qrels-latin-1", lambda c: c.study(qrels=QRELS.encode() + b"q1\td\xe9\t1\n"), ("test.tsv:4: not UTF-8",)),
    Row("qrels-score-not-integer", lambda c: c.study(qrels=QRELS + "q1\td3\thigh\n"),
        ("test.tsv:4: score 'high' is not an integer",)),
    Row("duplicate-document", lambda c: c.study(corpus=jsonl([*CORPUS, CORPUS[0]])),
        ("corpus.jsonl: duplicate id 'd1' on lines 1 and 4",)),
    # -- run files ------------------------------------------------------------------------------------------
    Row("run-empty", lambda c: c.run_file(""), ("first.trec: no run lines",)),
    Row("run-nan-score", lambda c: c.run_file(RUN + "q2 Q0 d3 2 nan x\n"),
        ("first.trec:4: score 'nan' is not a finite number",)),
    Row("run-inf-score", lambda c: c.run_file("q1 Q0 d1 1 inf x\n" + RUN), ("first.trec:1: score 'inf'",)),
    Row("run-other-corpus", lambda c: c.run_file("q1 Q0 X1 1 3.0 x\nq2 Q0 X2 1 2.0 x\n"),
        ("first.trec: none of its 2 documents is in the corpus", "another collection")),
    Row("run-other-queries", lambda c: c.run_file("Q1 Q0 d1 1 3.0 x\n"),
        ("first.trec: none of its 1 queries is among the 2 evaluated ones",)),
    Row("run-id-with-space", lambda c: c.run_file("q1 Q0 my doc 1 3.0 x\n"),
        ("first.trec:1: expected 6 columns", "ids cannot contain whitespace")),
    Row("run-latin-1", lambda c: c.run_file(RUN.encode() + b"q2 Q0 d\xe9 2 1.0 x\n"), ("first.trec:4: not UTF-8",)),
    Row("run-missing", lambda c: [*c.run_file(RUN)[:-2], f"first_stage.run_file.path={c.tmp / 'none.trec'}",
                                  "reranker=none"], ("none.trec", "first_stage.run_file.path")),
    # -- RAG QA sets and documents --------------------------------------------------------------------------
    Row("qa-broken-json", lambda c: c.qa('{"queries": {"q1": "a"},\n "corpus": {"c1": "b"}\n "relevant_docs": {}}'),
        ("qa.json:3:2: not valid JSON", "Expecting ',' delimiter")),
    Row("qa-unknown-chunk", lambda c: c.qa(with_qa(relevant_docs={"q1": ["c1"], "q2": ["c9"]})),
        ("qa.json: the QA set has problems", "unknown chunk ids (1): 'q2' -> 'c9'")),
    Row("qa-missing-corpus", lambda c: c.qa({k: v for k, v in QA.items() if k != "corpus"}),
        ("qa.json: wrong schema: missing key(s) corpus",)),
    Row("qa-latin-1", lambda c: c.qa(json.dumps(QA).encode().replace(b"Cats purr.", b"Caf\xe9 cats.")),
        ("qa.json:1: not UTF-8", "save the file as UTF-8")),
    Row("qa-empty", lambda c: c.qa({"queries": {}, "corpus": {}, "relevant_docs": {}}),
        ("qa.json", "nothing to evaluate (2)", "`queries` holds no questions")),
    Row("qa-id-with-space", lambda c: c.qa(with_qa(corpus={"c 1": "Cats purr.", "c2": "Dogs bark."},
                                                   relevant_docs={"q1": ["c 1"], "q2": ["c2"]})),
        ("qa.json", "ids with whitespace", "'c 1'")),
    Row("qa-beir-nothing-relevant", lambda c: ["suite=rag", "suite.source=beir",
                                               f"suite.path={c.beir(qrels=QRELS.replace(chr(9) + '1', chr(9) + '0'))}",
                                               "reranker=none"],
        ("nothing to evaluate", "relevant (score > 0)")),
    Row("documents-latin-1", lambda c: ["suite=rag", "suite.source=documents",
                                        f"suite.path={_folder(c.tmp / 'docs', {'notes.txt': b'caf' + bytes([233])})}",
                                        "reranker=none"],
        ("notes.txt: not UTF-8 text, line 1",)),
    # -- a rerank service that fails is skipped; the study goes on ------------------------------------------
    Row("api-garbage", lambda c: c.service("garbage"), ("cohere", "sent an unusable answer", "not JSON"),
        status=0, stream="out", tags=frozenset({"api"})),
    Row("api-nan-score", lambda c: c.service("nan_score"), ("cohere", "no finite 'relevance_score' (nan)"),
        status=0, stream="out", tags=frozenset({"api"})),
    Row("api-refused-connection", lambda c: c.service(url=closed_port_url()),
        ("cohere", "gave up after 1 attempt", "Connection refused"), status=0, stream="out", tags=frozenset({"api"})),
    Row("api-exhausted-retries", lambda c: c.service("500"), ("cohere", "gave up after 1 attempt", "HTTP 500"),
        status=0, stream="out", tags=frozenset({"api"})),
    Row("api-drip", lambda c: c.service("drip", timeout=0.5), ("cohere", "timed out", "within 0.5s"),
        status=0, stream="out", tags=frozenset({"api"})),
    # -- a local reranker that returns NaN stops the study on its one line, the bad shard uncached -----------
    Row("reranker-nan", lambda c: c.study("+reranker.nan._target_=tests.pipeline.fakes.NanReranker",
                                          "+reranker.nan.name=nan", "shard.queries=1"),
        ("non-finite scores in shard 1", "nothing of this shard was cached"), tags=frozenset({"scores"})),
]


def _folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        _write(folder / name, data)
    return folder


@pytest.fixture
def server() -> Iterator[MockRerankServer]:
    with MockRerankServer(key=KEY, drip_seconds=0.05) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_the_table_is_long_enough_and_its_ids_unique():
    assert len(ROWS) >= 25
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_data(row: Row, tmp_path: Path, server: MockRerankServer, monkeypatch, capsys):
    case = Case(tmp_path / "input", server)
    case.tmp.mkdir()
    argv = [*row.build(case), f"output_dir={tmp_path / 'out'}"]
    status, out, err = run_cli(argv, tmp_path, monkeypatch, capsys)

    assert status == row.status, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    where = err if row.stream == "err" else out
    for words in row.says:
        assert words in where, (words, where)
    if row.status == 2:
        [line] = [text for text in err.splitlines() if any(words in text for words in row.says)]
        assert line.startswith("bench: ") and row.says[0] in line
    if "api" in row.tags:  # skipped: every other system written, nothing of the failed shard cached
        assert set(pd.read_csv(tmp_path / "out" / "metrics.csv")["system"]) == {"bm25"}
        assert list((cache_dir(tmp_path) / "scores").rglob("shard-*")) == []
        assert KEY not in out + err
    elif "scores" in row.tags:  # the first shard was whole and stays for resume; the NaN shard never
        assert sorted(p.name for p in (cache_dir(tmp_path) / "scores").rglob("shard-*")) == ["shard-00000-of-00002"]
    else:
        assert cache_files(tmp_path) == []
