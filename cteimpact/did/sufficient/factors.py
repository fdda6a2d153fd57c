"""Categorical (text) covariates of the in-engine Callaway–Sant'Anna, as indicator columns computed by the engine.

A covariate column of text type in the engine is a factor, coded as the in-memory estimators code it
(:mod:`cteimpact.did.factors`): one 0/1 indicator column per level except a reference level (the first level in
sorted order, or the one ``covariate_reference`` chooses), named ``<column>=<level>``, placed where the column was
in the covariate list. Its levels are found by one query (the distinct values with a value and their row counts,
at most :data:`~cteimpact.did.factors.MAX_LEVELS` + 1 rows returned); a factor with a single level, or more than
:data:`~cteimpact.did.factors.MAX_LEVELS` (then one more query counts them for the message), is refused with the
in-memory messages. The indicators are engine expressions (``CASE WHEN region = 'North' THEN 1 ELSE 0 END`` as a double,
missing where the column is missing), so every later query reads them as numeric covariates.

A text column whose every value reads as a number is numeric, as in memory: it is cast to a double in the engine.
(With more than :data:`~cteimpact.did.factors.MAX_LEVELS` distinct values it is refused as a factor with too many
levels; cast it in the engine.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cteimpact.did.factors import MAX_LEVELS, FactorCoding
from cteimpact.did.sufficient.queries import DEFAULT_MAX_ROWS, _array, _fetch
from cteimpact.errors import DesignError, MissingColumnError, OptionError

__all__ = ["EngineFactors", "engine_factors"]


@dataclass(frozen=True)
class EngineFactors:
    """The factor coding of a covariate list in the engine."""

    covariates: tuple[str, ...]
    """The covariate names, each factor replaced in place by its indicator columns."""
    codings: tuple[FactorCoding, ...]
    """One per factor (as :func:`cteimpact.did.factors.encode_factors` records it)."""
    numeric_text: tuple[str, ...] = ()
    """Text columns whose every value reads as a number (cast to doubles)."""
    queries: int = 0
    """Queries run to find the levels."""
    rows_fetched: int = 0
    """Rows those queries returned."""

    def apply(self, table: ir.Table) -> ir.Table:
        """``table`` with the indicator columns added (and numeric text columns cast); unchanged without
        factors."""
        if not self.codings and not self.numeric_text:
            return table
        cols: dict[str, ir.Value] = {c: table[c].cast("float64") for c in self.numeric_text}
        # typed constants: PostgreSQL casts no boolean to a double and reads a bare 1.0 as a decimal
        one, zero = ibis.literal(1).cast("float64"), ibis.literal(0).cast("float64")
        for f in self.codings:
            x = table[f.column]
            for level, name in zip(f.levels[1:], f.indicators, strict=True):
                cols[name] = ibis.cases((x.isnull(), ibis.null("float64")),  # noqa: PD003 (an Ibis expression)
                                        (x == ibis.literal(level, type="string"), one), else_=zero)
        return table.mutate(**cols)

    def notes(self) -> tuple[str, ...]:
        return tuple(f.note() for f in self.codings)


def _reads_as_numbers(values: Sequence[str]) -> bool:
    return bool(pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").notna().all())


def engine_factors(table: ir.Table, covariates: Sequence[str], reference: Mapping[str, str] | None = None, *,
                   max_rows: int = DEFAULT_MAX_ROWS) -> EngineFactors:
    """Find the levels of the text covariates of ``table`` (the rows whose values define them: those left by the
    sample restrictions, as in memory) and code them.

    Parameters
    ----------
    table
        The Ibis table.
    covariates
        Covariate columns, in order.
    reference
        Reference level by factor column (default: the first level in sorted order).
    max_rows
        Most rows one query may return.

    Raises
    ------
    OptionError
        ``reference`` names a column that is not a factor covariate, or a level it does not have; an indicator's
        name is already a column.
    DesignError
        A factor with a single level (or none), or more than :data:`~cteimpact.did.factors.MAX_LEVELS`.
    """
    if reference is not None and not isinstance(reference, Mapping):
        raise OptionError(f"covariate_reference must map covariate names to levels, got {reference!r}")
    left = dict(reference or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in left.items()):
        raise OptionError(f"covariate_reference must map covariate names to levels (text), got {left!r}")
    schema = table.schema()
    available = list(schema.names)
    names: list[str] = []
    codings: list[FactorCoding] = []
    numeric_text: list[str] = []
    queries = fetched = 0
    added: set[str] = set()
    for col in covariates:
        if col not in available:
            raise MissingColumnError(col, available, "covariate")
        if not schema[col].is_string():
            if col in left:
                raise OptionError(f"covariate_reference names '{col}', which is a numeric covariate (only categorical "
                                  "covariates have a reference level)")
            names.append(col)
            continue
        x = table[col]
        present = table.filter(x.notnull())  # noqa: PD004 (an Ibis expression)
        counts = present.group_by(cte_level=present[col]).aggregate(cte_n=present.count()).limit(MAX_LEVELS + 1)
        tab = _fetch(counts, max_rows=max(max_rows, MAX_LEVELS + 1), what=f"levels of covariate '{col}'")
        queries += 1
        fetched += int(tab.num_rows)
        found = [str(v) for v in tab.column("cte_level").to_pylist()]
        n_rows = np.asarray(_array(tab, "cte_n"), dtype=np.int64)
        if len(found) > MAX_LEVELS:
            tot = _fetch(present.aggregate(cte_levels=present[col].nunique(), cte_n=present.count()),
                         max_rows=max_rows, what=f"levels of covariate '{col}' (count)")
            queries += 1
            n_levels, n_present = int(_array(tot, "cte_levels")[0]), int(_array(tot, "cte_n")[0])
            raise DesignError(f"categorical covariate '{col}' has {n_levels:,} levels (more than {MAX_LEVELS}) in "
                              f"{n_present:,} rows: is it an identifier? Group its levels or remove it")
        if found and col not in left and _reads_as_numbers(found):
            numeric_text.append(col)
            names.append(col)
            continue
        levels = sorted(found)
        n_present = int(n_rows.sum())
        if len(levels) < 2:
            shown = f"'{levels[0]}'" if levels else "no value"
            raise DesignError(f"categorical covariate '{col}' has a single level ({shown} in all {n_present:,} "
                              "rows with a value): it is collinear with the intercept; remove it")
        chosen = col in left
        ref = left.pop(col) if chosen else levels[0]
        if ref not in levels:
            shown = ", ".join(repr(v) for v in levels[:10]) + (", ..." if len(levels) > 10 else "")
            raise OptionError(f"covariate_reference: '{ref}' is not a level of covariate '{col}' (its {len(levels)} "
                              f"levels: {shown})")
        others = [v for v in levels if v != ref]
        indicators = []
        for level in others:
            name = f"{col}={level}"
            if name in available or name in added:
                raise OptionError(f"indicator column '{name}' of categorical covariate '{col}' would replace a "
                                  "column of the data; rename that column")
            added.add(name)
            indicators.append(name)
        names.extend(indicators)
        codings.append(FactorCoding(col, ref, (ref, *others), tuple(indicators), chosen))
    if left:
        raise OptionError(f"covariate_reference names {', '.join(repr(k) for k in left)}, not among the "
                          f"covariates ({', '.join(covariates) or 'none'})")
    return EngineFactors(tuple(names), tuple(codings), tuple(numeric_text), queries, fetched)
