"""Small-cell suppression for tables of counts and means by subgroup.

A cell describing fewer than ``min_cell`` students (default 10) could identify them, so it is not shown: its
value is replaced by a marker and the table carries a note stating the rule. Two kinds of cells are protected:

* **rows** of a subgroup table whose cell size (``n_column``) is below the minimum: the size itself and every
  value computed from those students (means, rates, counts) are suppressed;
* **count cells** (``count_columns``, e.g. the number of dropouts in a subgroup) below the minimum.

With ``complementary=True`` (the default) a suppressed cell cannot be recovered by subtraction from a total:
within each group of rows (``by``; all rows when ``by`` is None) where exactly one row, or one cell of a count
column, is suppressed, the next smallest is suppressed too.

The suppressed values are not kept anywhere in the returned :class:`SuppressedTable`, so it is safe to write out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.errors import ColumnTypeError, InvalidValueError, MissingColumnError, OptionError

__all__ = ["DEFAULT_MIN_CELL", "SUPPRESSION_MARKER", "SuppressedTable", "suppress_small_cells"]

DEFAULT_MIN_CELL = 10
"""Smallest number of students a published cell may describe."""

SUPPRESSION_MARKER = "‡"
"""Text shown in place of a suppressed cell (explained in the table note)."""


@dataclass(frozen=True)
class SuppressedTable:
    """A table after small-cell suppression.

    Attributes
    ----------
    values
        The table with every suppressed cell set to missing (the original values are not kept).
    suppressed
        Boolean frame of the same shape: True where a cell was suppressed.
    min_cell
        The minimum cell size applied.
    marker
        Text shown in place of a suppressed cell.
    note
        The rule, stated for the table note, with the number of cells suppressed.
    """

    values: pd.DataFrame
    suppressed: pd.DataFrame
    min_cell: int
    marker: str
    note: str

    @property
    def n_suppressed(self) -> int:
        """Number of cells suppressed."""
        return int(self.suppressed.to_numpy().sum())

    def to_records(self) -> list[dict[str, Any]]:
        """Rows as dictionaries (suppressed cells are None) plus ``"suppressed"``: the names of the hidden cells;
        the form written to results files."""
        records = []
        for (_, row), (_, mask) in zip(self.values.iterrows(), self.suppressed.iterrows(), strict=True):
            record = {str(k): (None if bool(mask[k]) or _is_missing(v) else v) for k, v in row.items()}
            record["suppressed"] = [str(k) for k in mask.index if bool(mask[k])]
            records.append(record)
        return records


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _complementary(sizes: pd.Series, hidden: pd.Series, groups: list[np.ndarray]) -> pd.Series:
    """Within each group with exactly one hidden cell, hide also the smallest shown cell (first on ties)."""
    hidden = hidden.copy()
    for positions in groups:
        in_group = hidden.iloc[positions]
        if int(in_group.sum()) != 1 or len(positions) < 2:
            continue
        shown = [p for p in positions if not hidden.iloc[p]]
        if not shown:
            continue
        order = sorted(shown, key=lambda p: (float(sizes.iloc[p]), p))
        hidden.iloc[order[0]] = True
    return hidden


def suppress_small_cells(
    frame: pd.DataFrame,
    *,
    n_column: str,
    value_columns: Sequence[str] | None = None,
    count_columns: Sequence[str] | Mapping[str, Sequence[str]] = (),
    min_cell: int = DEFAULT_MIN_CELL,
    by: str | Sequence[str] | None = None,
    complementary: bool = True,
    marker: str = SUPPRESSION_MARKER,
    unit: str = "students",
) -> SuppressedTable:
    """Suppress the cells of ``frame`` that describe fewer than ``min_cell`` students.

    Parameters
    ----------
    frame
        One row per subgroup cell (e.g. female × pathway), with its size and the statistics computed on it.
    n_column
        Column holding each row's cell size (number of students). Missing sizes count as too small.
    value_columns
        Columns computed from the row's students (means, rates, counts), hidden with a small row. Default: every
        numeric column except ``n_column``, ``count_columns`` and ``by``.
    count_columns
        Columns of counts of students (e.g. dropouts) that are suppressed on their own when below ``min_cell``.
        A mapping names, for each count column, the columns computed from it (``{"dropouts": ["dropout_rate"]}``),
        which are hidden with it: a rate and a cell size would otherwise give the hidden count back.
    min_cell
        Smallest cell size shown (at least 1).
    by
        Columns defining groups of rows that add up to a total (e.g. the subgroup variable); complementary
        suppression works within each group. None: all rows form one group.
    complementary
        Also suppress the next smallest cell where a group has exactly one suppressed cell.
    marker
        Text shown in place of a suppressed cell.
    unit
        What the cell size counts, for the note ("students", "districts").

    Returns
    -------
    SuppressedTable
        Values with suppressed cells missing, the suppression mask and the note stating the rule.

    Raises
    ------
    MissingColumnError
        A named column is not in ``frame``.
    ColumnTypeError, InvalidValueError
        Cell sizes or counts that are not non-negative numbers.
    OptionError
        ``min_cell`` below 1 or an empty marker.
    """
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise OptionError(f"min_cell must be a whole number of at least 1, got {min_cell!r}")
    if not isinstance(marker, str) or not marker.strip():
        raise OptionError(f"marker must be a non-empty text, got {marker!r}")
    columns = [str(c) for c in frame.columns]
    derived: dict[str, list[str]] = (
        {str(k): [str(v) for v in vs] for k, vs in count_columns.items()}
        if isinstance(count_columns, Mapping)
        else {str(k): [] for k in count_columns}
    )
    count_columns = list(derived)
    by_columns = [by] if isinstance(by, str) else list(by or [])
    dependents = [d for ds in derived.values() for d in ds]
    for name in [n_column, *count_columns, *by_columns, *(value_columns or []), *dependents]:
        if name not in frame.columns:
            raise MissingColumnError(str(name), columns)

    def numeric(name: str) -> pd.Series:
        col = frame[name]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            raise ColumnTypeError(
                f"column '{name}' must hold numbers of {unit} to suppress small cells; it has dtype {col.dtype}"
            )
        values = col.astype(float)
        negative = int((values < 0).sum())
        if negative:
            raise InvalidValueError(
                f"column '{name}' has {negative} negative value(s); cell sizes and counts cannot be negative"
            )
        return values

    sizes = numeric(n_column)
    counts = {name: numeric(name) for name in count_columns}
    if value_columns is None:
        skip = {n_column, *count_columns, *by_columns}
        value_columns = [
            c for c in frame.columns
            if c not in skip
            and pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)
        ]

    positions = np.arange(len(frame))
    if by_columns:
        keys = frame[by_columns].astype(str).agg("\x1f".join, axis=1).to_numpy()
        groups = [positions[keys == k] for k in dict.fromkeys(keys.tolist())]
    else:
        groups = [positions]

    small_row = (sizes.isna() | (sizes < min_cell)).reset_index(drop=True)
    if complementary:
        small_row = _complementary(sizes.fillna(-1.0).reset_index(drop=True), small_row, groups)

    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    row_cells = [n_column, *value_columns, *count_columns]
    mask.loc[small_row.to_numpy(), row_cells] = True
    for name, values in counts.items():
        small = (values.notna() & (values < min_cell)).reset_index(drop=True) | pd.Series(
            mask[name].to_numpy(), dtype=bool
        )
        if complementary:
            small = _complementary(values.fillna(-1.0).reset_index(drop=True), small, groups)
        mask[name] = small.to_numpy()
        for dependent in derived[name]:
            mask[dependent] = mask[dependent].to_numpy() | small.to_numpy()

    values = frame.copy()
    for col in frame.columns:
        hide = mask[col].to_numpy()
        if hide.any():
            if pd.api.types.is_bool_dtype(values[col].dtype):
                values[col] = values[col].astype("boolean")
            elif pd.api.types.is_integer_dtype(values[col].dtype):
                values[col] = values[col].astype("Int64")  # nullable: stays a whole number when cells are hidden
            elif not pd.api.types.is_float_dtype(values[col].dtype):
                values[col] = values[col].astype(object)
            values.loc[hide, col] = np.nan if pd.api.types.is_float_dtype(values[col].dtype) else pd.NA

    n_hidden = int(mask.to_numpy().sum())
    note = (
        f"{marker} Suppressed to protect privacy: values based on fewer than {min_cell} {unit} are not shown"
        + (
            "; where a group of rows has a single such cell, the next smallest cell is suppressed too, so that "
            "it cannot be recovered by subtraction from a total"
            if complementary
            else ""
        )
        + f". Cells suppressed in this table: {n_hidden}."
    )
    return SuppressedTable(values=values, suppressed=mask, min_cell=int(min_cell), marker=marker, note=note)
