"""Chunking like LlamaIndex's SentenceSplitter, and reading a folder of .txt / .md / .pdf files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.suites.rag.chunking import (
    ChunkingError,
    SentenceChunker,
    chunk_documents,
    chunk_id,
    regex_token_counter,
    split_sentences,
    token_counter,
)
from bench.suites.rag.documents import DocumentError, read_documents

DOCS = Path(__file__).resolve().parents[2] / "bench" / "suites" / "rag" / "data" / "docs"
WORDS = lambda text: len(text.split())  # noqa: E731 - a token counter that is easy to check by hand


def test_sentences_keep_their_trailing_whitespace_and_skip_abbreviations():
    text = "  Hello there. This is e.g. a test by Dr. Smith! Is J. Smith here? yes. Version 2.5 ships.\n\nNew."
    assert split_sentences(text) == [
        "Hello there. ", "This is e.g. a test by Dr. Smith! ", "Is J. Smith here? yes. ", "Version 2.5 ships.\n\n",
        "New.",
    ]
    assert "".join(split_sentences(text)) == text.lstrip()
    assert split_sentences("   ") == []


def test_short_text_is_one_chunk_and_blank_text_none():
    chunker = SentenceChunker(chunk_size=50, chunk_overlap=10, count_tokens=WORDS)
    assert chunker.split_text("  One sentence only.  ") == ["One sentence only."]
    assert chunker.split_text(" \n ") == []


def test_chunks_follow_sentences_with_overlap_by_hand():
    # six sentences of 4 words each; chunk_size 10 words fits two sentences, overlap 4 repeats one
    sentences = [f"Sentence {n} has words." for n in "ABCDEF"]
    chunker = SentenceChunker(chunk_size=10, chunk_overlap=4, count_tokens=WORDS)
    chunks = chunker.split_text(" ".join(sentences))
    assert chunks == [
        "Sentence A has words. Sentence B has words.",
        "Sentence B has words. Sentence C has words.",
        "Sentence C has words. Sentence D has words.",
        "Sentence D has words. Sentence E has words.",
        "Sentence E has words. Sentence F has words.",
    ]
    no_overlap = SentenceChunker(chunk_size=10, chunk_overlap=0, count_tokens=WORDS).split_text(" ".join(sentences))
    assert no_overlap == [" ".join(sentences[i : i + 2]) for i in range(0, 6, 2)]


def test_a_long_sentence_is_cut_at_phrases_then_words():
    text = "one two three four five six, seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    chunks = SentenceChunker(chunk_size=5, chunk_overlap=0, count_tokens=WORDS).split_text(text)
    assert all(WORDS(c) <= 5 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_real_documents_chunk_within_size_and_deterministically():
    count = regex_token_counter()
    chunker = SentenceChunker(chunk_size=128, chunk_overlap=20, count_tokens=count)
    documents, _ = read_documents(DOCS) if DOCS.is_dir() else pytest.skip("shipped docs not present")
    first = chunk_documents([(d.name, d.text) for d in documents], chunker)
    second = chunk_documents([(d.name, d.text) for d in documents], chunker)
    assert first == second
    assert all(count(text) <= 128 for text in first.values())
    name = documents[0].name
    assert list(first)[0] == f"{name}#0"


def test_sentence_splitter_equivalence_when_llamaindex_is_installed():
    node_parser = pytest.importorskip("llama_index.core.node_parser")
    count = regex_token_counter()
    texts = [p.read_text() for p in sorted(DOCS.glob("*.md"))] or ["Alpha beta. Gamma delta.\n\n\nEpsilon."]
    texts.append(" ".join(texts))
    for size, overlap in ((512, 200), (64, 20), (30, 0)):
        ours = SentenceChunker(chunk_size=size, chunk_overlap=overlap, count_tokens=count)
        theirs = node_parser.SentenceSplitter(chunk_size=size, chunk_overlap=overlap,
                                              tokenizer=lambda s: [0] * count(s), chunking_tokenizer_fn=split_sentences)
        for text in texts:
            assert ours.split_text(text) == theirs.split_text(text)


def test_token_counters():
    count, description = token_counter("regex")
    assert count("Hello, world!") == 4  # "Hello" "," " world" "!"
    assert "cl100k" in description
    hf, description = token_counter("sentence-transformers/all-MiniLM-L6-v2")
    assert hf("hello world") == 2
    with pytest.raises(ChunkingError, match="tiktoken:no-such-encoding"):
        token_counter("tiktoken:no-such-encoding")


def test_bad_settings_and_colliding_ids_are_errors():
    with pytest.raises(ChunkingError, match="chunk_overlap"):
        SentenceChunker(chunk_size=10, chunk_overlap=20)
    chunker = SentenceChunker(chunk_size=10, chunk_overlap=0, count_tokens=WORDS)
    assert chunk_id("my notes.md", 3) == "my_notes.md#3"
    with pytest.raises(ChunkingError, match="'my notes.md' and 'my_notes.md'"):
        chunk_documents([("my notes.md", "Some text."), ("my_notes.md", "Other text.")], chunker)


# ------------------------------------------------------------------------------------------------
# Reading documents.


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one Helvetica text line per page (an empty string gives a page without text)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET" if text else ""
        page_number = len(objects) + 1
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_number + 1} 0 R "
                       f"/Resources << /Font << /F1 {len(pages) * 2 + 3} 0 R >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        kids.append(f"{page_number} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_folder_of_text_markdown_and_pdf(tmp_path: Path):
    pytest.importorskip("pypdf")
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Plain text file.")
    (tmp_path / "sub" / "b.md").write_text("# Title\n\nMarkdown body.")
    (tmp_path / "c.pdf").write_bytes(minimal_pdf(["Hello PDF world.", ""]))
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("not read")
    documents, report = read_documents(tmp_path)
    assert [d.name for d in documents] == ["a.txt", "c.pdf#page=1", "sub/b.md"]
    assert "Hello PDF world." in documents[1].text
    assert report.empty == ["c.pdf#page=2", "empty.md"]
    assert report.ignored == ["image.png"]
    assert report.files == 4 and report.documents == 3


def test_max_pages_and_a_single_file(tmp_path: Path):
    pytest.importorskip("pypdf")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(minimal_pdf(["Page one.", "Page two.", "Page three."]))
    documents, _ = read_documents(pdf, max_pages=2)
    assert [d.name for d in documents] == ["paper.pdf#page=1", "paper.pdf#page=2"]


def test_document_errors_name_the_file(tmp_path: Path):
    with pytest.raises(DocumentError, match="no document folder"):
        read_documents(tmp_path / "missing")
    (tmp_path / "only.csv").write_text("a,b")
    with pytest.raises(DocumentError, match=r"no \.txt.*ignored: only\.csv"):
        read_documents(tmp_path)
    (tmp_path / "blank.txt").write_text("   ")
    with pytest.raises(DocumentError, match="no text in any document.*blank.txt"):
        read_documents(tmp_path)
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(DocumentError, match="latin.txt: not UTF-8"):
        read_documents(tmp_path)
    (tmp_path / "latin.txt").unlink()
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(DocumentError, match="broken.pdf"):
        read_documents(tmp_path)
