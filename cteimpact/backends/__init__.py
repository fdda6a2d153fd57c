"""Estimation where the data live: data engines (DuckDB by default; PostgreSQL, Spark and other SQL engines through
Ibis) as a study's data source.

* :mod:`~cteimpact.backends.connection`: :func:`connect` to an engine (credentials from environment variables).
* :mod:`~cteimpact.backends.source`: :class:`TableSource`, a table with its columns, counts and sample flow computed
  by the engine, and guarded pulls of selected columns to pandas.
* :mod:`~cteimpact.backends.restrictions`: sample restrictions translated into Ibis expressions.
* :mod:`~cteimpact.backends.loading`: a study's :class:`~cteimpact.data.StudentData` from a table.
* :mod:`~cteimpact.backends.digest`: the content hash of the rows a run pulled.
* :mod:`~cteimpact.backends.errors`: the typed errors (each names backend, table and column).

Computations that run in the engine (sufficient statistics) take the Ibis table a source gives after its sample
flow::

    source = open_table("duckdb", "slds.duckdb", "student_years")      # or prepared_run.source
    table, flow = source.restrict(["cohort >= 2010"])                    # counts in the engine
    table, flow = source.exclude_missing(table, flow, {"outcome": "earnings"})
    stats = some_aggregate(table).execute()                              # only aggregates leave the engine

Ibis and the engines' drivers are imported only when a connection is made, and pandas only when a table source is
used, so the command line's options can name the backends without slowing its start.
"""

from typing import TYPE_CHECKING, Any

from cteimpact.backends.connection import BACKENDS, BackendName, connect, is_duckdb_file, redact
from cteimpact.backends.errors import (
    BackendColumnError,
    BackendConnectionError,
    BackendError,
    BackendFeatureError,
    BackendTableError,
    BackendTypeError,
    PullLimitError,
)

if TYPE_CHECKING:
    from cteimpact.backends.source import (
        DEFAULT_MAX_ROWS_PULLED,
        TableSource,
        from_ibis,
        open_table,
        source_for_path,
    )

_LAZY = ("DEFAULT_MAX_ROWS_PULLED", "TableSource", "from_ibis", "open_table", "source_for_path")

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_ROWS_PULLED",
    "BackendColumnError",
    "BackendConnectionError",
    "BackendError",
    "BackendFeatureError",
    "BackendName",
    "BackendTableError",
    "BackendTypeError",
    "PullLimitError",
    "TableSource",
    "connect",
    "from_ibis",
    "is_duckdb_file",
    "open_table",
    "redact",
    "source_for_path",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from cteimpact.backends import source

        return getattr(source, name)
    raise AttributeError(f"module 'cteimpact.backends' has no attribute '{name}'")
