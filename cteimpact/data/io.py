"""Reading evaluation data from CSV and Parquet files.

Identifier columns (students, schools, districts, consortia, clusters, units) are read as text from CSV files
(``text_columns``): a 17-digit id would otherwise be rounded to the nearest float64 and distinct ids would merge,
and ``01`` would become ``1``. Parquet files keep their stored types: text and integer ids are exact; an
identifier stored as floating-point numbers is exact only up to 2**53, so a float identifier column with larger
values (or non-whole values) is an error asking for text or integer ids.

A column name that appears twice in a file is an error naming the column (pandas would silently rename the copy
``y.1``); a file with no data (0 bytes, or a header and no rows) is an error saying so.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cteimpact.errors import DataValidationError, MissingColumnError, OptionError

__all__ = ["EXACT_FLOAT_ID", "SUPPORTED_SUFFIXES", "read_columns", "read_table"]

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

EXACT_FLOAT_ID = 2.0**53
"""Largest magnitude below which every whole number is exact in float64 (identifiers stored as floats)."""


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise OptionError(
        f"cannot read '{path.name}': the file type is not one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


# What pyarrow and pandas raise on a malformed file: ValueError (ArrowInvalid, ParserError, EmptyDataError,
# UnicodeDecodeError), OSError (ArrowIOError, gzip.BadGzipFile), EOFError (truncated gzip), zlib.error (corrupt gzip).
_PARSE_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, EOFError, zlib.error)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise OptionError(f"data file '{path}' does not exist")
    if not path.is_file():
        raise OptionError(f"data file '{path}' is not a file")


def _csv_header(path: Path) -> list[str]:
    """The header row of a CSV file as written (pandas would rename repeated names)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        first = raw.readline()
    text = first.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return []
    names = next(csv.reader(io.StringIO(text)))
    return [n if n != "" else f"Unnamed: {i}" for i, n in enumerate(names)]  # pandas' names for blank headers


def _check_unique(names: Sequence[str], path: Path) -> None:
    counts = Counter(names)
    repeated = [(name, k) for name, k in counts.items() if k > 1]
    if repeated:
        name, k = repeated[0]
        more = f" ({len(repeated) - 1} more repeated column names)" if len(repeated) > 1 else ""
        raise DataValidationError(
            f"data file '{path.name}' has the column '{name}' {k} times{more}; column names must be unique, rename "
            "the copies")


def read_columns(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without loading the data.

    Raises
    ------
    OptionError
        The file does not exist or has an unsupported type.
    DataValidationError
        The file cannot be parsed, is empty (0 bytes or no header) or repeats a column name.
    """
    path = Path(path)
    fmt = _format(path)
    _check_file(path)
    if path.stat().st_size == 0:
        raise DataValidationError(f"data file '{path.name}' is empty (0 bytes)")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = [str(n) for n in pq.read_schema(path).names]
        else:
            names = _csv_header(path)
    except _PARSE_ERRORS as exc:
        raise DataValidationError(f"cannot parse '{path.name}' as {fmt}: {exc}") from exc
    if not names:
        raise DataValidationError(f"data file '{path.name}' is empty: it has no header row")
    _check_unique(names, path)
    return names


def _check_float_ids(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    for col in columns:
        if col not in frame.columns or not pd.api.types.is_float_dtype(frame[col].dtype):
            continue
        v = frame[col].to_numpy(dtype=float)
        present = ~np.isnan(v)
        big = int((present & (np.abs(v) >= EXACT_FLOAT_ID)).sum())
        frac = int((present & (v != np.floor(v))).sum())
        if big or frac:
            what = (f"{big:,} value{'s' if big != 1 else ''} of 2**53 or more, which float64 cannot store exactly "
                    "(distinct ids may have merged)" if big
                    else f"{frac:,} value{'s' if frac != 1 else ''} that {'are' if frac != 1 else 'is'} not a whole "
                         "number")
            raise DataValidationError(
                f"identifier column '{col}' of '{path.name}' is stored as floating-point numbers and has {what}; "
                "store identifiers as text or integers")


def read_table(
    path: str | Path, columns: Sequence[str] | None = None, *, text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV or Parquet file, optionally only some columns.

    Parameters
    ----------
    path
        ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
    columns
        Columns to read (all by default). Reading only the mapped columns keeps memory bounded on large files.
    text_columns
        Identifier columns: a CSV file's are read as text whatever they look like (``00123`` keeps its leading
        zeros and cannot collide with ``123``; a 17-digit id is not rounded). Parquet files keep their stored
        types; a floating-point identifier column with values that float64 cannot hold exactly is an error.

    Raises
    ------
    OptionError
        The file does not exist or has an unsupported type.
    MissingColumnError
        A requested column is not in the file (the closest name is suggested).
    DataValidationError
        The file cannot be parsed, is empty, has no rows, repeats a column name, or stores identifiers as inexact
        floating-point numbers.
    """
    path = Path(path)
    fmt = _format(path)
    _check_file(path)
    available = read_columns(path)
    if columns is not None:
        columns = list(dict.fromkeys(columns))
        missing = [col for col in columns if col not in available]
        if missing:
            err = MissingColumnError(missing[0], available)
            if len(missing) > 1:
                others = ", ".join(f"'{c}'" for c in missing[1:])
                err.args = (f"{err.args[0]} ({len(missing) - 1} more requested columns are missing too: {others})",)
            raise err
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path, columns=columns)
        else:
            dtype = {c: str for c in text_columns if c and (columns is None or c in columns)}
            frame = pd.read_csv(path, usecols=columns, low_memory=False, dtype=dtype or None)
    except _PARSE_ERRORS as exc:
        raise DataValidationError(f"cannot parse '{path.name}' as {fmt}: {exc}") from exc
    if len(frame) == 0:
        raise DataValidationError(f"data file '{path.name}' has no rows (only {len(available)} column names)")
    if fmt == "parquet":
        _check_float_ids(frame, [c for c in text_columns if c], path)
    return frame
