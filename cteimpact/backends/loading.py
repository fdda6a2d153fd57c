"""A study's student data from a table in an engine: the sample flow counted by the engine, then only the rows and
columns the design needs pulled to pandas and validated against the student-data contract.

The result is the same :class:`~cteimpact.data.StudentData` the file path gives (same rows, columns, dtypes and
sample flow, except that the flow names the table as its source), so every estimator runs unchanged on it.

What runs where:

* in the engine: the columns' presence (a missing one is a :class:`~cteimpact.backends.errors.BackendColumnError`
  naming the role, backend and table), the type of every column the design sums or averages
  (:class:`~cteimpact.backends.errors.BackendTypeError`), repeated key combinations over the whole table, the count
  of rows read and each sample restriction's exclusions;
* in the engine too: the contract's value checks (binary roles hold 0/1, years and grades are whole numbers in
  range, non-negative roles are not negative, no infinite values, no role entirely missing) over every row of the
  table, in one aggregate query (:func:`check_contract_values`); where one fails, the offending column alone is
  pulled (within the limit) so that the error is the file path's, word for word;
* here: the same checks on the rows pulled (they pass), and the design itself.

When the analysis also needs the rows the restrictions exclude (a surrogate index's training sample, an equity
analysis's access gaps), ``keep_unrestricted`` pulls the whole table and applies the restrictions in pandas, as the
file path does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cteimpact.backends.source import DEFAULT_MAX_ROWS_PULLED, TableSource, from_ibis
from cteimpact.data.columns import ColumnMap
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.data.validation import ValidationPolicy, validate_frame

__all__ = ["LoadedTable", "check_contract_values", "check_student_table", "is_ibis_table", "load_student_table",
           "table_student_data"]


@dataclass(frozen=True)
class LoadedTable:
    """What :func:`load_student_table` read.

    Attributes
    ----------
    read
        Every row of the table (only with ``keep_unrestricted``; else None).
    data
        The study sample: the rows that meet every restriction.
    rows_pulled
        Rows that came to this machine.
    """

    read: StudentData | None
    data: StudentData
    rows_pulled: int


def _key_roles(cmap: ColumnMap, key_roles: Sequence[str] | None) -> tuple[str, ...]:
    """The roles whose combination must be unique: as :func:`~cteimpact.data.validation.validate_frame` decides."""
    if key_roles is not None:
        return tuple(key_roles)
    if "student_id" in cmap and "year" in cmap:
        return ("student_id", "year")
    if "student_id" in cmap:
        return ("student_id",)
    return ()


_CHECKED = ("binary", "nonnegative", "year", "first_treated", "grade", "age", "numeric")


def _violations(source: TableSource, cmap: ColumnMap, policy: ValidationPolicy) -> set[str]:
    """The mapped columns that break their role's value checks over the whole table (one aggregate query): rows
    breaking them, or no present value at all. A text column in a numeric role is listed too (pandas decides which
    texts parse as numbers)."""
    import ibis
    import ibis.expr.datatypes as dt

    from cteimpact.data.roles import ROLES
    from cteimpact.data.validation import _RANGES

    schema = source.table.schema()
    t = source.table
    metrics: dict[str, Any] = {"rows": t.count()}
    checked: dict[str, str] = {}  # metric suffix -> column
    failing: set[str] = set()
    for k, (role, col) in enumerate(cmap.items()):
        kind = ROLES[role].kind
        if kind not in _CHECKED:
            continue
        dtype = schema[col]
        if not (dtype.is_numeric() or dtype.is_boolean()):
            failing.add(col)
            continue
        v = t[col].cast(dt.float64)
        present = v.notnull() & ~v.isnan()
        bad = present & v.isinf()
        if kind == "binary":
            bad = bad | (present & v.notin([0.0, 1.0]))
        elif kind == "nonnegative":
            bad = bad | (present & (v < 0))
        elif kind in ("year", "first_treated", "grade", "age"):
            lo, hi = (policy.year_min, policy.year_max) if kind in ("year", "first_treated") else _RANGES[kind]
            in_range = present & (v != 0) if kind == "first_treated" else present
            bad = bad | (present & (v != v.floor())) | (in_range & ((v < lo) | (v > hi)))
        metrics[f"present{k}"] = ibis.ifelse(present, 1, 0).sum()
        metrics[f"bad{k}"] = ibis.ifelse(bad, 1, 0).sum()
        checked[str(k)] = col
    if not checked:
        return failing
    row = source.execute(t.aggregate(**metrics), what="the contract's value checks").iloc[0]

    def count(name: str) -> int:
        value = row[name]
        return 0 if value is None or value != value else int(value)  # SUM over no rows is NULL

    for key, col in checked.items():
        if count(f"bad{key}") or (count("rows") > 0 and count(f"present{key}") == 0):
            failing.add(col)
    return failing


def check_contract_values(source: TableSource, columns: ColumnMap | dict[str, str], *,
                          policy: ValidationPolicy | None = None, max_rows: int = DEFAULT_MAX_ROWS_PULLED) -> None:
    """The student-data contract's value checks over every row of the table, counted by the engine.

    Where a column fails, that column alone is pulled and checked by :func:`~cteimpact.data.validation.coerce_role`,
    so the error names the column, its role and the counts exactly as the file path does.

    Raises
    ------
    ColumnTypeError, InvalidValueError, AllMissingError
        As the file path.
    PullLimitError
        A failing column has more rows than ``max_rows`` (the message says which column to look at).
    """
    from cteimpact.data.validation import coerce_role

    cmap = columns if isinstance(columns, ColumnMap) else ColumnMap(columns)
    policy = policy or ValidationPolicy()
    failing = _violations(source, cmap, policy)
    for role, col in cmap.items():
        if col in failing:
            frame = source.pull([col], max_rows=max_rows,
                                why=f"column '{col}' (role '{role}') breaks the data contract; the message "
                                    "needs its values")
            coerce_role(frame[col], role, policy)


def check_student_table(source: TableSource, columns: ColumnMap | dict[str, str], *,
                        extra_columns: Sequence[str] = (), numeric: Sequence[str] = (),
                        key_roles: Sequence[str] | None = None, policy: ValidationPolicy | None = None,
                        max_rows: int = DEFAULT_MAX_ROWS_PULLED, why: str = "the estimator needs the rows",
                        values: bool = True) -> None:
    """The checks :func:`load_student_table` makes in the engine before it pulls anything: the mapped and extra
    columns exist, ``numeric`` columns hold numbers, the key roles are unique and (``values``) the contract's value
    checks over every row. Parameters and errors as :func:`load_student_table`'s."""
    cmap = columns if isinstance(columns, ColumnMap) else ColumnMap(columns)
    source.require_columns(dict(cmap.items()))
    wanted = list(dict.fromkeys([*cmap.columns(), *extra_columns]))
    source.require_columns(wanted, role="design")
    source.require_numeric(numeric, why=why.split(":")[0])
    roles = _key_roles(cmap, key_roles)
    if roles:
        source.check_unique(cmap.columns(roles), roles=roles)
    if values:
        check_contract_values(source, cmap, policy=policy, max_rows=max_rows)


def load_student_table(source: TableSource, columns: ColumnMap | dict[str, str], *,
                       extra_columns: Sequence[str] = (), restrictions: Iterable[str] = (),
                       numeric: Sequence[str] = (), key_roles: Sequence[str] | None = None,
                       policy: ValidationPolicy | None = None, max_rows: int = DEFAULT_MAX_ROWS_PULLED,
                       why: str = "the estimator needs the rows", keep_unrestricted: bool = False) -> LoadedTable:
    """Read a study's data from ``source``: counts and restrictions in the engine, then a guarded pull.

    Parameters
    ----------
    source
        The table.
    columns
        The column mapping (student-data contract roles to columns); mapped columns and ``extra_columns`` are pulled.
    extra_columns
        Further columns the analysis needs.
    restrictions
        Sample restrictions, applied in order by the engine, each one counted step of the sample flow.
    numeric
        Columns the design sums or averages (outcomes, running variable, weights...): they must hold numbers.
    key_roles
        Roles whose combination must be unique (default as the file path: student and year, or student).
    policy
        Year limits of the value checks.
    max_rows
        The most rows that may be pulled.
    why
        Which design needs the rows (named in the message when there are too many).
    keep_unrestricted
        Pull every row and apply the restrictions here (see the module docstring).

    Raises
    ------
    BackendColumnError, BackendTypeError, PullLimitError, BackendFeatureError
        See :class:`TableSource`.
    DuplicateRowsError, ColumnTypeError, InvalidValueError, AllMissingError
        The data break the contract.
    RestrictionError
        A restriction cannot be evaluated on the table.
    """
    cmap = columns if isinstance(columns, ColumnMap) else ColumnMap(columns)
    wanted = list(dict.fromkeys([*cmap.columns(), *extra_columns]))
    roles = _key_roles(cmap, key_roles)
    # (with every row pulled, the pandas checks below see them all)
    check_student_table(source, cmap, extra_columns=extra_columns, numeric=numeric, key_roles=key_roles,
                        policy=policy, max_rows=max_rows, why=why, values=not keep_unrestricted)
    restrictions = list(restrictions)
    if keep_unrestricted:
        flow = SampleFlow(source.label, source.count_rows())
        frame = source.pull(wanted, max_rows=max_rows, why=why, rows=flow.rows_read)
        read = StudentData(validate_frame(frame, cmap, key_roles=roles, policy=policy), cmap, flow)
        data = read
        for expr in restrictions:
            data = data.filter(evaluate_restriction(data.frame, expr), f"restriction: {expr}")
        return LoadedTable(read, data, len(frame))
    table, flow = source.restrict(restrictions)
    frame = source.pull(wanted, table=table, max_rows=max_rows, why=why, rows=flow.rows_used)
    data = StudentData(validate_frame(frame, cmap, key_roles=roles, policy=policy), cmap, flow)
    return LoadedTable(None, data, len(frame))


def table_student_data(table: Any, columns: Sequence[str], *, where: str | Sequence[str] | None = None,
                       max_rows: int = DEFAULT_MAX_ROWS_PULLED, why: str = "the estimator needs the rows",
                       name: str | None = None, unit: str = "rows") -> StudentData:
    """The rows of an Ibis table (or a :class:`TableSource`) that meet ``where``, with only ``columns``, as
    :class:`~cteimpact.data.StudentData` whose sample flow holds the engine's counts (rows read, each restriction's
    exclusions): what the estimators accept in place of a DataFrame.

    Parameters
    ----------
    table
        An Ibis table expression or a :class:`TableSource`.
    columns
        The columns the estimator uses (only these are pulled).
    where
        Sample restrictions, evaluated by the engine.
    max_rows, why
        The pull guard (see :meth:`TableSource.pull`).
    name
        The table's name in messages and the flow (default: the Ibis table's).
    unit
        What the flow counts (``"rows"``; the DiD estimators say ``"unit-periods"`` or ``"observations"``).

    Raises
    ------
    BackendColumnError, PullLimitError, BackendFeatureError, RestrictionError
        See :class:`TableSource`.
    """
    source = table if isinstance(table, TableSource) else from_ibis(table, name=name)
    restrictions = [where] if isinstance(where, str) else list(where or ())
    restricted, flow = source.restrict(restrictions, unit=unit)
    frame = source.pull(columns, table=restricted, max_rows=max_rows, why=why, rows=flow.rows_used)
    return StudentData(frame, ColumnMap({}), flow)


def is_ibis_table(data: object) -> bool:
    """Whether ``data`` is an Ibis table expression (checked without importing Ibis when it is not loaded)."""
    import sys

    if "ibis" not in sys.modules:
        return False
    import ibis.expr.types as ir

    return isinstance(data, ir.Table)
