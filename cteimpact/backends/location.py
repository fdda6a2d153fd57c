"""Where a study's data live: a file read by pandas (CSV, Parquet), a DuckDB database file, or a table behind an
Ibis connection; decided from the specification's ``[data]`` keys and the command line's options.

A CSV or Parquet file larger than a threshold (``[data] duckdb_above_mb``, ``--duckdb-above-mb``; default
:data:`DUCKDB_ABOVE_MB`) is read through an in-memory DuckDB instead of pandas: the restrictions and counts run in
DuckDB over the file, and only the study sample's rows and columns are loaded (:func:`file_location`).

Precedence: ``--backend``, ``--connection``, ``--table`` and ``--max-rows-pulled`` on the command line, then
``[data] backend``, ``table``, ``connection``/``connection_env`` and ``max_rows_pulled``. A data file whose name
ends in ``.duckdb`` (``--data FILE.duckdb`` or ``[data] path``) is a DuckDB database; its table may be omitted when it
holds exactly one, so a specification written for a CSV file runs unchanged against a DuckDB file of the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cteimpact.backends.connection import BACKENDS, ENV_PREFIX, is_duckdb_file
from cteimpact.backends.source import DEFAULT_MAX_ROWS_PULLED, TableSource, open_table
from cteimpact.errors import OptionError

__all__ = ["DUCKDB_ABOVE_MB", "DataLocation", "data_location", "file_location"]

DUCKDB_ABOVE_MB = 1024.0
"""CSV and Parquet files above this size (in MB, 10**6 bytes) are read through DuckDB rather than pandas."""

PANDAS_MISSING = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                  "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
"""The texts pandas reads as missing in a CSV file; DuckDB is told the same, so both paths see the same values."""


@dataclass(frozen=True)
class DataLocation:
    """A table (or a data file read through an engine) that a run reads.

    Attributes
    ----------
    backend
        The engine.
    path
        The DuckDB database file, or the CSV/Parquet file an engine reads (``file_format``); None for a table on a
        server or in Spark's catalog.
    table
        The table (None: the database's only table).
    connection
        A connection string for a server, or ``env:NAME``; never recorded (it may hold a password).
    connection_env
        An environment variable holding the connection string.
    max_rows
        The most rows the run may pull to this machine.
    file_format
        ``"database"`` (a DuckDB database file, or a server's table), or ``"parquet"``/``"csv"``: a data file read
        through an in-memory DuckDB (a file above the size threshold).
    text_columns
        A CSV file's identifier columns, read as text (as the pandas path reads them).
    """

    backend: str
    path: Path | None = None
    table: str | None = None
    connection: str | None = None
    connection_env: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS_PULLED
    file_format: Literal["database", "parquet", "csv"] = "database"
    text_columns: tuple[str, ...] = ()

    def open(self) -> TableSource:
        """Connect and open the table (see :func:`cteimpact.backends.source.open_table`)."""
        if self.file_format != "database" and self.path is not None:
            if self.backend == "spark":
                return _open_spark_file(self.path, self.connection, self.connection_env)
            return _open_file(self.path, self.file_format, self.text_columns)
        connection = str(self.path) if self.path is not None else self.connection
        return open_table(self.backend, connection, self.table, connection_env=self.connection_env)  # type: ignore[arg-type]


def _open_file(path: Path, fmt: str, text_columns: tuple[str, ...]) -> TableSource:
    """A CSV or Parquet file as a table of an in-memory DuckDB (the file is scanned where it lies, not copied)."""
    from cteimpact.backends.connection import connect
    from cteimpact.backends.errors import BackendConnectionError
    from cteimpact.data.io import read_columns

    names = read_columns(path)  # the file's own checks: it exists, has a header, no repeated names
    con = connect("duckdb")
    try:
        if fmt == "parquet":
            table = con.read_parquet(path, table_name="data")
        else:
            types = {c: "VARCHAR" for c in text_columns if c in names}
            # the types pandas infers from text (no dates or times: pandas leaves those as text)
            table = con.read_csv(path, table_name="data", types=types or None, nullstr=list(PANDAS_MISSING),
                                 header=True, auto_type_candidates=["BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR"])
    except Exception as exc:  # DuckDB's parser errors
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendConnectionError(f"DuckDB cannot read '{path.name}' as {fmt}: {detail}", backend="duckdb",
                                     table=path.name) from None
    return TableSource("duckdb", path.name, table, "")


def _open_spark_file(path: Path, connection: str | None, connection_env: str | None) -> TableSource:
    """A Parquet file read by Spark (local mode by default), as a temporary view."""
    from cteimpact.backends.connection import connect
    from cteimpact.backends.errors import BackendConnectionError

    if not path.is_file():
        raise OptionError(f"data file '{path}' does not exist")
    con = connect("spark", connection, connection_env=connection_env)
    try:
        table = con.read_parquet(str(path), table_name="cteimpact_data")
    except Exception as exc:  # Spark's reader errors
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendConnectionError(f"Spark cannot read '{path.name}' as Parquet: {detail}", backend="spark",
                                     table=path.name) from None
    return TableSource("spark", path.name, table, "")


def file_location(data: Any, path: Path, *, text_columns: tuple[str, ...] = (), duckdb_above_mb: float | None = None,
                  max_rows_pulled: int | None = None) -> DataLocation | None:
    """A CSV or Parquet file larger than the threshold as a table read through DuckDB, else None (pandas reads it).

    The threshold is ``duckdb_above_mb`` (the command line's), else ``[data] duckdb_above_mb``, else
    :data:`DUCKDB_ABOVE_MB`; 0 reads every file through DuckDB.
    """
    threshold = duckdb_above_mb if duckdb_above_mb is not None else getattr(data, "duckdb_above_mb", None)
    threshold = DUCKDB_ABOVE_MB if threshold is None else float(threshold)
    name = path.name.lower()
    fmt: Literal["parquet", "csv"] | None = "parquet" if name.endswith((".parquet", ".pq")) else \
        "csv" if name.endswith(".csv") else None
    if fmt is None or not path.is_file() or path.stat().st_size <= threshold * 1e6:
        return None
    limit = max_rows_pulled if max_rows_pulled is not None else getattr(data, "max_rows_pulled", None)
    return DataLocation("duckdb", path.absolute(), None, None, None,
                        DEFAULT_MAX_ROWS_PULLED if limit is None else int(limit), fmt, tuple(text_columns))


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
    if chosen == "spark":  # the string is Spark's master (default local[2]); the data a Parquet file or a table
        if data_path is not None and table is None:  # --table names a catalog table instead of the data file
            if not data_path.name.lower().endswith((".parquet", ".pq")):
                raise OptionError(f"backend 'spark' reads a Parquet file or a table of Spark's catalog; "
                                  f"'{data_path.name}' is not a Parquet file (convert it, or name a --table)")
            return DataLocation("spark", data_path.absolute(), None, text, env, limit, "parquet")
        if name is None:
            raise OptionError("backend 'spark' needs a table of its catalog ([data] table or --table) or a Parquet "
                              "file ([data] path or --data)")
        return DataLocation("spark", None, name, text, env, limit)
    if text is None and env is None:
        raise OptionError(f"backend '{chosen}' needs a connection: [data] connection_env = \"NAME\" (an environment "
                          f"variable holding the URL) or --connection {ENV_PREFIX}NAME")
    return DataLocation(chosen, None, name, text, env, limit)
