"""Run a `bench` command in this process, as a user would type it, for the tables of bad inputs.

    from tests.errors.harness import cache_files, run_cli

    status, out, err = run_cli(["top_k=0"], tmp_path, monkeypatch, capsys)
    assert status == 2 and "top_k" in err and "Traceback" not in err
    assert cache_files(tmp_path) == []

In-process (bench.cli.main with sys.argv set, SystemExit caught) rather than a subprocess: a row
that fails validation costs milliseconds instead of an interpreter start. The working directory is
`tmp_path` (Hydra's default run directory, reports/runs/..., lands there) and BENCH_CACHE is
`tmp_path/cache`, so a row can check that nothing was cached.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest


def cache_dir(tmp_path: Path) -> Path:
    """The BENCH_CACHE that `run_cli` gives the command."""
    return tmp_path / "cache"


def cache_files(tmp_path: Path) -> list[Path]:
    """Every file the command left in its cache (none, for a command refused before any work)."""
    folder = cache_dir(tmp_path)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def exit_status(exc: SystemExit) -> int:
    """The status the process would exit with: SystemExit(None) is 0, SystemExit("text") prints and is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_cli(
    argv: Sequence[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`bench *argv` in this process: (exit status, stdout, stderr)."""
    from hydra.core.global_hydra import GlobalHydra

    from bench.cli import main

    monkeypatch.setenv("BENCH_CACHE", str(cache_dir(tmp_path)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for debug in ("BENCH_TRACEBACK", "HYDRA_FULL_ERROR"):
        monkeypatch.delenv(debug, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench", *argv])
    capsys.readouterr()  # only what this command prints
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    finally:
        GlobalHydra.instance().clear()  # a composed config must not leak into the next command
    out, err = capsys.readouterr()
    return status, out, err
