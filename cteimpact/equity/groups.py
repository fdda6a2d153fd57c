"""Subgroup columns of an equity analysis: their levels, the students in each, and the reference level.

Any categorical or binary column can define subgroups (race/ethnicity, low income, English learner, special
education, gender, grade at entry...): its levels are its distinct non-missing values, in sorted order, named as
in estimate labels (``female=1``, ``race_ethnicity=White``; whole numbers without decimals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cteimpact.equity.errors import UnknownGroupError
from cteimpact.errors import MissingColumnError, OptionError
from cteimpact.rd.sample import format_value

__all__ = ["MAX_LEVELS", "SubgroupColumn", "require_group", "subgroup_column", "subgroup_columns"]

MAX_LEVELS = 12
"""Most levels a subgroup column may have (the RD estimator's limit): a column with more is not categorical."""


@dataclass(frozen=True)
class SubgroupColumn:
    """The levels of one subgroup column and its reference level.

    Attributes
    ----------
    column
        The column.
    levels
        Level names as in labels, in sorted order of the values.
    values
        The values behind ``levels`` (same order).
    counts
        Students (rows) at each level.
    n_missing
        Rows with the column missing (left out of its subgroups).
    reference
        The level every other level is compared with.
    reference_rule
        How the reference was chosen (given by the user; ``0`` of a binary column; the largest level).
    """

    column: str
    levels: tuple[str, ...]
    values: tuple[object, ...]
    counts: tuple[int, ...]
    n_missing: int
    reference: str
    reference_rule: str

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Index of each row's level in :attr:`levels` (-1: missing)."""
        lookup = {lev: i for i, lev in enumerate(self.levels)}
        codes, names = level_names(frame[self.column])
        table = np.array([-1 if n is None else lookup.get(n, -1) for n in names] + [-1], dtype=np.int64)
        return table[codes]  # a missing value's code -1 picks the table's last entry, -1


def level_names(values: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """Each row's level name as in labels (:func:`~cteimpact.rd.sample.format_value`), as codes into a list of
    names (``None``: missing; code -1: missing).

    The values are formatted once per distinct value, not once per row. A column of Python objects is formatted
    row by row (distinct objects that compare equal, such as ``1`` and ``True``, could format differently)."""
    if values.dtype == object:
        per_row = [None if _missing(v) else format_value(v) for v in values]
        codes, uniques = pd.factorize(pd.Series(per_row, dtype=object), use_na_sentinel=True)
        return codes.astype(np.int64), list(uniques)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), [None if _missing(v) else format_value(v) for v in uniques]


def _missing(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _sorted_values(values: np.ndarray) -> list[object]:
    uniq = list(pd.unique(values))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def subgroup_column(frame: pd.DataFrame, column: str, *, reference: object | None = None,
                    min_cell: int = 10) -> SubgroupColumn:
    """Levels, counts and reference level of subgroup column ``column`` of ``frame``.

    Parameters
    ----------
    frame
        The data.
    column
        The subgroup column.
    reference
        The reference level (a value, or its label text: ``1`` or ``"1"``, ``"White"``). Default: ``0`` for a
        column whose values are 0 and 1, else the level with the most students (the first in sorted order on ties).
    min_cell
        Counts below it are not printed in messages.

    Raises
    ------
    MissingColumnError
        ``column`` is not in ``frame``.
    OptionError
        The column has no non-missing value, or more than :data:`MAX_LEVELS` levels.
    UnknownGroupError
        ``reference`` is not a level of the column (the message lists the levels with their counts).
    """
    if column not in frame.columns:
        raise MissingColumnError(column, [str(c) for c in frame.columns], role="equity subgroup")
    raw = frame[column].to_numpy()
    present = ~pd.isna(raw)
    vals = _sorted_values(raw[present])
    if not vals:
        raise OptionError(f"subgroup column '{column}' has no non-missing value in the {len(frame):,} rows used")
    if len(vals) > MAX_LEVELS:
        raise OptionError(f"subgroup column '{column}' has {len(vals)} distinct values; give a categorical column "
                          f"with at most {MAX_LEVELS} levels (for example a binary indicator)")
    levels = [format_value(v) for v in vals]
    codes, names = level_names(frame[column])
    per_code = np.bincount(codes[codes >= 0], minlength=len(names))
    tally: dict[str | None, int] = {}
    for name, n in zip(names, per_code.tolist(), strict=True):
        tally[name] = tally.get(name, 0) + n
    counts = [int(tally.get(lev, 0)) for lev in levels]
    if reference is not None:
        ref = format_value(reference)
        if ref not in levels:
            raise UnknownGroupError(column, reference, list(zip(levels, counts, strict=True)), min_cell=min_cell)
        rule = "given"
    elif set(levels) == {"0", "1"}:
        ref, rule = "0", "0 of a binary column"
    else:
        ref = levels[int(np.argmax(counts))]
        rule = "the level with the most students"
    return SubgroupColumn(column, tuple(levels), tuple(vals), tuple(counts), int((~present).sum()), ref, rule)


def subgroup_columns(frame: pd.DataFrame, columns: Sequence[str], *, references: Mapping[str, object] | None = None,
                     min_cell: int = 10) -> tuple[SubgroupColumn, ...]:
    """:func:`subgroup_column` of each of ``columns`` (references by column).

    Raises
    ------
    OptionError
        A repeated column, or a reference for a column that is not among ``columns``.
    """
    refs = dict(references or {})
    if len(set(columns)) != len(columns):
        raise OptionError(f"subgroup columns are repeated: {list(columns)}")
    stray = [c for c in refs if c not in columns]
    if stray:
        raise OptionError(f"reference given for column(s) {', '.join(repr(c) for c in stray)} that are not among the "
                          f"subgroups ({', '.join(columns)})")
    return tuple(subgroup_column(frame, c, reference=refs.get(c), min_cell=min_cell) for c in columns)


def require_group(frame: pd.DataFrame, column: str, group: object, *, min_cell: int = 10) -> int:
    """Number of students in group ``column = group`` of ``frame``, for callers that price or test one named group
    (an equity premium or floor for a priority population).

    Raises
    ------
    MissingColumnError
        ``column`` is not in ``frame``.
    UnknownGroupError
        No student has ``column = group`` (the message lists the levels present with their counts, those below
        ``min_cell`` as "fewer than ``min_cell``").
    """
    col = subgroup_column(frame, column, reference=group, min_cell=min_cell)
    return col.counts[col.levels.index(col.reference)]
