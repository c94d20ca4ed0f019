"""Reading tidy CSV files back (metrics.csv, per_query.csv, throughput.csv), refusing damaged ones.

    frame = read_tidy_csv(path, ["dataset", "system", "measure", "value"], numbers=["value"])

bench writes these files whole, one row per line, with a newline at the end. A row with fewer or more
fields than the header, a key column left empty, a value that is not a number, or a last row that
stops without its value and newline is a file cut off while it was written (a killed run, a full
disk) or edited by hand: reading on would give a table with a row missing or a value made up, so
each is an `InputError` naming the file and line, and what to do. An empty value in a whole row
stays NaN (a measure that had nothing to average): readers say how many they leave out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import InputError


def damaged(path: Path) -> str:
    """What to do about a tidy file that cannot be read."""
    return f"rerun the study that wrote {path.parent}, or delete {path} to leave it out"


def read_tidy_csv(path: Path, columns: Sequence[str], *, numbers: Sequence[str] = ()) -> pd.DataFrame:
    """The file as text columns, `numbers` as floats (NaN where empty); the header must hold `columns`.

    Columns the header has beyond `columns` are kept; `numbers` the header lacks become NaN columns.
    Every column of `columns` that is not in `numbers` is a key: it may not be empty.
    An empty file is an empty frame with `columns`.
    """
    path = Path(path)
    text = _text(path)
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        return pd.DataFrame({name: pd.Series(dtype=float if name in numbers else str) for name in columns})
    missing = [name for name in columns if name not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}. Expected a "
                         f"bench tidy file with columns {', '.join(columns)}")
    lines, cells = _rows(path, rows, header, cut=not text.endswith(("\n", "\r")))
    frame = pd.DataFrame(cells, columns=header, dtype=str) if cells else pd.DataFrame(
        {name: pd.Series(dtype=str) for name in header})
    _check_keys(path, frame, [c for c in columns if c not in numbers], lines)
    for name in numbers:
        frame[name] = _numbers(path, frame, name, lines)
    return frame


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 ({error}); {damaged(path)}") from None


def _rows(path: Path, rows, header: list[str], *, cut: bool) -> tuple[list[int], list[list[str]]]:
    """Line numbers and fields of the non-blank rows; a row of the wrong width, or a last row cut before
    its last field (`cut`: the text has no final newline), is an InputError."""
    width = len(header)
    lines: list[int] = []
    cells: list[list[str]] = []
    try:
        for row in rows:
            if not row:
                continue
            if len(row) != width:
                raise InputError(f"{path}:{rows.line_num}: {len(row)} field(s) where the header has {width}: "
                                 f"the file is cut off or damaged; {damaged(path)}")
            lines.append(rows.line_num)
            cells.append(row)
    except csv.Error as error:
        raise InputError(f"{path}:{rows.line_num}: cannot parse as CSV ({error}); {damaged(path)}") from None
    if cut and cells and cells[-1][-1] == "":
        raise InputError(f"{path}:{lines[-1]}: the last row has no {header[-1]!r} and the file no final newline: "
                         f"the file is cut off; {damaged(path)}")
    return lines, cells


def _check_keys(path: Path, frame: pd.DataFrame, keys: Sequence[str], lines: list[int]) -> None:
    for name in keys:
        empty = (frame[name].str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise InputError(f"{path}:{lines[row]}: column {name!r} is empty; every row needs one: "
                             f"the file is cut off or damaged; {damaged(path)}")


def _numbers(path: Path, frame: pd.DataFrame, name: str, lines: list[int]) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    text = frame[name].astype(str).str.strip()
    parsed = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = (parsed.isna() & (text != "") & (text.str.lower() != "nan")).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}:{lines[row]}: column {name!r} holds {text.iloc[row]!r}, not a number; "
                         f"{damaged(path)}")
    return parsed.astype(float)
