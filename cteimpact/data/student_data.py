"""Student-level evaluation data: a validated frame, its column mapping and its sample flow."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cteimpact.data.columns import ColumnMap
from cteimpact.data.io import read_columns, read_table
from cteimpact.data.roles import ROLES
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.validation import ValidationPolicy, check_columns_present, validate_frame
from cteimpact.errors import OptionError

__all__ = ["StudentData", "frame_and_flow", "load_student_data"]


@dataclass(frozen=True, slots=True)
class StudentData:
    """A validated data set with its column mapping and sample flow.

    Build it with :func:`load_student_data` or :meth:`from_frame`; every filter returns a new object whose flow
    records the rows removed and why.

    Attributes
    ----------
    frame
        The data, with the user's column names and canonical dtypes.
    columns
        Role-to-column mapping.
    flow
        Rows read, each exclusion and rows kept.
    """

    frame: pd.DataFrame
    columns: ColumnMap
    flow: SampleFlow

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        columns: ColumnMap | dict[str, str],
        *,
        source: str = "data frame",
        required: Iterable[str] = (),
        key_roles: Sequence[str] | None = None,
        policy: ValidationPolicy | None = None,
    ) -> StudentData:
        """Validate an in-memory frame (it is not modified) and drop rows missing a required role.

        See :func:`load_student_data` for the parameters.
        """
        cmap = columns if isinstance(columns, ColumnMap) else ColumnMap(columns)
        valid = validate_frame(frame, cmap, key_roles=key_roles, policy=policy)
        data = cls(valid, cmap, SampleFlow(source, len(frame)))
        return data.require(required)

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, role: str) -> str:
        """The user's column name for ``role``."""
        return self.columns[role]

    def values(self, role: str) -> pd.Series:
        """The column that fills ``role``."""
        return self.frame[self.columns[role]]

    def filter(self, keep: np.ndarray | pd.Series, reason: str) -> StudentData:
        """Keep rows where ``keep`` is true; record the others as excluded for ``reason``."""
        frame, flow = self.flow.apply(self.frame, keep, reason)
        return StudentData(frame, self.columns, flow)

    def require(self, roles: Iterable[str]) -> StudentData:
        """Drop rows with a missing value in any of ``roles``, one recorded step per role.

        Raises
        ------
        OptionError
            A role that is not mapped.
        """
        data = self
        for role in roles:
            if role not in ROLES:
                raise OptionError(f"unknown column role '{role}'")
            col = self.columns[role]
            check_columns_present(list(data.frame.columns), self.columns, [role])
            data = data.filter(data.frame[col].notna().to_numpy(), f"missing {role} (column '{col}')")
        return data


def load_student_data(
    path: str | Path,
    columns: ColumnMap | dict[str, str],
    *,
    required: Iterable[str] = (),
    key_roles: Sequence[str] | None = None,
    extra_columns: Sequence[str] = (),
    policy: ValidationPolicy | None = None,
) -> StudentData:
    """Load a CSV or Parquet file, validate it against the student-data contract and record the sample flow.

    Parameters
    ----------
    path
        CSV (optionally gzipped) or Parquet file.
    columns
        Role-to-column mapping; only mapped columns (and ``extra_columns``) are read.
    required
        Roles that must be non-missing for a row to be used; rows missing any are excluded, each role a
        separate, counted step of the sample flow.
    key_roles
        Roles whose combination must be unique; see :func:`~cteimpact.data.validation.validate_frame`.
    extra_columns
        Further columns to read unchecked (for example covariates outside the contract).
    policy
        Year limits for the value checks.

    Returns
    -------
    StudentData

    Raises
    ------
    MissingColumnError, ColumnTypeError, DuplicateRowsError, InvalidValueError, AllMissingError
        The data break the contract; the message names the column and the counts.
    """
    cmap = columns if isinstance(columns, ColumnMap) else ColumnMap(columns)
    path = Path(path)
    # check the mapped columns against the file's header first, so that a missing column is reported with its
    # role, the closest name in the file and the count of other missing columns
    check_columns_present(read_columns(path), cmap)
    wanted = [*cmap.columns(), *extra_columns]
    identifiers = [cmap[r] for r in cmap if ROLES[r].kind == "identifier"]
    frame = read_table(path, wanted, text_columns=identifiers)
    return StudentData.from_frame(
        frame, cmap, source=path.name, required=required, key_roles=key_roles, policy=policy
    )


def frame_and_flow(data: pd.DataFrame | StudentData, *, what: str, source: str, unit: str = "rows",
                   context: str = "") -> tuple[pd.DataFrame, SampleFlow]:
    """The rows of ``data`` and the sample flow to continue: a :class:`StudentData`'s own (checked to describe its
    frame), or a new flow of ``source`` counting a plain frame's rows in ``unit``.

    ``what`` names the argument in the message for another type; ``context`` prefixes the message of a flow that does
    not match its frame (``"training sample: "``).

    Raises
    ------
    OptionError
        ``data`` is neither, or a StudentData's flow and frame disagree on the number of rows.
    """
    if isinstance(data, StudentData):
        frame, flow = data.frame, data.flow
        if flow.rows_used != len(frame):
            raise OptionError(f"{context}the sample flow of the student data has {flow.rows_used:,} rows but its "
                              f"frame has {len(frame):,}")
        return frame, flow
    if isinstance(data, pd.DataFrame):
        return data, SampleFlow(source, len(data), unit=unit)
    raise OptionError(f"{what} must be a pandas DataFrame or StudentData, got {type(data).__name__}")
