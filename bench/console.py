"""What a run says while it works: stage lines, progress bars, and the run's `bench.log`.

    with run_log(out_dir, quiet=cfg.quiet):
        stage("loading %s: %d docs", name, n)          # console (stderr) and out_dir/bench.log
        with progress(total=pairs, desc="rerank jina-tiny", unit="pair") as bar:
            with reporting(bar.update):
                reranker.score(pairs)                     # the engine calls advance(n) per batch

Progress bars and stage lines go to stderr, so stdout carries only the results table. `quiet`
turns the bars and stage lines off on the console (warnings still show); `bench.log` always gets
the stage lines, with times.

When a command stops on the user's input (a config value, a file, an id), the user reads one line,
the run's bench.log keeps the traceback:

    with user_errors("bench", log_dir=run_dir):          # `bench: <message>` on stderr, exit 2,
        run(cfg)                                         # the traceback in run_dir/bench.log

BENCH_TRACEBACK=1 shows the traceback on the console instead.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


# ------------------------------------------------------------------------------------------------
# When a command stops on the user's input: one line on stderr, the traceback in the run's log.

#: set to 1 to see the traceback of an input error instead of its one line (for debugging bench)
TRACEBACK_ENV = "BENCH_TRACEBACK"
#: the exit status of a command stopped by its input (argparse's too)
INPUT_ERROR_STATUS = 2
#: errors that are the user's to fix besides bench.errors.InputError and its subclasses, as "module:Class".
#: Looked up only in modules already imported: an instance cannot exist before its module is.
USER_ERRORS = (
    "bench.models.jinabert:CheckpointError",
    # Hydra's own: an override it cannot parse, a config group option or key that does not exist
    "hydra.errors:OverrideParseException",
    "hydra.errors:ConfigCompositionException",
    "hydra.errors:SearchPathException",
)
#: lines of Hydra's messages that say nothing to a bench user
_HYDRA_NOISE = ("full_key:", "object_type=", "Config search path", "provider=", "See https://hydra.cc")


def _user_error_types() -> tuple[type[BaseException], ...]:
    from bench.errors import InputError

    types: list[type[BaseException]] = [InputError]
    for spec in USER_ERRORS:
        module_name, name = spec.split(":")
        module = sys.modules.get(module_name)
        if module is not None and isinstance(getattr(module, name, None), type):
            types.append(getattr(module, name))
    return tuple(types)


def user_error(exc: BaseException) -> BaseException | None:
    """The user's mistake behind `exc`: itself, or what it wraps (Hydra's InstantiationException wraps what a
    constructor raised); None when `exc` is a bug or an environment failure, whose traceback must show."""
    types = _user_error_types()
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, types):
            return seen
        seen = seen.__cause__
    return None


def traceback_wanted() -> bool:
    return os.environ.get(TRACEBACK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def error_lines(error: BaseException) -> list[str]:
    """What the user reads: one line per problem (several only when the error lists several, each whole)."""
    if type(error).__module__.startswith("hydra."):
        return [hydra_line(error)]
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines or [type(error).__name__]


def hydra_line(error: BaseException) -> str:
    """Hydra's multi-line composition errors as one line, with the choices and a did-you-mean."""
    from bench.errors import did_you_mean
    from bench.paths import CONFIG_DIR

    missing = getattr(error, "missing_cfg_file", None)
    if missing:  # an option of a config group that does not exist: dataset=nope, reranker=[jina-tiny,nope]
        group, _, name = str(missing).rpartition("/")
        options = list(getattr(error, "options", None) or sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml")))
        return (f"{group}={name}: no such config in configs/{group}/; choose one of {', '.join(options)}."
                f"{did_you_mean(name, options)}")
    override = getattr(error, "override", None)
    cause = error.__cause__
    text = str(error)
    if override is None and text.startswith("Could not override") and getattr(cause, "parent_node", None) is not None:
        key = str(getattr(cause, "key", ""))
        given = text.rsplit("use +", 1)[-1].strip() if "use +" in text else key
        known = [str(k) for k in cause.parent_node if str(k) != "hydra"]  # type: ignore[union-attr]
        return f"{given}: {key!r} is not a key of this config.{did_you_mean(key, known)} To add it on purpose: +{given}"
    lines = [line.strip().rstrip(".") for line in text.splitlines()
             if line.strip() and not line.strip().startswith(_HYDRA_NOISE)]
    head = f"{override}: cannot read this override: " if override else ""
    return head + "; ".join(lines)


def log_traceback(exc: BaseException, folder: Path | None) -> Path | None:
    """Append `exc`'s traceback to `folder/bench.log` when the folder exists; return the log's path."""
    if folder is None or not Path(folder).is_dir():
        return None
    import traceback

    path = Path(folder) / "bench.log"
    with path.open("a", encoding="utf-8") as log_file:
        log_file.write("".join(traceback.format_exception(exc)))
    return path


@contextmanager
def traceback_to_log(folder: Path | None) -> Iterator[None]:
    """Inside one job of a sweep: a user error's traceback goes to the job's bench.log, and the error travels
    on (Hydra names the job that failed, then `user_errors` around the command prints the one line)."""
    try:
        yield
    except Exception as exc:
        if user_error(exc) is not None:
            log_traceback(exc, folder)
        raise


@contextmanager
def user_errors(prog: str, log_dir: Path | None = None) -> Iterator[None]:
    """Around a command: an error that is the user's to fix ends it with one line per problem on stderr,
    `<prog>: <message>`, and exit status 2; its traceback goes to `log_dir`/bench.log when that folder
    exists. Anything else (a bug) keeps its traceback, as does every error with BENCH_TRACEBACK=1."""
    try:
        yield
    except Exception as exc:
        error = user_error(exc)
        if error is None or traceback_wanted():
            raise
        log_traceback(exc, log_dir)
        for line in error_lines(error):
            print(f"{prog}: {line}", file=sys.stderr)
        raise SystemExit(getattr(error, "exit_status", INPUT_ERROR_STATUS)) from None


def job_errors(prog: str, run_dir: Path, *, sweep: bool) -> AbstractContextManager[None]:
    """Inside a Hydra job: a user error ends the command at once (`user_errors`); in a sweep it travels on so
    that Hydra names the job that failed first. Its traceback goes to the job's bench.log either way."""
    return traceback_to_log(run_dir) if sweep else user_errors(prog, log_dir=run_dir)


@contextmanager
def hydra_raises() -> Iterator[None]:
    """Hydra prints its own (shortened) traceback for an error and exits 1, unless HYDRA_FULL_ERROR is set:
    set, the error reaches `user_errors`, which decides what the user sees."""
    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
