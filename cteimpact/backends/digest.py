"""The content hash of data read from an engine, for the run's manifest.

A table in a server has no file to hash, and a DuckDB file's bytes change when the same rows are written again. What
a run records for data read from a table is therefore the SHA-256 of the rows and columns it pulled, in a canonical
form that does not depend on the engine, its row order or its storage:

* columns in the order of their names, each written as ``name:kind`` in a header line (``kind`` is ``number``,
  ``text``, ``bool`` or ``other``);
* rows sorted by every column (in that order, missing values last), each written as one line of tab-separated
  values: whole numbers as integers, other numbers by Python's shortest round-trip ``repr``, text with ``\\``,
  tab and newline escaped, missing values as ``\\N``.

Two pulls of the same rows give the same hash whatever the engine or the order it returns them in; a changed value,
an added or removed row or column changes it. ``cteimpact verify`` re-pulls the rows and compares the hashes.

A table on a server whose design is computed in the engine pulls no row, so it has no ``rows_sha256``;
:func:`table_digest` computes a content digest of the whole table there instead, without pulling it, in one
aggregate query:

* each row is written as text in the engine (columns in the order of their names, each cast to text, missing values
  as ``\\N``, text with ``\\`` and the separator escaped, joined by the unit separator U+001F);
* four 64-bit hashes of that text (the engine's own hash of it behind four different prefixes) are summed over the
  rows as exact whole numbers (``DECIMAL(38, 0)``), with the row count: sums of whole numbers do not depend on the
  order of the rows, nor on how the engine splits them among workers;
* the digest is the SHA-256 of a header (the engine, each column's name and type) and those five numbers.

The same rows and columns give the same digest on every run against the same engine; a changed value, an added or
removed row or column, or a changed column type changes it (but for a collision of all four 64-bit sums). It is a
check against accidental change, not a cryptographic one: rows could be constructed to keep the four sums. It is
engine-specific (the text form of a number, and the hash, are the engine's), so it is compared only with a digest of
the same engine. Only PostgreSQL computes it (:data:`TABLE_DIGEST_ENGINES`): its ``hashtextextended`` is stable
across versions (hash partitioning relies on it), and the session's text forms are fixed while it runs
(``extra_float_digits = 1``: shortest exact floats; ISO dates, UTC times). DuckDB files keep their file's SHA-256
instead; other engines record none.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cteimpact.backends.source import TableSource

__all__ = ["TABLE_DIGEST_ENGINES", "rows_sha256", "table_digest"]

TABLE_DIGEST_ENGINES = ("postgres",)
"""The engines :func:`table_digest` computes a digest in."""

_SEPARATOR = "\x1f"
_TEXT_FORMS = {"extra_float_digits": "1", "DateStyle": "ISO, MDY", "TimeZone": "UTC", "IntervalStyle": "postgres",
               "bytea_output": "hex"}
"""PostgreSQL settings that fix how values are written as text while the digest is computed."""


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        return "text"
    return "other"


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "\\N"
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def rows_sha256(frame: pd.DataFrame) -> str:
    """Hex SHA-256 of ``frame``'s rows and columns in the canonical form of the module docstring."""
    names = sorted(str(c) for c in frame.columns)
    ordered = frame[names]
    if len(ordered) and names:
        ordered = ordered.sort_values(names, na_position="last", kind="mergesort", ignore_index=True)
    h = hashlib.sha256()
    h.update(("\t".join(f"{n}:{_kind(ordered[n])}" for n in names) + "\n").encode())
    columns = [ordered[n].tolist() for n in names]
    for row in zip(*columns, strict=True):
        h.update(("\t".join(_cell(v) for v in row) + "\n").encode())
    return h.hexdigest()


def _row_text(table: Any, names: list[str]) -> Any:
    """The Ibis expression of each row written as text (module docstring)."""
    import ibis

    parts = []
    for name in names:
        value = table[name]
        text = value.cast("string")
        if value.type().is_string():
            text = text.replace("\\", "\\\\").replace(_SEPARATOR, "\\u")
        parts.append(text.fill_null("\\N"))
    return ibis.literal(_SEPARATOR).join(parts) if parts else ibis.literal("")


def table_digest(source: TableSource) -> str | None:
    """The content digest of ``source``'s whole table, computed in the engine (module docstring); None where the
    engine is not one of :data:`TABLE_DIGEST_ENGINES`.

    Raises
    ------
    BackendFeatureError
        The engine could not compute it (the message names the backend and the table).
    """
    if source.backend not in TABLE_DIGEST_ENGINES:
        return None
    import ibis.expr.datatypes as dt

    from cteimpact.backends.determinism import postgres_settings

    table = source.table
    schema = table.schema()
    names = sorted(str(c) for c in schema.names)
    row = _row_text(table, names)
    metrics: dict[str, Any] = {"rows": table.count()}
    for k in range(4):
        metrics[f"h{k}"] = (f"{k}{_SEPARATOR}" + row).hash().cast(dt.Decimal(38, 0)).sum()
    with postgres_settings(table.get_backend(), _TEXT_FORMS) if source.backend == "postgres" else \
            contextlib.nullcontext():
        frame = source.execute(table.aggregate(**metrics), what="the table's content digest")
    values = frame.iloc[0]

    def whole(name: str) -> str:
        value = values[name]
        return "0" if value is None or value != value else str(int(value))  # SUM over no rows is NULL

    h = hashlib.sha256()
    h.update(f"cteimpact table digest 1\t{source.backend}\n".encode())
    h.update(("\t".join(f"{n}:{schema[n]}" for n in names) + "\n").encode())
    h.update(("\t".join(whole(m) for m in metrics) + "\n").encode())
    return h.hexdigest()
