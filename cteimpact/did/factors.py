"""Categorical (factor) covariates of the difference-in-differences estimators, as indicator columns.

A covariate column whose values are not numbers (text, or a pandas ``category`` column) is a factor: it enters the
estimators as one 0/1 indicator column per level except a *reference level*, as R's ``model.matrix`` codes a factor
with treatment contrasts (R ``did``'s ``xformla = ~ region`` does the same). The reference is the first level: the
first in sorted order for text, the first category present for a ``category`` column (R's factor-level order), or the
level chosen with ``covariate_reference={"region": "North"}``. Levels are those present in the rows left after the
sample restrictions (``where``) with a value of the column; a row missing it is dropped like a row missing a numeric
covariate (one sample-flow step naming the column). The indicator columns are named ``<column>=<level>`` and the
coding is recorded (:class:`FactorCoding`: reference, levels, indicator names, and a note for the results).

A text column whose every value reads as a number stays numeric (as before); ``bool`` columns are numeric 0/1.
A factor with a single level is a :class:`~cteimpact.errors.DesignError` naming the column (it is collinear with the
intercept); more than :data:`MAX_LEVELS` levels is one too (most likely an identifier given as a covariate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.errors import DesignError, OptionError

__all__ = ["MAX_LEVELS", "FactorCoding", "encode_factors", "is_factor"]

MAX_LEVELS = 100
"""Most levels a factor covariate may have (each is a column of the 2×2 regressions)."""


@dataclass(frozen=True)
class FactorCoding:
    """How one factor covariate entered the estimators."""

    column: str
    """The covariate column."""
    reference: str
    """Its reference level (no indicator)."""
    levels: tuple[str, ...]
    """Every level present, the reference first, then the others in the order of their indicators."""
    indicators: tuple[str, ...]
    """Names of the indicator columns (``<column>=<level>``), one per level other than the reference."""
    chosen: bool = False
    """Whether the reference was chosen by the user (else the first level)."""

    def note(self) -> str:
        """One line for the results' notes."""
        how = "chosen" if self.chosen else "first level"
        return (f"covariate '{self.column}' is categorical: reference level '{self.reference}' ({how}); "
                f"{len(self.indicators)} indicator column{'s' * (len(self.indicators) != 1)} "
                f"({', '.join(self.indicators)})")

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "reference": self.reference, "levels": list(self.levels),
                "indicators": list(self.indicators), "reference_chosen": self.chosen}


def is_factor(series: pd.Series) -> bool:
    """Whether a covariate column is categorical: a ``category`` column, or a text/object column with a value that
    does not read as a number (``bool`` and numeric columns are not)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return False
    present = series.dropna()
    if present.empty:
        return False
    if pd.api.types.is_object_dtype(series.dtype) and all(isinstance(v, (bool, int, float, np.number))
                                                          for v in present):
        return False
    converted = pd.to_numeric(present.astype(str), errors="coerce")
    return bool(converted.isna().any())


def _levels(series: pd.Series) -> tuple[list[str], pd.Series]:
    """The levels present (in order) and the column as text (missing kept missing)."""
    present = series.notna()
    if isinstance(series.dtype, pd.CategoricalDtype):
        used = set(series[present].astype(str))
        levels = [str(c) for c in series.cat.categories if str(c) in used]
    else:
        levels = sorted(set(series[present].astype(str)))
    text = series.astype(object).where(present, None)
    text = text.map(lambda v: None if v is None else str(v))
    return levels, text


def encode_factors(frame: pd.DataFrame, covariates: Sequence[str],
                   reference: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, tuple[str, ...],
                                                                         tuple[FactorCoding, ...]]:
    """Replace each factor covariate by its indicator columns.

    Parameters
    ----------
    frame
        The rows after the sample restrictions (not modified; a new frame is returned when a factor is found).
    covariates
        Covariate columns, in order.
    reference
        Reference level by factor column (optional; default the first level).

    Returns
    -------
    frame, covariates, codings
        The frame with the indicator columns added (float: 1, 0, or NaN where the factor is missing), the covariate
        names with each factor replaced by its indicators in place, and the coding of each factor.

    Raises
    ------
    OptionError
        ``reference`` names a column that is not a factor covariate, or a level the column does not have.
    DesignError
        A factor with a single level, or more than :data:`MAX_LEVELS`.
    """
    if reference is not None and not isinstance(reference, Mapping):
        raise OptionError(f"covariate_reference must map covariate names to levels, got {reference!r}")
    reference = dict(reference or {})
    if not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in reference.items()):
        raise OptionError(f"covariate_reference must map covariate names to levels (text), got {reference!r}")
    names: list[str] = []
    codings: list[FactorCoding] = []
    added: dict[str, np.ndarray] = {}
    for col in covariates:
        series = frame[col]
        if not is_factor(series):
            if col in reference:
                raise OptionError(f"covariate_reference names '{col}', which is a numeric covariate (only categorical "
                                  "covariates have a reference level)")
            names.append(col)
            continue
        levels, text = _levels(series)
        n_present = int(text.notna().sum())
        if len(levels) < 2:
            raise DesignError(f"categorical covariate '{col}' has a single level ('{levels[0]}' in all {n_present:,} "
                              "rows with a value): it is collinear with the intercept; remove it")
        if len(levels) > MAX_LEVELS:
            raise DesignError(f"categorical covariate '{col}' has {len(levels):,} levels (more than {MAX_LEVELS}) in "
                              f"{n_present:,} rows: is it an identifier? Group its levels or remove it")
        chosen = col in reference
        ref = reference.pop(col) if chosen else levels[0]
        if ref not in levels:
            shown = ", ".join(repr(v) for v in levels[:10]) + (", ..." if len(levels) > 10 else "")
            raise OptionError(f"covariate_reference: '{ref}' is not a level of covariate '{col}' (its {len(levels)} "
                              f"levels: {shown})")
        others = [v for v in levels if v != ref]
        missing = text.isna().to_numpy()
        values = text.to_numpy(dtype=object)
        indicators = []
        for level in others:
            name = f"{col}={level}"
            if name in frame.columns or name in added:
                raise OptionError(f"indicator column '{name}' of categorical covariate '{col}' would replace a "
                                  "column of the data; rename that column")
            ind = (values == level).astype(np.float64)
            ind[missing] = np.nan
            added[name] = ind
            indicators.append(name)
        names.extend(indicators)
        codings.append(FactorCoding(col, ref, (ref, *others), tuple(indicators), chosen))
    if reference:
        raise OptionError(f"covariate_reference names {', '.join(repr(k) for k in reference)}, not among the "
                          f"covariates ({', '.join(covariates) or 'none'})")
    if not added:
        return frame, tuple(names), ()
    out = frame.assign(**added)
    return out, tuple(names), tuple(codings)
