"""Use an existing TREC run file (`qid Q0 docid rank score tag`) as the first stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.data.records import Document, Run


def read_trec_run(path: Path) -> Run:
    """Parse a TREC run; a malformed line is an error naming the file and line number."""
    run: Run = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise ValueError(
                    f"{path}:{number}: expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}"
                )
            qid, _, doc_id, _, score, _ = parts
            try:
                value = float(score)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: score {score!r} is not a number") from exc
            docs = run.setdefault(qid, {})
            if doc_id in docs:
                raise ValueError(f"{path}:{number}: document {doc_id} appears twice for query {qid}")
            docs[doc_id] = value
    return run


class RunFile:
    """Candidates read from disk. Documents missing from the corpus are counted and left out
    (a reranker cannot score text it does not have); so are queries absent from the run."""

    def __init__(self, *, path: str, name: str = "run_file") -> None:
        self.name = name
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"run file {self.path} does not exist: set first_stage.run_file.path")
        self._run = read_trec_run(self.path)
        self._corpus_ids: set[str] = set()
        self.unknown_documents = 0
        self.queries_missing = 0

    def index(self, corpus: Mapping[str, Document]) -> None:
        self._corpus_ids = set(corpus)

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
        return out

    def info(self) -> dict[str, object]:
        return {"kind": "run_file", "path": str(self.path), "unknown_documents": self.unknown_documents,
                "queries_missing": self.queries_missing}
