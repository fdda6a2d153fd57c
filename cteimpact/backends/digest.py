"""The content hash of data read from an engine, for the run's manifest.

A table in a server has no file to hash, and a DuckDB file's bytes change when the same rows are written again. What
a run records for data read from a table is therefore the SHA-256 of the rows and columns it pulled, in a canonical
form that does not depend on the engine, its row order or its storage:

* columns in the order of their names, each written as ``name:kind`` in a header line (``kind`` is ``number``,
  ``text``, ``bool`` or ``other``);
* rows sorted by every column (in that order, missing values last), each written as one line of tab-separated
  values: whole numbers as integers, other numbers by Python's shortest round-trip ``repr``, text with ``\\``,
  tab and newline escaped, missing values as ``\\N``.

Two pulls of the same rows give the same hash whatever the engine or the order it returns them in; a changed value,
an added or removed row or column changes it. ``cteimpact verify`` re-pulls the rows and compares the hashes.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["rows_sha256"]


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        return "text"
    return "other"


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "\\N"
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def rows_sha256(frame: pd.DataFrame) -> str:
    """Hex SHA-256 of ``frame``'s rows and columns in the canonical form of the module docstring."""
    names = sorted(str(c) for c in frame.columns)
    ordered = frame[names]
    if len(ordered) and names:
        ordered = ordered.sort_values(names, na_position="last", kind="mergesort", ignore_index=True)
    h = hashlib.sha256()
    h.update(("\t".join(f"{n}:{_kind(ordered[n])}" for n in names) + "\n").encode())
    columns = [ordered[n].tolist() for n in names]
    for row in zip(*columns, strict=True):
        h.update(("\t".join(_cell(v) for v in row) + "\n").encode())
    return h.hexdigest()
