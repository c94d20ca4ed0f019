"""Where bench keeps downloads and computed artefacts (each cache keys its entries with bench.data.fingerprint)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$BENCH_CACHE`, else `$XDG_CACHE_HOME/bench`, else `~/.cache/bench`. Not created here."""
    explicit = os.environ.get("BENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "bench"
