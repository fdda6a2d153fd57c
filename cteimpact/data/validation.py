"""Checks that a data frame honours the student-data contract.

Each check is vectorised (administrative files reach tens of millions of rows) and raises a typed error from
:mod:`cteimpact.errors` whose message names the column, its role and the counts involved. Values are never quoted
from identifier columns, so an error message cannot leak a student identifier. A column named by an option may
hold identifiers without the code knowing it (``--running student_id``), so a bad value is quoted as an example
only when at least :data:`~cteimpact.provenance.suppression.DEFAULT_MIN_CELL` rows share it: such a value is a
code (``n/a``, ``.``), not an identifier, which belongs to one student (or a few rows of one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cteimpact.data.columns import ColumnMap
from cteimpact.data.roles import ROLES, RoleSpec, ValueKind
from cteimpact.errors import (
    AllMissingError,
    ColumnTypeError,
    DataValidationError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL

__all__ = [
    "ValidationPolicy",
    "check_columns_present",
    "coerce_kind",
    "coerce_role",
    "find_duplicate_keys",
    "validate_frame",
]


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Limits used by the value checks.

    Parameters
    ----------
    year_min, year_max
        Plausible range of every year-valued role (cohort, year, first treated year).
    """

    year_min: int = 1970
    year_max: int = 2040

    def __post_init__(self) -> None:
        if self.year_min >= self.year_max:
            raise OptionError(f"year_min ({self.year_min}) must be below year_max ({self.year_max})")


_RANGES: dict[str, tuple[int, int]] = {"grade": (0, 13), "age": (10, 80)}


def check_columns_present(columns: Sequence[str], cmap: ColumnMap, roles: Iterable[str] | None = None) -> None:
    """Raise :class:`MissingColumnError` for the first mapped column (of ``roles``) that the data lack.

    The message suggests the closest existing column name and says how many other mapped columns are missing.
    """
    wanted = list(cmap) if roles is None else list(roles)
    have = set(columns)
    missing = [(r, cmap[r]) for r in wanted if cmap[r] not in have]
    if missing:
        role, col = missing[0]
        err = MissingColumnError(col, list(columns), role)
        if len(missing) > 1:
            others = ", ".join(f"'{c}'" for _, c in missing[1:])
            err.args = (f"{err.args[0]} ({len(missing) - 1} more mapped columns are missing too: {others})",)
        raise err


def _examples(values: pd.Series, k: int = 3) -> str:
    """Up to ``k`` bad values to quote: only values shared by at least ``DEFAULT_MIN_CELL`` rows (codes such as
    ``n/a``); a rarer value could be an identifier and is not quoted."""
    counts = values.astype("string").value_counts(sort=False)
    common = [str(v) for v, c in counts.items() if int(c) >= DEFAULT_MIN_CELL][:k]
    rare = int((counts < DEFAULT_MIN_CELL).sum())
    parts = []
    if common:
        parts.append("e.g. " + ", ".join(repr(v) for v in common))
    if rare:
        parts.append(f"{rare:,} distinct value{'s' if rare != 1 else ''} shared by fewer than {DEFAULT_MIN_CELL} rows "
                     "not quoted, as they could identify a student")
    return "; ".join(parts)


def coerce_role(series: pd.Series, role: str, policy: ValidationPolicy | None = None) -> pd.Series:
    """Check one column against its contract role and return it in the canonical dtype (see :func:`coerce_kind`)."""
    spec: RoleSpec = ROLES[role]
    return coerce_kind(series, spec.kind, what=f"column '{series.name}' (role '{spec.name}')", policy=policy)


def coerce_kind(
    series: pd.Series,
    kind: ValueKind,
    *,
    what: str | None = None,
    policy: ValidationPolicy | None = None,
) -> pd.Series:
    """Check one column against a value kind and return it in the canonical dtype.

    ``what`` names the column in error messages (default ``column '<name>'``). Estimators use this for columns
    named by options (``--outcome``, ``--running``) that are outside the role mapping.

    Numeric kinds come back as ``float64`` (missing values as NaN); binary columns as ``float64`` 0/1/NaN;
    identifiers and categories unchanged.

    Raises
    ------
    AllMissingError
        Every value is missing.
    ColumnTypeError
        Values that are not numbers in a numeric role, or fractional values in a year, grade or age role.
    InvalidValueError
        A binary column with values other than 0/1, negative values in a non-negative role, years outside the
        policy's range, grades or ages outside their range.
    """
    policy = policy or ValidationPolicy()
    what = what or f"column '{series.name}'"
    n = len(series)
    notna = series.notna()
    n_present = int(notna.sum())
    if n > 0 and n_present == 0:
        raise AllMissingError(f"{what} has no non-missing value in {n:,} rows")
    if kind in ("identifier", "category"):
        return series

    if series.dtype == bool or pd.api.types.is_bool_dtype(series.dtype):
        numeric = series.astype("float64")
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        if pd.api.types.is_extension_array_dtype(numeric.dtype):
            numeric = numeric.astype("float64")
        numeric = numeric.astype("float64")  # lazy under copy-on-write (pandas >= 3 deprecates copy=False)
        bad = notna & numeric.isna()
        n_bad = int(bad.sum())
        if n_bad:
            raise ColumnTypeError(
                f"{what} must be numeric: {n_bad:,} of {n_present:,} non-missing values are not numbers "
                f"({_examples(series[bad])})"
            )
    values = numeric.to_numpy()
    present = ~np.isnan(values)
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        raise InvalidValueError(
            f"{what} has {n_inf:,} infinite values of {n_present:,} non-missing; use a missing value where the "
            "value is unknown"
        )

    if kind == "binary":
        bad_mask = present & (values != 0.0) & (values != 1.0)
        n_bad = int(bad_mask.sum())
        if n_bad:
            all_counts = pd.Series(values[bad_mask]).value_counts()
            shown = ", ".join(f"{v:g} ({c:,} rows)" for v, c in all_counts.head(3).items())
            if len(all_counts) > 3:
                shown += f" and {len(all_counts) - 3:,} other values"
            raise InvalidValueError(
                f"{what} is binary and must hold only 0 and 1: {n_bad:,} rows have other values: {shown}"
            )
    elif kind == "nonnegative":
        n_bad = int((present & (values < 0)).sum())
        if n_bad:
            raise InvalidValueError(
                f"{what} must not be negative: {n_bad:,} of {int(present.sum()):,} values are below 0 "
                f"(minimum {np.nanmin(values):g})"
            )
    elif kind in ("year", "grade", "age", "first_treated"):
        frac = present & (values != np.floor(values))
        n_frac = int(frac.sum())
        if n_frac:
            raise ColumnTypeError(f"{what} must hold whole numbers: {n_frac:,} values have a fractional part")
        if kind in ("year", "first_treated"):
            lo, hi = policy.year_min, policy.year_max
            check = present & (values != 0) if kind == "first_treated" else present
            label = "years"
        else:
            lo, hi = _RANGES[kind]
            check = present
            label = f"{kind}s"
        out = check & ((values < lo) | (values > hi))
        n_out = int(out.sum())
        if n_out:
            raise InvalidValueError(
                f"{what} has {n_out:,} impossible {label} outside {lo}–{hi} "
                f"(range found {np.nanmin(values[out]):g}–{np.nanmax(values[out]):g})"
                + ("; use 0 or missing for never treated" if kind == "first_treated" else "")
            )
    return pd.Series(values, index=series.index, name=series.name)


def find_duplicate_keys(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Boolean array marking every row whose ``keys`` repeat an earlier row."""
    return np.asarray(frame.duplicated(subset=list(keys), keep="first"))


def validate_frame(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    *,
    key_roles: Sequence[str] | None = None,
    policy: ValidationPolicy | None = None,
) -> pd.DataFrame:
    """Check every mapped column of ``frame`` and return a copy with canonical dtypes.

    Parameters
    ----------
    frame
        The data, with the user's column names. It is not modified.
    cmap
        Role-to-column mapping; every mapped column must be present.
    key_roles
        Roles whose combination must be unique (default ``("student_id", "year")`` when both are mapped, else
        ``("student_id",)`` when the student id is mapped, else no key). Rows with a missing key value are not
        checked.
    policy
        Year limits.

    Raises
    ------
    MissingColumnError, AllMissingError, ColumnTypeError, InvalidValueError, DuplicateRowsError
        See :func:`coerce_role`; :class:`DuplicateRowsError` when rows repeat the key.
    """
    check_columns_present(list(frame.columns), cmap)
    repeated = [(role, col) for role, col in cmap.items() if int((frame.columns == col).sum()) > 1]
    if repeated:
        role, col = repeated[0]
        raise DataValidationError(
            f"column '{col}' (role '{role}') appears {int((frame.columns == col).sum())} times in the data; "
            "rename the copies so that each column name is unique"
        )
    out = frame.copy(deep=False)
    for role, column in cmap.items():
        out[column] = coerce_role(frame[column], role, policy)
    if key_roles is None:
        if "student_id" in cmap and "year" in cmap:
            key_roles = ("student_id", "year")
        elif "student_id" in cmap:
            key_roles = ("student_id",)
        else:
            key_roles = ()
    if key_roles:
        key_cols = cmap.columns(key_roles)
        # a row with a missing key value repeats no combination (it is excluded later if the role is required)
        complete = out[key_cols].notna().all(axis=1).to_numpy()
        dup = np.zeros(len(out), dtype=bool)
        dup[complete] = find_duplicate_keys(out.loc[complete, key_cols], key_cols)
        n_dup = int(dup.sum())
        if n_dup:
            first = int(np.flatnonzero(dup)[0])
            raise DuplicateRowsError(
                f"{n_dup:,} rows repeat a ({', '.join(key_cols)}) combination already present "
                f"(roles {', '.join(key_roles)}; first repeat at data row {first + 1:,}); "
                "each combination must appear once"
            )
    return out
