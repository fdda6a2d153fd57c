"""Byte-identical sums from an engine: DuckDB adds on one thread while cteimpact's aggregate queries run.

With several threads DuckDB splits the rows among them and adds the partial sums in an order that depends on the
split, so the last digits of sums of floating-point values (and of the standard errors computed from them) varied
from run to run. Inside :func:`deterministic_sums` a DuckDB connection runs on one thread (its setting restored
afterwards). Other engines add in their own order: their results agree with the in-memory path to rounding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["deterministic_sums"]


@contextlib.contextmanager
def deterministic_sums(expr: Any) -> Iterator[None]:
    """Inside the block, the DuckDB engine of the Ibis expression ``expr`` adds on one thread (other engines: as
    they are)."""
    backend = expr.get_backend()
    if getattr(backend, "name", None) != "duckdb":
        yield
        return
    before = backend.raw_sql("SELECT current_setting('threads')").fetchone()[0]
    backend.raw_sql("SET threads TO 1")
    try:
        yield
    finally:
        backend.raw_sql(f"SET threads TO {int(before)}")
