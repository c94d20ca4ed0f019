"""The records every stage of the pipeline passes around, and the one order of a run's documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: query id -> document id -> score (higher is better). The shape of a TREC run.
Run = dict[str, dict[str, float]]
#: query id -> document id -> graded relevance.
Qrels = dict[str, dict[str, int]]


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """One query's (document, score) pairs best first: the one rank order bench uses everywhere.

    trec_eval's order: score descending, compared in single precision (trec_eval reads scores into
    a C float, so doubles that agree to float32 tie there), then document id descending (byte order
    of the UTF-8 ids, which is Python's string order reversed). Cut-offs, TREC files and every
    evaluator take their order from here, so a tie is broken the same way wherever it is met, and
    trec_eval run on a written file sees the ranking that was evaluated. NaN ranks last.
    """
    by_id = sorted(docs.items(), reverse=True)
    with np.errstate(over="ignore", invalid="ignore"):
        single = np.fromiter((s for _, s in by_id), dtype=np.float64, count=len(by_id)).astype(np.float32)
    order = np.argsort(-single, kind="stable")  # stable: equal scores keep the id-descending order
    return [by_id[i] for i in order.tolist()]


def top(docs: Mapping[str, float], n: int) -> dict[str, float]:
    """The first `n` documents of `ranked(docs)`, best first: the documents a cut-off at `n` keeps."""
    return dict(ranked(docs)[:n])


def rank_scores(docs: Mapping[str, float]) -> dict[str, float]:
    """Scores n, n-1, ..., 1 in `ranked` order: distinct integers (exact in float32), so an evaluator
    that sorts by score, whatever its own tie rule, sees exactly bench's order."""
    order = ranked(docs)
    return {doc: float(len(order) - i) for i, (doc, _) in enumerate(order)}


def id_problem(item_id: str) -> str | None:
    """Why `item_id` cannot name a query or document, or None when it can.

    Every id ends up in a TREC run file (`qid Q0 docid rank score tag`), whose columns are split on
    whitespace: an id that is empty or holds whitespace would come back as other columns, so every
    reader of ids (BEIR folders, run files, QA sets) refuses it where it is read, with this reason.
    """
    if not item_id:
        return "an id cannot be empty"
    if any(char.isspace() for char in item_id):
        return (f"id {item_id!r} contains whitespace, which a TREC run file cannot carry; rename it without "
                "whitespace (e.g. '_' for each space)")
    return None


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
    #: BEIR's evaluation convention (`ignore_identical_ids` in BEIR's EvaluateRetrieval): a retrieved
    #: document whose id equals the query id is not a hit. True for the datasets of BEIR's public table
    #: (ArguAna and Quora keep each query in the corpus under its own id); False for other folders, where
    #: query and document ids may be unrelated numbers. `remove_self_hits=auto` follows it.
    ignore_identical_ids: bool = False
