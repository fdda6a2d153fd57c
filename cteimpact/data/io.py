"""Reading evaluation data from CSV and Parquet files."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cteimpact.errors import DataValidationError, MissingColumnError, OptionError

__all__ = ["SUPPORTED_SUFFIXES", "read_columns", "read_table"]

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


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


def read_columns(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without loading the data.

    Raises
    ------
    OptionError
        The file does not exist or has an unsupported type.
    DataValidationError
        The file cannot be parsed.
    """
    path = Path(path)
    fmt = _format(path)
    _check_file(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except _PARSE_ERRORS as exc:
        raise DataValidationError(f"cannot parse '{path.name}' as {fmt}: {exc}") from exc


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
        Columns a CSV file stores as text whatever they look like (identifiers: ``00123`` keeps its leading
        zeros and cannot collide with ``123``). Parquet files keep their stored types.

    Raises
    ------
    OptionError
        The file does not exist or has an unsupported type.
    MissingColumnError
        A requested column is not in the file (the closest name is suggested).
    DataValidationError
        The file cannot be parsed.
    """
    path = Path(path)
    fmt = _format(path)
    _check_file(path)
    if columns is not None:
        available = read_columns(path)
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
            return pd.read_parquet(path, columns=columns)
        dtype = {c: str for c in text_columns if columns is None or c in columns}
        return pd.read_csv(path, usecols=columns, low_memory=False, dtype=dtype or None)
    except _PARSE_ERRORS as exc:
        raise DataValidationError(f"cannot parse '{path.name}' as {fmt}: {exc}") from exc
