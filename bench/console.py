"""What a run says while it works: stage lines, progress bars, and the run's `bench.log`.

    with run_log(out_dir, quiet=cfg.quiet):
        stage("loading %s: %d docs", name, n)          # console (stderr) and out_dir/bench.log
        with progress(total=pairs, desc="rerank jina-tiny", unit="pair") as bar:
            with reporting(bar.update):
                reranker.score(pairs)                     # the engine calls advance(n) per batch

Progress bars and stage lines go to stderr, so stdout carries only the results table. `quiet`
turns the bars and stage lines off on the console (warnings still show); `bench.log` always gets
the stage lines, with times.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from tqdm.auto import tqdm

log = logging.getLogger("bench")

_quiet: ContextVar[bool] = ContextVar("bench_quiet", default=False)
_report: ContextVar[Callable[[int], object] | None] = ContextVar("bench_progress", default=None)


def stage(message: str, *args: object) -> None:
    """One line about the stage a run is in (loading, indexing, searching, reranking, evaluating)."""
    log.info(message, *args)


def is_quiet() -> bool:
    return _quiet.get()


def progress(*, total: int | None, desc: str, unit: str = "it", initial: int = 0, scale: bool | None = None) -> tqdm:
    """A progress bar on stderr (rate and ETA), silent when the run is quiet. `scale`: k/M prefixes
    (default: for totals of 100k and more)."""
    scale = (total or 0) >= 100_000 if scale is None else scale
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if unit == "B"
                else 1000, file=sys.stderr,
                disable=_quiet.get(), dynamic_ncols=True, mininterval=0.5, smoothing=0.05, leave=True)


@contextmanager
def reporting(callback: Callable[[int], object]) -> Iterator[None]:
    """Work done inside calls `callback(n)` through `advance(n)` (the engine does, per batch)."""
    token = _report.set(callback)
    try:
        yield
    finally:
        _report.reset(token)


def advance(n: int) -> None:
    """Tell the innermost `reporting` callback that `n` more items are done (no-op outside one)."""
    callback = _report.get()
    if callback is not None:
        callback(n)


class _TqdmHandler(logging.Handler):
    """Writes log lines above any progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never break a run
            self.handleError(record)


@contextmanager
def run_log(out_dir: Path, *, quiet: bool = False) -> Iterator[Path]:
    """For one run: bench's log lines to `out_dir/bench.log` (with times) and to stderr unless quiet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "bench.log"
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    file_handler.setLevel(logging.INFO)
    console = _TqdmHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    # library warnings (root logger) go to the same file; bench's own lines do not pass through root
    library_warnings = logging.FileHandler(path, encoding="utf-8")
    library_warnings.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    library_warnings.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(library_warnings)
    saved = (log.level, log.propagate, list(log.handlers))
    log.handlers = [file_handler, console]
    log.setLevel(logging.INFO)
    log.propagate = False  # Hydra's root handlers would print every line a second time
    token = _quiet.set(quiet)
    try:
        yield path
    finally:
        _quiet.reset(token)
        root.removeHandler(library_warnings)
        library_warnings.close()
        file_handler.close()
        log.setLevel(saved[0])
        log.propagate = saved[1]
        log.handlers = saved[2]
