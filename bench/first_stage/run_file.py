"""Use an existing TREC run file (`qid Q0 docid rank score tag`) as the first stage.

What is an error (`InputError`, naming the file and line, or the file and ids): a missing file, a
line that is not UTF-8, does not have six whitespace-separated columns or has a score that is not
a finite number (`nan` and `inf` would rank arbitrarily and be written back into the run files),
the same document twice for one query, a file without any run line, and a run that gives nothing
to rerank for the dataset at hand: none of its documents in the corpus, or none of its queries
among the evaluated ones (each would end in a table of zeros). Documents missing from an
otherwise matching corpus, and queries without a line, are counted in `info()` and left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from bench.data.beir import decode_line
from bench.data.records import Document, Run
from bench.errors import InputError

COLUMNS = "qid Q0 docid rank score tag"


def read_trec_run(path: Path) -> Run:
    """Parse a TREC run; a bad line is an `InputError` naming the file and line number. An empty file is an
    empty run here (bench writes one for a system that retrieved nothing); `RunFile` refuses it."""
    run: Run = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            parts = decode_line(raw, path, number, fix="save the run file as UTF-8").split()
            if not parts:
                continue
            qid, doc_id, value = _parse_line(parts, path, number)
            docs = run.setdefault(qid, {})
            if doc_id in docs:
                raise InputError(f"{path}:{number}: document {doc_id} appears twice for query {qid}; keep one line")
            docs[doc_id] = value
    return run


def _parse_line(parts: list[str], path: Path, number: int) -> tuple[str, str, float]:
    """(query id, document id, score) of one line's columns."""
    if len(parts) != 6:
        extra = " (ids cannot contain whitespace)" if len(parts) > 6 else ""
        raise InputError(f"{path}:{number}: expected 6 columns '{COLUMNS}', got {len(parts)}{extra}")
    qid, _, doc_id, _, score, _ = parts
    try:
        value = float(score)
    except ValueError:
        raise InputError(f"{path}:{number}: score {score!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{number}: score {score!r} is not a finite number; give every line a real score")
    return qid, doc_id, value


class RunFile:
    """Candidates read from disk. Documents missing from the corpus are counted and left out
    (a reranker cannot score text it does not have); so are queries absent from the run."""

    def __init__(self, *, path: str, name: str = "run_file") -> None:
        self.name = name
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise InputError(f"run file {self.path} does not exist: set first_stage.run_file.path")
        self._run = read_trec_run(self.path)
        if not self._run:
            raise InputError(f"{self.path}: no run lines (the file is empty or blank); expected lines '{COLUMNS}'")
        self._corpus_ids: set[str] = set()
        self.unknown_documents = 0
        self.queries_missing = 0

    def index(self, corpus: Mapping[str, Document]) -> None:
        self._corpus_ids = set(corpus)
        run_ids = {d for docs in self._run.values() for d in docs}
        if corpus and self._corpus_ids.isdisjoint(run_ids):
            raise InputError(
                f"{self.path}: none of its {len(run_ids)} documents is in the corpus ({len(corpus)} documents; run "
                f"has e.g. {_examples(run_ids)}, corpus has e.g. {_examples(self._corpus_ids)}); the run was made "
                "for another collection: choose the dataset it was made for"
            )

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        out: Run = {}
        for qid in queries:
            docs = self._run.get(qid)
            if docs is None:
                self.queries_missing += 1
                out[qid] = {}
                continue
            ranked = sorted(docs.items(), key=lambda x: (-x[1], x[0]))
            known = [(d, s) for d, s in ranked if d in self._corpus_ids]
            self.unknown_documents += len(ranked) - len(known)
            out[qid] = dict(known[:top_k])
        if queries and not any(qid in self._run for qid in queries):
            raise InputError(
                f"{self.path}: none of its {len(self._run)} queries is among the {len(queries)} evaluated ones (run "
                f"has e.g. {_examples(self._run)}, dataset has e.g. {_examples(queries)}); choose the dataset and "
                "split (dataset.split=...) the run was made for"
            )
        return out

    def info(self) -> dict[str, object]:
        return {"kind": "run_file", "path": str(self.path), "unknown_documents": self.unknown_documents,
                "queries_missing": self.queries_missing}


def _examples(ids: Iterable[str], limit: int = 3) -> str:
    """A few ids, sorted, for a message."""
    return ", ".join(repr(i) for i in sorted(ids)[:limit])
