"""The records every stage of the pipeline passes around."""

from __future__ import annotations

from dataclasses import dataclass, field

#: query id -> document id -> score (higher is better). The shape of a TREC run.
Run = dict[str, dict[str, float]]
#: query id -> document id -> graded relevance.
Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """What a model reads: title and text joined by a space (BEIR's convention)."""
        if self.title and self.text:
            return f"{self.title} {self.text}"
        return self.title or self.text


@dataclass
class LoadReport:
    """What loading found and kept anyway: nothing is dropped without being counted here."""

    empty_documents: int = 0
    empty_queries: int = 0
    qrels_unknown_query: int = 0
    qrels_unknown_document: int = 0
    queries_without_qrels: int = 0
    #: qrels lines repeating a (query, document) pair with the same score: kept once.
    duplicate_qrels: int = 0
    #: how the files were checked on download, e.g. "md5 5f7d... verified", or why they were not.
    checksum: str = ""
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, example: str, limit: int = 5) -> None:
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < limit:
            bucket.append(example)

    def as_dict(self) -> dict[str, object]:
        return {
            "empty_documents": self.empty_documents,
            "empty_queries": self.empty_queries,
            "qrels_unknown_query": self.qrels_unknown_query,
            "qrels_unknown_document": self.qrels_unknown_document,
            "queries_without_qrels": self.queries_without_qrels,
            "duplicate_qrels": self.duplicate_qrels,
            "checksum": self.checksum,
            "examples": self.examples,
        }


@dataclass
class Dataset:
    """A BEIR-layout collection held in memory.

    `queries` holds only the queries that have qrels in `split` (BEIR evaluates those);
    `qrels` only entries whose query and document exist. What was left out is in `report`.
    """

    name: str
    split: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: Qrels
    report: LoadReport = field(default_factory=LoadReport)
    source: str = ""
