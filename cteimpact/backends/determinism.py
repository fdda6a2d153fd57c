"""Byte-identical sums and row order from an engine: the session settings under which cteimpact's aggregate queries
and pulls run.

* **DuckDB** splits the rows among its threads and adds the partial sums in an order that depends on the split, so
  the last digits of sums of floating-point values (and of the standard errors computed from them) varied from run
  to run. Inside :func:`deterministic_sums` a DuckDB connection runs on one thread. Its pulls keep the table's
  insertion order on any number of threads (``preserve_insertion_order``), so :func:`deterministic_rows` leaves it
  as it is.
* **PostgreSQL** can run a query with parallel workers, whose partial sums (and rows) arrive in the order the workers
  finish, and lets a sequential scan start in the middle of a large table when another scan of it is under way
  (``synchronize_seqscans``). Inside both blocks a PostgreSQL session runs without parallel workers
  (``max_parallel_workers_per_gather = 0``) and with every scan from the table's first row
  (``synchronize_seqscans = off``): the rows are read, and added, in the table's stored order, so two runs on an
  unchanged table give the same bytes (``tests/backends/test_postgres.py``). What these settings do not fix: a
  planner that changes its plan between runs (new statistics after ``ANALYZE``) may add a group's rows in another
  order; results then agree to rounding (about 1e-15 relative), not bit for bit.

Each setting is restored when the block ends. Other engines add in their own order: their results agree with the
in-memory path to rounding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["POSTGRES_SETTINGS", "deterministic_rows", "deterministic_sums", "postgres_settings"]

POSTGRES_SETTINGS: Mapping[str, str] = {"max_parallel_workers_per_gather": "0", "synchronize_seqscans": "off",
                                         "extra_float_digits": "1"}
"""The PostgreSQL session settings inside :func:`deterministic_sums` and :func:`deterministic_rows`
(``extra_float_digits = 1``: floating-point values leave the server as their shortest exact text, whatever the
server's configuration says)."""


def _postgres_setting(backend: Any, sql: str, *args: str) -> str:
    with contextlib.closing(backend.raw_sql(sql, params=args)) as cursor:
        return str(cursor.fetchone()[0])


@contextlib.contextmanager
def postgres_settings(backend: Any, settings: Mapping[str, str]) -> Iterator[None]:
    """Inside the block, the PostgreSQL session of the Ibis ``backend`` has ``settings`` (names to values); each is
    restored afterwards (values are passed as query parameters, never written into the SQL text)."""
    before = {name: _postgres_setting(backend, "SELECT current_setting(%s)", name) for name in settings}
    try:
        for name, value in settings.items():
            _postgres_setting(backend, "SELECT set_config(%s, %s, false)", name, value)
        yield
    finally:
        for name, value in before.items():
            _postgres_setting(backend, "SELECT set_config(%s, %s, false)", name, value)


def _postgres(backend: Any) -> contextlib.AbstractContextManager[None]:
    return postgres_settings(backend, POSTGRES_SETTINGS)


@contextlib.contextmanager
def _duckdb(backend: Any) -> Iterator[None]:
    before = backend.raw_sql("SELECT current_setting('threads')").fetchone()[0]
    backend.raw_sql("SET threads TO 1")
    try:
        yield
    finally:
        backend.raw_sql(f"SET threads TO {int(before)}")


def _backend(expr: Any) -> Any:
    try:
        return expr.get_backend()
    except Exception:  # an expression bound to no engine
        return None


@contextlib.contextmanager
def deterministic_sums(expr: Any) -> Iterator[None]:
    """Inside the block, the engine of the Ibis expression ``expr`` adds in a fixed order: DuckDB on one thread,
    PostgreSQL without parallel workers and with scans from the first row (other engines: as they are)."""
    backend = _backend(expr)
    name = getattr(backend, "name", None)
    if name == "duckdb":
        with _duckdb(backend):
            yield
    elif name == "postgres":
        with _postgres(backend):
            yield
    else:
        yield


@contextlib.contextmanager
def deterministic_rows(expr: Any) -> Iterator[None]:
    """Inside the block, the engine of ``expr`` returns a table's rows in its stored order (PostgreSQL: no parallel
    workers, scans from the first row; DuckDB keeps insertion order already; other engines: as they are)."""
    backend = _backend(expr)
    if getattr(backend, "name", None) == "postgres":
        with _postgres(backend):
            yield
    else:
        yield
