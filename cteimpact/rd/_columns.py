"""Columns of a data frame as the arrays the kink and multi-cutoff designs pass to their adapters: every named
column checked to exist, numeric columns checked to be numeric and complete (rows are never dropped silently:
a missing value is an error naming the column and the count), cluster identifiers coded as integers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cteimpact.errors import ColumnTypeError, DataValidationError, MissingColumnError

__all__ = ["cluster_codes", "numeric_columns", "small_cell_reason"]


def numeric_columns(data: pd.DataFrame, roles: Mapping[str, str | None], *, context: str) -> dict[str, np.ndarray]:
    """``{role: float64 array}`` for each role given a column; missing or non-numeric values are errors."""
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"{context}: data must be a pandas DataFrame, got {type(data).__name__}")
    out: dict[str, np.ndarray] = {}
    for role, col in roles.items():
        if col is None:
            continue
        if col not in data.columns:
            raise MissingColumnError(col, [str(c) for c in data.columns], role=role)
        series = data[col]
        values = pd.to_numeric(series, errors="coerce")
        bad_type = int((values.isna() & series.notna()).sum())
        if bad_type:
            raise ColumnTypeError(f"{context}: the {role} column '{col}' has {bad_type} non-numeric values of "
                                  f"{len(series)}")
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        missing = int(np.count_nonzero(~np.isfinite(arr)))
        if missing:
            raise DataValidationError(f"{context}: the {role} column '{col}' has {missing} missing or non-finite "
                                      f"values of {arr.size} rows; remove or impute those rows first (no row is "
                                      "dropped silently)")
        out[role] = arr
    return out


def cluster_codes(data: pd.DataFrame, column: str | None, *, context: str) -> np.ndarray | None:
    """Integer codes of a cluster column (identifiers never leave this function); missing values are an error."""
    if column is None:
        return None
    if column not in data.columns:
        raise MissingColumnError(column, [str(c) for c in data.columns], role="cluster")
    codes, _ = pd.factorize(data[column].astype("string"), use_na_sentinel=True)
    missing = int(np.count_nonzero(codes < 0))
    if missing:
        raise DataValidationError(f"{context}: the cluster column '{column}' has {missing} missing values of "
                                  f"{codes.size} rows")
    return np.asarray(codes, dtype=np.int64)


def small_cell_reason(n_h: tuple[int, int], min_cell: int) -> str | None:
    """Why an estimate is hidden (fewer than ``min_cell`` observations within its bandwidth on a side), or None."""
    low = min(int(n_h[0]), int(n_h[1]))
    if low < min_cell:
        return f"fewer than {min_cell} students within the bandwidth on a side"
    return None
