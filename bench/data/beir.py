"""Read a BEIR-layout folder into a `Dataset`, refusing bad input with errors that say where.

A BEIR folder holds:

    corpus.jsonl        one JSON object a line: {"_id", "title", "text"}
    queries.jsonl       one JSON object a line: {"_id", "text"}
    qrels/<split>.tsv   a header line, then `query-id <TAB> corpus-id <TAB> score`

Ids are strings (integers in JSON become strings). Blank lines are skipped.

What is an error (`DatasetError`, naming file, line and id):
  a line that is not a JSON object, a missing `_id`, an id that is empty or holds whitespace
  (a TREC run file cannot carry it: `bench.data.records.id_problem`), a duplicate corpus or query id,
  a qrels line without three tab-separated fields or with a non-integer score,
  the same (query, document) pair judged twice with *different* scores, a missing file or split,
  and a folder that leaves nothing to evaluate: no documents (or only empty ones), no queries, no
  judgements, or no judgement whose query and document both exist (each would end in a table of zeros).
What is kept and counted in `LoadReport` (with examples):
  empty documents and queries, qrels whose query or document is absent (left out of `qrels`),
  queries without qrels in the split (not evaluated), and the same pair judged twice with the
  *same* score (kept once: the repeat changes nothing, so it is not worth refusing a public file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.data.records import Dataset, Document, LoadReport, Qrels, id_problem
from bench.errors import InputError, did_you_mean

LOCAL_HINT = "point at a BEIR folder with `dataset=local dataset.path=/path/to/folder`"


class DatasetError(InputError):
    """Input that cannot be loaded as it is. The message names the file, line and id involved."""


@dataclass(frozen=True)
class Judgement:
    query_id: str
    doc_id: str
    score: int
    line: int


def load_beir_folder(
    folder: str | Path,
    *,
    split: str = "test",
    name: str | None = None,
    source: str = "",
    hint: str = LOCAL_HINT,
) -> Dataset:
    """Load `folder` for `split`; `hint` tells the reader what to do when the folder is missing."""
    root = check_folder(Path(folder), hint=hint)
    qrels_path = split_path(root, split)
    report = LoadReport()
    corpus = read_corpus(root / "corpus.jsonl")
    all_queries = read_queries(root / "queries.jsonl")
    judgements = read_qrels(qrels_path)
    qrels = keep_known(judgements, all_queries, corpus, report, qrels_path)
    check_something_to_evaluate(judgements, qrels, all_queries, corpus, qrels_path)
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    count_leftovers(corpus, all_queries, queries, report)
    return Dataset(
        name=name or root.name,
        split=split,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        report=report,
        source=source or str(root),
    )


def check_folder(folder: Path, *, hint: str) -> Path:
    if not folder.is_dir():
        raise DatasetError(f"no dataset folder at {folder}: {hint}")
    for file_name in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / file_name).is_file():
            raise DatasetError(f"{folder} has no {file_name}{_subfolder_note(folder)}: {hint}")
    return folder


def _subfolder_note(folder: Path) -> str:
    inner = sub_datasets(folder)
    if not inner:
        return " (a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
    return f"; it holds sub-datasets, choose one of: {', '.join(inner)}"


def sub_datasets(folder: Path) -> list[str]:
    """Names of the BEIR folders directly inside `folder` (cqadupstack's sub-forums)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "corpus.jsonl").is_file())


def available_splits(folder: Path) -> list[str]:
    qrels_dir = folder / "qrels"
    return sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []


def split_path(folder: Path, split: str) -> Path:
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        present = available_splits(folder)
        raise DatasetError(
            f"no qrels for split {split!r}: {path} does not exist.{did_you_mean(split, present)} "
            f"Splits present: {', '.join(present) or 'none'} (choose one with dataset.split=...)"
        )
    return path


def check_something_to_evaluate(
    judgements: list[Judgement], qrels: Qrels, queries: dict[str, str], corpus: dict[str, Document], path: Path
) -> None:
    """Refuse a folder whose qrels leave nothing to evaluate (every measure would be zero or missing)."""
    if qrels:
        return
    if not judgements:
        raise DatasetError(
            f"{path}: no judgements (only a header or blank lines); add `query-id<TAB>corpus-id<TAB>score` "
            "lines, or choose another split with dataset.split=..."
        )
    first = judgements[0]
    missing = [f"query {first.query_id!r} is not in queries.jsonl"] if first.query_id not in queries else []
    if first.doc_id not in corpus:
        missing.append(f"document {first.doc_id!r} is not in corpus.jsonl")
    raise DatasetError(
        f"{path}: none of its {len(judgements)} judgements names a known query and document (line {first.line}: "
        f"{' and '.join(missing)}); the qrels belong to another collection or write the ids differently"
    )


def read_corpus(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    lines: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        doc_id = record_id(record, path, line_no)
        check_unique(doc_id, lines, path, line_no)
        corpus[doc_id] = Document(
            id=doc_id,
            title=text_field(record, "title", path, line_no),
            text=text_field(record, "text", path, line_no),
        )
    if not corpus:
        raise DatasetError(f"{path}: no documents (empty or blank lines only); a BEIR corpus.jsonl holds one "
                           'JSON object a line: {"_id", "title", "text"}')
    if not any(doc.title.strip() or doc.text.strip() for doc in corpus.values()):
        raise DatasetError(f"{path}: all {len(corpus)} documents are empty (no title, no text): nothing to "
                           "retrieve; fill `title` or `text`")
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        query_id = record_id(record, path, line_no)
        check_unique(query_id, lines, path, line_no)
        queries[query_id] = text_field(record, "text", path, line_no)
    if not queries:
        raise DatasetError(f"{path}: no queries (empty or blank lines only); a BEIR queries.jsonl holds one "
                           'JSON object a line: {"_id", "text"}')
    return queries


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """(line number, object) for each non-blank line; read as bytes so a bad byte names its line."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
                raise DatasetError(f"{path}:{line_no}: not valid JSON ({error})") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
            yield line_no, record


def record_id(record: dict[str, object], path: Path, line_no: int) -> str:
    value = record.get("_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise DatasetError(f"{path}:{line_no}: missing `_id` (a non-empty string or integer), got {value!r}")
    problem = id_problem(str(value))
    if problem:
        raise DatasetError(f"{path}:{line_no}: {problem}")
    return str(value)


def text_field(record: dict[str, object], key: str, path: Path, line_no: int) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"{path}:{line_no}: `{key}` should be a string, got {type(value).__name__}")
    return value


def check_unique(item_id: str, seen: dict[str, int], path: Path, line_no: int) -> None:
    if item_id in seen:
        raise DatasetError(f"{path}: duplicate id {item_id!r} on lines {seen[item_id]} and {line_no}")
    seen[item_id] = line_no


def read_qrels(path: Path) -> list[Judgement]:
    """Judgements in file order. The first line is the header unless its score is an integer."""
    judgements: list[Judgement] = []
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = decode_line(raw, path, line_no).rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if line_no == 1 and len(fields) == 3 and not is_int(fields[2]):
                continue
            judgements.append(parse_judgement(fields, path, line_no))
    return judgements


def decode_line(raw: bytes, path: Path, line_no: int, fix: str = "save the file as UTF-8") -> str:
    """One line of a text file bench reads (a BOM allowed on the first); anything but UTF-8 is refused."""
    try:
        return raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}:{line_no}: not UTF-8 ({error}); {fix}") from None


def decode_text(raw: bytes, path: Path | str, fix: str = "save the file as UTF-8") -> str:
    """A whole text file bench reads (a BOM allowed); anything but UTF-8 is refused naming the line."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # positions stay those of `raw`
    except UnicodeDecodeError as error:
        raise NotUtf8(path, raw.count(b"\n", 0, error.start) + 1, error, fix) from None


class NotUtf8(DatasetError):
    """`decode_text`'s refusal; `line` and `reason` let a caller word it in its own error."""

    def __init__(self, path: Path | str, line: int, reason: UnicodeDecodeError, fix: str) -> None:
        super().__init__(f"{path}:{line}: not UTF-8 ({reason}); {fix}")
        self.line = line
        self.reason = reason


def parse_judgement(fields: list[str], path: Path, line_no: int) -> Judgement:
    if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
        raise DatasetError(
            f"{path}:{line_no}: expected `query-id<TAB>corpus-id<TAB>score`, got {len(fields)} "
            f"tab-separated field(s): {chr(9).join(fields)!r}"
        )
    if not is_int(fields[2]):
        raise DatasetError(f"{path}:{line_no}: score {fields[2]!r} is not an integer")
    query_id, doc_id = fields[0].strip(), fields[1].strip()
    problem = id_problem(query_id) or id_problem(doc_id)
    if problem:
        raise DatasetError(f"{path}:{line_no}: {problem}")
    return Judgement(query_id, doc_id, int(fields[2]), line_no)


def is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def keep_known(
    judgements: list[Judgement],
    queries: dict[str, str],
    corpus: dict[str, Document],
    report: LoadReport,
    path: Path,
) -> Qrels:
    """Qrels whose query and document both exist; the rest counted (one entry can count twice)."""
    qrels: Qrels = {}
    lines: dict[tuple[str, str], Judgement] = {}
    for judgement in judgements:
        if is_repeat(judgement, lines, report, path):
            continue
        known = True
        if judgement.query_id not in queries:
            report.qrels_unknown_query += 1
            report.note("qrels_unknown_query", f"{judgement.query_id} ({path.name}:{judgement.line})")
            known = False
        if judgement.doc_id not in corpus:
            report.qrels_unknown_document += 1
            report.note("qrels_unknown_document", f"{judgement.doc_id} ({path.name}:{judgement.line})")
            known = False
        if known:
            qrels.setdefault(judgement.query_id, {})[judgement.doc_id] = judgement.score
    return qrels


def is_repeat(
    judgement: Judgement, seen: dict[tuple[str, str], Judgement], report: LoadReport, path: Path
) -> bool:
    """True for a repeat of a pair with the same score (counted); an error for a different score."""
    pair = (judgement.query_id, judgement.doc_id)
    first = seen.get(pair)
    if first is None:
        seen[pair] = judgement
        return False
    if first.score != judgement.score:
        raise DatasetError(
            f"{path}: query {pair[0]!r} and document {pair[1]!r} are judged {first.score} on line "
            f"{first.line} and {judgement.score} on line {judgement.line}; keep one"
        )
    report.duplicate_qrels += 1
    report.note("duplicate_qrels", f"{pair[0]} -> {pair[1]} ({path.name}:{first.line},{judgement.line})")
    return True


def count_leftovers(
    corpus: dict[str, Document],
    all_queries: dict[str, str],
    queries: dict[str, str],
    report: LoadReport,
) -> None:
    """Empty documents, empty evaluated queries, and queries left out for want of qrels."""
    for doc in corpus.values():
        if not doc.title.strip() and not doc.text.strip():
            report.empty_documents += 1
            report.note("empty_documents", doc.id)
    for query_id, text in queries.items():
        if not text.strip():
            report.empty_queries += 1
            report.note("empty_queries", query_id)
    for query_id in all_queries:
        if query_id not in queries:
            report.queries_without_qrels += 1
            report.note("queries_without_qrels", query_id)
