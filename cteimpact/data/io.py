"""Reading evaluation data from CSV and Parquet files."""

from __future__ import annotations

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


def read_columns(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without loading the data."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"data file '{path}' does not exist")
    if _format(path) == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0).columns)


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file, optionally only some columns.

    Parameters
    ----------
    path
        ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
    columns
        Columns to read (all by default). Reading only the mapped columns keeps memory bounded on large files.

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
    if not path.is_file():
        raise OptionError(f"data file '{path}' does not exist")
    if columns is not None:
        available = read_columns(path)
        for col in columns:
            if col not in available:
                raise MissingColumnError(col, available)
        columns = list(dict.fromkeys(columns))
    try:
        if fmt == "parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns, low_memory=False)
    except (ValueError, OSError) as exc:  # pyarrow and the CSV parser raise these on malformed files
        raise DataValidationError(f"cannot parse '{path.name}' as {fmt}: {exc}") from exc
