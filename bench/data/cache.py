"""Where bench keeps downloads and computed artefacts, and the hash that keys them to a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from bench.data.fingerprint import fingerprint_corpus, stable_hash
from bench.data.records import Dataset


def cache_dir() -> Path:
    """`$BENCH_CACHE`, else `$XDG_CACHE_HOME/bench`, else `~/.cache/bench`. Not created here."""
    explicit = os.environ.get("BENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "bench"


def fingerprint_dataset(dataset: Dataset) -> str:
    """16 hex digits that change with any character of the corpus, the evaluated queries or the qrels.

    Order does not matter and neither do `name`, `split` or `source`: the same content loaded from
    two places shares its caches. The corpus part is `fingerprint_corpus`, so a stage keyed on the
    corpus alone agrees with this one.
    """
    return stable_hash(
        {
            "corpus": fingerprint_corpus(dataset.corpus),
            "queries": dataset.queries,
            "qrels": dataset.qrels,
        }
    )
