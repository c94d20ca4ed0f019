"""Question sets in LlamaIndex's `EmbeddingQAFinetuneDataset` JSON format, read strictly and written exactly.

The format (llama_index.core.llama_dataset.legacy.embedding; llama_index.finetuning in newer releases):

    {
        "queries": {"<question id>": "<question>", ...},
        "corpus": {"<chunk id>": "<chunk text>", ...},
        "relevant_docs": {"<question id>": ["<chunk id>", ...], ...},
        "mode": "text"
    }

`save_qa_json` writes what `EmbeddingQAFinetuneDataset.save_json` writes (json.dump, indent=4,
ASCII), so either tool reads the other's files. `load_qa_json` refuses, with one `QADatasetError`
(an `InputError`: one line, the file first, then the offending entries): bytes that are not UTF-8
and text that is not JSON (with the line), a wrong schema (missing or unexpected keys, wrong
types, a mode other than "text"), duplicate ids (a key repeated in a JSON object, or twice in one
relevant_docs list), ids that are empty or hold whitespace (`bench.data.records.id_problem`: a
TREC run file cannot carry them), empty questions or chunks, relevant_docs for unknown questions or
pointing to unknown chunk ids, questions without relevant chunks, and a set with no questions or
no chunks (it would end in a table without values).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.beir import NotUtf8, decode_text
from bench.data.records import Dataset, Document, LoadReport, Qrels, id_problem
from bench.errors import InputError

REQUIRED_KEYS = ("queries", "corpus", "relevant_docs")
MODE = "text"
#: what the user does about a QA set with problems, said after them
FIX = "fix these entries (the format is LlamaIndex's EmbeddingQAFinetuneDataset JSON)"


class QADatasetError(InputError):
    """A QA set that cannot be used as it is. The message names the file and the entries."""


@dataclass
class QASet:
    """Questions, the chunks retrieved from, and which chunks answer each question."""

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant_docs: dict[str, list[str]]
    mode: str = MODE
    source: str = ""
    #: what loading or building found: counts and examples (kept in the manifest)
    report: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The fields of EmbeddingQAFinetuneDataset, in its order."""
        return {"queries": self.queries, "corpus": self.corpus, "relevant_docs": self.relevant_docs,
                "mode": self.mode}

    def qrels(self) -> Qrels:
        return {q: {d: 1 for d in docs} for q, docs in self.relevant_docs.items()}

    def as_dataset(self) -> Dataset:
        """The bench `Dataset` view (chunks as untitled documents), for rerankers and caches."""
        return Dataset(
            name=self.name,
            split="qa",
            corpus={cid: Document(cid, "", text) for cid, text in self.corpus.items()},
            queries=dict(self.queries),
            qrels=self.qrels(),
            report=LoadReport(),
            source=self.source,
        )

    def counts(self) -> dict[str, int]:
        return {"questions": len(self.queries), "chunks": len(self.corpus),
                "relevant_pairs": sum(len(v) for v in self.relevant_docs.values())}

    def first_questions(self, n: int | None) -> QASet:
        """The first `n` questions in file order (all when n is None); the corpus stays whole."""
        if n is not None and n < 1:
            raise QADatasetError(f"suite.max_questions must be at least 1 (null: every question), got {n}")
        if n is None or n >= len(self.queries):
            return self
        kept = list(self.queries)[:n]
        return QASet(self.name, {q: self.queries[q] for q in kept}, self.corpus,
                     {q: self.relevant_docs[q] for q in kept}, self.mode, self.source,
                     {**self.report, "questions_kept": n, "questions_total": len(self.queries)})


class _Object(dict):
    """A JSON object that remembers keys it saw twice (json keeps only the last)."""

    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def load_qa_json(path: str | Path, *, name: str | None = None) -> QASet:
    """Read and check a QA JSON file; `name` defaults to the file's stem."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise QADatasetError(f"no QA file at {path}: point suite.path at an EmbeddingQAFinetuneDataset JSON file")
    data = read_json(path)
    qa = validate_qa(data, where=str(path))
    qa.name = name or path.stem
    qa.source = str(path)
    return qa


def read_json(path: Path) -> Any:
    """The parsed file (objects as `_Object`s); bad bytes or bad JSON name the file and line."""
    try:
        text = decode_text(path.read_bytes(), path)
    except NotUtf8 as exc:
        raise QADatasetError(str(exc)) from None
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        raise QADatasetError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None


def validate_qa(data: Any, *, where: str = "QA set") -> QASet:
    """A `QASet` from the parsed JSON, or one `QADatasetError` listing every problem found."""
    problems = _Problems(where)
    if not isinstance(data, Mapping):
        problems.fatal(f"expected a JSON object with keys {', '.join(REQUIRED_KEYS)}, mode; "
                       f"got {type(data).__name__}")
    _check_schema(data, problems)
    queries = _string_map(data["queries"], "queries", problems)
    corpus = _string_map(data["corpus"], "corpus", problems)
    relevant = _relevant_map(data["relevant_docs"], problems)
    _check_links(queries, corpus, relevant, problems)
    _check_not_empty(data, problems)
    problems.raise_if_any()
    return QASet(name="", queries=queries, corpus=corpus, relevant_docs=relevant,
                 mode=data.get("mode", MODE), report={"validated": True})


def _check_schema(data: Mapping[str, Any], problems: _Problems) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in data]
    unexpected = [k for k in data if k not in (*REQUIRED_KEYS, "mode")]
    if missing or unexpected:
        problems.fatal(
            "wrong schema: "
            + "; ".join(filter(None, [
                f"missing key(s) {', '.join(missing)}" if missing else "",
                f"unexpected key(s) {', '.join(unexpected)}" if unexpected else "",
            ]))
            + f" (EmbeddingQAFinetuneDataset has {', '.join(REQUIRED_KEYS)}, mode)"
        )
    for key in REQUIRED_KEYS:
        if not isinstance(data[key], Mapping):
            problems.add("wrong schema", f"`{key}` should be an object, got {type(data[key]).__name__}")
    if "mode" in data and data["mode"] != MODE:
        problems.add("wrong schema", f"`mode` should be {MODE!r}, got {data['mode']!r}")
    if getattr(data, "duplicates", None):
        problems.add("duplicate ids", f"top-level key(s) {', '.join(data.duplicates)}")
    problems.raise_if_any()


def _string_map(section: Mapping[str, Any], label: str, problems: _Problems) -> dict[str, str]:
    """{id: text}, noting duplicate keys, bad ids, non-string and empty values."""
    for key in getattr(section, "duplicates", []):
        problems.add("duplicate ids", f"{label} {key!r}")
    out: dict[str, str] = {}
    for key, value in section.items():
        _check_id(key, label, problems)
        if not isinstance(value, str):
            problems.add("wrong schema", f"{label}[{key!r}] should be a string, got {type(value).__name__}")
        elif not value.strip():
            problems.add("empty questions" if label == "queries" else "empty chunks", repr(key))
        else:
            out[key] = value
    return out


def _relevant_map(section: Mapping[str, Any], problems: _Problems) -> dict[str, list[str]]:
    for key in getattr(section, "duplicates", []):
        problems.add("duplicate ids", f"relevant_docs {key!r}")
    out: dict[str, list[str]] = {}
    for key, value in section.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.add("wrong schema", f"relevant_docs[{key!r}] should be a list of chunk ids, got {value!r}"[:200])
            continue
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            problems.add("duplicate ids", f"relevant_docs[{key!r}] lists {', '.join(map(repr, repeated))} twice")
        out[key] = list(dict.fromkeys(value))
    return out


def _check_links(
    queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, list[str]], problems: _Problems
) -> None:
    for qid, docs in relevant.items():
        if qid not in queries:
            problems.add("relevant_docs for unknown questions", repr(qid))
        unknown = [d for d in docs if d not in corpus]
        if unknown:
            problems.add("relevant_docs point to unknown chunk ids", f"{qid!r} -> {', '.join(map(repr, unknown))}")
        if not docs:
            problems.add("questions without relevant chunks", repr(qid))
    for qid in queries:
        if qid not in relevant:
            problems.add("questions without relevant chunks", repr(qid))


def _check_not_empty(data: Mapping[str, Any], problems: _Problems) -> None:
    """A set without questions or chunks evaluates nothing: every measure would be missing."""
    for key, what in (("queries", "questions"), ("corpus", "chunks")):
        if not data[key]:
            problems.add("nothing to evaluate", f"`{key}` holds no {what}")


def _check_id(key: str, label: str, problems: _Problems) -> None:
    if not key.strip():
        problems.add("empty ids", f"in {label}")
    elif id_problem(key):
        problems.add("ids with whitespace (not allowed in TREC run files)", f"{label} {key!r}")


class _Problems:
    """Problems grouped by kind; the error lists a few examples of each and how many there are."""

    def __init__(self, where: str, limit: int = 5, fix: str = FIX) -> None:
        self.where = where
        self.limit = limit
        self.fix = fix
        self.found: dict[str, list[str]] = {}

    def add(self, kind: str, example: str) -> None:
        self.found.setdefault(kind, []).append(example)

    def fatal(self, message: str) -> None:
        raise QADatasetError(f"{self.where}: {message}")

    def raise_if_any(self) -> None:
        """One line: every kind of problem with its count and first examples, then what to do."""
        if not self.found:
            return
        parts = []
        for kind, examples in self.found.items():
            more = f" (and {len(examples) - self.limit} more)" if len(examples) > self.limit else ""
            parts.append(f"{kind} ({len(examples)}): {'; '.join(examples[: self.limit])}{more}")
        raise QADatasetError(f"{self.where}: the QA set has problems: {' | '.join(parts)}; {self.fix}")


def save_qa_json(qa: QASet, path: str | Path) -> Path:
    """Write `qa` exactly as EmbeddingQAFinetuneDataset.save_json does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        json.dump(qa.to_json_dict(), handle, indent=4)
    return path


def qa_from_beir(dataset: Dataset) -> QASet:
    """A BEIR dataset as a QA set: each judged-relevant document (score > 0) is a question's context.

    Every non-empty document is one chunk (title and text joined, BEIR's convention), so the
    retrieval corpus is the whole BEIR corpus. Left out and counted: empty documents, and
    questions that are empty or have no relevant document.
    """
    corpus = {d.id: d.full_text for d in dataset.corpus.values() if d.full_text.strip()}
    relevant: dict[str, list[str]] = {}
    dropped = {"empty_documents": len(dataset.corpus) - len(corpus), "empty_questions": 0,
               "questions_without_relevant": 0}
    for qid in sorted(dataset.qrels, key=_natural_key):
        docs = [d for d, score in sorted(dataset.qrels[qid].items(), key=lambda x: _natural_key(x[0]))
                if score > 0 and d in corpus]
        if not dataset.queries.get(qid, "").strip():
            dropped["empty_questions"] += 1
        elif not docs:
            dropped["questions_without_relevant"] += 1
        else:
            relevant[qid] = docs
    queries = {q: dataset.queries[q] for q in relevant}
    report = {"converted_from": "beir", "split": dataset.split, "left_out": dropped,
              "beir_load_report": dataset.report.as_dict()}
    qa = QASet(dataset.name, queries, corpus, relevant, source=dataset.source, report=report)
    problems = _Problems(f"BEIR dataset {dataset.name} ({dataset.source})",
                         fix="fix the BEIR folder, or choose another split with suite.split=...")
    for label, ids in (("queries", queries), ("corpus", corpus)):
        for key in ids:
            _check_id(key, label, problems)
    if not relevant:
        problems.add("nothing to evaluate", f"no query of split {dataset.split!r} has a relevant (score > 0), "
                                            "non-empty document")
    problems.raise_if_any()
    return qa


def _natural_key(text: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order ("2" before "10"), then the rest alphabetically."""
    return (0, int(text)) if text.isdigit() else (1, text)
