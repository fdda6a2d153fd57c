"""A table in a data engine as a study's data source: its columns, row counts, the sample flow computed by the
engine, and guarded pulls of selected columns to pandas.

:class:`TableSource` holds the backend's name, the table's name and the Ibis table expression. Everything that
counts (rows read, each sample restriction's exclusions, missing values, repeated keys) runs in the engine as an
aggregate query; rows come to this machine only through :meth:`TableSource.pull`, which first counts them and stops
with :class:`~cteimpact.backends.errors.PullLimitError` when they exceed the configured maximum
(:data:`DEFAULT_MAX_ROWS_PULLED` unless ``[data] max_rows_pulled`` or ``--max-rows-pulled`` say otherwise).

Row order: a pull keeps the order in which the engine returns the rows. DuckDB returns a table's rows in insertion
order for the filters and projections used here (its default ``preserve_insertion_order``), so a DuckDB table
written from a file gives the file's order and the same floating-point sums as the pandas path; PostgreSQL
returns a table's stored order when it scans without parallel workers from the first row, as every pull does
(:func:`~cteimpact.backends.determinism.deterministic_rows`); other engines promise no order, and results then agree
with the pandas path to rounding (about 1e-12), not bit for bit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cteimpact.backends.connection import BackendName, connect, is_duckdb_file, redact
from cteimpact.backends.determinism import deterministic_rows
from cteimpact.backends.errors import (
    BackendColumnError,
    BackendFeatureError,
    BackendTableError,
    BackendTypeError,
    PullLimitError,
)
from cteimpact.backends.restrictions import restriction_expression
from cteimpact.data.restriction_language import parse_restriction
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import DuplicateRowsError, OptionError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["DEFAULT_MAX_ROWS_PULLED", "TableSource", "from_ibis", "open_table", "source_for_path"]

DEFAULT_MAX_ROWS_PULLED = 5_000_000
"""Rows a study may pull from an engine to this machine unless configured otherwise (about 1 GB for 25 numeric
columns): enough for a student-level regression discontinuity of a large state, small enough that a 100M-row table is
never pulled by accident."""


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class TableSource:
    """A table in a data engine, read through Ibis.

    Build it with :func:`open_table` (a backend and connection) or :func:`from_ibis` (an Ibis table you hold).

    Attributes
    ----------
    backend
        The engine's name (``"duckdb"``, ``"postgres"``...).
    name
        The table's name.
    table
        The Ibis table expression.
    location
        Where the table lives, as messages and records show it: a DuckDB file's name, or a connection string
        without its password.
    """

    backend: str
    name: str
    table: Any
    location: str = ""

    @property
    def label(self) -> str:
        """``location:table`` (or the table alone): the source named in the sample flow."""
        return f"{self.location}:{self.name}" if self.location else self.name

    # -- running queries ---------------------------------------------------------------------------------------------
    def execute(self, expr: Any, *, what: str) -> Any:
        """Run ``expr`` on the engine; an engine failure (a missing SQL feature, an unsupported operation, a type
        the engine cannot aggregate) becomes :class:`BackendFeatureError` naming the backend, the table and ``what``
        was being computed."""
        try:
            return expr.execute()
        except Exception as exc:  # each engine and Ibis raise their own classes
            raise BackendFeatureError(f"{self.backend} could not compute {what} on table '{self.name}': "
                                      f"{_first_line(exc)}", backend=self.backend, table=self.name) from None

    # -- columns -----------------------------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """The table's column names."""
        return [str(c) for c in self.table.columns]

    def dtype(self, column: str) -> Any:
        """The Ibis data type of ``column``."""
        self.require_columns([column])
        return self.table.schema()[column]

    def require_columns(self, columns: Iterable[str] | Mapping[str, str], *, role: str | None = None) -> None:
        """Check that every column is in the table; ``columns`` may map roles to columns (the role is named).

        Raises
        ------
        BackendColumnError
            The first missing column, with the closest name and the backend and table.
        """
        available = self.columns()
        pairs = list(columns.items()) if isinstance(columns, Mapping) else [(role, c) for c in columns]
        for r, col in pairs:
            if col not in available:
                raise BackendColumnError(col, available, backend=self.backend, table=self.name, role=r)

    def require_numeric(self, columns: Iterable[str], *, why: str) -> None:
        """Check that every column holds numbers or true/false, which the engine can sum and average.

        Raises
        ------
        BackendTypeError
            A column of text, dates or nested values, naming the backend, table, column, its type and ``why``.
        """
        schema = self.table.schema()
        for col in columns:
            self.require_columns([col])
            dtype = schema[col]
            if not (dtype.is_numeric() or dtype.is_boolean()):
                raise BackendTypeError(
                    f"column '{col}' of table '{self.name}' ({self.backend}) holds {dtype} values, which cannot be "
                    f"summed or averaged; {why} needs numbers", backend=self.backend, table=self.name, column=col)

    # -- counts in the engine ----------------------------------------------------------------------------------------
    def count_rows(self, table: Any = None) -> int:
        """Rows of ``table`` (default: the whole table), counted by the engine."""
        t = self.table if table is None else table
        return int(self.execute(t.count(), what="the number of rows"))

    def restrict(self, expressions: Iterable[str], *, flow: SampleFlow | None = None,
                 table: Any = None, unit: str = "rows") -> tuple[Any, SampleFlow]:
        """Apply sample restrictions in the engine, each one step of the sample flow (``restriction: <expression>``,
        as the pandas path records it), with its count of excluded rows computed by the engine.

        Parameters
        ----------
        expressions
            Restrictions in the language of :mod:`cteimpact.data.restriction_language`; all are parsed before any
            query runs.
        flow
            The flow to continue (default: a new one counting the table's rows).
        table
            The Ibis table to restrict (default: the whole table; ``flow`` must then describe it).
        unit
            What a new flow counts (``"rows"``; ``"unit-periods"`` for a panel...); not used with ``flow``.

        Returns
        -------
        (ibis.Table, SampleFlow)
            The restricted table expression (nothing is pulled) and the flow.
        """
        if isinstance(expressions, str):
            raise OptionError(f"sample restrictions must be a list of expressions, got the single string "
                              f"{expressions!r}")
        expressions = list(expressions)
        for expr in expressions:
            parse_restriction(expr)
        import ibis

        base = self.table if table is None else table
        # every restriction is an expression over the base table; one aggregate query then counts the rows read
        # and the rows left after each restriction in a single scan (an unknown condition counts as not kept)
        conditions: list[Any] = []
        current = base
        for expr in expressions:
            keep = restriction_expression(base, expr, backend=self.backend, table_name=self.name, rows=current)
            conditions.append(keep)
            current = base.filter(*conditions)
        counts: dict[str, Any] = {"read": base.count()}
        for k in range(len(conditions)):
            kept = conditions[0]
            for c in conditions[1:k + 1]:
                kept = kept & c
            counts[f"kept{k}"] = ibis.ifelse(kept, 1, 0).sum()
        row = self.execute(base.aggregate(**counts), what="the sample flow").iloc[0]
        if flow is None:
            flow = SampleFlow(self.label, int(row["read"]), unit=unit)
        elif flow.rows_used != int(row["read"]):
            raise OptionError(f"the sample flow has {flow.rows_used:,} {flow.current_unit} but table '{self.name}' "
                              f"has {int(row['read']):,} rows")
        for k, expr in enumerate(expressions):
            value = row[f"kept{k}"]
            kept_rows = 0 if value is None or value != value else int(value)  # SUM over no rows is NULL
            flow = flow.exclude(flow.rows_used - kept_rows, f"restriction: {expr}")
        return current, flow

    def exclude_missing(self, table: Any, flow: SampleFlow, columns: Mapping[str, str], *,
                        template: str = "missing {reason} (column '{column}')") -> tuple[Any, SampleFlow]:
        """Exclude, in the engine, rows with a missing value in each column in turn (``{reason: column}``), one
        counted step each (``missing <reason> (column '<column>')``, as :meth:`StudentData.require` records it; or
        ``template`` with ``{reason}`` and ``{column}``, e.g. ``"{reason} '{column}' missing"`` as the
        difference-in-differences preparation records it). A floating-point NaN counts as missing."""
        current = table
        for reason, col in columns.items():
            self.require_columns([col])
            value = current[col]
            present = value.notnull()  # noqa: PD004 (an Ibis expression)
            if self.table.schema()[col].is_floating():
                present = present & ~value.isnan()
            current = current.filter(present)
            kept = self.count_rows(current)
            flow = flow.exclude(flow.rows_used - kept, template.format(reason=reason, column=col))
        return current, flow

    def repeated_keys(self, key: Sequence[str], table: Any = None) -> int:
        """Rows whose ``key`` combination repeats an earlier row's (rows with a missing key value not counted),
        counted by the engine: rows in repeated groups minus the number of such groups."""
        self.require_columns(key)
        t = self.table if table is None else table
        complete = t
        for col in key:
            complete = complete.filter(complete[col].notnull())  # noqa: PD004 (Ibis)
        groups = complete.group_by(list(key)).aggregate(n=complete.count())
        repeated = groups.filter(groups.n > 1)
        total = repeated.aggregate(rows=repeated.n.sum(), groups=repeated.count())
        frame = self.execute(total, what=f"repeated ({', '.join(key)}) combinations")
        rows = frame["rows"].iloc[0]
        return 0 if rows is None or rows != rows else int(rows) - int(frame["groups"].iloc[0])

    def check_unique(self, key: Sequence[str], *, roles: Sequence[str] | None = None) -> None:
        """Raise :class:`DuplicateRowsError` when rows of the whole table repeat a ``key`` combination (checked in
        the engine, so rows a restriction excludes are checked too, as the pandas path checks every row read)."""
        n = self.repeated_keys(key)
        if n:
            named = f" (roles {', '.join(roles)})" if roles else ""
            raise DuplicateRowsError(f"{n:,} rows of table '{self.name}' ({self.backend}) repeat a "
                                     f"({', '.join(key)}) combination already present{named}; each combination "
                                     "must appear once")

    # -- pulling rows --------------------------------------------------------------------------------------------------
    def pull(self, columns: Sequence[str], *, table: Any = None, max_rows: int = DEFAULT_MAX_ROWS_PULLED,
             why: str, rows: int | None = None) -> pd.DataFrame:
        """Pull ``columns`` of ``table`` (default: the whole table) to a pandas DataFrame, in the engine's row order.

        Parameters
        ----------
        columns
            The columns to pull (only these leave the engine).
        table
            A restricted table expression (from :meth:`restrict`).
        max_rows
            The most rows that may be pulled.
        why
            Which computation needs the rows, for the message when there are too many.
        rows
            The number of rows, when already counted (saves a query).

        Raises
        ------
        PullLimitError
            More than ``max_rows`` rows: the message says how many, the limit and why they were needed.
        BackendColumnError
            A column the table does not have.
        """
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise OptionError(f"max_rows must be a positive whole number, got {max_rows!r}")
        columns = list(dict.fromkeys(columns))
        self.require_columns(columns)
        t = self.table if table is None else table
        n = self.count_rows(t) if rows is None else int(rows)
        if n > max_rows:
            raise PullLimitError(
                f"pulling {n:,} rows of table '{self.name}' ({self.backend}) to this machine exceeds the limit of "
                f"{max_rows:,} rows: {why}; restrict the sample, or raise the limit ([data] max_rows_pulled or "
                "--max-rows-pulled) if this machine has the memory", backend=self.backend, table=self.name, rows=n,
                limit=max_rows)
        selected = t.select(*columns)
        with deterministic_rows(selected):  # the stored order, the same on every run (a server's parallel scan)
            frame = self.execute(selected, what=f"the {len(columns)} columns to pull")
        return frame.reset_index(drop=True)


def _resolve_table(con: Any, backend: str, table: str | None, where: str) -> str:
    try:
        names = [str(n) for n in con.list_tables()]
    except Exception as exc:  # the engine's own classes
        raise BackendTableError(f"cannot list the tables of {where} ({backend}): {_first_line(exc)}",
                                backend=backend, table=table) from None
    if table is None:
        if len(names) == 1:
            return names[0]
        listed = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise BackendTableError(
            f"{where} ({backend}) holds {len(names)} tables ({listed or 'none'}); name the one to read with "
            "[data] table or --table", backend=backend)
    if table not in names:
        close = difflib.get_close_matches(table, names, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else (
            f"; it has {len(names)} tables: {', '.join(names[:12])}" if names else "; it has no tables")
        raise BackendTableError(f"table '{table}' is not in {where} ({backend}){hint}", backend=backend, table=table)
    return table


def open_table(backend: BackendName = "duckdb", connection: str | None = None, table: str | None = None, *,
               connection_env: str | None = None) -> TableSource:
    """Connect to an engine and open one of its tables as a :class:`TableSource`.

    Parameters
    ----------
    backend, connection, connection_env
        See :func:`cteimpact.backends.connection.connect` (a DuckDB file is opened read-only).
    table
        The table's name; may be omitted when the database holds exactly one table.

    Raises
    ------
    BackendConnectionError
        The engine cannot be reached.
    BackendTableError
        The table is not there (the closest name, or the tables that are, are listed), or none was named and the
        database holds several.
    """
    from cteimpact.backends.connection import connection_string

    con = connect(backend, connection, connection_env=connection_env)
    text = connection_string(connection, env=connection_env) if backend != "duckdb" or connection else None
    if backend == "duckdb":
        location = Path(text.removeprefix("duckdb://")).name if text else "memory"
    else:
        location = redact(text or backend)
    name = _resolve_table(con, backend, table, f"'{location}'")
    try:
        expr = con.table(name)
    except Exception as exc:
        raise BackendTableError(f"cannot open table '{name}' of '{location}' ({backend}): {_first_line(exc)}",
                                backend=backend, table=name) from None
    return TableSource(backend, name, expr, location)


def from_ibis(table: ir.Table, *, name: str | None = None) -> TableSource:
    """A :class:`TableSource` for an Ibis table expression you hold (from any Ibis connection).

    Raises
    ------
    OptionError
        ``table`` is not an Ibis table expression.
    """
    try:
        import ibis.expr.types as ir_types
    except ImportError:  # pragma: no cover (ibis is a dependency)
        raise OptionError("Ibis is not installed") from None
    if not isinstance(table, ir_types.Table):
        raise OptionError(f"expected an Ibis table expression, got {type(table).__name__}")
    try:
        backend = table.get_backend().name
    except Exception:  # an unbound table
        backend = "ibis"
    backend = {"pyspark": "spark"}.get(backend, backend)  # the names cteimpact's options use
    shown = name
    if shown is None:
        try:
            shown = table.get_name()
        except Exception:  # an expression that is not a named table
            shown = "table"
    return TableSource(str(backend), str(shown), table, "")


def source_for_path(path: str | Path, table: str | None = None) -> TableSource:
    """The table of a DuckDB database file (``--data FILE.duckdb``); ``table`` may be omitted when the file holds
    exactly one."""
    if not is_duckdb_file(path):
        raise OptionError(f"'{Path(path).name}' is not a DuckDB database file (.duckdb, .ddb)")
    return open_table("duckdb", str(path), table)
