"""Stable content hashes that key on-disk caches (BM25 indexes, embeddings, reranker scores)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from bench.data.records import Document, Run, ranked


def stable_hash(obj: object) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys), first 16 hex digits."""
    payload = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def fingerprint_corpus(corpus: Mapping[str, Document]) -> str:
    digest = hashlib.sha256()
    for doc_id in sorted(corpus):
        doc = corpus[doc_id]
        for part in (doc.id, doc.title, doc.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x1f")
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def fingerprint_run(run: Run) -> str:
    """Hash of a run's candidate lists (ids in `ranked` order, scores rounded to 6 digits)."""
    return stable_hash({q: [(d, round(s, 6)) for d, s in ranked(docs)] for q, docs in run.items()})
