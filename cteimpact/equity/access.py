"""Participation and access gaps: who enrols in a pathway, becomes a concentrator, completes, earns a credential.

For each 0/1 access outcome (participation, concentrator, completer, credential...) and subgroup column, the
students are split into cells by period (``baseline``: cohorts before the program; ``after``) and level. One
least-squares regression of the outcome on the cell indicators (no intercept) per outcome × column gives:

* the **rate** of each cell (its coefficient: the cell mean) with its number of students and of students with the
  outcome;
* the **gap** of each level against the reference level within a period (difference of two rates);
* the **change** of each gap from baseline to after (difference in differences of rates).

Standard errors are cluster-robust (CR1 with the usual small-sample factor ``G/(G−1) · (N−1)/(N−K)``, ``K`` the
number of cells; statsmodels' ``cov_type="cluster"``) when a cluster column is given, else heteroskedasticity-
robust (HC1, ``N/(N−K)``). Gaps and changes are linear contrasts of the cell means, so their variances come from
the same covariance matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.equity.groups import SubgroupColumn
from cteimpact.errors import InvalidValueError, MissingColumnError, OptionError
from cteimpact.provenance.suppression import suppress_small_cells

__all__ = ["ACCESS_GAP_COLUMNS", "ACCESS_RATE_COLUMNS", "AccessGaps", "access_gaps", "cell_means_covariance"]

ACCESS_RATE_COLUMNS = ("outcome", "column", "period", "level", "n", "count", "count_without", "rate", "std_error",
                       "suppressed", "suppression")
"""Columns of :attr:`AccessGaps.rates`."""
ACCESS_GAP_COLUMNS = ("label", "outcome", "column", "period", "level", "reference", "estimate", "std_error",
                      "statistic", "p_value", "p_adjusted", "ci_lower", "ci_upper", "ci_level", "suppressed",
                      "suppression")
"""Columns of :attr:`AccessGaps.gaps` (``period`` is ``"change"`` for the change of a gap from baseline to after)."""


def cell_means_covariance(y: np.ndarray, cells: np.ndarray, n_cells: int,
                          cluster: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Cell means of ``y`` and their robust covariance (OLS of ``y`` on cell indicators without intercept).

    Parameters
    ----------
    y
        Outcome (no missing values).
    cells
        Cell index of each row, ``0 .. n_cells − 1`` (every cell non-empty).
    n_cells
        Number of cells ``K``.
    cluster
        Cluster code of each row (``0 .. G − 1``), or ``None`` for HC1.

    Returns
    -------
    tuple
        Means (``K``) and covariance (``K × K``): CR1 ``G/(G−1)·(N−1)/(N−K)`` when clustered, else HC1 ``N/(N−K)``.
    """
    n = y.size
    counts = np.bincount(cells, minlength=n_cells).astype(float)
    means = np.bincount(cells, weights=y, minlength=n_cells) / counts
    resid = y - means[cells]
    if cluster is None:
        meat: np.ndarray = np.diag(np.bincount(cells, weights=resid**2, minlength=n_cells))
        factor = n / (n - n_cells) if n > n_cells else math.nan
    else:
        g = int(cluster.max()) + 1
        scores = np.zeros((g, n_cells))
        np.add.at(scores, (cluster, cells), resid)
        meat = scores.T @ scores
        factor = (g / (g - 1)) * ((n - 1) / (n - n_cells)) if g > 1 and n > n_cells else math.nan
    inv = 1.0 / counts
    cov = factor * (inv[:, None] * meat * inv[None, :])
    return means, (cov + cov.T) / 2


@dataclass(frozen=True)
class AccessGaps:
    """Access rates, gaps against a reference level and their changes, after small-cell suppression.

    Attributes
    ----------
    rates
        One row per outcome × column × period × level (:data:`ACCESS_RATE_COLUMNS`).
    gaps
        One row per gap (and change of a gap) against the reference level (:data:`ACCESS_GAP_COLUMNS`).
    periods
        The periods and the restriction defining each.
    variance
        How the standard errors were computed.
    notes
        Rows left out (missing outcome or subgroup, in no period), with counts of at least ``min_cell`` only.
    suppression_note
        The small-cell rule as applied to :attr:`rates`.
    """

    rates: pd.DataFrame = field(repr=False)
    gaps: pd.DataFrame = field(repr=False)
    periods: Mapping[str, str | None]
    variance: str
    notes: tuple[str, ...] = ()
    suppression_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        from cteimpact.results.serialization import to_jsonable

        return to_jsonable({"periods": dict(self.periods), "variance": self.variance, "notes": list(self.notes),
                            "suppression_note": self.suppression_note,
                            "rates": _records(self.rates), "gaps": _records(self.gaps)})


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({str(k): (None if _isna(v) else v) for k, v in rec.items()})
    return out


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _count_text(n: int, min_cell: int) -> str:
    return f"{n:,}" if n >= min_cell else f"fewer than {min_cell}"


def access_gaps(frame: pd.DataFrame, *, outcomes: Sequence[str], columns: Sequence[SubgroupColumn],
                periods: Mapping[str, np.ndarray | None], period_rules: Mapping[str, str | None] | None = None,
                cluster: str | None = None, level: float = 0.95, min_cell: int) -> AccessGaps:
    """Access rates by subgroup and period, gaps against the reference level and their change.

    Parameters
    ----------
    frame
        Student rows.
    outcomes
        0/1 access outcome columns (missing values allowed: those students are left out of that outcome).
    columns
        Subgroup columns with their reference levels.
    periods
        Period name → boolean row mask (``None``: every row). Periods must not overlap. With ``baseline`` and
        ``after`` both present, the change of each gap is reported too.
    period_rules
        Period name → the restriction that defined it (recorded).
    cluster
        Cluster column (cluster-robust standard errors), or ``None`` (HC1).
    level
        Confidence level of the gaps' intervals.
    min_cell
        The small-cell rule's minimum.

    Raises
    ------
    MissingColumnError
        An outcome or the cluster column is not in ``frame``.
    InvalidValueError
        An outcome with values other than 0 and 1 (the message gives how many rows).
    OptionError
        No periods, overlapping periods, or a cluster column with missing values.
    """
    available = [str(c) for c in frame.columns]
    for y in outcomes:
        if y not in frame.columns:
            raise MissingColumnError(y, available, role="access outcome")
    if cluster is not None and cluster not in frame.columns:
        raise MissingColumnError(cluster, available, role="cluster")
    if not periods:
        raise OptionError("access gaps need at least one period")
    n = len(frame)
    masks = {name: (np.ones(n, bool) if m is None else np.asarray(m, dtype=bool)) for name, m in periods.items()}
    names = list(masks)
    in_period = np.zeros(n, dtype=np.int64)
    for name in names:
        in_period += masks[name].astype(np.int64)
    overlap = int((in_period > 1).sum())
    if overlap:
        raise OptionError(f"the access periods {', '.join(names)} overlap: {overlap:,} rows meet more than one; "
                          "give restrictions that no row meets twice")
    period_code = np.full(n, -1, dtype=np.int64)
    for p, name in enumerate(names):
        period_code[masks[name]] = p
    cl_codes: np.ndarray | None = None
    if cluster is not None:
        cl = frame[cluster]
        miss = int(cl.isna().sum())
        if miss:
            raise OptionError(f"cluster column '{cluster}' has {miss:,} missing values; access gaps need every "
                              "student's cluster")
        cl_codes = pd.factorize(cl, sort=True)[0].astype(np.int64)
    z = float(stats.norm.ppf(0.5 + level / 2))
    rate_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    out_of_period = int((period_code < 0).sum())
    if out_of_period:
        notes.append(f"{_count_text(out_of_period, min_cell)} rows meet none of the periods and are left out")
    column_codes = [column.codes(frame) for column in columns]
    for y in outcomes:
        yv = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
        observed = np.isfinite(yv)
        bad = int((observed & (yv != 0) & (yv != 1)).sum())
        if bad:
            raise InvalidValueError(f"access outcome '{y}' must be 0/1 (or missing); {bad:,} rows have other values")
        n_missing = int((~observed & (period_code >= 0)).sum())
        if n_missing:
            notes.append(f"{y}: {_count_text(n_missing, min_cell)} rows in the periods have '{y}' missing and are "
                         "left out")
        for column, codes in zip(columns, column_codes, strict=True):
            use = observed & (period_code >= 0) & (codes >= 0)
            k = len(column.levels)
            cell = period_code[use] * k + codes[use]
            present_cells = np.unique(cell)
            remap = np.full(len(names) * k, -1, dtype=np.int64)
            remap[present_cells] = np.arange(present_cells.size)
            means_p, cov_p = cell_means_covariance(yv[use], remap[cell], int(present_cells.size),
                                                   None if cl_codes is None else cl_codes[use])
            full_n = np.bincount(cell, minlength=len(names) * k)
            full_count = np.bincount(cell, weights=yv[use], minlength=len(names) * k)
            mean = np.full(len(names) * k, np.nan)
            mean[present_cells] = means_p
            cov = np.full((len(names) * k, len(names) * k), np.nan)
            cov[np.ix_(present_cells, present_cells)] = cov_p
            for p, name in enumerate(names):
                for i, lev in enumerate(column.levels):
                    j = p * k + i
                    rate_rows.append({"outcome": y, "column": column.column, "period": name, "level": lev,
                                      "n": int(full_n[j]), "count": int(full_count[j]),
                                      "count_without": int(full_n[j] - full_count[j]),
                                      "rate": float(mean[j]) if full_n[j] else math.nan,
                                      "std_error": float(math.sqrt(cov[j, j])) if full_n[j] else math.nan})
            r = column.levels.index(column.reference)
            contrasts: list[tuple[str, str, np.ndarray]] = []
            for p, name in enumerate(names):
                for i, lev in enumerate(column.levels):
                    if i == r:
                        continue
                    c = np.zeros(len(names) * k)
                    c[p * k + i], c[p * k + r] = 1.0, -1.0
                    contrasts.append((name, lev, c))
            if "baseline" in names and "after" in names:
                b, a = names.index("baseline"), names.index("after")
                for i, lev in enumerate(column.levels):
                    if i == r:
                        continue
                    c = np.zeros(len(names) * k)
                    c[a * k + i], c[a * k + r], c[b * k + i], c[b * k + r] = 1.0, -1.0, -1.0, 1.0
                    contrasts.append(("change", lev, c))
            for name, lev, c in contrasts:
                used = np.flatnonzero(c)
                label = (f"{y}[{column.column}={lev} vs {column.column}={column.reference}, {name}]")
                if not all(full_n[j] > 0 for j in used):
                    est = se = math.nan
                else:
                    est = float(c[used] @ mean[used])
                    se = float(math.sqrt(max(float(c[used] @ cov[np.ix_(used, used)] @ c[used]), 0.0)))
                stat = est / se if se > 0 else math.nan
                pval = float(2 * stats.norm.sf(abs(stat))) if math.isfinite(stat) else math.nan
                gap_rows.append({"label": label, "outcome": y, "column": column.column, "period": name,
                                 "level": lev, "reference": column.reference, "estimate": est, "std_error": se,
                                 "statistic": stat, "p_value": pval, "p_adjusted": math.nan,
                                 "ci_lower": est - z * se, "ci_upper": est + z * se, "ci_level": level,
                                 "_cells": [(names[j // k], column.levels[j % k]) for j in used]})
    rates = pd.DataFrame(rate_rows, columns=[c for c in ACCESS_RATE_COLUMNS if c not in ("suppressed", "suppression")])
    shown_rates, note = _suppress_rates(rates, min_cell)
    gaps = _suppress_gaps(pd.DataFrame(gap_rows), shown_rates, min_cell)
    variance = ("cluster-robust (CR1, G/(G-1)·(N-1)/(N-K)) by '" + cluster + "'" if cluster is not None
                else "heteroskedasticity-robust (HC1, N/(N-K))") + (
        "; OLS of each outcome on the period × level cell indicators, per outcome and subgroup column")
    rules = dict(period_rules or {})
    return AccessGaps(shown_rates, gaps, {name: rules.get(name) for name in names}, variance, tuple(notes), note)


def _suppress_rates(rates: pd.DataFrame, min_cell: int) -> tuple[pd.DataFrame, str]:
    """Rates of cells of fewer than ``min_cell`` students hidden; counts with or without the outcome below
    ``min_cell`` hidden with the rate (which would give them back); complementary suppression within the levels of
    a column in a period (they add up to the period's total)."""
    if rates.empty:
        out = rates.assign(suppressed=pd.Series(dtype=bool), suppression=pd.Series(dtype=object))
        return out, ""
    table = suppress_small_cells(
        rates, n_column="n", value_columns=["rate", "std_error"],
        count_columns={"count": ["rate", "std_error", "count_without"],
                       "count_without": ["rate", "std_error", "count"]},
        min_cell=min_cell, by=["outcome", "column", "period"])
    shown = table.values.copy()
    hidden = table.suppressed[["n", "count", "count_without", "rate", "std_error"]].any(axis=1).to_numpy()
    shown["suppressed"] = hidden
    reasons: list[str | None] = []
    for row_hidden, n_hidden in zip(hidden, table.suppressed["n"].to_numpy(), strict=True):
        if not row_hidden:
            reasons.append(None)
        elif n_hidden:
            reasons.append(f"fewer than {min_cell} students in the cell, or complementary suppression (a small cell "
                           "of the same column and period could otherwise be recovered by subtraction)")
        else:
            reasons.append(f"fewer than {min_cell} students with (or without) the outcome in the cell, or "
                           "complementary suppression; the rate would reveal the count")
    shown["suppression"] = reasons
    return shown, table.note


def _suppress_gaps(gaps: pd.DataFrame, rates: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """A gap (or change) is hidden when a rate it combines is hidden."""
    if gaps.empty:
        return pd.DataFrame(columns=list(ACCESS_GAP_COLUMNS))
    hidden_cells = {(r.outcome, r.column, r.period, r.level) for r in rates.itertuples() if r.suppressed}
    suppressed: list[bool] = []
    reasons: list[str | None] = []
    numbers = ["estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper"]
    gaps = gaps.copy()
    for idx, row in gaps.iterrows():
        gone = [f"{row['column']}={lev} ({period})" for period, lev in row["_cells"]
                if (row["outcome"], row["column"], period, lev) in hidden_cells]
        if gone:
            suppressed.append(True)
            reasons.append(f"combines a suppressed rate ({', '.join(gone)}; fewer than {min_cell} students or "
                           "complementary suppression)")
            gaps.loc[idx, numbers] = math.nan
        else:
            suppressed.append(False)
            reasons.append(None)
    gaps["suppressed"] = suppressed
    gaps["suppression"] = reasons
    return gaps[list(ACCESS_GAP_COLUMNS)].reset_index(drop=True)
