"""Errors of the backend layer: each names the backend, the table and (where there is one) the column.

Every class is a subclass of :class:`cteimpact.errors.CteImpactError`, so the command line prints one line and exits
with code 2. Messages never show a password: connection strings are shown with their credentials removed
(:func:`cteimpact.backends.connection.redact`).
"""

from __future__ import annotations

from typing import Any

from cteimpact.errors import ColumnTypeError, CteImpactError, MissingColumnError, OptionError, _restore_error

__all__ = [
    "BackendColumnError",
    "BackendConnectionError",
    "BackendError",
    "BackendFeatureError",
    "BackendTableError",
    "BackendTypeError",
    "PullLimitError",
]


class BackendError(CteImpactError):
    """A data engine (DuckDB, PostgreSQL, Spark... through Ibis) cannot serve what the study needs.

    Attributes
    ----------
    backend
        The engine's name (``"duckdb"``, ``"postgres"``...).
    table
        The table, when one is concerned.
    column
        The column, when one is concerned.
    """

    def __init__(self, message: str, *, backend: str, table: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.table = table
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its attributes
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


class BackendConnectionError(BackendError, OptionError):
    """The engine cannot be reached: a DuckDB file that does not exist or cannot be opened, a server that refuses
    the connection, a driver that is not installed, an environment variable that is not set."""


class BackendTableError(BackendError, OptionError):
    """The table is not in the database (the message lists the tables that are, or the closest name)."""


class BackendColumnError(BackendError, MissingColumnError):  # type: ignore[misc]  # column: str there
    """A column the study needs is not in the table (the closest name is suggested)."""

    def __init__(self, column: str, available: list[str] | tuple[str, ...], *, backend: str, table: str,
                 role: str | None = None) -> None:
        MissingColumnError.__init__(self, column, available, role)
        text = str(self.args[0]).replace(" is not in the data", f" is not in table '{table}' ({backend})", 1)
        self.args = (text,)
        self.backend = backend
        self.table = table

    def __str__(self) -> str:
        return str(self.args[0])


class BackendTypeError(BackendError, ColumnTypeError):
    """A column has a type the engine cannot aggregate or compare as the study needs (text where numbers are
    needed, a nested or binary column)."""


class BackendFeatureError(BackendError):
    """The engine lacks an SQL feature the computation needs (the message names the operation)."""


class PullLimitError(BackendError):
    """A computation would pull more rows from the engine to this machine than the configured limit.

    Attributes
    ----------
    rows
        Rows that would be pulled.
    limit
        The configured maximum.
    """

    def __init__(self, message: str, *, backend: str, table: str | None, rows: int, limit: int) -> None:
        super().__init__(message, backend=backend, table=table)
        self.rows = rows
        self.limit = limit
