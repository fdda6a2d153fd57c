"""Callaway–Sant'Anna group-time effects and the second moments of their influence functions, from the sufficient
statistics of :mod:`cteimpact.did.sufficient.queries`.

In a balanced panel without covariates every 2×2 estimator of :mod:`cteimpact.did.twobytwo` is a difference of
mean outcome changes, and a unit's influence function for cell ``k`` is linear in its own first differences
``D_i = (Y_i1 − Y_i0, ..., Y_i,T−1 − Y_i,T−2)`` given its cohort ``c``:

* treated cohort ``g``: ``ψ_ik = (n / N_g) (v_k·D_i − η_1k)``;
* comparison cohorts: ``ψ_ik = −(n / N_0k) (v_k·D_i − η_0k)``;
* zero otherwise,

with ``v_k`` the 0/±1 vector that sums the differences from the base period to ``t`` (``Y_t − Y_b = v_k·D_i``),
``η`` the mean changes and ``N_0k`` the comparison units. The extended influence base of
:mod:`cteimpact.did.influence` (every cell, one column ``1{G = g}`` per treated cohort, a constant) is therefore
``B_i = a_c + M_c D_i`` for a vector ``a_c`` and a matrix ``M_c`` per cohort. Its Gram matrix is

``Σ_c [N_c ã_c ã_c' + ã_c (M_c S̃_c)' + (M_c S̃_c) ã_c' + M_c Q̃_c M_c']``,   ``ã_c = a_c + M_c μ_c``,

with ``μ_c`` the centring constants, ``S̃_c = Σ_i (D_i − μ_c)`` and ``Q̃_c = Σ_i (D_i − μ_c)(D_i − μ_c)'``; its sum
within cluster ``h`` is ``Σ_c [N_hc ã_c + M_c S̃_hc]``. These are exactly the moments the in-memory estimator computes
from its unit-level influence functions (:meth:`~cteimpact.did.influence.InfluenceFunctions.gram`,
:meth:`~cteimpact.did.influence.InfluenceFunctions.cluster_sums`), so every aggregation's estimate and variance
follows from them by the same coefficient vectors (:mod:`cteimpact.did.aggregation`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from cteimpact.did.assemble import moments_covariance
from cteimpact.did.errors import CellNotEstimatedWarning
from cteimpact.did.grouptime import BasePeriod, Cell, ControlGroup, enumerate_cells
from cteimpact.did.sufficient.queries import CrossSectionMoments, PanelMoments, UnbalancedMoments
from cteimpact.did.twobytwo import Method
from cteimpact.errors import DesignError, OptionError

__all__ = ["SufficientGroupTime", "difference_vector", "estimable_groups", "group_time_effects",
           "group_time_effects_rcs", "group_time_effects_unbalanced"]


@dataclass(frozen=True, eq=False)
class SufficientGroupTime:
    """Every ATT(g,t) with the second moments of the extended influence base, from sufficient statistics.

    Attributes
    ----------
    statistics
        The sufficient statistics (:class:`~cteimpact.did.sufficient.queries.PanelMoments`).
    cells
        The group-time cells (R ``did``'s order).
    att
        ATT(g,t) (NaN where a cell could not be estimated; 0 for the universal base period's reference cells).
    n_treated, n_control
        Units of the cohort and of its comparison group per cell.
    failures
        Cell index → why it could not be estimated.
    groups, times
        Treated cohorts estimated, and the periods.
    pg
        Cohort probabilities ``N_g / n`` (aggregation weights).
    moments
        Gram matrix of the extended base (``m × m``), or its cluster sums (``G × m``) when clustered.
    cohort_sizes
        Units of every cohort (0 = never treated).
    intercepts, slopes
        Panels: ``a_c`` (``C × m``) and ``M_c`` (``C × m × (T − 1)``) of the influence base by cohort (rows of
        ``statistics.cohorts``), in raw first differences: ``B_i = a_c + M_c D_i``. Repeated cross-sections:
        ``a_cp`` and ``m_cp`` (both ``C × T × m``) by cohort and period: ``B_i = a_cp + m_cp y_i``.
    control, base_period, anticipation, method
        The options used.
    covariates
        The covariates (:mod:`cteimpact.did.sufficient.covariates`; then ``intercepts`` and ``slopes`` are zeros:
        the influence functions are not linear in the outcomes' first differences given the cohort).
    queries, logit_iterations
        With covariates: the aggregate queries run after the layout and panel checks, and the Newton steps of the
        slowest propensity-score logit (0 for ``reg``).
    """

    statistics: PanelMoments | CrossSectionMoments | UnbalancedMoments
    cells: tuple[Cell, ...]
    att: np.ndarray
    n_treated: np.ndarray
    n_control: np.ndarray
    failures: dict[int, str]
    groups: np.ndarray
    times: np.ndarray
    pg: np.ndarray
    moments: np.ndarray
    cohort_sizes: dict[float, int]
    intercepts: np.ndarray
    slopes: np.ndarray
    control: ControlGroup
    base_period: BasePeriod
    anticipation: int
    method: Method
    covariates: tuple[str, ...] = ()
    queries: int = 0
    logit_iterations: int = 0

    @property
    def panel(self) -> bool:
        """Rows are units (a balanced or unbalanced panel), not observations."""
        return not isinstance(self.statistics, CrossSectionMoments)

    @property
    def mode(self) -> str:
        """``"panel"``, ``"unbalanced"`` or ``"rcs"`` (the in-memory estimator's data modes)."""
        if isinstance(self.statistics, UnbalancedMoments):
            return "unbalanced"
        return "panel" if isinstance(self.statistics, PanelMoments) else "rcs"

    @property
    def n(self) -> int:
        """Units, or observations of repeated cross-sections (the influence functions' rows)."""
        return self.statistics.n_units

    @property
    def clustered(self) -> bool:
        return self.statistics.cluster_labels is not None

    @property
    def n_clusters(self) -> int | None:
        return self.statistics.n_clusters

    @property
    def n_base(self) -> int:
        return len(self.cells) + int(self.groups.size) + 1

    def covariance(self, coef: np.ndarray) -> np.ndarray:
        """Influence-function covariance of the estimands with coefficient columns ``coef`` (cluster-robust when
        clustered): the in-memory estimator's :meth:`~cteimpact.did.assemble.GroupTimeFit.covariance`."""
        return moments_covariance(self.moments, coef, self.n, clustered=self.clustered)


def difference_vector(t_idx: int, b_idx: int, n_periods: int) -> np.ndarray:
    """``v`` with ``Y_t − Y_b = v·D`` for first differences ``D_j = Y_j − Y_{j−1}`` (``j = 1..T−1``)."""
    v = np.zeros(n_periods - 1)
    if t_idx > b_idx:
        v[b_idx:t_idx] = 1.0
    elif b_idx > t_idx:
        v[t_idx:b_idx] = -1.0
    return v


def estimable_groups(stats: PanelMoments | CrossSectionMoments | UnbalancedMoments, *, control: ControlGroup,
                     anticipation: int) -> np.ndarray:
    """Treated cohorts with a pre-treatment period (and not kept only as comparisons), as the in-memory
    preparation chooses them; refuses designs with none or without comparison units."""
    times, cohorts = stats.times, stats.cohorts
    t_first = float(times[0])
    only = stats.layout.only_comparison
    groups = np.array([c for c in cohorts if c > 0 and c > t_first + anticipation and float(c) not in only],
                      dtype=float)
    if groups.size == 0:
        raise DesignError("no treated cohort has a pre-treatment period in the data: nothing to estimate (the cohort "
                          "column must hold the first treated period, 0 for never treated)")
    if not (np.any(cohorts == 0) or (control == "notyet" and cohorts.size > 1)):
        raise DesignError("no comparison units: every unit belongs to one treated cohort; never-treated or "
                          "later-treated units are needed")
    return groups


def _check_options(stats: PanelMoments | CrossSectionMoments | UnbalancedMoments, control: str, base_period: str,
                   method: str, anticipation: int) -> None:
    if control not in ("never", "notyet"):
        raise OptionError(f"control must be 'never' or 'notyet', got {control!r}")
    if base_period not in ("varying", "universal"):
        raise OptionError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if method not in ("dr", "ipw", "reg"):
        raise OptionError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if stats.layout.anticipation != anticipation:
        raise OptionError(f"the statistics were computed with anticipation {stats.layout.anticipation}, not "
                          f"{anticipation}")


def _warn_failures(cells: tuple[Cell, ...] | list[Cell], failures: dict[int, str]) -> None:
    if failures:
        listed = "; ".join(f"(g={cells[k].group:g}, t={cells[k].time:g}): {r}" for k, r in list(failures.items())[:6])
        more = f" and {len(failures) - 6} more" if len(failures) > 6 else ""
        warnings.warn(f"{len(failures)} group-time effects could not be estimated and are left out of every "
                      f"aggregation: {listed}{more}", CellNotEstimatedWarning, stacklevel=3)


@dataclass(frozen=True, eq=False)
class _Design:
    """The cells of a fit (R ``did``'s order), the treated cohorts estimated, each cohort's row of the statistics,
    and the options."""

    groups: np.ndarray
    cells: list[Cell]
    c_pos: dict[float, int]
    control: ControlGroup
    base_period: BasePeriod
    anticipation: int
    method: Method

    @property
    def k_cells(self) -> int:
        return len(self.cells)

    @property
    def n_base(self) -> int:
        """Columns of the extended influence base: the cells, one per treated cohort, a constant."""
        return self.k_cells + self.groups.size + 1

    def cell_outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
        """ATT(g,t) (NaN until estimated, 0 for the universal base period's reference cells), the treated and
        comparison counts (0 until estimated) and the failures (none yet)."""
        att = np.full(self.k_cells, np.nan)
        att[[k for k, cell in enumerate(self.cells) if cell.reference]] = 0.0
        return att, np.zeros(self.k_cells, dtype=np.int64), np.zeros(self.k_cells, dtype=np.int64), {}

    def cells_to_estimate(self) -> list[tuple[int, Cell]]:
        """The cells (with their index) that are estimated: all but the reference cells."""
        return [(k, cell) for k, cell in enumerate(self.cells) if not cell.reference]

    def mark_cohorts(self, base: np.ndarray) -> None:
        """Fill the columns of the extended base after the cells (``1{G = g}`` per treated cohort ``g``, then the
        constant) of ``base``, whose first axis runs over the cohorts and whose last over the base's columns."""
        for j, g in enumerate(self.groups):
            base[self.c_pos[float(g)], ..., self.k_cells + j] = 1.0
        base[..., -1] = 1.0

    def result(self, stats: PanelMoments | CrossSectionMoments | UnbalancedMoments, cohort_rows: np.ndarray, *,
               att: np.ndarray, n_treated: np.ndarray, n_control: np.ndarray, failures: dict[int, str],
               moments: np.ndarray, intercepts: np.ndarray, slopes: np.ndarray) -> SufficientGroupTime:
        """The fit, with the cohort probabilities and sizes from ``cohort_rows`` (influence-function rows of each
        cohort)."""
        n = stats.n_units
        pg = np.array([cohort_rows[self.c_pos[float(g)]] / n for g in self.groups])
        sizes = {float(c): int(cohort_rows[i]) for i, c in enumerate(stats.cohorts)}
        return SufficientGroupTime(statistics=stats, cells=tuple(self.cells), att=att, n_treated=n_treated,
                                   n_control=n_control, failures=failures, groups=self.groups, times=stats.times,
                                   pg=pg, moments=moments, cohort_sizes=sizes, intercepts=intercepts, slopes=slopes,
                                   control=self.control, base_period=self.base_period,
                                   anticipation=self.anticipation, method=self.method)


def _design(stats: PanelMoments | CrossSectionMoments | UnbalancedMoments, control: ControlGroup,
            base_period: BasePeriod, anticipation: int, method: Method) -> _Design:
    """The options checked, the treated cohorts estimable and the cells (as the in-memory estimator enumerates
    them)."""
    _check_options(stats, control, base_period, method, anticipation)
    times, cohorts = stats.times, stats.cohorts
    groups = estimable_groups(stats, control=control, anticipation=anticipation)
    cells = enumerate_cells(times, groups, cohorts, anticipation=float(anticipation), base_period=base_period,
                            control=control)
    return _Design(groups, cells, {float(c): i for i, c in enumerate(cohorts)}, control, base_period,
                   int(anticipation), method)


def group_time_effects(stats: PanelMoments, *, control: ControlGroup = "never", base_period: BasePeriod = "varying",
                       anticipation: int = 0, method: Method = "dr",
                       trim_level: float = 0.995) -> SufficientGroupTime:
    """Every ATT(g,t) and the second moments of the extended influence base (see the module docstring).

    Parameters
    ----------
    stats
        Sufficient statistics from :func:`~cteimpact.did.sufficient.queries.panel_moments` (computed with the same
        ``control`` and ``anticipation``).
    control, base_period, anticipation
        As for :class:`~cteimpact.did.estimator.CallawaySantAnna`.
    method, trim_level
        The 2×2 estimator: without covariates all three give the same effect, but the doubly robust and
        inverse-probability-weighted ones refuse a cell whose treated share reaches ``trim_level``, as in memory.
    """
    design = _design(stats, control, base_period, anticipation, method)
    c_pos = design.c_pos
    cohorts = stats.cohorts
    n_t = stats.times.size
    m = design.n_base
    n = stats.n_units
    count = stats.count.astype(float)
    dbar = stats.mean_differences()
    a = np.zeros((cohorts.size, m))
    mm = np.zeros((cohorts.size, m, n_t - 1))
    att, n_tr, n_co, failures = design.cell_outputs()
    for k, cell in design.cells_to_estimate():
        ti = c_pos.get(cell.group)
        ci = [c_pos[c] for c in cell.controls if c in c_pos]
        if ti is None:
            failures[k] = "no units in the cohort"
            continue
        if not ci:
            failures[k] = "no comparison units"
            continue
        w1 = count[ti]
        w0 = float(count[ci].sum())
        if method in ("dr", "ipw") and w1 / (w1 + w0) >= trim_level:
            failures[k] = "overlap condition violated: the share of treated units reaches the trimming level"
            continue
        v = difference_vector(cell.t_idx, cell.b_idx, n_t)
        eta1 = float(dbar[ti] @ v)
        eta0 = float(sum(count[c] * float(dbar[c] @ v) for c in ci) / w0)
        att[k] = eta1 - eta0
        n_tr[k] = int(w1)
        n_co[k] = int(w0)
        mm[ti, k] = (n / w1) * v
        a[ti, k] = -(n / w1) * eta1
        for c in ci:
            mm[c, k] = -(n / w0) * v
            a[c, k] = (n / w0) * eta0
    design.mark_cohorts(a)
    _warn_failures(design.cells, failures)
    moments = stats.linear_moments(a, mm)
    return design.result(stats, count, att=att, n_treated=n_tr, n_control=n_co, failures=failures, moments=moments,
                         intercepts=a, slopes=mm)


def group_time_effects_rcs(stats: CrossSectionMoments, *, control: ControlGroup = "never",
                           base_period: BasePeriod = "varying", anticipation: int = 0, method: Method = "dr",
                           trim_level: float = 0.995) -> SufficientGroupTime:
    """Every ATT(g,t) of repeated cross-sections and the second moments of the extended influence base.

    Without covariates each 2×2 estimator of :func:`cteimpact.did.twobytwo.did_rcs` is the difference of four means
    (cohort ``g`` and its comparison cohorts, in periods ``t`` and ``b``), and an observation's influence function
    is ``± n (y_i − ȳ_class) / N_class`` for the class (treated or comparison, later or earlier period) it belongs
    to: ``B_i = a_cp + m_cp y_i`` by cohort ``c`` and period ``p``. The Gram matrix is
    ``Σ_cp [N_cp ã_cp ã_cp' + SS_cp m_cp m_cp']`` (``ã = a + m ȳ_cp``, ``SS`` the sum of squares about ``ȳ_cp``); the
    sum within cluster ``h`` is ``Σ_cp [N_hcp ã_cp + m_cp (S_hcp − N_hcp ȳ_cp)]``. The doubly robust and
    inverse-probability-weighted estimators trim every comparison observation when the treated share of the cell's
    observations reaches ``trim_level`` (the cell then fails, as in memory).
    """
    design = _design(stats, control, base_period, anticipation, method)
    count = stats.count.astype(float)
    means = stats.means()
    att, n_tr, n_co, failures, a, slope = _observation_cells(design, count, stats.sums, stats.n_units,
                                                             trim_level=trim_level)
    design.mark_cohorts(a)
    _warn_failures(design.cells, failures)
    a_tilde = a + slope * means[:, :, None]
    if stats.cluster_sums is not None and stats.cluster_count is not None:
        cl_n = stats.cluster_count.astype(float)
        resid = stats.cluster_sums - cl_n * means[None, :, :]
        moments = np.einsum("hcp,cpm->hm", cl_n, a_tilde) + np.einsum("hcp,cpm->hm", resid, slope)
    else:
        moments = (np.einsum("cp,cpm,cpl->ml", count, a_tilde, a_tilde)
                   + np.einsum("cp,cpm,cpl->ml", stats.ss, slope, slope))
        moments = (moments + moments.T) / 2
    return design.result(stats, count.sum(axis=1), att=att, n_treated=n_tr, n_control=n_co, failures=failures,
                         moments=moments, intercepts=a, slopes=slope)


def _observation_cells(design: _Design, count: np.ndarray, sums: np.ndarray, n: int, *, trim_level: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str], np.ndarray, np.ndarray]:
    """The cells estimated from observations (repeated cross-sections, unbalanced panels): each ATT(g,t) as a
    difference of four means, and the influence function of an observation of cohort ``c`` in period ``p``,
    ``a_cp + m_cp y`` on the cell columns of the extended base (``C × T × m`` each; ``n`` the influence-function
    rows), with the in-memory failures."""
    c_pos, method = design.c_pos, design.method
    n_c, n_t = count.shape
    m = design.n_base
    a = np.zeros((n_c, n_t, m))
    slope = np.zeros((n_c, n_t, m))
    att, n_tr, n_co, failures = design.cell_outputs()
    for k, cell in design.cells_to_estimate():
        gi = c_pos.get(cell.group)
        if gi is None:
            failures[k] = "no observations of the cohort"
            continue
        ci = [c_pos[c] for c in cell.controls if c in c_pos]
        t, b = cell.t_idx, cell.b_idx
        n_gt, n_gb = count[gi, t], count[gi, b]
        n_ct, n_cb = float(count[ci, t].sum()), float(count[ci, b].sum())
        empty = [(n_gt, f"no units of the cohort in period {cell.time:g}"),
                 (n_gb, f"no units of the cohort in period {cell.base:g}"),
                 (n_ct, f"no comparison units in period {cell.time:g}"),
                 (n_cb, f"no comparison units in period {cell.base:g}")]
        reason = next((r for v, r in empty if not v > 0), None)
        if reason is not None:
            failures[k] = reason
            continue
        treated_share = (n_gt + n_gb) / (n_gt + n_gb + n_ct + n_cb)
        if method in ("dr", "ipw") and min(treated_share, 1 - 1e-6) >= trim_level:
            failures[k] = "the estimate is not finite"
            continue
        mu_gt, mu_gb = sums[gi, t] / n_gt, sums[gi, b] / n_gb
        mu_ct, mu_cb = float(sums[ci, t].sum()) / n_ct, float(sums[ci, b].sum()) / n_cb
        att[k] = (mu_gt - mu_gb) - (mu_ct - mu_cb)
        n_tr[k] = int(n_gt + n_gb)
        n_co[k] = int(n_ct + n_cb)
        for c_, p_, sign, mu, size in ((gi, t, 1.0, mu_gt, n_gt), (gi, b, -1.0, mu_gb, n_gb)):
            slope[c_, p_, k] = sign * n / size
            a[c_, p_, k] = -sign * n * mu / size
        for c_ in ci:
            for p_, sign, mu, size in ((t, -1.0, mu_ct, n_ct), (b, 1.0, mu_cb, n_cb)):
                slope[c_, p_, k] = sign * n / size
                a[c_, p_, k] = -sign * n * mu / size
    return att, n_tr, n_co, failures, a, slope


def group_time_effects_unbalanced(stats: UnbalancedMoments, *, control: ControlGroup = "never",
                                  base_period: BasePeriod = "varying", anticipation: int = 0, method: Method = "dr",
                                  trim_level: float = 0.995) -> SufficientGroupTime:
    """Every ATT(g,t) of an unbalanced panel (the in-memory estimator's ``allow_unbalanced=True``) and the second
    moments of the extended influence base.

    Each cell is estimated from the observations of its two periods as for repeated cross-sections; a unit's
    influence function is the sum of its observations', ``B_i = e_c + Σ_p o_ip (ã_cp + m_cp ỹ_ip)`` (``e_c`` the
    cohort-weight and constant columns, ``o_ip`` whether unit ``i`` is observed in period ``p``, ``ỹ`` the outcome
    less its cohort-period mean, ``ã = a + m ȳ``). Its Gram matrix follows from the per-cohort counts of units
    observed in both of two periods, the sums of ``ỹ`` over them and the sums of products
    (:class:`~cteimpact.did.sufficient.queries.UnbalancedMoments`); its cluster sums from the cluster × cohort
    unit counts and the cluster × cohort × period counts and sums.
    """
    design = _design(stats, control, base_period, anticipation, method)
    count = stats.count.astype(float)
    means = stats.means()
    att, n_tr, n_co, failures, a, slope = _observation_cells(design, count, stats.sums, stats.n_units,
                                                             trim_level=trim_level)
    _warn_failures(design.cells, failures)
    e = np.zeros((stats.cohorts.size, a.shape[2]))
    design.mark_cohorts(e)
    a_tilde = a + slope * means[:, :, None]
    units = stats.units.astype(float)
    if stats.cluster_units is not None and stats.cluster_count is not None and stats.cluster_sums is not None:
        cl_n = stats.cluster_count.astype(float)
        resid = stats.cluster_sums - cl_n * means[None, :, :]
        moments = (np.einsum("hc,cm->hm", stats.cluster_units.astype(float), e)
                   + np.einsum("hcp,cpm->hm", cl_n, a_tilde) + np.einsum("hcp,cpm->hm", resid, slope))
    else:
        if stats.joint is None or stats.sums_at is None or stats.cross is None:
            raise OptionError("unclustered moments of an unbalanced panel need the per-cohort pair statistics")
        joint, sums_at, cross = stats.joint, stats.sums_at, stats.cross
        diag_n = np.einsum("cpp->cp", joint)
        diag_s = np.einsum("cpp->cp", sums_at)
        v = np.einsum("cp,cpm->cm", diag_n, a_tilde) + np.einsum("cp,cpm->cm", diag_s, slope)
        moments = (np.einsum("c,cm,cl->ml", units, e, e) + np.einsum("cm,cl->ml", e, v) + np.einsum("cm,cl->ml", v, e)
                   + np.einsum("cpq,cpm,cql->ml", joint, a_tilde, a_tilde, optimize=True)
                   + np.einsum("cpq,cpm,cql->ml", sums_at, slope, a_tilde, optimize=True)
                   + np.einsum("cqp,cpm,cql->ml", sums_at, a_tilde, slope, optimize=True)
                   + np.einsum("cpq,cpm,cql->ml", cross, slope, slope, optimize=True))
        moments = (moments + moments.T) / 2
    return design.result(stats, units, att=att, n_treated=n_tr, n_control=n_co, failures=failures,
                         moments=moments, intercepts=a, slopes=slope)
