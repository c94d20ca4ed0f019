"""The shards of one unit of work (a reranker over one candidate set, a model over one corpus).

    shards = ArrayShards(cache_dir() / "scores" / key, total=18, describe={...})
    scores = shards.load(3, rows=25_600)       # None: absent, or failed verification and moved aside
    shards.save(3, scores)

Shard `i` of `n` lives in `<folder>/shard-0000i-of-0000n/` (an entry of `bench.store.entries`);
`describe` is written once to `<folder>/study.json` so a person can tell what a folder holds.
With `folder=None` nothing is read or written (the `cache=false` setting): every shard is computed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.store.entries import CorruptEntry, Quarantined, quarantine, read_array, write_array


@dataclass
class ShardCounts:
    """What happened to a unit's shards in one run; the manifest records it per system."""

    total: int = 0
    computed: int = 0
    reused: int = 0
    quarantined: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "computed": self.computed, "reused": self.reused,
                "quarantined": self.quarantined}


#: a temporary entry folder untouched this long was left by a writer that was killed
STALE_AFTER_S = 3600


def remove_stale_temporaries(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> int:
    """Delete `.tmp-*` folders that killed writers left in `folder`; a live writer's are recent and kept."""
    if not folder.is_dir():
        return 0
    removed = 0
    for item in folder.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if time.time() - item.stat().st_mtime > older_than_s:
                shutil.rmtree(item, ignore_errors=True)
                removed += 1
    return removed


@dataclass
class ArrayShards:
    folder: Path | None
    total: int
    describe: dict[str, Any] = field(default_factory=dict)
    counts: ShardCounts = field(init=False)
    problems: list[Quarantined] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.counts = ShardCounts(total=self.total)
        if self.folder is not None:
            remove_stale_temporaries(self.folder)

    def path(self, index: int) -> Path:
        if self.folder is None:
            raise ValueError("this unit has no cache folder (cache=false)")
        return self.folder / f"shard-{index:05d}-of-{self.total:05d}"

    def exists(self, index: int) -> bool:
        return self.folder is not None and self.path(index).exists()

    def load(self, index: int, *, rows: int, columns: int | None = None, mmap: bool = False) -> np.ndarray | None:
        """The verified shard, counted as reused; None when absent or moved aside for failing verification."""
        if not self.exists(index):
            return None
        try:
            array = read_array(self.path(index), rows=rows, columns=columns, mmap=mmap)
        except CorruptEntry as exc:
            self.problems.append(quarantine(exc.path, exc.reason))
            self.counts.quarantined += 1
            return None
        self.counts.reused += 1
        return array

    def reopen(self, index: int, *, rows: int, columns: int | None = None) -> np.ndarray:
        """A shard this run has just saved, read back memory-mapped (checked again, not counted as reused)."""
        return read_array(self.path(index), rows=rows, columns=columns, mmap=True)

    def save(self, index: int, array: np.ndarray, *, meta: dict[str, Any] | None = None) -> None:
        """Record a computed shard (counted as computed) and write it when there is a cache folder."""
        self.counts.computed += 1
        if self.folder is not None:
            if self.describe:
                self._write_description()
            write_array(self.path(index), array, meta={"shard": index, "of": self.total, **(meta or {})})

    def _write_description(self) -> None:
        assert self.folder is not None
        target = self.folder / "study.json"
        if target.is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".study.json.{os.getpid()}")
        tmp.write_text(json.dumps({"shards": self.total, **self.describe}, indent=2, sort_keys=True, default=str))
        tmp.replace(target)
