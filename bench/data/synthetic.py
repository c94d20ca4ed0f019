"""Deterministic synthetic collections in BEIR layout, of any size: for scale benchmarks and tests.

    folder = write_synthetic(path, documents=100_000, queries=1_000, seed=0)   # corpus, queries, qrels
    dataset = synthetic(documents=100_000, queries=1_000)                      # written once, cached, loaded

Text: tokens of a synthetic, pronounceable vocabulary (two or three consonant-vowel-consonant
syllables: "bakmot", "lenzivrat"; never an English stopword) drawn from a Zipf-Mandelbrot
distribution, p(rank r) ~ 1 / (r + 2.7), so a few words are in almost every document and most are
rare, as in real text. Document lengths vary uniformly in [doc_length / 2, 3 doc_length / 2].

Relevance: each query owns a handful of rare "topic" words. Its `judged_per_query` judged
documents (distinct documents, spread over the corpus) mix some of those topic words into their
text, the first judged document more of them (grade 2, the others grade 1); the query is a few of
its topic words plus one common word. BM25 therefore has real signal (nDCG@10 far above a random
ranking) but not a perfect one: unjudged documents contain the same words by chance.

Everything follows from the parameters: the same parameters give byte-identical files on any
machine (numpy's PCG64 streams, fixed block sizes, no hash ordering). Files are written in blocks
of documents, so a collection of millions never sits in memory as Python objects.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.data.cache import cache_dir
from bench.data.fingerprint import stable_hash
from bench.data.records import Dataset

#: bump when the generator changes what it writes: cached folders are keyed on it
FORMAT = 1
#: documents generated per block (fixed: the random streams must not depend on memory settings)
BLOCK = 4096
#: Zipf-Mandelbrot parameters of the word distribution
ZIPF_EXPONENT = 1.0
ZIPF_SHIFT = 2.7
#: topic words per query; the least frequent `TOPIC_FRACTION` of the vocabulary provides them
TOPIC_WORDS = 6
TOPIC_FRACTION = 0.8
#: words of a query taken from its topic words (plus one common word)
QUERY_TOPIC_WORDS = 4
#: probability that a judged document contains a given topic word (grade 2: the first judged one)
TOPIC_PROBABILITY = {2: 0.9, 1: 0.6}
#: how often a topic word a judged document contains is repeated there (1..this)
TOPIC_REPEATS = 3
TITLE_WORDS = (3, 7)

_ONSETS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_CODAS = "klmnrst"


def make_vocabulary(size: int) -> list[str]:
    """`size` distinct pronounceable words, most frequent first; depends on `size` only."""
    if size < 100:
        raise ValueError(f"vocabulary must hold at least 100 words, got {size}")
    syllables = [o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS]  # 490
    count = len(syllables)
    if size > count**2 + count**3:
        raise ValueError(f"vocabulary of {size} words is more than this generator makes ({count**2 + count**3})")
    # A fixed shuffle (its own seed) so that frequent words are not all alike.
    order = np.random.default_rng(20_240_601).permutation(count**2)
    words = [syllables[i // count] + syllables[i % count] for i in order[:size].tolist()]
    if size > len(words):
        extra = np.random.default_rng(20_240_602).choice(count**3, size=size - len(words), replace=False)
        words += [syllables[i // count**2] + syllables[(i // count) % count] + syllables[i % count]
                  for i in sorted(extra.tolist())]
    return words


def _zipf_cdf(size: int) -> np.ndarray:
    weights = 1.0 / (np.arange(size, dtype=np.float64) + ZIPF_SHIFT) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def write_synthetic(
    folder: str | Path,
    *,
    documents: int,
    queries: int,
    seed: int = 0,
    vocabulary: int = 30_000,
    doc_length: int = 60,
    judged_per_query: int = 3,
) -> Path:
    """Write corpus.jsonl, queries.jsonl and qrels/test.tsv into `folder` (created); return it.

    Document ids are `d<n>`, query ids `q<n>`. Every query has `judged_per_query` judged documents;
    no document is judged for two queries, so `documents >= queries * judged_per_query`.
    """
    if documents < 1 or queries < 1 or judged_per_query < 1:
        raise ValueError("documents, queries and judged_per_query must be at least 1")
    if queries * judged_per_query > documents:
        raise ValueError(f"{queries} queries x {judged_per_query} judged documents need at least "
                         f"{queries * judged_per_query} documents, got {documents}")
    if doc_length < 2:
        raise ValueError(f"doc_length must be at least 2, got {doc_length}")
    words = np.array(make_vocabulary(vocabulary), dtype=object)
    cdf = _zipf_cdf(vocabulary)
    plan_rng = np.random.default_rng([seed, 0])
    # the topic words of each query: distinct within a query, from the rarer part of the vocabulary
    first_topic = int(vocabulary * (1 - TOPIC_FRACTION))
    topics = np.stack([plan_rng.choice(np.arange(first_topic, vocabulary), size=TOPIC_WORDS, replace=False)
                       for _ in range(queries)])
    judged = plan_rng.choice(documents, size=queries * judged_per_query, replace=False).reshape(
        queries, judged_per_query)
    judged_of = {int(doc): (q, 2 if j == 0 else 1) for q in range(queries) for j, doc in enumerate(judged[q])}

    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        for start in range(0, documents, BLOCK):
            handle.write("".join(_corpus_block(seed, start, min(documents, start + BLOCK), words, cdf, doc_length,
                                               judged_of, topics)))
    query_rng = np.random.default_rng([seed, 2])
    with (folder / "queries.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
        for q in range(queries):
            picked = query_rng.choice(topics[q], size=QUERY_TOPIC_WORDS, replace=False).tolist()
            common = int(_draw(query_rng, cdf[:first_topic] / cdf[first_topic - 1], 1)[0])
            position = int(query_rng.integers(0, len(picked) + 1))
            picked.insert(position, common)
            handle.write(json.dumps({"_id": f"q{q}", "text": " ".join(words[picked].tolist())}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="\n") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for q in range(queries):
            for j, doc in enumerate(judged[q].tolist()):
                handle.write(f"q{q}\td{doc}\t{2 if j == 0 else 1}\n")
    return folder


def _corpus_block(
    seed: int, start: int, stop: int, words: np.ndarray, cdf: np.ndarray, doc_length: int,
    judged_of: dict[int, tuple[int, int]], topics: np.ndarray,
) -> Iterator[str]:
    """The JSON lines of documents start..stop-1, from the block's own random stream."""
    rng = np.random.default_rng([seed, 1, start // BLOCK])
    n = stop - start
    # lengths for a whole block even when this one is shorter (the last), and the words as a prefix
    # of the block's stream: a longer collection then starts with the same documents
    lengths = rng.integers(max(1, doc_length // 2), doc_length + doc_length // 2 + 1, size=BLOCK)[:n]
    title_lengths = rng.integers(TITLE_WORDS[0], TITLE_WORDS[1] + 1, size=BLOCK)[:n]
    drawn = _draw(rng, cdf, int(lengths.sum() + title_lengths.sum()))
    offset = 0
    for i in range(n):
        title_ids = drawn[offset : offset + title_lengths[i]]
        offset += title_lengths[i]
        body = drawn[offset : offset + lengths[i]]
        offset += lengths[i]
        doc = start + i
        if doc in judged_of:
            body = _with_topic(np.random.default_rng([seed, 3, doc]), body, *judged_of[doc], topics)
        yield json.dumps({"_id": f"d{doc}", "title": " ".join(words[title_ids].tolist()),
                          "text": " ".join(words[body].tolist())}) + "\n"


def _with_topic(rng: np.random.Generator, body: np.ndarray, query: int, grade: int, topics: np.ndarray) -> np.ndarray:
    """A judged document's words with some of its query's topic words put in at random places."""
    chosen = [int(t) for t in topics[query] if rng.random() < TOPIC_PROBABILITY[grade]]
    if not chosen:
        chosen = [int(topics[query][0])]
    inserted = np.array([t for t in chosen for _ in range(int(rng.integers(1, TOPIC_REPEATS + 1)))], dtype=body.dtype)
    body = body.copy()
    places = rng.choice(len(body), size=min(len(inserted), len(body)), replace=False)
    body[places] = inserted[: len(places)]
    return body


def synthetic_key(**params: object) -> str:
    return stable_hash({"format": FORMAT, **params})


def synthetic_folder(
    *, documents: int, queries: int, seed: int = 0, vocabulary: int = 30_000, doc_length: int = 60,
    judged_per_query: int = 3,
) -> Path:
    """The cached folder of these parameters, written first if absent (atomically: temp folder, rename)."""
    params = {"documents": documents, "queries": queries, "seed": seed, "vocabulary": vocabulary,
              "doc_length": doc_length, "judged_per_query": judged_per_query}
    root = cache_dir() / "synthetic"
    final = root / synthetic_key(**params)
    if (final / "params.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{final.name}-"))
    try:
        write_synthetic(tmp, **params)
        (tmp / "params.json").write_text(json.dumps({"format": FORMAT, **params}, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "params.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process wrote the same folder first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def synthetic(
    documents: int = 10_000,
    queries: int = 100,
    seed: int = 0,
    name: str | None = None,
    vocabulary: int = 30_000,
    doc_length: int = 60,
    judged_per_query: int = 3,
    split: str = "test",
) -> Dataset:
    """A synthetic collection as a loaded `Dataset` (written under $BENCH_CACHE/synthetic/ once).

    Only qrels/test.tsv is written; `split` is there so that the config reads like the others.
    """
    from bench.data.sources import local

    folder = synthetic_folder(documents=documents, queries=queries, seed=seed, vocabulary=vocabulary,
                              doc_length=doc_length, judged_per_query=judged_per_query)
    dataset = local(folder, split=split, name=name or f"synthetic-{documents}x{queries}-s{seed}")
    dataset.source = f"synthetic(documents={documents}, queries={queries}, seed={seed}) at {folder}"
    return dataset
