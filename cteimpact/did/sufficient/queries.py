"""The aggregate queries: sufficient statistics of a balanced staggered-adoption panel, computed by the engine.

Two queries are compiled by Ibis and run where the data live; only their small results come to the client.

1. **Layout** (:func:`panel_layout`): ``GROUP BY cohort, period`` (with clusters ``GROUP BY cluster, cohort,
   period``) with the row count, the outcome sum and the counts of missing values: at most (cohorts × periods), or
   (clusters × cohorts × periods), rows. From it the periods and cohorts, the recodings of the in-memory preparation
   (:func:`cteimpact.did.panel.prepare_staggered_data`: cohorts first treated after the last period are never
   treated, units treated in the first period are dropped, R ``did``'s rule when no unit is never treated), the
   centring constants below and, with clusters, the cluster sums of the first differences
   (``Σ_{i ∈ h, c} (Y_ij − Y_i,j−1) = S_hc,j − S_hc,j−1``) follow.
2. **Units** (:func:`panel_moments`): one ``GROUP BY unit`` over the rows kept, then one aggregate over those unit
   rows. Every unit contributes its row count, the sum of ``2^k`` over its periods ``k`` (which finds missing
   periods and duplicates), and its smallest and largest cohort and cluster (which must agree); without clusters it
   also pivots its outcomes to one column per period (``SUM(y) FILTER (WHERE t = t_k)``) and the aggregate
   ``GROUP BY cohort`` sums its first differences ``D_j = Y_j − Y_{j−1}`` and their products ``D_j D_l``. One row
   per cohort (without clusters) or a single row (with clusters). No self-join of the long table.

Repeated cross-sections (:func:`cross_section_moments`) need only the layout query, with each group's outcome
variance as well. Unbalanced panels kept as they are (:func:`unbalanced_moments`) need a pivot with a row count per
period and, per cohort, the statistics of every pair of periods. With ``balance=True`` a panel's rows missing a
value and then its units not observed in every period are dropped in the engine (a semi-join on the complete
units), as the in-memory preparation does.

Every group-time effect ``ATT(g,t)`` of a balanced panel without covariates, its influence function and every
aggregation's covariance are functions of these sums (:mod:`cteimpact.did.sufficient.cs`), and so are the two-way
fixed effects coefficients with their unit- or cluster-robust variance (:mod:`cteimpact.did.sufficient.twfe`),
because an outcome change ``Y_t − Y_b`` is a sum of first differences.

The differences are centred within each cohort by the cohort's mean differences computed from the layout query
(``D̃_j = D_j − μ_{c,j}``); the moments are of ``D̃``. Any constant shift is exact algebraically (the sums are kept);
centring keeps the cross-products free of the cancellation an uncentred ``Σ D_j D_l`` would suffer when the
outcome trends strongly. The cluster sums are differences of cluster × cohort × period outcome sums: their rounding
error is that of sums of the outcome levels (relative ``~1e-16 · |level| / sd`` per cluster), far below the
tolerance of the equality with the in-memory path.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from cteimpact.backends.determinism import deterministic_sums
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.errors import CohortDroppedWarning, FewClustersWarning
from cteimpact.did.panel import FEW_CLUSTERS
from cteimpact.did.sufficient.errors import TooManyRowsError, UnsupportedDataError
from cteimpact.errors import (
    ColumnTypeError,
    DataDroppedWarning,
    DesignError,
    DuplicateRowsError,
    EstimationError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)

__all__ = ["DEFAULT_MAX_ROWS", "CrossSectionMoments", "PanelColumns", "PanelLayout", "PanelMoments",
           "UnbalancedMoments", "cross_section_moments", "panel_layout", "panel_moments", "unbalanced_moments"]

DEFAULT_MAX_ROWS = 1_000_000
"""Most rows an aggregate query may return to the client (``max_rows``)."""


@dataclass(frozen=True)
class PanelColumns:
    """The columns of a long panel (one row per unit and period).

    Attributes
    ----------
    outcome, unit, time, cohort
        Outcome, unit identifier (``None`` for repeated cross-sections), period and first treated period (0: never
        treated; as in memory, infinite values are refused).
    cluster
        Cluster identifier constant within units, or ``None``.
    covariates
        Numeric covariates (balanced panels only: :mod:`cteimpact.did.sufficient.covariates`); rows missing one are
        refused, or dropped with the other incomplete rows under ``balance=True``, as in memory.
    """

    outcome: str
    unit: str | None
    time: str
    cohort: str
    cluster: str | None = None
    covariates: tuple[str, ...] = ()

    def named(self) -> dict[str, str]:
        """Role → column of every named column."""
        out = {"outcome": self.outcome, "time": self.time, "cohort": self.cohort}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.cluster is not None:
            out["cluster"] = self.cluster
        return out


@dataclass(frozen=True, eq=False)
class PanelLayout:
    """What the layout query found, and the recodings and exclusions that follow from it.

    Attributes
    ----------
    columns
        The columns.
    times
        Sorted periods kept (as floats) and ``time_values``: the same periods as the engine's values (literals of
        the moments query).
    cohorts
        Sorted distinct cohorts after the recodings (0 = never treated).
    cohort_period_count, cohort_period_sum
        Rows and outcome sums of each cohort (rows of :attr:`cohorts`) in each period (columns of :attr:`times`).
    recode_late
        Cohorts beyond this value become never treated (``None``: none do).
    latest_as_never
        R ``did``'s rule with no never-treated unit and ``control="never"``: this cohort becomes the comparison
        group (``None``: not applied).
    only_comparison
        Cohorts that serve only as comparisons (the rule with ``control="notyet"``).
    dropped_cohorts
        Cohorts dropped (treated in the first period).
    anticipation
        Periods of anticipation.
    flow, notes
        Sample flow and notes of the recodings and exclusions.
    rows_fetched
        Rows the query returned to the client.
    cluster_labels, cluster_period_count, cluster_period_sum
        With clusters: the cluster labels (sorted), and the rows and outcome sums of each cluster, cohort and period
        (``G × C × T``); ``None`` without clusters.
    cohort_period_ss
        Repeated cross-sections: the outcome's sum of squares about the mean of each cohort and period (``C × T``).
    panel
        ``False`` for repeated cross-sections (rows are observations, no unit column).
    dropped_missing
        Rows missing a value were dropped (not refused); the moments queries drop them too.
    """

    columns: PanelColumns
    times: np.ndarray
    time_values: tuple[Any, ...]
    cohorts: np.ndarray
    cohort_period_count: np.ndarray
    cohort_period_sum: np.ndarray
    recode_late: float | None
    latest_as_never: float | None
    only_comparison: frozenset[float]
    dropped_cohorts: tuple[float, ...]
    time_cutoff: float | None
    anticipation: int
    flow: SampleFlow
    notes: tuple[str, ...]
    rows_fetched: int
    cluster_labels: np.ndarray | None = None
    cluster_period_count: np.ndarray | None = None
    cluster_period_sum: np.ndarray | None = None
    cohort_period_ss: np.ndarray | None = None
    panel: bool = True
    dropped_missing: bool = False

    @property
    def n_periods(self) -> int:
        return int(self.times.size)

    def centre(self) -> np.ndarray:
        """Mean first differences of each cohort (``cohorts × (T − 1)``): the centring constants ``μ_{c,j}``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.cohort_period_sum / self.cohort_period_count
        out = np.diff(means, axis=1)
        return np.where(np.isfinite(out), out, 0.0)


class _CohortStatistics:
    """What the sufficient statistics of every data mode share: the layout (periods, cohorts) and the cluster
    labels."""

    layout: PanelLayout
    cluster_labels: np.ndarray | None

    @property
    def times(self) -> np.ndarray:
        return self.layout.times

    @property
    def cohorts(self) -> np.ndarray:
        return self.layout.cohorts

    @property
    def n_clusters(self) -> int | None:
        return None if self.cluster_labels is None else int(self.cluster_labels.size)


def _cell_means(count: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Mean outcome of each cell (``sums / count``; 0 where there is no observation)."""
    return np.where(count > 0, sums / np.maximum(count, 1), 0.0)


@dataclass(frozen=True, eq=False)
class PanelMoments(_CohortStatistics):
    """The sufficient statistics of a balanced panel (see the module docstring).

    Attributes
    ----------
    layout
        The layout (periods, cohorts, recodings, sample flow).
    count
        Units of each cohort (``C``).
    centre
        Centring constants ``μ`` (``C × (T − 1)``).
    sums
        ``Σ_i D̃_ij`` per cohort (``C × (T − 1)``).
    cross
        ``Σ_i D̃_ij D̃_il`` per cohort (``C × (T − 1) × (T − 1)``); ``None`` when clustered.
    cluster_labels
        Cluster labels (sorted) or ``None``.
    cluster_count, cluster_sums
        Units (``G × C``) and ``Σ D̃`` (``G × C × (T − 1)``) of each cluster and cohort; ``None`` without clusters.
    rows_fetched
        Rows the two queries returned to the client.
    """

    layout: PanelLayout
    count: np.ndarray
    centre: np.ndarray
    sums: np.ndarray
    cross: np.ndarray | None
    cluster_labels: np.ndarray | None = None
    cluster_count: np.ndarray | None = None
    cluster_sums: np.ndarray | None = None
    rows_fetched: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def n_units(self) -> int:
        return int(self.count.sum())

    def mean_differences(self) -> np.ndarray:
        """``μ + Σ D̃ / N``: each cohort's mean first differences (``C × (T − 1)``)."""
        return self.centre + self.sums / self.count[:, None]

    @property
    def clustered(self) -> bool:
        """Whether the statistics hold the cluster × cohort sums (a cluster column)."""
        return self.cluster_sums is not None and self.cluster_count is not None

    def linear_moments(self, intercepts: np.ndarray, slopes: np.ndarray) -> np.ndarray:
        """Second moments of a quantity linear in a unit's first differences given its cohort,
        ``B_i = a_c + M_c D_i`` (``intercepts`` ``a``: ``C × m``; ``slopes`` ``M``: ``C × m × (T − 1)``): clustered,
        its sums within each cluster (``G × m``), otherwise its Gram matrix ``Σ_i B_i B_i'`` (``m × m``,
        symmetric), from the centred statistics: with ``ã_c = a_c + M_c μ_c``, ``Σ_c [N_c ã_c ã_c' + ã_c (M_c S̃_c)'
        + (M_c S̃_c) ã_c' + M_c Q̃_c M_c']``, or ``Σ_c [N_hc ã_c + M_c S̃_hc]`` within cluster ``h``.

        Raises
        ------
        OptionError
            Unclustered statistics computed without the per-cohort cross-products.
        """
        a_tilde = intercepts + np.einsum("cmj,cj->cm", slopes, self.centre)
        if self.cluster_sums is not None and self.cluster_count is not None:
            return (np.einsum("hc,cm->hm", self.cluster_count.astype(float), a_tilde)
                    + np.einsum("cmj,hcj->hm", slopes, self.cluster_sums))
        if self.cross is None:
            raise OptionError("unclustered moments need the per-cohort cross-products (cross_products=True)")
        count = self.count.astype(float)
        ms = np.einsum("cmj,cj->cm", slopes, self.sums)
        gram = (np.einsum("c,cm,cl->ml", count, a_tilde, a_tilde) + np.einsum("cm,cl->ml", a_tilde, ms)
                + np.einsum("cm,cl->ml", ms, a_tilde) + np.einsum("cmj,cjk,clk->ml", slopes, self.cross, slopes))
        return (gram + gram.T) / 2


# -- helpers ---------------------------------------------------------------------------------------------------


def present_unit(cols: PanelColumns) -> str:
    """The unit column of a panel (an :class:`OptionError` when absent)."""
    if cols.unit is None:
        raise OptionError("a panel needs the unit identifier column ('unit'); for repeated cross-sections set "
                          "panel=False")
    return cols.unit


def _fetch(expr: ir.Table, *, max_rows: int, what: str) -> pa.Table:
    """Run ``expr`` and bring at most ``max_rows`` rows to the client (more: :class:`TooManyRowsError`)."""
    with deterministic_sums(expr):
        out = expr.limit(max_rows + 1).to_pyarrow()
    if out.num_rows > max_rows:
        n = int(expr.count().to_pyarrow().as_py())  # the error path only: how many
        raise TooManyRowsError(f"the {what} query would return {n:,} rows to the client, more than max_rows = "
                               f"{max_rows:,}: its rows are aggregates (one per group), so this many means many "
                               "groups (for example a cluster column with one value per unit); raise max_rows if "
                               "that many are intended")
    return out


def _array(tab: pa.Table, name: str) -> np.ndarray:
    return np.asarray(tab.column(name).to_numpy(zero_copy_only=False))


def _check_table(table: ir.Table, cols: PanelColumns) -> None:
    """Every named column present; outcome, time and cohort numeric (or boolean outcome)."""
    schema = table.schema()
    available = list(schema.names)
    for role, col in cols.named().items():
        if col not in available:
            raise MissingColumnError(col, available, role)
    for role in ("outcome", "time", "cohort"):
        col = cols.named()[role]
        dtype = schema[col]
        if not (dtype.is_numeric() or (role == "outcome" and dtype.is_boolean())):
            raise ColumnTypeError(f"{role} column '{col}' has type {dtype} in the engine; it must be numeric")
    for col in cols.covariates:
        if col not in available:
            raise MissingColumnError(col, available, "covariate")
        dtype = schema[col]
        if not (dtype.is_numeric() or dtype.is_boolean()):
            raise ColumnTypeError(f"covariate column '{col}' has type {dtype} in the engine; the in-engine "
                                  "computation needs numeric covariates or text ones (categorical); cast it in the "
                                  "engine, or use the in-memory estimator")
    if len(set(cols.covariates)) != len(cols.covariates):
        raise OptionError(f"covariates are repeated: {list(cols.covariates)}")
    roles = [c for c in cols.covariates if c in cols.named().values()]
    if roles:
        raise OptionError(f"covariate {roles[0]!r} also fills another role: {cols.named()}")
    if len(set(cols.named().values())) != len(cols.named()):
        raise OptionError(f"the same column fills two roles: {cols.named()}")
    reserved = [c for c in (*cols.named().values(), *cols.covariates) if c.startswith("cte_")]
    if reserved:
        raise OptionError(f"column names starting with 'cte_' are reserved for the aggregate queries' own columns: "
                          f"{', '.join(repr(c) for c in reserved)}; rename them in the engine (table.rename(...))")


def _cohort_expr(table: ir.Table, cols: PanelColumns) -> ir.FloatingColumn:
    return table[cols.cohort].cast("float64")


def _outcome_expr(table: ir.Table, cols: PanelColumns) -> ir.FloatingColumn:
    return table[cols.outcome].cast("float64")


def _missing(col: ir.Column) -> ir.BooleanValue:
    miss = col.isnull()
    if col.type().is_floating():
        miss = miss | col.isnan()
    return miss


def _literal(v: Any) -> Any:
    """A period value as a Python scalar for the query (integers stay integers)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


# -- the layout query -----------------------------------------------------------------------------------------------


def panel_layout(table: ir.Table, cols: PanelColumns, *, control: str = "never", anticipation: int = 0,
                 max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table", panel: bool = True,
                 drop_missing: bool | None = None, unbalanced: bool = False) -> PanelLayout:
    """Run the layout query and apply the in-memory preparation's recodings and exclusions.

    With ``panel=False`` (repeated cross-sections) rows missing a value are dropped (and recorded), cohorts never
    observed before their treatment are dropped, and the query also returns each group's outcome variance. With
    ``drop_missing`` (default: only for repeated cross-sections) a panel's rows missing a value are dropped too
    instead of refused (the in-memory preparation's first step; :func:`panel_moments` with ``balance=True``).
    ``unbalanced`` (an unbalanced panel kept as it is): also drop cohorts never observed before their treatment.

    Raises
    ------
    MissingColumnError, ColumnTypeError
        A named column is absent or not numeric.
    UnsupportedDataError
        Missing values in a named column (the in-memory path drops those rows and then the incomplete units; here
        the data must be complete).
    InvalidValueError
        Negative cohorts.
    DesignError
        No treated cohort with a pre-treatment period, or no comparison units.
    """
    _check_table(table, cols)
    if control not in ("never", "notyet"):
        raise OptionError(f"control must be 'never' or 'notyet', got {control!r}")
    if not (isinstance(anticipation, int | np.integer) and not isinstance(anticipation, bool) and anticipation >= 0):
        raise OptionError(f"anticipation must be a non-negative whole number of periods, got {anticipation!r}")
    g = _cohort_expr(table, cols)
    y = _outcome_expr(table, cols)
    ymiss = _missing(table[cols.outcome])
    drop_rows = (not panel) if drop_missing is None else bool(drop_missing)
    if drop_rows:  # rows missing a value are dropped, as in memory
        usable = ~ymiss if cols.unit is None or not panel else ~ymiss & table[cols.unit].notnull()
        for cov in cols.covariates:
            usable = usable & ~_missing(table[cov])
        aggs: dict[str, Any] = {"cte_n": table.count(), "cte_ok": y.count(where=usable),
                                "cte_ysum": y.sum(where=usable), "cte_yvar": y.var(how="pop", where=usable)}
    elif panel:
        aggs = {"cte_n": table.count(), "cte_ysum": y.sum(), "cte_ymiss": ymiss.sum(),
                                "cte_umiss": table[present_unit(cols)].isnull().sum()}
        if cols.cluster is not None:
            aggs["cte_cmiss"] = table[cols.cluster].isnull().sum()
        for j, cov in enumerate(cols.covariates):
            aggs[f"cte_xmiss{j}"] = _missing(table[cov]).sum()
    keys: dict[str, Any] = {"cte_g": g, "cte_t": table[cols.time]}
    if cols.cluster is not None:
        keys["cte_c"] = table[cols.cluster]
    q = table.group_by(**keys).aggregate(**aggs)
    what = "layout (cluster × cohort × period)" if cols.cluster is not None else "layout (cohort × period)"
    tab = _fetch(q, max_rows=max_rows, what=what)
    g_raw = _array(tab, "cte_g").astype(float)
    t_raw = tab.column("cte_t").to_pylist()
    n = _array(tab, "cte_n").astype(np.int64)
    ysum = np.nan_to_num(_array(tab, "cte_ysum").astype(float))
    rows_read = int(n.sum())
    if rows_read == 0:
        raise DesignError(f"the table ({source}) has no rows")
    t_null = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in t_raw], dtype=bool)
    c_null = (np.array([v is None for v in tab.column("cte_c").to_pylist()], dtype=bool) if cols.cluster is not None
              else np.zeros(t_null.size, dtype=bool))
    flow = SampleFlow(source, rows_read, unit="unit-periods" if panel else "observations")
    notes: list[str] = []
    yvar = np.zeros(n.size)
    if drop_rows:
        ok = _array(tab, "cte_ok").astype(np.int64)
        yvar = np.nan_to_num(_array(tab, "cte_yvar").astype(float))
        bad_key = t_null | np.isnan(g_raw) | c_null
        n_drop = int(n[bad_key].sum() + (n - ok)[~bad_key].sum())
        if n_drop:
            what_rows = "observations" if not panel else "rows"
            msg = (f"dropped {n_drop:,} {what_rows} missing the outcome '{cols.outcome}', the time '{cols.time}', "
                   f"the cohort '{cols.cohort}'" + (f", the unit '{cols.unit}'" if panel else "")
                   + (f" or the cluster '{cols.cluster}'" if cols.cluster else "")
                   + (f" or a covariate ({', '.join(repr(c) for c in cols.covariates)})" if cols.covariates else ""))
            flow = flow.exclude(n_drop, msg)
            notes.append(msg)
            warnings.warn(msg, DataDroppedWarning, stacklevel=3)
        use = ~bad_key & (ok > 0)
        if not use.any():
            raise DesignError(f"no row of the {rows_read:,} has all of the needed values (outcome, time, cohort, ...)")
        g_raw, n, ysum, yvar = g_raw[use], ok[use], ysum[use], yvar[use]
        t_raw = [v for v, u in zip(t_raw, use, strict=True) if u]
        tab = tab.filter(pa.array(use))
    else:
        checks = [("cte_ymiss", "outcome", cols.outcome), ("cte_umiss", "unit", cols.unit),
                  ("cte_cmiss", "cluster", cols.cluster)]
        checks += [(f"cte_xmiss{j}", "covariate", c) for j, c in enumerate(cols.covariates)]
        for name, role, col in checks:
            if name not in tab.column_names:
                continue
            k = int(np.nansum(_array(tab, name).astype(float)))
            if k:
                raise UnsupportedDataError(
                    f"{role} column '{col}' is missing in {k:,} of {rows_read:,} rows; the sufficient-statistics path "
                    "needs complete rows of a balanced panel: pass balance=True to drop them and then the incomplete "
                    "units in the engine, as the in-memory estimator does")
        t_missing = int(n[t_null].sum())
        if t_missing:
            raise UnsupportedDataError(f"time column '{cols.time}' is missing in {t_missing:,} of {rows_read:,} rows; "
                                       "the sufficient-statistics path needs complete rows of a balanced panel")
        g_missing = int(n[np.isnan(g_raw)].sum())
        if g_missing:
            raise UnsupportedDataError(f"cohort column '{cols.cohort}' is missing in {g_missing:,} of {rows_read:,} "
                                       "rows; the sufficient-statistics path needs complete rows of a balanced panel")
    n_neg = int(n[g_raw < 0].sum())
    if n_neg:
        raise InvalidValueError(
            f"cohort column '{cols.cohort}' has {n_neg:,} rows with negative values; it must hold the first treated "
            "period (0 for never treated); shift the periods so that they are positive")
    n_inf = int(n[np.isinf(g_raw)].sum())
    if n_inf:
        raise InvalidValueError(f"cohort column '{cols.cohort}' has {n_inf:,} infinite values of {rows_read:,} "
                                "non-missing; code never-treated units as 0")
    g_val = g_raw
    t_val = np.array([float(v) for v in t_raw])
    time_values = {float(v): _literal(v) for v in t_raw}
    times = np.unique(t_val)
    t_last = float(times[-1])

    recode_late: float | None = None
    late = g_val > t_last + anticipation
    if late.any():
        recode_late = t_last + anticipation
        msg = (f"units of cohorts {', '.join(f'{c:g}' for c in np.unique(g_val[late]))} ({int(n[late].sum()):,} rows) "
               f"are first treated after the last period {t_last:g}"
               + (f" plus anticipation {anticipation}" if anticipation else "") + " and are treated as never treated")
        g_val = np.where(late, 0.0, g_val)
        flow = flow.exclude(0, msg)
        notes.append(msg)
        warnings.warn(msg, CohortDroppedWarning, stacklevel=3)

    latest_as_never: float | None = None
    only_comparison: frozenset[float] = frozenset()
    time_cutoff: float | None = None
    keep = np.ones(g_val.size, dtype=bool)
    if not np.any(g_val == 0):
        treated = np.unique(g_val)
        if treated.size < 2:
            raise DesignError(f"no comparison units: every unit belongs to cohort {float(treated[0]):g} and none is "
                              f"never treated (cohort column '{cols.cohort}'); difference-in-differences needs "
                              "never-treated or later-treated units")
        latest = float(treated.max())
        time_cutoff = latest - anticipation
        drop = t_val >= time_cutoff
        if control == "never":
            latest_as_never = latest
            msg = (f"no never-treated units: the last-treated cohort ({latest:g}) is used as the comparison group and "
                   f"the {int(n[drop].sum()):,} rows from period {time_cutoff:g} on are dropped")
            g_val = np.where(g_val == latest, 0.0, g_val)
        else:
            only_comparison = frozenset({latest})
            msg = (f"no never-treated units: the {int(n[drop].sum()):,} rows from period {time_cutoff:g} on are "
                   f"dropped; cohort {latest:g} serves only as a comparison group")
        warnings.warn(msg, CohortDroppedWarning, stacklevel=3)
        flow = flow.exclude(int(n[drop].sum()), msg)
        notes.append(msg)
        keep &= ~drop
        times = np.unique(t_val[keep])
        if times.size == 0:
            raise DesignError("no comparison units: no never-treated units and no period before the last cohort's "
                              "treatment")

    t_first = float(times[0])
    early = keep & (g_val != 0) & (g_val <= t_first + anticipation)
    dropped: tuple[float, ...] = ()
    if early.any():
        dropped = tuple(float(c) for c in np.unique(g_val[early]))
        msg = (f"dropped cohorts {', '.join(f'{c:g}' for c in dropped)} ({int(n[early].sum()):,} rows) already treated "
               f"in the first period {t_first:g}" + (f" (accounting for anticipation {anticipation})"
                                                     if anticipation else "") + ": they have no pre-treatment period")
        warnings.warn(msg, CohortDroppedWarning, stacklevel=3)
        flow = flow.exclude(int(n[early].sum()), "already treated in the first period (no pre-treatment period)")
        notes.append(msg)
        keep &= ~early
    if not keep.any():
        raise DesignError("no rows left: every unit was treated in the first period")
    if not panel or unbalanced:
        bad_cohorts = [float(c) for c in np.unique(g_val[keep & (g_val > 0)])
                       if not np.any(keep & (g_val == c) & (t_val + anticipation < c))]
        if bad_cohorts:
            rows_bad = keep & np.isin(g_val, bad_cohorts)
            msg = (f"dropped cohorts {', '.join(f'{c:g}' for c in bad_cohorts)} ({int(n[rows_bad].sum()):,} rows): "
                   "never observed before their treatment" + (" minus anticipation" if anticipation else ""))
            warnings.warn(msg, CohortDroppedWarning, stacklevel=3)
            flow = flow.exclude(int(n[rows_bad].sum()), "cohort never observed before its treatment")
            notes.append(msg)
            dropped = (*dropped, *bad_cohorts)
            keep &= ~rows_bad

    if times.size < 2:
        raise DesignError(f"the data have {times.size} period after the exclusions; difference-in-differences needs "
                          "at least two")
    cohorts = np.unique(g_val[keep])
    kept = np.flatnonzero(keep)
    ci = _positions(g_val[kept], cohorts)
    ti = _positions(t_val[kept], times)
    cnt = np.zeros((cohorts.size, times.size), dtype=np.int64)
    sm = np.zeros((cohorts.size, times.size))
    np.add.at(cnt, (ci, ti), n[kept])
    np.add.at(sm, (ci, ti), ysum[kept])
    ss = None
    if not panel:  # centred sums of squares of each cohort and period, pooled exactly from the query's rows
        with np.errstate(invalid="ignore", divide="ignore"):
            centre_ct = np.where(cnt > 0, sm / np.maximum(cnt, 1), 0.0)
            row_mean = ysum[kept] / n[kept]
        ss = np.zeros((cohorts.size, times.size))
        np.add.at(ss, (ci, ti), n[kept] * yvar[kept] + n[kept] * (row_mean - centre_ct[ci, ti]) ** 2)
    labels = cl_cnt = cl_sm = None
    if cols.cluster is not None:
        raw = tab.column("cte_c").to_pylist()
        labels, hi = np.unique(np.asarray([raw[r] for r in kept], dtype=object), return_inverse=True)
        cl_cnt = np.zeros((labels.size, cohorts.size, times.size), dtype=np.int64)
        cl_sm = np.zeros((labels.size, cohorts.size, times.size))
        np.add.at(cl_cnt, (hi, ci, ti), n[kept])
        np.add.at(cl_sm, (hi, ci, ti), ysum[kept])
    return PanelLayout(columns=cols, times=times.astype(float), time_values=tuple(time_values[float(v)] for v in times),
                       cohorts=cohorts.astype(float), cohort_period_count=cnt, cohort_period_sum=sm,
                       recode_late=recode_late, latest_as_never=latest_as_never, only_comparison=only_comparison,
                       dropped_cohorts=dropped, time_cutoff=time_cutoff, anticipation=int(anticipation), flow=flow,
                       notes=tuple(notes), rows_fetched=int(tab.num_rows), cluster_labels=labels,
                       cluster_period_count=cl_cnt, cluster_period_sum=cl_sm, cohort_period_ss=ss, panel=panel,
                       dropped_missing=drop_rows)


def prepared_table(table: ir.Table, layout: PanelLayout) -> tuple[ir.Table, ir.FloatingValue]:
    """The rows kept, and the recoded cohort expression (the layout's recodings and exclusions, in the engine)."""
    cols = layout.columns
    g = _cohort_expr(table, cols)
    if layout.recode_late is not None:
        g = ibis.ifelse(g > layout.recode_late, 0.0, g)
    if layout.latest_as_never is not None:
        g = ibis.ifelse(g == layout.latest_as_never, 0.0, g)
    t = table.mutate(cte_g=g)
    preds = []
    if layout.dropped_missing:
        preds.append(~_missing(table[cols.outcome]))
        preds.extend(t[c].notnull() for c in (cols.unit, cols.time, cols.cohort, cols.cluster) if c is not None)
        preds.append(~t.cte_g.isnan())
        preds.extend(~_missing(table[c]) for c in cols.covariates)
    if layout.time_cutoff is not None:
        preds.append(t[cols.time] < _literal(layout.time_cutoff))
    if layout.dropped_cohorts:
        preds.append(~t.cte_g.isin(list(layout.dropped_cohorts)))
    if preds:
        t = t.filter(*preds)
    return t, t.cte_g


# -- the moments query ---------------------------------------------------------------------------------------------


def _by_cohort(g: ir.FloatingValue, cohorts: np.ndarray, values: np.ndarray) -> ir.FloatingValue:
    """``values[c]`` for the unit's cohort ``g`` (a CASE over the few cohorts)."""
    branches = [(g == float(c), float(v)) for c, v in zip(cohorts, values, strict=True)]
    return ibis.cases(*branches, else_=0.0)


def _period_bits(tcol: ir.Column, time_values: Sequence[Any]) -> ir.IntegerValue:
    """``2^k`` for a row of the ``k``-th period (a CASE over the periods; 0 for none)."""
    branches = [(tcol == v, ibis.literal(1 << k, type="int64")) for k, v in enumerate(time_values)]
    return ibis.cases(*branches, else_=ibis.literal(0, type="int64"))


_MAX_BITS = 62
"""Most periods the bit-mask check covers (a signed 64-bit sum)."""


def _check_exprs(wide: ir.Table, n_t: int, per_period: Sequence[ir.IntegerValue]) -> dict[str, Any]:
    """Unit-level flags: duplicated rows (more rows than periods) and incomplete units (not every period once)."""
    if n_t <= _MAX_BITS:
        bad = (wide.cte_rows != n_t) | (wide.cte_mask != (1 << n_t) - 1)
    else:
        bad = ibis.or_(*[c != 1 for c in per_period])
    return {"cte_dup": wide.cte_rows > n_t, "cte_bad": bad}


def panel_moments(table: ir.Table, cols: PanelColumns, *, control: str = "never", anticipation: int = 0,
                  max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table",
                  cross_products: bool | None = None, balance: bool = False) -> PanelMoments:
    """The sufficient statistics of a balanced panel, computed by the engine (see the module docstring).

    Parameters
    ----------
    table
        An Ibis table expression: one row per unit and period.
    cols
        The columns (:class:`PanelColumns`).
    control, anticipation
        As for :class:`~cteimpact.did.estimator.CallawaySantAnna` (they decide R ``did``'s rule without
        never-treated units and which cohorts are dropped).
    max_rows
        Most rows one query may return to the client.
    source
        Name of the data in the sample flow.
    cross_products
        Compute the per-cohort cross-products (default: only without clusters, where the unit-level variance needs
        them; with clusters the cluster sums come from the layout query and the unit-level query only checks the
        panel).
    balance
        Do what the in-memory estimator does by default: drop rows missing a value, then the units not observed in
        every period (recorded in the sample flow, with a warning), in the engine. Default: refuse such data.

    Raises
    ------
    UnsupportedDataError
        An unbalanced panel (units not observed in every period) or missing values (without ``balance``).
    DuplicateRowsError
        A unit observed twice in a period.
    InvalidValueError
        A cohort or cluster that changes within a unit.
    TooManyRowsError
        A query would return more than ``max_rows`` rows.
    """
    layout = panel_layout(table, cols, control=control, anticipation=anticipation, max_rows=max_rows, source=source,
                          drop_missing=balance)
    t, g = prepared_table(table, layout)
    clustered = cols.cluster is not None
    with_cross = (not clustered) if cross_products is None else cross_products
    tab = _fetch(_moments_query(t, g, layout, with_cross=with_cross), max_rows=max_rows,
                 what="moments (cohort)" if with_cross else "panel checks")
    fetched = layout.rows_fetched + int(tab.num_rows)
    if balance and total_of(tab, "cte_nbad") > total_of(tab, "cte_ndup") and not total_of(tab, "cte_ndup"):
        t, layout, extra = _balanced(t, layout, max_rows=max_rows, n_units=total_of(tab, "cte_units"),
                                     n_incomplete=total_of(tab, "cte_nbad"))
        g = t.cte_g
        tab = _fetch(_moments_query(t, g, layout, with_cross=with_cross), max_rows=max_rows,
                     what="moments (cohort)" if with_cross else "panel checks")
        fetched += extra + int(tab.num_rows)
    return _moments_from(tab, layout, layout.centre(), with_cross=with_cross, rows_fetched=fetched)


def total_of(tab: pa.Table, name: str) -> int:
    """The sum of a count column of a query result."""
    return int(np.nansum(_array(tab, name).astype(float)))


def _check_clusters(labels: np.ndarray, cols: PanelColumns, *, stacklevel: int) -> None:
    """At least two clusters (a :class:`DesignError`), and a :class:`FewClustersWarning` with few (``stacklevel``
    counted from the caller)."""
    if labels.size < 2:
        raise DesignError(f"cluster column '{cols.cluster}' has a single cluster; cluster-robust inference needs "
                          "at least two")
    if labels.size < FEW_CLUSTERS:
        warnings.warn(f"only {labels.size} clusters in '{cols.cluster}': analytic cluster-robust standard errors "
                      "over-reject with few clusters; the wild cluster bootstrap of the aggregated effects runs on "
                      "the in-memory estimator (wild_bootstrap = 999)", FewClustersWarning, stacklevel=stacklevel + 1)


def _check_units(tab: pa.Table, cols: PanelColumns, n_units: int, *, n_periods: int | None = None) -> None:
    """The unit-level counts of a query over the ``GROUP BY unit`` rows: no unit twice in a period, (a balanced
    panel, given ``n_periods``: every unit once in each period), cohort and cluster constant within units."""
    n_dup = total_of(tab, "cte_ndup")
    if n_dup:
        raise DuplicateRowsError(f"{n_dup:,} of {n_units:,} units of '{cols.unit}' appear more than once in a period "
                                 f"of '{cols.time}'; a panel has one row per unit and period")
    if n_periods is not None:
        n_bad = total_of(tab, "cte_nbad")
        if n_bad:
            raise UnsupportedDataError(
                f"the panel is unbalanced: {n_bad:,} of {n_units:,} units of '{cols.unit}' are not observed exactly "
                f"once in each of the {n_periods} periods of '{cols.time}'; the sufficient-statistics path supports "
                "balanced panels only: pass balance=True to drop them in the engine as the in-memory estimator "
                "does, keep the units observed in every period in the engine, or use the in-memory estimator with "
                "allow_unbalanced)")
    n_gvar = total_of(tab, "cte_gvar")
    if n_gvar:
        raise InvalidValueError(f"cohort column '{cols.cohort}' is not constant within {n_gvar:,} of {n_units:,} units "
                                f"of '{cols.unit}'")
    if "cte_cvar" in tab.column_names:
        n_cvar = total_of(tab, "cte_cvar")
        if n_cvar:
            raise InvalidValueError(f"cluster column '{cols.cluster}' is not constant within {n_cvar:,} of "
                                    f"{n_units:,} units of '{cols.unit}'")


def _positions(values: Sequence[Any] | np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` among ``levels`` (compared as floats)."""
    pos = {float(v): i for i, v in enumerate(levels)}
    return np.array([pos[float(v)] for v in values], dtype=np.int64)


def _moments_query(t: ir.Table, g: ir.FloatingValue, layout: PanelLayout, *, with_cross: bool) -> ir.Table:
    """The unit-level query (see the module docstring) over the rows kept ``t``."""
    cols = layout.columns
    tv = layout.time_values
    n_t = len(tv)
    clustered = cols.cluster is not None
    tcol = t[cols.time]
    aggs: dict[str, Any] = {"cte_rows": t.count(), "cte_glo": g.min(), "cte_ghi": g.max()}
    if n_t <= _MAX_BITS:
        aggs["cte_mask"] = _period_bits(tcol, tv).sum()
    else:
        for k, v in enumerate(tv):
            aggs[f"cte_n{k}"] = t.count(where=tcol == v)
    if clustered:
        aggs["cte_clo"] = t[cols.cluster].min()
        aggs["cte_chi"] = t[cols.cluster].max()
    if with_cross:
        y = _outcome_expr(t, cols)
        for k, v in enumerate(tv):
            aggs[f"cte_y{k}"] = y.sum(where=tcol == v)
    wide = t.group_by(cte_unit=t[present_unit(cols)]).aggregate(**aggs)
    flags = _check_exprs(wide, n_t, [wide[f"cte_n{k}"] for k in range(n_t)] if n_t > _MAX_BITS else [])
    centre = layout.centre()
    diffs = {}
    if with_cross:
        diffs = {f"cte_d{j}": wide[f"cte_y{j + 1}"] - wide[f"cte_y{j}"]
                 - _by_cohort(wide.cte_glo, layout.cohorts, centre[:, j]) for j in range(n_t - 1)}
    wide = wide.mutate(**flags, **diffs)
    out: dict[str, Any] = {"cte_units": wide.count(), "cte_nbad": wide.cte_bad.sum(), "cte_ndup": wide.cte_dup.sum(),
                           "cte_gvar": (wide.cte_glo != wide.cte_ghi).sum()}
    if clustered:
        out["cte_cvar"] = (wide.cte_clo != wide.cte_chi).sum()
    if with_cross:
        for j in range(n_t - 1):
            out[f"cte_s{j}"] = wide[f"cte_d{j}"].sum()
            for m in range(j, n_t - 1):
                out[f"cte_q{j}_{m}"] = (wide[f"cte_d{j}"] * wide[f"cte_d{m}"]).sum()
        return wide.group_by(cte_g=wide.cte_glo).aggregate(**out)
    return wide.aggregate(**out)


def _balanced(t: ir.Table, layout: PanelLayout, *, max_rows: int, n_units: int,
              n_incomplete: int) -> tuple[ir.Table, PanelLayout, int]:
    """Drop the units not observed in every period (the in-memory preparation's balancing, after its recodings and
    exclusions): the rows kept as an engine-side semi-join, and the layout's sums recomputed over them (the
    recodings decided before balancing stay, as in memory). Returns the rows, the layout and the rows fetched."""
    cols = layout.columns
    unit = present_unit(cols)
    n_t = layout.n_periods
    if n_t > _MAX_BITS:
        raise UnsupportedDataError(f"balancing a panel of {n_t} periods in the engine is not supported (at most "
                                   f"{_MAX_BITS}); keep the units observed in every period in the engine")
    units = t.group_by(unit).aggregate(cte_k=t.count(), cte_m=_period_bits(t[cols.time], layout.time_values).sum())
    complete = units.filter((units.cte_k == n_t) & (units.cte_m == (1 << n_t) - 1)).select(unit)
    kept = t.semi_join(complete, unit)
    y = _outcome_expr(kept, cols)
    keys: dict[str, Any] = {"cte_g": kept.cte_g, "cte_t": kept[cols.time]}
    if cols.cluster is not None:
        keys["cte_c"] = kept[cols.cluster]
    tab = _fetch(kept.group_by(**keys).aggregate(cte_n=kept.count(), cte_ysum=y.sum()), max_rows=max_rows,
                 what="balanced layout")
    n_rows = _array(tab, "cte_n").astype(np.int64)
    if not n_rows.size:
        raise DesignError(f"no unit of '{unit}' is observed in every one of the {n_t} periods of '{cols.time}'")
    g_val = _array(tab, "cte_g").astype(float)
    cohorts = np.unique(g_val)
    ci = _positions(g_val, cohorts)
    ti = _positions(tab.column("cte_t").to_pylist(), layout.times)
    ysum = _array(tab, "cte_ysum").astype(float)
    cnt = np.zeros((cohorts.size, n_t), dtype=np.int64)
    sm = np.zeros((cohorts.size, n_t))
    np.add.at(cnt, (ci, ti), n_rows)
    np.add.at(sm, (ci, ti), ysum)
    labels = cl_cnt = cl_sm = None
    if cols.cluster is not None:
        labels, hi = np.unique(np.asarray(tab.column("cte_c").to_pylist(), dtype=object), return_inverse=True)
        cl_cnt = np.zeros((labels.size, cohorts.size, n_t), dtype=np.int64)
        cl_sm = np.zeros((labels.size, cohorts.size, n_t))
        np.add.at(cl_cnt, (hi, ci, ti), n_rows)
        np.add.at(cl_sm, (hi, ci, ti), ysum)
    n_out = int(layout.cohort_period_count.sum() - cnt.sum())
    msg = (f"{n_incomplete:,} of {n_units:,} units are missing in some of the {n_t} periods and were dropped to "
           f"balance the panel ({n_out:,} rows)")
    warnings.warn(msg, DataDroppedWarning, stacklevel=4)
    flow = layout.flow.exclude(n_out, "unit not observed in every period (balanced panel)")
    new = replace(layout, cohorts=cohorts.astype(float), cohort_period_count=cnt, cohort_period_sum=sm,
                  cluster_labels=labels, cluster_period_count=cl_cnt, cluster_period_sum=cl_sm, flow=flow,
                  notes=(*layout.notes, msg))
    return kept, new, int(tab.num_rows)


def _moments_from(tab: pa.Table, layout: PanelLayout, centre: np.ndarray, *, with_cross: bool,
                  rows_fetched: int) -> PanelMoments:
    """Check the unit-level counts of the moments query and arrange the statistics as arrays: the per-cohort sums
    and cross-products from the moments query, the cluster sums from the layout's cluster × cohort × period sums
    (``Σ_{i ∈ h, c} D̃_ij = S_hc,j − S_hc,j−1 − N_hc μ_cj``)."""
    cols = layout.columns
    n_t = layout.n_periods
    units = _array(tab, "cte_units").astype(np.int64)
    n_units = int(units.sum())

    _check_units(tab, cols, n_units, n_periods=n_t)
    cohorts = layout.cohorts
    n_c = cohorts.size
    # balanced: every unit of a cohort is counted once in each period
    count = layout.cohort_period_count[:, 0].astype(np.int64)
    if int(count.sum()) != n_units:
        raise EstimationError(f"the engine counted {n_units:,} units but {int(count.sum()):,} in the first period")
    level_sums = layout.cohort_period_sum
    sums = np.diff(level_sums, axis=1) - count[:, None] * centre
    cross = None
    if with_cross:
        gi = _positions(_array(tab, "cte_g"), cohorts)
        sums = np.zeros((n_c, n_t - 1))
        cross = np.zeros((n_c, n_t - 1, n_t - 1))
        for j in range(n_t - 1):
            sums[:, j] = np.bincount(gi, weights=_array(tab, f"cte_s{j}").astype(float), minlength=n_c)
            for m in range(j, n_t - 1):
                v = np.bincount(gi, weights=_array(tab, f"cte_q{j}_{m}").astype(float), minlength=n_c)
                cross[:, j, m] = v
                cross[:, m, j] = v
    labels = cl_count = cl_sums = None
    if layout.cluster_labels is not None and layout.cluster_period_count is not None \
            and layout.cluster_period_sum is not None:
        labels = layout.cluster_labels
        _check_clusters(labels, cols, stacklevel=3)
        cl_count = layout.cluster_period_count[:, :, 0]
        cl_sums = np.diff(layout.cluster_period_sum, axis=2) - cl_count[:, :, None] * centre[None, :, :]
    return PanelMoments(layout=layout, count=count, centre=centre, sums=sums, cross=cross, cluster_labels=labels,
                        cluster_count=cl_count, cluster_sums=cl_sums, rows_fetched=rows_fetched,
                        notes=layout.notes)


@dataclass(frozen=True, eq=False)
class CrossSectionMoments(_CohortStatistics):
    """The sufficient statistics of repeated cross-sections: per cohort and period the observations, outcome sums
    and sums of squares about the mean, and with clusters per cluster, cohort and period the observations and
    outcome sums (all from the layout query: one ``GROUP BY [cluster,] cohort, period``)."""

    layout: PanelLayout
    count: np.ndarray
    sums: np.ndarray
    ss: np.ndarray
    cluster_labels: np.ndarray | None = None
    cluster_count: np.ndarray | None = None
    cluster_sums: np.ndarray | None = None
    rows_fetched: int = 0
    notes: tuple[str, ...] = ()

    @property
    def n_units(self) -> int:
        """Observations (the influence functions' rows)."""
        return int(self.count.sum())

    def means(self) -> np.ndarray:
        """Mean outcome of each cohort and period (0 where there is no observation)."""
        return _cell_means(self.count, self.sums)


def cross_section_moments(table: ir.Table, cols: PanelColumns, *, control: str = "never", anticipation: int = 0,
                          max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table") -> CrossSectionMoments:
    """The sufficient statistics of repeated cross-sections (one row per observation), computed by the engine in one
    query of at most (cohorts × periods), or (clusters × cohorts × periods), rows."""
    layout = panel_layout(table, cols, control=control, anticipation=anticipation, max_rows=max_rows, source=source,
                          panel=False)
    labels = layout.cluster_labels
    if labels is not None:
        _check_clusters(labels, cols, stacklevel=2)
    ss = layout.cohort_period_ss if layout.cohort_period_ss is not None else np.zeros_like(layout.cohort_period_sum)
    return CrossSectionMoments(layout=layout, count=layout.cohort_period_count, sums=layout.cohort_period_sum, ss=ss,
                               cluster_labels=labels, cluster_count=layout.cluster_period_count,
                               cluster_sums=layout.cluster_period_sum, rows_fetched=layout.rows_fetched,
                               notes=layout.notes)


@dataclass(frozen=True, eq=False)
class UnbalancedMoments(_CohortStatistics):
    """The sufficient statistics of an unbalanced panel (units observed in some periods; the in-memory estimator's
    ``allow_unbalanced=True``).

    The influence function of a unit is the sum of its observations' (each a repeated-cross-section term), so the
    Gram matrix needs, per cohort and pair of periods ``(p, q)``, the units observed in both (``joint``), the sums of
    the centred outcome at ``p`` over the units also observed at ``q`` (``sums_at``: ``Σ_i o_ip o_iq ỹ_ip``) and
    the sums of products (``cross``: ``Σ_i ỹ_ip ỹ_iq``), with ``ỹ = y − ȳ_cp`` (0 where unobserved). With clusters:
    the units of each cluster and cohort, and the layout's cluster × cohort × period counts and sums.
    """

    layout: PanelLayout
    units: np.ndarray
    joint: np.ndarray | None
    sums_at: np.ndarray | None
    cross: np.ndarray | None
    cluster_labels: np.ndarray | None = None
    cluster_units: np.ndarray | None = None
    cluster_count: np.ndarray | None = None
    cluster_sums: np.ndarray | None = None
    rows_fetched: int = 0
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> np.ndarray:
        """Observations of each cohort and period (``C × T``)."""
        return self.layout.cohort_period_count

    @property
    def sums(self) -> np.ndarray:
        return self.layout.cohort_period_sum

    @property
    def n_units(self) -> int:
        """Units (the influence functions' rows)."""
        return int(self.units.sum())

    def means(self) -> np.ndarray:
        """Mean outcome of each cohort and period (0 where there is no observation)."""
        return _cell_means(self.count, self.sums)


def balanced_moments(table: ir.Table, cols: PanelColumns, *, panel: bool, control: str = "never",
                     anticipation: int = 0, max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table",
                     cross_products: bool | None = None, balance: bool = False
                     ) -> PanelMoments | CrossSectionMoments:
    """The sufficient statistics of a balanced panel (:func:`panel_moments`, with ``cross_products`` and
    ``balance``) or, with ``panel=False``, of repeated cross-sections (:func:`cross_section_moments`, which ignores
    those two)."""
    if not panel:
        return cross_section_moments(table, cols, control=control, anticipation=anticipation, max_rows=max_rows,
                                     source=source)
    return panel_moments(table, cols, control=control, anticipation=anticipation, max_rows=max_rows, source=source,
                         cross_products=cross_products, balance=balance)


def unbalanced_moments(table: ir.Table, cols: PanelColumns, *, control: str = "never", anticipation: int = 0,
                       max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table") -> UnbalancedMoments:
    """The sufficient statistics of an unbalanced panel (see :class:`UnbalancedMoments`): the layout query, then one
    ``GROUP BY unit`` pivot (a row count and an outcome sum per period) aggregated by cohort (pairs of periods) or,
    with clusters, by cluster and cohort (unit counts only)."""
    layout = panel_layout(table, cols, control=control, anticipation=anticipation, max_rows=max_rows, source=source,
                          drop_missing=True, unbalanced=True)
    t, g = prepared_table(table, layout)
    tv = layout.time_values
    n_t = len(tv)
    clustered = cols.cluster is not None
    tcol = t[cols.time]
    y = _outcome_expr(t, cols)
    aggs: dict[str, Any] = {"cte_glo": g.min(), "cte_ghi": g.max()}
    for k, v in enumerate(tv):
        aggs[f"cte_n{k}"] = t.count(where=tcol == v)
        if not clustered:
            aggs[f"cte_y{k}"] = y.sum(where=tcol == v)
    if clustered:
        aggs["cte_clo"] = t[cols.cluster].min()
        aggs["cte_chi"] = t[cols.cluster].max()
    wide = t.group_by(cte_unit=t[present_unit(cols)]).aggregate(**aggs)
    means = _cell_means(layout.cohort_period_count, layout.cohort_period_sum)
    extra: dict[str, Any] = {"cte_dup": ibis.or_(*[wide[f"cte_n{k}"] > 1 for k in range(n_t)])}
    if not clustered:
        for k in range(n_t):
            extra[f"cte_e{k}"] = (wide[f"cte_y{k}"].fill_null(0.0)
                                  - wide[f"cte_n{k}"] * _by_cohort(wide.cte_glo, layout.cohorts, means[:, k]))
    wide = wide.mutate(**extra)
    out: dict[str, Any] = {"cte_units": wide.count(), "cte_ndup": wide.cte_dup.sum(),
                           "cte_gvar": (wide.cte_glo != wide.cte_ghi).sum()}
    if clustered:
        out["cte_cvar"] = (wide.cte_clo != wide.cte_chi).sum()
        q = wide.group_by(cte_c=wide.cte_clo, cte_g=wide.cte_glo).aggregate(**out)
    else:
        for p_ in range(n_t):
            for q_ in range(n_t):
                if q_ >= p_:
                    out[f"cte_p{p_}_{q_}"] = (wide[f"cte_n{p_}"] * wide[f"cte_n{q_}"]).sum()
                    out[f"cte_q{p_}_{q_}"] = (wide[f"cte_e{p_}"] * wide[f"cte_e{q_}"]).sum()
                out[f"cte_s{p_}_{q_}"] = (wide[f"cte_e{p_}"] * wide[f"cte_n{q_}"]).sum()
        q = wide.group_by(cte_g=wide.cte_glo).aggregate(**out)
    tab = _fetch(q, max_rows=max_rows, what="unbalanced moments (cluster × cohort)" if clustered
                 else "unbalanced moments (cohort)")
    _check_units(tab, cols, total_of(tab, "cte_units"))
    cohorts = layout.cohorts
    gi = _positions(_array(tab, "cte_g"), cohorts)
    units_per_row = _array(tab, "cte_units").astype(np.int64)
    units = np.bincount(gi, weights=units_per_row, minlength=cohorts.size).astype(np.int64)
    joint = sums_at = cross = None
    labels = cl_units = None
    if clustered:
        labels = layout.cluster_labels if layout.cluster_labels is not None else np.empty(0, dtype=object)
        _check_clusters(labels, cols, stacklevel=2)
        l_pos = {v: i for i, v in enumerate(labels.tolist())}
        hi = np.array([l_pos[v] for v in tab.column("cte_c").to_pylist()], dtype=np.int64)
        cl_units = np.zeros((labels.size, cohorts.size), dtype=np.int64)
        np.add.at(cl_units, (hi, gi), units_per_row)
    else:
        joint = np.zeros((cohorts.size, n_t, n_t))
        sums_at = np.zeros((cohorts.size, n_t, n_t))
        cross = np.zeros((cohorts.size, n_t, n_t))
        for p_ in range(n_t):
            for q_ in range(n_t):
                col = np.nan_to_num(_array(tab, f"cte_s{p_}_{q_}").astype(float))
                sums_at[:, p_, q_] = np.bincount(gi, weights=col, minlength=cohorts.size)
                if q_ >= p_:
                    for arr, name in ((joint, "cte_p"), (cross, "cte_q")):
                        v = np.bincount(gi, weights=np.nan_to_num(_array(tab, f"{name}{p_}_{q_}").astype(float)),
                                        minlength=cohorts.size)
                        arr[:, p_, q_] = v
                        arr[:, q_, p_] = v
    return UnbalancedMoments(layout=layout, units=units, joint=joint, sums_at=sums_at, cross=cross,
                             cluster_labels=labels, cluster_units=cl_units, cluster_count=layout.cluster_period_count,
                             cluster_sums=layout.cluster_period_sum, rows_fetched=layout.rows_fetched + tab.num_rows,
                             notes=layout.notes)
