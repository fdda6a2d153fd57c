"""Integrated-moments pre-test of conditional parallel trends (Callaway & Sant'Anna 2021; R ``did``'s
``conditional_did_pretest``).

Conditional parallel trends in the pre-treatment periods means that, for every cohort ``g`` and pre-period
``t < g``, ``E[ΔY_t | X, G = g] = E[ΔY_t | X, C = 1]`` (``ΔY_t = Y_t − Y_{t−1}``, ``C``: never treated): the
conditional pre-period effect is zero at every value of the covariates. Following the integrated-moments approach
(Callaway & Sant'Anna 2021, working-paper version arXiv:1803.09015v2, section 4.2; the R function implements it),
the conditional moments are turned into unconditional ones with the indicator weight function ``1{X ≤ x}``
(componentwise), one for each unit's covariate values ``x``:

    J(g, t, x) = the IPW 2×2 estimate of cell (g, t) with the outcome ``Y · 1{X ≤ x}``,

which is zero for every ``x`` under the null. The Cramér–von Mises statistic is

    CvM = n Σ_{(g, t)} mean_x J(g, t, x)²

and its null distribution is simulated with a multiplier bootstrap of the influence functions of the ``J``
(Rademacher multipliers, one per unit, or per cluster): ``CvM* = (n / n_x) Σ_{x, (g, t)} ((1/n) Σ_i V_i ψ_i(g, t,
x))²``. The p-value is the share of bootstrap statistics above ``CvM``; the critical value their ``1 − alpha``
quantile (the smallest draw with at least that share at or below it).

As in R: a balanced panel, the never-treated comparison group (the last-treated cohort when there is none, R's
rule, see :mod:`cteimpact.did.panel`), the inverse-probability-weighted 2×2 estimator
(:func:`cteimpact.did.twobytwo.did_panel` with ``method="ipw"``, propensity score fitted once per cell), covariates
of the earlier period of each comparison in the 2×2 and of the first period in the weight function, the varying base
period (``t − 1``), and the influence function of a cell scaled to the whole sample (``n / n_cell``, zero outside the
cell). The statistic needs ``n`` 2×2 estimates per pre-period cell and an ``n × cells × n`` array of influence
functions; panels of more than :data:`MAX_UNITS` units are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.panel import prepare_staggered_data
from cteimpact.did.twobytwo import CellFailure, did_panel, propensity_parts
from cteimpact.errors import DesignError, OptionError
from cteimpact.threads import one_blas_thread

__all__ = ["MAX_UNITS", "ConditionalPretest", "conditional_did_pretest"]

MAX_UNITS = 5000
"""Most units the pre-test accepts (it holds ``units² × cells`` influence-function values)."""


@dataclass(frozen=True)
class ConditionalPretest:
    """Result of :func:`conditional_did_pretest`.

    Attributes
    ----------
    statistic
        The Cramér–von Mises statistic ``CvM``.
    critical_value
        The bootstrap ``1 − alpha`` critical value.
    p_value
        Share of bootstrap statistics above ``statistic``.
    alpha, biters, seed
        Level, bootstrap draws and seed.
    n, n_clusters
        Units, and clusters of the multipliers (``n`` without clustering).
    cells
        The pre-treatment cells tested: ``group, time, base_period, n_treated, n_comparison``.
    moments
        ``J(g, t, x)``: one row per threshold unit, one column per cell (same order as ``cells``).
    bootstrap
        The bootstrap statistics.
    options, sample_flow
        Columns and options used; the sample flow of the prepared panel.
    """

    statistic: float
    critical_value: float
    p_value: float
    alpha: float
    biters: int
    seed: int
    n: int
    n_clusters: int
    cells: pd.DataFrame
    moments: np.ndarray
    bootstrap: np.ndarray
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow | None = None

    @property
    def reject(self) -> bool:
        """Whether conditional parallel trends is rejected at ``alpha``."""
        return bool(self.statistic > self.critical_value)

    def to_dict(self) -> dict[str, Any]:
        """The statistic, critical value, p-value, options and cells (no bootstrap draws)."""
        return {"statistic": self.statistic, "critical_value": self.critical_value, "p_value": self.p_value,
                "alpha": self.alpha, "biters": self.biters, "seed": self.seed, "n": self.n,
                "n_clusters": self.n_clusters, "reject": self.reject,
                "cells": self.cells.to_dict(orient="records"), "options": dict(self.options)}

    def summary(self) -> str:
        """A few lines: the test, the statistic, critical value and p-value, and the cells."""
        cells = ", ".join(f"({g:g}, {t:g})" for g, t in zip(self.cells["group"], self.cells["time"], strict=True))
        verdict = "rejected" if self.reject else "not rejected"
        return (f"Integrated-moments pre-test of conditional parallel trends (Callaway & Sant'Anna; IPW 2x2, "
                f"varying base period)\n"
                f"  Cramér-von Mises statistic {self.statistic:.6g}; critical value ({1 - self.alpha:.0%}) "
                f"{self.critical_value:.6g}; p-value {self.p_value:.4f} ({self.biters} multiplier-bootstrap draws, "
                f"{self.n_clusters} {'clusters' if self.options.get('cluster') else 'units'})\n"
                f"  conditional parallel trends {verdict} at {self.alpha:g}; {len(self.cells)} pre-treatment cells "
                f"(group, time): {cells}")


def _check(biters: object, alpha: object, seed: object) -> None:
    if isinstance(biters, bool) or not isinstance(biters, (int, np.integer)) or biters < 2:
        raise OptionError(f"biters must be an integer of at least 2 (bootstrap draws), got {biters!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < float(alpha) < 1:
        raise OptionError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")


@one_blas_thread()
def conditional_did_pretest(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str, cohort: str,
                            covariates: Sequence[str], covariate_reference: Mapping[str, str] | None = None,
                            weights: str | None = None, cluster: str | None = None,
                            where: Sequence[str] = (), alpha: float = 0.05, biters: int = 1000, seed: int = 0,
                            trim_level: float = 0.995) -> ConditionalPretest:
    """Integrated-moments (Cramér–von Mises) pre-test of conditional parallel trends (see the module docstring).

    Parameters
    ----------
    data
        Long panel, one row per unit and period (units missing a period are dropped, as for
        :class:`~cteimpact.did.CallawaySantAnna`).
    outcome, time, unit, cohort
        Outcome, period, unit and first-treated-period columns (0: never treated).
    covariates
        The covariates of the conditional parallel trends (at least one; a categorical one enters as indicator
        columns, :mod:`cteimpact.did.factors`, with ``covariate_reference`` as for
        :class:`~cteimpact.did.CallawaySantAnna`).
    weights, cluster, where
        Sampling weights, cluster column (multipliers drawn per cluster), sample restrictions.
    alpha
        Level of the test (critical value at ``1 − alpha``).
    biters
        Multiplier-bootstrap draws.
    seed
        Seed of the draws (same seed, same numbers).
    trim_level
        Comparison units whose propensity score reaches it are trimmed (as in the 2×2 estimator).

    Raises
    ------
    OptionError
        No covariate, or a bad ``alpha``, ``biters`` or ``seed``.
    DesignError
        No pre-treatment cell (no cohort treated after the second period), no never-treated unit, more than
        :data:`MAX_UNITS` units, or a cell whose propensity score cannot be estimated.
    """
    _check(biters, alpha, seed)
    if isinstance(covariates, str) or not covariates:
        raise OptionError("the conditional pre-test needs covariates (a list of column names): with none, use the "
                          "Wald pre-test of the event study (DiDResults.pretest)")
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, covariates=covariates,
                               weights=weights, cluster=cluster, where=where, control="never",
                               covariate_reference=covariate_reference)
    if d.mode != "panel" or d.y_wide is None or d.x_wide is None:
        raise DesignError("the conditional pre-test needs a balanced panel")
    n = int(d.n)
    if n > MAX_UNITS:
        raise DesignError(f"the conditional pre-test holds units² × cells influence-function values: {n:,} units is "
                          f"more than {MAX_UNITS:,}; restrict the sample (--where) or use the event-study Wald "
                          "pre-test")
    cohorts = d.row_cohort
    never = cohorts == 0
    if not never.any():
        raise DesignError("the conditional pre-test compares with never-treated units, and there are none")
    times = d.times
    weights_row = d.row_weight
    y = np.ascontiguousarray(d.y_wide)  # row-major
    x_first = d.x_wide[0]  # covariates in the first period: the weight function's thresholds
    # 1{X_i ≤ x_j} componentwise, units i × thresholds j
    below = np.ones((n, n), dtype=bool)
    for col in range(x_first.shape[1]):
        below &= x_first[:, col][:, None] <= x_first[:, col][None, :]
    cells = [(float(g), ti) for g in d.groups for ti in range(1, times.size) if times[ti] < g]
    if not cells:
        raise DesignError("no pre-treatment cell to test: every cohort is treated by the second period")
    moments = np.empty((n, len(cells)))
    influence = np.zeros((n, len(cells), n))
    rows = []
    for c, (g, ti) in enumerate(cells):
        units = (cohorts == g) | never
        n_cell = int(units.sum())
        treated = (cohorts[units] == g).astype(float)
        x = np.column_stack([np.ones(n_cell), d.x_wide[ti - 1][units]])
        w = weights_row[units]
        dy = y[units, ti] - y[units, ti - 1]
        try:
            ps = propensity_parts(x, treated, w, trim_level=trim_level)
        except CellFailure as err:
            raise DesignError(f"conditional pre-test, cell (group {g:g}, time {times[ti]:g}): {err}") from None
        ind = below[units]
        for j in range(n):
            att, inf = did_panel(dy * ind[:, j], treated, x, w, "ipw", trim_level=trim_level, propensity=ps)
            moments[j, c] = att
            influence[units, c, j] = (n / n_cell) * inf
        rows.append({"group": g, "time": float(times[ti]), "base_period": float(times[ti - 1]),
                     "n_treated": int(treated.sum()), "n_comparison": int(n_cell - treated.sum())})
    statistic = float(n * np.sum(np.mean(moments ** 2, axis=0)))  # n Σ_cells mean_x J²
    # multiplier bootstrap: Rademacher multipliers per unit, or per cluster
    rng = np.random.default_rng(int(seed))
    if d.row_cluster is not None:
        _, cl = np.unique(d.row_cluster, return_inverse=True)
        n_cl = int(cl.max()) + 1
        mult = rng.choice(np.array([-1.0, 1.0]), size=(n_cl, int(biters)))[cl]
    else:
        n_cl = n
        mult = rng.choice(np.array([-1.0, 1.0]), size=(n, int(biters)))
    flat = influence.reshape(n, -1)
    boot = np.zeros(int(biters))
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, flat.shape[1], chunk):
        jb = mult.T @ flat[:, start:start + chunk] / n
        boot += np.sum(jb * jb, axis=1)
    n_x = moments.shape[0]  # thresholds: one per unit
    boot *= n / n_x
    crit = float(np.sort(boot)[int(np.ceil((1 - float(alpha)) * boot.size)) - 1])
    p_value = float(np.mean(boot > statistic))
    opts = {"outcome": d.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort, "covariates": list(d.covariates),
            "weights": d.weights, "cluster": d.cluster, "control": "never", "method": "ipw",
            "base_period": "varying", "weight_function": "indicator", "trim_level": float(trim_level)}
    return ConditionalPretest(statistic, crit, p_value, float(alpha), int(biters), int(seed), n, n_cl,
                              pd.DataFrame(rows), moments, boot, opts, d.flow)
