"""Token-based chunks along sentence boundaries: LlamaIndex's SentenceSplitter, re-implemented.

The algorithm is SentenceSplitter's (llama-index-core 0.10-0.12; `SimpleNodeParser.from_defaults`
is the same class), so a chunk is what LlamaIndex would make from the same text:

1. `split`: a text over `chunk_size` tokens is cut at paragraph breaks ("\\n\\n\\n"); a piece still
   too long into sentences; still too long by the phrase regex (commas, semicolons), then at
   spaces, then into characters. Paragraphs and sentences are marked as sentences.
2. `merge`: pieces are packed greedily into chunks of at most `chunk_size` tokens; each new chunk
   starts with the last pieces of the previous one, up to `chunk_overlap` tokens.
3. chunks are stripped and empty ones dropped.

Differences from LlamaIndex, on purpose (so chunking runs offline and needs no download):

- Sentences come from `split_sentences`, a small rule (end punctuation, space, then a capital,
  digit or opening quote; common abbreviations and initials are not ends) instead of NLTK's punkt.
- Tokens are counted by `tokenizer` (see `token_counter`). LlamaIndex counts tiktoken's cl100k
  tokens. The default here, "regex", counts the pieces of cl100k's own pre-tokenisation pattern
  without the BPE merges: a common English word is one piece and one cl100k token, a rare word is
  one piece but several tokens, so counts are slightly lower and chunks slightly longer than
  LlamaIndex's. "tiktoken:cl100k_base" gives LlamaIndex's exact counts when tiktoken and its
  encoding file are available; a Hugging Face model id or folder counts that model's tokens.
- A document's metadata (file name, page label) is not subtracted from `chunk_size`; LlamaIndex
  subtracts the token length of the metadata string it attaches to each node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.errors import InputError

#: LlamaIndex's defaults: SentenceSplitter's separators and phrase regex.
PARAGRAPH_SEPARATOR = "\n\n\n"
WORD_SEPARATOR = " "
PHRASE_REGEX = "[^,.;。？！]+[,.;。？！]?|[,.;。？！]"

#: tiktoken's cl100k_base pre-tokenisation pattern (needs the `regex` module for \p{...}).
CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Words ending in a period that do not end a sentence (lower case, without the final period).
ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "cf", "al", "fig", "figs", "eq", "eqs", "no", "nos", "vol", "pp", "ch", "sec",
    "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "approx", "dept", "est",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k",
})
_SENTENCE_END = re.compile(r"[.!?。？！]+[\"'”’)\]]*\s+")
_SENTENCE_START = re.compile(r"[\"'“‘(\[]*[A-Z0-9]")
_WHITESPACE = re.compile(r"\s+")

TokenCounter = Callable[[str], int]


class ChunkingError(InputError):
    """Settings that cannot chunk, or a tokenizer that cannot be had: one line saying which setting to change."""


@dataclass(frozen=True)
class Piece:
    text: str
    is_sentence: bool
    tokens: int


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace; leading whitespace of the text is dropped.

    Like LlamaIndex's punkt splitter: piece i runs from the start of sentence i to the start of
    sentence i + 1, so joining the pieces gives the text back without its leading whitespace.
    """
    first = len(text) - len(text.lstrip())
    if first == len(text):
        return []
    starts = [first]
    for match in _SENTENCE_END.finditer(text, first):
        end = match.end()
        if end >= len(text) or not _SENTENCE_START.match(text, end):
            continue
        if _is_abbreviation(text[: match.start() + 1]):
            continue
        starts.append(end)
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _is_abbreviation(before: str) -> bool:
    """Whether the word ending at a period is an abbreviation or an initial ("J.")."""
    if not before.endswith("."):
        return False
    word = before.rsplit(None, 1)[-1].rstrip(".").lstrip("\"'“‘([").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_keep_separator(text: str, separator: str) -> list[str]:
    """Split at `separator`, which stays at the start of each following piece (LlamaIndex's rule)."""
    parts = text.split(separator)
    pieces = [separator + part if i else part for i, part in enumerate(parts)]
    return [p for p in pieces if p]


class SentenceChunker:
    """Split texts into chunks of at most `chunk_size` tokens with `chunk_overlap` tokens of overlap."""

    def __init__(
        self,
        *,
        chunk_size: int = 512,
        chunk_overlap: int = 200,
        count_tokens: TokenCounter | None = None,
        sentence_splitter: Callable[[str], list[str]] = split_sentences,
    ) -> None:
        if chunk_size <= 0:
            raise ChunkingError(f"suite.chunk_size must be positive, got {chunk_size}")
        if not 0 <= chunk_overlap <= chunk_size:
            raise ChunkingError(
                f"suite.chunk_overlap must be between 0 and suite.chunk_size ({chunk_size}), got {chunk_overlap}"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.count_tokens = count_tokens or regex_token_counter()
        self._split_fns: list[Callable[[str], list[str]]] = [
            lambda t: split_keep_separator(t, PARAGRAPH_SEPARATOR),
            sentence_splitter,
        ]
        self._sub_sentence_fns: list[Callable[[str], list[str]]] = [
            lambda t: re.findall(PHRASE_REGEX, t),
            lambda t: split_keep_separator(t, WORD_SEPARATOR),
            list,
        ]

    def split_text(self, text: str) -> list[str]:
        """The chunks of `text`, stripped, none empty."""
        if not text.strip():
            return []
        return self._merge(self._split(text))

    def _split(self, text: str) -> list[Piece]:
        tokens = self.count_tokens(text)
        if tokens <= self.chunk_size:
            return [Piece(text, True, tokens)]
        parts, is_sentence = self._split_once(text)
        pieces: list[Piece] = []
        for part in parts:
            tokens = self.count_tokens(part)
            if tokens <= self.chunk_size:
                pieces.append(Piece(part, is_sentence, tokens))
            else:
                pieces.extend(self._split(part))
        return pieces

    def _split_once(self, text: str) -> tuple[list[str], bool]:
        for split in self._split_fns:
            parts = split(text)
            if len(parts) > 1:
                return parts, True
        parts = [text]
        for split in self._sub_sentence_fns:
            parts = split(text)
            if len(parts) > 1:
                break
        return parts, False

    def _merge(self, pieces: Sequence[Piece]) -> list[str]:
        chunks: list[str] = []
        current: list[Piece] = []
        current_tokens = 0
        new_chunk = True

        def close_chunk() -> None:
            nonlocal current, current_tokens, new_chunk
            chunks.append("".join(p.text for p in current))
            last, current, current_tokens, new_chunk = current, [], 0, True
            for piece in reversed(last):  # the overlap: trailing pieces of the chunk just closed
                if current_tokens + piece.tokens > self.chunk_overlap:
                    break
                current.insert(0, piece)
                current_tokens += piece.tokens

        index = 0
        while index < len(pieces):
            piece = pieces[index]
            if piece.tokens > self.chunk_size:
                raise ChunkingError(f"a single token is longer than chunk_size ({self.chunk_size}): "
                                    f"{piece.text[:40]!r}; raise suite.chunk_size")
            if current_tokens + piece.tokens > self.chunk_size and not new_chunk:
                close_chunk()
            elif piece.is_sentence or current_tokens + piece.tokens <= self.chunk_size or new_chunk:
                current.append(piece)
                current_tokens += piece.tokens
                index += 1
                new_chunk = False
            else:
                close_chunk()
        if not new_chunk:
            chunks.append("".join(p.text for p in current))
        return [c.strip() for c in chunks if c.strip()]


def regex_token_counter() -> TokenCounter:
    """Count cl100k pre-tokenisation pieces (see the module docstring)."""
    import regex

    pattern = regex.compile(CL100K_PATTERN)
    return lambda text: sum(1 for _ in pattern.finditer(text))


def token_counter(name: str = "regex") -> tuple[TokenCounter, str]:
    """A token counter and a description of it for the manifest.

    "regex"                 cl100k pre-tokenisation pieces (offline, no download; the default)
    "tiktoken:<encoding>"   tiktoken's exact count (LlamaIndex uses cl100k_base)
    anything else           a Hugging Face tokenizer: a hub id or folder, resolved by bench.models.hub
    """
    if name == "regex":
        return regex_token_counter(), "regex: cl100k pre-tokenisation pieces"
    if name.startswith("tiktoken:"):
        encoding_name = name.split(":", 1)[1]
        try:
            import tiktoken

            encoding = tiktoken.get_encoding(encoding_name)
        except Exception as exc:  # not installed, or its encoding file cannot be downloaded
            raise ChunkingError(
                f"tokenizer {name!r} is unavailable ({type(exc).__name__}: {exc}); "
                "use suite.tokenizer=regex (offline) or install tiktoken with network access"
            ) from exc
        return (lambda text: len(encoding.encode(text, disallowed_special=()))), f"tiktoken {encoding_name}"
    return _hf_counter(name)


def _hf_counter(name: str) -> tuple[TokenCounter, str]:
    from transformers import AutoTokenizer

    from bench.models.hub import resolve

    where = resolve(name)  # ModelUnavailable when it cannot be had: the caller reports it
    tokenizer = AutoTokenizer.from_pretrained(str(where.path))

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    return count, f"huggingface {name} ({where.source})"


def chunk_id(document_name: str, index: int) -> str:
    """`<document name>#<index>`, whitespace replaced by "_": stable while the document and settings are."""
    return f"{_WHITESPACE.sub('_', document_name)}#{index}"


def chunk_documents(documents: Sequence[tuple[str, str]], chunker: SentenceChunker) -> dict[str, str]:
    """{chunk id: chunk text} for (document name, text) pairs, in document then chunk order."""
    chunks: dict[str, str] = {}
    owner: dict[str, str] = {}
    for name, text in documents:
        for index, chunk in enumerate(chunker.split_text(text)):
            key = chunk_id(name, index)
            if key in owner:
                raise ChunkingError(
                    f"documents {owner[key]!r} and {name!r} give the same chunk id {key!r}: rename one"
                )
            owner[key] = name
            chunks[key] = chunk
    return chunks
