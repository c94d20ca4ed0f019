"""One cache entry: a folder written atomically, with the checksum of every file it holds.

    write_folder(path, fill, meta={...})   # fill(tmp) writes files; the folder appears whole or not at all
    meta = verify_folder(path)             # CorruptEntry(path, reason) when anything is off
    write_array(path, array) / read_array(path, rows=n)

Why a folder renamed into place: a reader sees either no entry or a complete one, whatever moment
a writer is killed at, and two processes writing the same entry at once never mix their files (the
second rename fails and that writer drops its copy: the entry it lost to holds the same values).
`entry.json` is written last inside the temporary folder and lists each file's size and sha256,
so a file truncated, replaced or emptied after the fact is found before it is used.

No fsync: a killed process loses nothing that was renamed into place (the data is in the page
cache), and what a power loss might tear is caught by the checksums on the next read and
recomputed, so a flush per shard would buy nothing but waiting on a busy disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.cache import cache_dir

log = logging.getLogger("bench")

ENTRY_FILE = "entry.json"
ARRAY_FILE = "data.npy"
FORMAT = 1


class CorruptEntry(Exception):
    """A cache entry that must not be used: `path` and `reason` say which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Quarantined:
    """An entry that failed verification, where it was moved and why."""

    path: str
    moved_to: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "moved_to": self.moved_to, "reason": self.reason}


def sha256_file(path: Path, *, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_folder(final: Path, fill: Callable[[Path], dict[str, Any] | None], *, meta: dict[str, Any]) -> bool:
    """Create the entry `final` atomically; `fill(tmp)` writes its files and may return more metadata.

    Returns True when this call's copy became the entry, False when another process had already
    written it (that copy is kept; both were computed from the same key).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name}-"))
    try:
        extra = fill(tmp) or {}
        files = {}
        for item in sorted(tmp.iterdir()):
            if not item.is_file():
                raise ValueError(f"cache entry {final}: only plain files are checksummed, got {item.name}")
            files[item.name] = {"bytes": item.stat().st_size, "sha256": sha256_file(item)}
        record = {"format": FORMAT, "created": time.time(), **meta, **extra, "files": files}
        (tmp / ENTRY_FILE).write_text(json.dumps(record, sort_keys=True, default=str))
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def verify_folder(final: Path) -> dict[str, Any]:
    """The entry's metadata, once every file it lists has its recorded size and sha256."""
    record_path = final / ENTRY_FILE
    if not final.is_dir():
        raise CorruptEntry(final, "not a folder")
    if not record_path.is_file():
        raise CorruptEntry(final, f"no {ENTRY_FILE} (interrupted, or written by another tool or an older bench)")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptEntry(final, f"{ENTRY_FILE} is unreadable ({exc})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict) or record.get("format") != FORMAT:
        raise CorruptEntry(final, f"{ENTRY_FILE} is not a bench entry record of format {FORMAT}")
    for name, facts in record["files"].items():
        path = final / name
        if not path.is_file():
            raise CorruptEntry(final, f"{name} is missing")
        size = path.stat().st_size
        if size != facts.get("bytes"):
            raise CorruptEntry(final, f"{name} holds {size} bytes, {facts.get('bytes')} were written (truncated?)")
        if sha256_file(path) != facts.get("sha256"):
            raise CorruptEntry(final, f"{name} does not match its sha256 (changed after it was written)")
    return record


def quarantine(final: Path, reason: str) -> Quarantined:
    """Move a failed entry out of the way (under `$BENCH_CACHE/quarantine/`), say so, and return where."""
    root = cache_dir()
    try:
        relative = final.resolve().relative_to(root.resolve())
        target_dir = root / "quarantine"
        label = "__".join(relative.parts)
    except ValueError:
        target_dir = final.parent / ".quarantine"
        label = final.name
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{label}.{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        os.rename(final, target)
        (target / "REASON.txt").write_text(reason + "\n")
    except FileNotFoundError:  # another process moved it first
        pass
    except NotADirectoryError:  # a stray file where a folder belongs
        final.unlink(missing_ok=True)
    log.warning("cache entry %s failed verification (%s); moved to %s and recomputing", final, reason, target)
    return Quarantined(str(final), str(target), reason)


# ------------------------------------------------------------------------------------------------
# Arrays: embeddings and scores.


def write_array(final: Path, array: np.ndarray, *, meta: dict[str, Any] | None = None) -> bool:
    """An entry holding one array as `data.npy`, with its shape and dtype recorded."""
    array = np.ascontiguousarray(array)
    if not np.isfinite(array).all():
        raise ValueError(f"refusing to cache non-finite values in {final}")

    def fill(tmp: Path) -> dict[str, Any]:
        np.save(tmp / ARRAY_FILE, array, allow_pickle=False)
        return {"shape": list(array.shape), "dtype": str(array.dtype)}

    return write_folder(final, fill, meta=dict(meta or {}))


def all_finite(array: np.ndarray, *, rows_per_block: int = 65_536) -> bool:
    """np.isfinite over an array (memory-mapped too) a block of rows at a time."""
    return all(bool(np.isfinite(array[i : i + rows_per_block]).all()) for i in range(0, len(array), rows_per_block))


def read_array(final: Path, *, rows: int, columns: int | None = None, mmap: bool = False) -> np.ndarray:
    """The entry's array once verified: checksums, `rows` rows (and `columns`), every value finite."""
    record = verify_folder(final)
    try:
        array = np.load(final / ARRAY_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CorruptEntry(final, f"{ARRAY_FILE} is not a readable array ({exc})") from exc
    if list(array.shape) != list(record.get("shape", [])):
        raise CorruptEntry(final, f"shape {list(array.shape)} differs from the recorded {record.get('shape')}")
    if array.ndim == 0 or array.shape[0] != rows:
        got = array.shape[0] if array.ndim else 0
        raise CorruptEntry(final, f"{got} rows where {rows} were expected")
    if columns is not None and (array.ndim != 2 or array.shape[1] != columns):
        raise CorruptEntry(final, f"shape {list(array.shape)} where {columns} columns were expected")
    if not all_finite(array):
        raise CorruptEntry(final, "holds NaN or infinite values")
    return array
