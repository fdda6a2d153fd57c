"""Connections to data engines through Ibis: DuckDB (embedded, the default), PostgreSQL and other SQL engines.

A connection is named by a backend and a connection string:

* ``duckdb``: the string is a DuckDB database file (``.duckdb``), opened read-only so that a run never changes the
  data it reads (and the file's hash stays that of the data received); no string is an in-memory database.
* any other backend: an Ibis connection URL (``postgres://user@host:5432/db``), handed to :func:`ibis.connect`.

Credentials never have to be written in a specification. A connection string can come from an environment variable:
``connection_env = "CTEIMPACT_DB_URL"`` in ``[data]``, or ``--connection env:CTEIMPACT_DB_URL`` on the command
line; a connection string written in a specification may not hold a password (:func:`check_no_password`).
Messages show connection strings with the password removed (:func:`redact`).

Ibis is imported only when a connection is made, so the command line starts as fast without it.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from cteimpact.backends.errors import BackendConnectionError
from cteimpact.errors import OptionError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = ["BACKENDS", "DUCKDB_SUFFIXES", "ENV_PREFIX", "BackendName", "check_no_password", "connect",
           "connection_string", "is_duckdb_file", "redact"]

BackendName = Literal["duckdb", "postgres", "mysql", "mssql", "snowflake", "trino", "spark"]
"""The engines a study may name. DuckDB is tested on every run of the test suite; the others are reached through
Ibis's own drivers (installed separately, e.g. ``pip install 'ibis-framework[postgres]'``)."""

BACKENDS: tuple[str, ...] = get_args(BackendName)

DUCKDB_SUFFIXES = (".duckdb", ".ddb")
"""File names read as DuckDB databases (``--data FILE.duckdb``)."""

ENV_PREFIX = "env:"
"""``--connection env:NAME`` reads the connection string from the environment variable ``NAME``."""

_URL_SCHEMES = {"postgres": ("postgres", "postgresql"), "mysql": ("mysql",), "mssql": ("mssql",),
                "snowflake": ("snowflake",), "trino": ("trino",)}
_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:)(?P<secret>[^@/]*)(?P<tail>@)")
_QUERY_SECRET = re.compile(r"(?i)(?P<head>[?&](?:password|pwd|token|secret|access_token)=)(?P<secret>[^&]*)")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def redact(connection: str) -> str:
    """``connection`` with any password or token replaced by ``***`` (for messages and records)."""
    text = _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", connection)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}***", text)


def check_no_password(connection: str, *, where: str) -> None:
    """Refuse a connection string holding a password or token where it would be stored (a specification).

    Raises
    ------
    OptionError
        Naming ``where`` and saying to use an environment variable instead.
    """
    if redact(connection) != connection:
        raise OptionError(f"{where}: the connection string holds a password or token; a specification must not "
                          "store credentials: put the string in an environment variable and name it with "
                          "connection_env (or pass --connection env:NAME)")


def connection_string(connection: str | None, *, env: str | None = None) -> str | None:
    """The connection string to use: ``connection`` itself, the variable it names (``env:NAME``), or the variable
    ``env``.

    Raises
    ------
    BackendConnectionError
        The environment variable named is not set or is empty.
    OptionError
        A malformed variable name.
    """
    name = None
    if connection is not None and connection.startswith(ENV_PREFIX):
        name = connection[len(ENV_PREFIX):]
    elif connection is None and env is not None:
        name = env
    if name is None:
        return connection
    if not _ENV_NAME.match(name):
        raise OptionError(f"'{name}' is not an environment variable name (letters, digits and '_')")
    value = os.environ.get(name, "").strip()
    if not value:
        raise BackendConnectionError(f"the connection string is to come from the environment variable {name}, "
                                     "which is not set; export it first", backend="(unknown)")
    return value


def is_duckdb_file(path: str | Path) -> bool:
    """Whether ``path`` names a DuckDB database file (by its suffix)."""
    return str(path).lower().endswith(DUCKDB_SUFFIXES)


def _duckdb_connection(raw: Any) -> Any:
    """``raw`` (a DuckDB connection) as Ibis 12 expects it: DuckDB 2 renamed the result methods
    ``fetch_arrow_table``/``fetch_record_batch`` (now ``to_arrow_table``/``to_arrow_reader``) that Ibis's metadata
    queries call on the connection; older DuckDB releases are returned unchanged. DuckDB's progress bar, which it
    draws on the terminal for queries longer than two seconds, is switched off (cteimpact reports its own
    progress)."""
    raw.execute("SET enable_progress_bar = false")
    if hasattr(raw, "fetch_arrow_table"):
        return raw
    return _RenamedResults(raw)


class _RenamedResults:
    """A DuckDB connection whose results also answer to the method names Ibis 12 calls (see
    :func:`_duckdb_connection`); everything else is the connection's own."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def execute(self, *args: Any, **kwargs: Any) -> _RenamedResults:
        self._raw.execute(*args, **kwargs)
        return self

    def cursor(self) -> _RenamedResults:
        return _RenamedResults(self._raw.cursor())

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        relation = self._raw.sql(*args, **kwargs)
        return None if relation is None else _RenamedRelation(relation)

    def fetch_arrow_table(self) -> Any:
        with warnings.catch_warnings():  # metadata results only (the data are fetched through relations)
            warnings.simplefilter("ignore", UserWarning)
            return self._raw.to_arrow_table()

    def fetch_record_batch(self, rows_per_batch: int = 1_000_000) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self._raw.to_arrow_reader(rows_per_batch)


class _RenamedRelation:
    """A DuckDB relation whose deprecated ``fetch_arrow_table`` (called by Ibis 12) is its ``to_arrow_table``."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def fetch_arrow_table(self) -> Any:
        return self._raw.to_arrow_table()


def _connect_duckdb(connection: str | None) -> BaseBackend:
    import duckdb
    import ibis

    if connection is None or connection in ("", ":memory:", "duckdb://"):
        return ibis.duckdb.from_connection(_duckdb_connection(duckdb.connect()))
    path = Path(connection.removeprefix("duckdb://"))
    if not path.is_file():
        raise BackendConnectionError(f"DuckDB database file '{path}' does not exist", backend="duckdb")
    try:
        raw = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendConnectionError(f"cannot open '{path.name}' as a DuckDB database: {detail}",
                                     backend="duckdb") from None
    return ibis.duckdb.from_connection(_duckdb_connection(raw))


def _connect_url(backend: str, connection: str | None) -> BaseBackend:
    import ibis

    if not connection:
        raise BackendConnectionError(f"backend '{backend}' needs a connection string (an Ibis URL such as "
                                     f"{_URL_SCHEMES.get(backend, (backend,))[0]}://user@host/database); give it "
                                     "with connection_env in [data] or --connection env:NAME", backend=backend)
    scheme = connection.split("://", 1)[0].lower() if "://" in connection else ""
    if scheme not in _URL_SCHEMES.get(backend, (backend,)):
        raise BackendConnectionError(f"the connection string for backend '{backend}' must start with "
                                     f"{_URL_SCHEMES.get(backend, (backend,))[0]}://, got '{redact(connection)[:40]}'",
                                     backend=backend)
    try:
        return ibis.connect(connection)
    except (ImportError, ModuleNotFoundError) as exc:
        raise BackendConnectionError(f"backend '{backend}' needs its Ibis driver, which is not installed "
                                     f"({exc}); install it with pip install 'ibis-framework[{backend}]'",
                                     backend=backend) from None
    except Exception as exc:  # each driver raises its own classes; all mean "cannot connect"
        detail = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise BackendConnectionError(f"cannot connect to {backend} at '{redact(connection)}': {detail}",
                                     backend=backend) from None


def _connect_spark(connection: str | None) -> BaseBackend:
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise BackendConnectionError("backend 'spark' needs PySpark, which is not installed; install it with "
                                     "pip install 'cteimpact[spark]' (and a Java runtime)", backend="spark") from None
    master = connection or "local[2]"
    builder = (SparkSession.builder.master(master).appName("cteimpact")
               .config("spark.sql.session.timeZone", "UTC").config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):  # not a spark-warehouse folder in the working directory
        import tempfile

        builder = builder.config("spark.sql.warehouse.dir",
                                 str(Path(tempfile.gettempdir()) / "cteimpact-spark-warehouse"))
    try:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    except Exception as exc:  # a missing Java runtime or an unreachable master
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendConnectionError(f"cannot start Spark at '{master}': {detail}", backend="spark") from None
    return ibis.pyspark.connect(session)


def connect(backend: BackendName = "duckdb", connection: str | None = None, *,
            connection_env: str | None = None) -> BaseBackend:
    """Connect to a data engine through Ibis.

    Parameters
    ----------
    backend
        ``"duckdb"`` (default; embedded), or an engine reached by an Ibis URL (``"postgres"``, ``"mysql"``,
        ``"mssql"``, ``"snowflake"``, ``"trino"``), or ``"spark"`` (PySpark; the string is the master URL,
        default ``local[2]``).
    connection
        DuckDB: a database file (opened read-only), or None for an in-memory database. Other engines: the Ibis URL.
        ``env:NAME`` reads the string from the environment variable ``NAME``.
    connection_env
        Name of an environment variable holding the connection string, used when ``connection`` is None.

    Returns
    -------
    ibis.backends.BaseBackend

    Raises
    ------
    OptionError
        An unknown backend.
    BackendConnectionError
        The engine cannot be reached (the message names the backend and shows the string without its password).
    """
    if backend not in BACKENDS:
        raise OptionError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        text = connection_string(connection, env=connection_env)
    except BackendConnectionError as exc:
        exc.backend = backend
        exc.args = (f"{backend}: {exc.args[0]}",)
        raise
    if backend == "duckdb":
        return _connect_duckdb(text)
    if backend == "spark":
        return _connect_spark(text)
    return _connect_url(backend, text)
