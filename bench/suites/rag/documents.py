"""Read a folder of text, markdown and PDF files into named documents.

    .txt .md .markdown   read as UTF-8, one document per file
    .pdf                 one document per page, like LlamaIndex's default PDFReader (so a chunk
                         never spans two pages); text through pypdf, the optional extra `bench[pdf]`

A document is named by its path relative to the folder ("guide/intro.md"), a PDF page by
"paper.pdf#page=3" (pages count from 1). Names are sorted, so chunk ids do not depend on the
order the file system lists files in. Hidden files and folders are skipped; other extensions are
ignored and listed in the report. A file or page that yields no text is kept out and reported by
name; a folder where nothing yields text is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.data.beir import NotUtf8, decode_text
from bench.errors import InputError

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
PDF_SUFFIXES = (".pdf",)


class DocumentError(InputError):
    """A folder or file that cannot be read. The message names it (one line) and what to do."""


@dataclass(frozen=True)
class SourceDocument:
    name: str
    text: str


@dataclass
class FolderReport:
    """What reading found: files read, documents kept, and what was left out, by name."""

    files: int = 0
    documents: int = 0
    empty: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "documents": self.documents, "empty": self.empty, "ignored": self.ignored}


def read_documents(path: str | Path, *, max_pages: int | None = None) -> tuple[list[SourceDocument], FolderReport]:
    """Documents from a folder (searched recursively) or a single file; `max_pages` caps each PDF."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DocumentError(f"no document folder or file at {root}: point suite.path at a folder of .txt/.md/.pdf")
    files = [root] if root.is_file() else _list_files(root)
    base = root.parent if root.is_file() else root
    report = FolderReport()
    documents: list[SourceDocument] = []
    for file in files:
        name = file.relative_to(base).as_posix()
        suffix = file.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            parts = [(name, _read_text(file))]
        elif suffix in PDF_SUFFIXES:
            parts = _read_pdf(file, name, max_pages)
        else:
            report.ignored.append(name)
            continue
        report.files += 1
        for doc_name, text in parts:
            if text.strip():
                documents.append(SourceDocument(doc_name, text))
            else:
                report.empty.append(doc_name)
    report.documents = len(documents)
    if not documents:
        supported = ", ".join(TEXT_SUFFIXES + PDF_SUFFIXES)
        if report.files == 0:
            raise DocumentError(f"{root} holds no {supported} files (ignored: {_names(report.ignored)})")
        raise DocumentError(f"no text in any document under {root}: {_names(report.empty)}")
    return documents, report


def _list_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _read_text(file: Path) -> str:
    try:
        return decode_text(file.read_bytes(), file)
    except NotUtf8 as exc:
        raise DocumentError(f"{file}: not UTF-8 text, line {exc.line} ({exc.reason}); save it as UTF-8") from None


def _read_pdf(file: Path, name: str, max_pages: int | None) -> list[tuple[str, str]]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise DocumentError(
            f"{file}: reading PDF files needs pypdf: pip install 'bench[pdf]' (or pip install pypdf)"
        ) from None
    try:
        reader = PdfReader(file)
        pages = reader.pages if max_pages is None else reader.pages[:max_pages]
        return [(f"{name}#page={i}", page.extract_text() or "") for i, page in enumerate(pages, start=1)]
    except Exception as exc:  # pypdf raises many types for damaged or encrypted files
        raise DocumentError(f"{file}: pypdf cannot read it ({type(exc).__name__}: {exc})") from None


def _names(names: list[str], limit: int = 10) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
