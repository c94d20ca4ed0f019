"""BM25 through bm25s: PyStemmer English stemming and English stopwords.

The index is cached as a store entry (every file checksummed, written atomically); an entry that
fails verification or that bm25s cannot load is moved aside and rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bench.console import stage
from bench.data.cache import cache_dir
from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.records import Document, Run
from bench.errors import InputError
from bench.store import CorruptEntry, quarantine, verify_folder, write_folder


def _bm25s():
    """bm25s, with its logger (DEBUG on import) turned down to warnings."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def make_stemmer(language: str | None):
    if not language:
        return None
    import Stemmer

    return Stemmer.Stemmer(language).stemWords


def tokenize(texts: list[str], *, stopwords: str | None, stemmer_language: str | None):
    """bm25s tokenisation; exposed so tests can reproduce exactly what the index saw."""
    return _bm25s().tokenize(
        texts,
        stopwords=stopwords or [],
        stemmer=make_stemmer(stemmer_language),
        show_progress=False,
    )


class BM25:
    """Lexical first stage. `method`, `k1`, `b` as in bm25s (lucene, robertson, atire, bm25l, bm25+)."""

    def __init__(
        self,
        *,
        name: str = "bm25",
        method: str = "lucene",
        k1: float = 0.9,
        b: float = 0.4,
        stopwords: str | None = "en",
        stemmer: str | None = "english",
        cache: bool = True,
    ) -> None:
        self.name = name
        self.params = {"method": method, "k1": k1, "b": b, "stopwords": stopwords, "stemmer": stemmer}
        self.cache = cache
        self._doc_ids: list[str] = []
        self._retriever = None
        self.cache_hit = False
        self.problems: list[dict[str, str]] = []

    def index(self, corpus: Mapping[str, Document]) -> None:
        bm25s = _bm25s()
        self._doc_ids = sorted(corpus)  # index positions follow the cache key (ids sorted), not input order
        key = stable_hash({"corpus": fingerprint_corpus(corpus), **self.params, "bm25s": bm25s.__version__})
        folder = cache_dir() / "bm25" / key
        if self.cache and folder.exists():
            self._retriever = self._load_verified(folder)
            if self._retriever is not None:
                self.cache_hit = True
                stage("indexing %s: %d documents, index reused from the cache (%s)", self.name, len(corpus), folder)
                return
        stage("indexing %s: %d documents", self.name, len(corpus))
        texts = [corpus[d].full_text for d in self._doc_ids]
        tokens = tokenize(texts, stopwords=self.params["stopwords"], stemmer_language=self.params["stemmer"])
        if not tokens.vocab:
            raise InputError(
                f"{self.name}: none of the {len(corpus)} documents has a single indexable term after "
                f"stopword removal (stopwords={self.params['stopwords']}); check the corpus text, or set "
                f"first_stage.{self.name}.stopwords=null")
        retriever = bm25s.BM25(method=self.params["method"], k1=self.params["k1"], b=self.params["b"])
        retriever.index(tokens, show_progress=False)
        self._retriever = retriever
        if self.cache:
            write_folder(folder, lambda tmp: retriever.save(str(tmp), show_progress=False),
                         meta={"kind": "bm25", "documents": len(self._doc_ids), **self.params})

    def _load_verified(self, folder: Path):
        """The cached index once its files match their checksums and it loads; else moved aside (None)."""
        try:
            record = verify_folder(folder)
            if record.get("documents") != len(self._doc_ids):
                raise CorruptEntry(folder, f"indexes {record.get('documents')} documents, the corpus has "
                                           f"{len(self._doc_ids)}")
            retriever = _bm25s().BM25.load(str(folder), load_vocab=True)
            if not np.isfinite(np.asarray(retriever.scores["data"])).all():
                raise CorruptEntry(folder, "holds NaN or infinite term scores")
        except CorruptEntry as exc:
            self.problems.append(quarantine(exc.path, exc.reason).as_dict())
            return None
        except Exception as exc:  # checksums matched but bm25s cannot read it: an entry from another bm25s
            self.problems.append(quarantine(folder, f"bm25s cannot load it ({type(exc).__name__}: {exc})").as_dict())
            return None
        return retriever

    def search(self, queries: Mapping[str, str], top_k: int = 100) -> Run:
        if self._retriever is None:
            raise RuntimeError("BM25.search called before index()")
        query_ids = list(queries)
        if not query_ids or not self._doc_ids:
            return {q: {} for q in query_ids}
        k = min(top_k, len(self._doc_ids))
        tokens = tokenize(
            [queries[q] for q in query_ids],
            stopwords=self.params["stopwords"],
            stemmer_language=self.params["stemmer"],
        )
        as_strings = _ids_to_strings(tokens)
        docs, scores = self._retriever.retrieve(as_strings, k=k, show_progress=False, n_threads=1)
        run: Run = {}
        for row, qid in enumerate(query_ids):
            hits = {}
            for idx, score in zip(docs[row], scores[row], strict=True):
                if score > 0:  # documents sharing no term with the query are not retrieved
                    hits[self._doc_ids[int(idx)]] = float(score)
            run[qid] = hits
        return run

    def info(self) -> dict[str, object]:
        return {"kind": "bm25", **self.params, "cache_hit": self.cache_hit, "quarantined": self.problems}


def _ids_to_strings(tokens) -> list[list[str]]:
    vocab_inv = {i: t for t, i in tokens.vocab.items()}
    return [[vocab_inv[i] for i in ids] for ids in tokens.ids]
