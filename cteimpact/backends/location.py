"""Where a study's data live: a file read by pandas (CSV, Parquet), a DuckDB database file, or a table behind an
Ibis connection; decided from the specification's ``[data]`` keys and the command line's options.

Precedence: ``--backend``, ``--connection``, ``--table`` and ``--max-rows-pulled`` on the command line, then
``[data] backend``, ``table``, ``connection``/``connection_env`` and ``max_rows_pulled``. A data file whose name
ends in ``.duckdb`` (``--data FILE.duckdb`` or ``[data] path``) is a DuckDB database; its table may be omitted when it
holds exactly one, so a specification written for a CSV file runs unchanged against a DuckDB file of the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cteimpact.backends.connection import BACKENDS, ENV_PREFIX, is_duckdb_file, redact
from cteimpact.backends.source import DEFAULT_MAX_ROWS_PULLED, TableSource, open_table
from cteimpact.errors import OptionError

__all__ = ["DataLocation", "data_location"]


@dataclass(frozen=True)
class DataLocation:
    """A table in an engine that a run reads.

    Attributes
    ----------
    backend
        The engine.
    path
        The DuckDB database file (None for a server).
    table
        The table (None: the database's only table).
    connection
        A connection string for a server, or ``env:NAME``; never recorded (it may hold a password).
    connection_env
        An environment variable holding the connection string.
    max_rows
        The most rows the run may pull to this machine.
    """

    backend: str
    path: Path | None = None
    table: str | None = None
    connection: str | None = None
    connection_env: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS_PULLED

    def open(self) -> TableSource:
        """Connect and open the table (see :func:`cteimpact.backends.source.open_table`)."""
        connection = str(self.path) if self.path is not None else self.connection
        return open_table(self.backend, connection, self.table, connection_env=self.connection_env)  # type: ignore[arg-type]

    def describe(self) -> str:
        """How messages name the data (no password)."""
        where = self.path.name if self.path is not None else redact(self.connection or f"${self.connection_env}")
        return f"{where}:{self.table}" if self.table else where


def data_location(data: Any, *, data_path: Path | None, backend: str | None = None,
                  connection: str | None = None, table: str | None = None,
                  max_rows_pulled: int | None = None) -> DataLocation | None:
    """The engine table a run reads, or None for a CSV/Parquet file read by pandas.

    Parameters
    ----------
    data
        The specification's ``[data]`` section (a :class:`cteimpact.pipeline.spec.DataSpec`).
    data_path
        The data file: ``--data``, else ``[data] path`` resolved against the data root (None when the specification
        names a server).
    backend, connection, table, max_rows_pulled
        The command line's ``--backend``, ``--connection``, ``--table``, ``--max-rows-pulled`` (override the
        specification's keys).

    Raises
    ------
    OptionError
        An unknown backend, a file given for a server backend, a DuckDB backend without a database file.
    """
    chosen = backend or getattr(data, "backend", None)
    if chosen is None and data_path is not None and is_duckdb_file(data_path):
        chosen = "duckdb"
    if chosen is None and connection is not None:
        raise OptionError("--connection needs --backend (or [data] backend) to say which engine it reaches")
    if chosen is None:
        return None
    if chosen not in BACKENDS:
        raise OptionError(f"backend must be one of {', '.join(BACKENDS)}, got {chosen!r}")
    limit = max_rows_pulled if max_rows_pulled is not None else getattr(data, "max_rows_pulled", None)
    limit = DEFAULT_MAX_ROWS_PULLED if limit is None else int(limit)
    if limit < 1:
        raise OptionError(f"the maximum number of rows pulled must be at least 1, got {limit}")
    name = table or getattr(data, "table", None)
    if chosen == "duckdb":
        path = data_path
        if connection is not None:  # --connection with DuckDB: a database file, possibly from a variable
            from cteimpact.backends.connection import connection_string

            path = Path(str(connection_string(connection)))
        if path is None:
            raise OptionError("backend 'duckdb' needs its database file: [data] path, --data FILE.duckdb or "
                              "--connection FILE.duckdb")
        if not is_duckdb_file(path):
            raise OptionError(f"backend 'duckdb' reads a DuckDB database file (.duckdb, .ddb); '{path.name}' is "
                              "not one (a CSV or Parquet file is read without --backend)")
        return DataLocation("duckdb", path.absolute(), name, None, None, limit)
    text = connection if connection is not None else getattr(data, "connection", None)
    env = getattr(data, "connection_env", None) if text is None else None
    if text is None and env is None:
        raise OptionError(f"backend '{chosen}' needs a connection: [data] connection_env = \"NAME\" (an environment "
                          f"variable holding the URL) or --connection {ENV_PREFIX}NAME")
    return DataLocation(chosen, None, name, text, env, limit)
