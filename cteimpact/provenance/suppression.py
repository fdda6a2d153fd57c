"""Small-cell suppression for tables of counts and means by subgroup.

A cell describing fewer than ``min_cell`` students (default 10) could identify them, so it is not shown: its
value is replaced by a marker and the table carries a note stating the rule. Two kinds of cells are protected:

* **rows** of a subgroup table whose cell size (``n_column``) is below the minimum: the size itself and every
  value computed from those students (means, rates, counts) are suppressed;
* **count cells** (``count_columns``, e.g. the number of dropouts in a subgroup) below the minimum.

With ``complementary=True`` (the default) a suppressed cell cannot be recovered by subtraction from a total:
within each group of cells that add up to a shown total (``by``; all rows when ``by`` is None), the suppressed
cells must be at least two and together describe at least ``min_cell`` students; while a group falls short, its
next smallest shown cell is suppressed too. Groups may overlap (an estimate can be part of several aggregates):
the rule is applied until every group satisfies it (:func:`small_cell_mask`, the one implementation of the rule,
used for tables here and for estimates by :meth:`cteimpact.rd.RDResults.with_min_cell` and
:meth:`cteimpact.did.DiDResults.with_min_cell`).

The suppressed values are not kept anywhere in the returned :class:`SuppressedTable`, so it is safe to write out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.errors import ColumnTypeError, InvalidValueError, MissingColumnError, OptionError

__all__ = ["DEFAULT_MIN_CELL", "SUPPRESSION_MARKER", "SuppressedTable", "check_min_cell", "small_cell_mask",
           "suppress_small_cells", "suppression_note"]

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


def check_min_cell(min_cell: Any) -> int:
    """``min_cell`` as an int; :class:`OptionError` unless it is a whole number of at least 1."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise OptionError(f"min_cell must be a whole number of at least 1, got {min_cell!r}")
    return int(min_cell)


def suppression_note(min_cell: int, n_hidden: int, what: str = "estimates") -> str:
    """The one-line note stating how many estimates were suppressed and why (results files, command line)."""
    if n_hidden == 0:
        return (f"no {what} suppressed: every estimate describes at least {min_cell} students (the small-cell "
                "rule's minimum)")
    one = n_hidden == 1
    noun = what[:-1] if one and what.endswith("s") else what
    return (f"{n_hidden} {noun} {'was' if one else 'were'} suppressed ({SUPPRESSION_MARKER}): "
            f"{'it describes' if one else 'each describes'} fewer than {min_cell} students, or would reveal one that "
            f"does by subtraction from a total; {'its' if one else 'their'} numbers are not shown")


def small_cell_mask(sizes: Sequence[float] | np.ndarray, *, min_cell: int,
                    groups: Sequence[Sequence[int] | np.ndarray] = (), complementary: bool = True,
                    hidden: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
    """Which cells to suppress: the small-cell rule, with complementary suppression.

    Parameters
    ----------
    sizes
        Number of students each cell describes; a missing (NaN) size counts as too small.
    min_cell
        Smallest number of students a shown cell may describe.
    groups
        Positions of cells that add up to (or average into) a shown total; groups may overlap.
    complementary
        Apply complementary suppression within ``groups``.
    hidden
        Cells already suppressed for another reason (they count as suppressed in the groups).

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where a cell is suppressed: every cell below ``min_cell`` (primary suppression) and,
        with ``complementary``, further cells until each group hides either nothing or at least two cells that
        together describe at least ``min_cell`` students (a single hidden cell, or hidden cells that together are
        still small, could otherwise be recovered by subtraction from the group's total). The next cell hidden in
        a group is its smallest shown one (the first on ties); the rule is re-applied until no group changes, so
        the result does not depend on how overlapping groups are listed beyond that tie order.
    """
    min_cell = check_min_cell(min_cell)
    size = np.asarray(sizes, dtype=float).reshape(-1)
    mask = np.isnan(size) | (size < min_cell)
    if hidden is not None:
        mask |= np.asarray(hidden, dtype=bool).reshape(-1)
    if not complementary or not groups:
        return mask
    order_key = np.where(np.isnan(size), -1.0, size)
    counted = np.where(np.isnan(size), 0.0, size)
    members = [np.unique(np.asarray(g, dtype=np.int64)) for g in groups]
    members = [g for g in members if g.size >= 2]
    changed = True
    while changed:
        changed = False
        for g in members:
            inside = g[mask[g]]
            if inside.size == 0 or (inside.size >= 2 and float(counted[inside].sum()) >= min_cell):
                continue
            shown = g[~mask[g]]
            if shown.size == 0:
                continue
            pick = min(shown.tolist(), key=lambda p: (float(order_key[p]), p))
            mask[pick] = True
            changed = True
    return mask


def _derived_counts(count_columns: Sequence[str] | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Each count column with the columns computed from it (none when ``count_columns`` is a sequence)."""
    if isinstance(count_columns, Mapping):
        return {str(k): [str(v) for v in vs] for k, vs in count_columns.items()}
    return {str(k): [] for k in count_columns}


def _numeric_counts(frame: pd.DataFrame, name: str, unit: str) -> pd.Series:
    """Column ``name`` as floats, checked to hold non-negative numbers of ``unit``.

    Raises
    ------
    ColumnTypeError
        The column does not hold numbers (booleans included).
    InvalidValueError
        The column has negative values.
    """
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


def _default_value_columns(frame: pd.DataFrame, skip: set[str]) -> list[Any]:
    """Every numeric (not boolean) column of ``frame`` not in ``skip``: the values hidden with a small row."""
    return [
        c for c in frame.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
    ]


def _row_groups(frame: pd.DataFrame, by_columns: Sequence[str]) -> list[np.ndarray]:
    """Positions of the rows of each group adding up to a total (by the values of ``by_columns``, in order of
    first appearance); all rows when there are no ``by_columns``."""
    positions = np.arange(len(frame))
    if not by_columns:
        return [positions]
    keys = frame[list(by_columns)].astype(str).agg("\x1f".join, axis=1).to_numpy()
    return [positions[keys == k] for k in dict.fromkeys(keys.tolist())]


def _hide(values: pd.DataFrame, col: Any, hide: np.ndarray) -> None:
    """Set the cells of column ``col`` where ``hide`` is True to missing, in place, first giving the column a
    type that can hold a missing value (nullable boolean and integer; object for other non-floats)."""
    if pd.api.types.is_bool_dtype(values[col].dtype):
        values[col] = values[col].astype("boolean")
    elif pd.api.types.is_integer_dtype(values[col].dtype):
        values[col] = values[col].astype("Int64")  # nullable: stays a whole number when cells are hidden
    elif not pd.api.types.is_float_dtype(values[col].dtype):
        values[col] = values[col].astype(object)
    values.loc[hide, col] = np.nan if pd.api.types.is_float_dtype(values[col].dtype) else pd.NA


def _suppression_rule_note(marker: str, min_cell: int, unit: str, complementary: bool, n_hidden: int) -> str:
    """The table note stating the rule and the number of cells suppressed."""
    return (
        f"{marker} Suppressed to protect privacy: values based on fewer than {min_cell} {unit} are not shown"
        + (
            "; where a group of rows would show all but one hidden cell, or hidden cells that together describe "
            f"fewer than {min_cell} {unit}, the next smallest cell is suppressed too, so that none can be "
            "recovered by subtraction from a total"
            if complementary
            else ""
        )
        + f". Cells suppressed in this table: {n_hidden}."
    )


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
    min_cell = check_min_cell(min_cell)
    if not isinstance(marker, str) or not marker.strip():
        raise OptionError(f"marker must be a non-empty text, got {marker!r}")
    columns = [str(c) for c in frame.columns]
    derived = _derived_counts(count_columns)
    count_names = list(derived)
    by_columns = [by] if isinstance(by, str) else list(by or [])
    dependents = [d for ds in derived.values() for d in ds]
    for name in [n_column, *count_names, *by_columns, *(value_columns or []), *dependents]:
        if name not in frame.columns:
            raise MissingColumnError(str(name), columns)
    sizes = _numeric_counts(frame, n_column, unit)
    counts = {name: _numeric_counts(frame, name, unit) for name in count_names}
    if value_columns is None:
        value_columns = _default_value_columns(frame, {n_column, *count_names, *by_columns})
    groups = _row_groups(frame, by_columns)

    small_row = small_cell_mask(sizes.to_numpy(), min_cell=min_cell, groups=groups, complementary=complementary)
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    mask.loc[small_row, [n_column, *value_columns, *count_names]] = True
    for name, values in counts.items():
        v = values.to_numpy()
        # a missing count is simply not shown; only a present small count is hidden (and needs complements)
        small = small_cell_mask(np.where(np.isnan(v), np.inf, v), min_cell=min_cell, groups=groups,
                                complementary=complementary, hidden=mask[name].to_numpy())
        mask[name] = small
        for dependent in derived[name]:
            mask[dependent] = mask[dependent].to_numpy() | small

    shown = frame.copy()
    for col in frame.columns:
        hide = mask[col].to_numpy()
        if hide.any():
            _hide(shown, col, hide)
    note = _suppression_rule_note(marker, min_cell, unit, complementary, int(mask.to_numpy().sum()))
    return SuppressedTable(values=shown, suppressed=mask, min_cell=int(min_cell), marker=marker, note=note)
