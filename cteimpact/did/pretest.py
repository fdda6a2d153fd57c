"""Pre-trend diagnostics: the Wald pre-test of parallel trends and the power of pre-trend tests.

* :func:`wald_pretest`: the joint test that every pre-treatment ATT(g,t) is zero (Callaway & Sant'Anna 2021; R
  ``did`` reports it with ``att_gt``): ``W = θ'_pre Σ_pre⁻¹ θ_pre`` against χ² with as many degrees of freedom as
  pre-treatment cells. Cells without a standard error (the universal base period, cells that could not be
  estimated) are left out, as in R.
* :func:`pretrend_power`: Roth (2022, *AER: Insights* 4(3), "Pretest with caution") asks how large a violation of
  parallel trends the pre-test would detect. For a linear pre-trend ``δ_e = γ (e − e_ref)`` over the event-study
  pre-periods it finds the slope ``γ`` detected with the target power (80%) by the test "some pre-period
  coefficient is individually significant at 5%" (as R ``pretrends::slope_for_power``), and by the joint Wald test
  (non-central χ²). It also reports the power against any hypothesised trend.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from cteimpact.did.errors import PretestUnavailableWarning
from cteimpact.errors import OptionError
from cteimpact.threads import one_blas_thread

__all__ = ["PretestPower", "WaldPretest", "pretrend_power", "rejection_probability_any", "wald_pretest"]


@dataclass(frozen=True)
class WaldPretest:
    """Wald pre-test of parallel trends.

    Attributes
    ----------
    statistic, df, p_value
        ``W``, its χ² degrees of freedom (number of pre-treatment cells tested) and the p-value.
    cells
        ``(group, time)`` of the group-time cells tested; for the event-study version ``(event time, nan)``.
    """

    statistic: float
    df: int
    p_value: float
    cells: tuple[tuple[float, float], ...]
    n_clusters: int | None = None

    @property
    def p_value_f(self) -> float | None:
        """With ``G`` clusters, the small-sample (Hotelling) version: ``W (G − k) / (k (G − 1))`` against
        ``F(k, G − k)``; ``None`` without clustering or when ``G <= k``."""
        g, k = self.n_clusters, self.df
        if g is None or g <= k:
            return None
        return float(stats.f.sf(self.statistic * (g - k) / (k * (g - 1)), k, g - k))

    def to_dict(self) -> dict[str, object]:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value,
                "n_clusters": self.n_clusters, "p_value_f": self.p_value_f,
                "cells": [list(c) for c in self.cells]}


def wald_pretest(att: np.ndarray, cov: np.ndarray, pre: np.ndarray,
                 cells: Sequence[tuple[float, float]], n_clusters: int | None = None) -> WaldPretest | None:
    """Joint test that the pre-treatment effects ``att[pre]`` are zero, given their covariance ``cov[pre, pre]``.

    Returns ``None`` (with a :class:`~cteimpact.did.errors.PretestUnavailableWarning`) when there is no usable
    pre-treatment cell or their covariance matrix is singular.
    """
    idx = np.flatnonzero(pre)
    se = np.sqrt(np.clip(np.diag(cov)[idx], 0, None)) if idx.size else np.array([])
    keep = idx[np.isfinite(att[idx]) & np.isfinite(se) & (se > 0)]
    if keep.size == 0:
        warnings.warn("no pre-treatment group-time effect to test: the Wald pre-test of parallel trends is not "
                      "available (every cohort is treated in the second period, or the base period is universal "
                      "with a single pre-period)", PretestUnavailableWarning, stacklevel=3)
        return None
    v = cov[np.ix_(keep, keep)]
    if 1.0 / np.linalg.cond(v, 1) <= np.finfo(float).eps:
        warnings.warn("the covariance matrix of the pre-treatment effects is singular: the Wald pre-test is not "
                      "reported", PretestUnavailableWarning, stacklevel=3)
        return None
    b = att[keep]
    w = float(b @ np.linalg.solve(v, b))
    q = int(keep.size)
    p = float(stats.chi2.sf(w, q))
    return WaldPretest(w, q, p, tuple(cells[i] for i in keep), n_clusters)


def rejection_probability_any(mean: np.ndarray, cov: np.ndarray, *, z: float = 1.959963984540054,
                              seed: int = 20220101) -> float:
    """Probability that some coordinate of ``N(mean, cov)`` is individually significant (``|x_j| > z σ_j``).

    Computed with scipy's multivariate normal CDF (Genz's quasi-Monte Carlo algorithm, seeded for
    reproducibility; requested absolute error 1e-6).
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    sd = np.sqrt(np.diag(cov))
    if mean.size == 1:
        s = sd[0]
        return float(stats.norm.sf((z * s - mean[0]) / s) + stats.norm.cdf((-z * s - mean[0]) / s))
    inside = stats.multivariate_normal.cdf(z * sd, mean=mean, cov=cov, allow_singular=True,
                                           maxpts=50_000 * mean.size, abseps=1e-6, releps=1e-6, lower_limit=-z * sd,
                                           rng=np.random.default_rng(seed))
    return float(1.0 - inside)


@dataclass(frozen=True)
class PretestPower:
    """Power of pre-trend tests against linear pre-trends (Roth 2022).

    Attributes
    ----------
    target_power
        Power the slopes are computed for (0.8).
    slope_any
        Slope ``γ`` of a linear trend ``γ (e − e_ref)`` that the "any significant pre-period coefficient" test
        detects with ``target_power`` (R ``pretrends::slope_for_power``).
    slope_wald
        The same for the joint Wald test at level ``alpha``.
    event_times, reference
        Pre-period event times used and the reference (omitted) period.
    power_any, power_wald
        Power of each test against ``hypothesised_trend`` (when given).
    """

    target_power: float
    slope_any: float
    slope_wald: float
    event_times: tuple[float, ...]
    reference: float
    alpha: float
    power_any: float | None = None
    power_wald: float | None = None
    hypothesised_trend: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, object]:
        return {"target_power": self.target_power, "slope_any_significant": self.slope_any,
                "slope_wald": self.slope_wald, "event_times": list(self.event_times), "reference": self.reference,
                "alpha": self.alpha, "power_any_significant": self.power_any, "power_wald": self.power_wald,
                "hypothesised_trend": None if self.hypothesised_trend is None else list(self.hypothesised_trend)}


def _wald_power(delta: np.ndarray, cov: np.ndarray, alpha: float) -> float:
    q = delta.size
    crit = stats.chi2.ppf(1 - alpha, q)
    nc = float(delta @ np.linalg.solve(cov, delta))
    return float(stats.ncx2.sf(crit, q, nc)) if nc > 0 else alpha


@one_blas_thread()
def pretrend_power(cov_pre: np.ndarray, event_times: Sequence[float], *, reference: float = -1.0,
                   target_power: float = 0.8, alpha: float = 0.05,
                   hypothesised_trend: Sequence[float] | None = None) -> PretestPower:
    """Slopes of linear pre-trends detected with ``target_power``, and power against a hypothesised trend.

    Parameters
    ----------
    cov_pre
        Covariance of the pre-period event-study coefficients.
    event_times
        Their event times (e.g. ``-4, -3, -2``; the reference period is excluded).
    reference
        The omitted period where the trend is normalised to 0 (``-1`` in a TWFE event study; for Callaway &
        Sant'Anna with a universal base period, ``-1 - anticipation``).
    hypothesised_trend
        Optional violation ``δ`` (one value per event time) to compute the power against.
    """
    cov_pre = np.atleast_2d(np.asarray(cov_pre, dtype=float))
    e = np.asarray(event_times, dtype=float)
    if cov_pre.shape != (e.size, e.size) or e.size == 0:
        raise OptionError(f"pre-period covariance must be {e.size}×{e.size} for {e.size} event times, got "
                          f"{cov_pre.shape}")
    if not 0 < target_power < 1:
        raise OptionError(f"target power must be in (0, 1), got {target_power}")
    z = float(stats.norm.ppf(1 - alpha / 2))
    slope_dir = e - reference
    if np.all(slope_dir == 0):
        raise OptionError("event times coincide with the reference period")

    def power_any(gamma: float) -> float:
        return rejection_probability_any(gamma * slope_dir, cov_pre, z=z)

    def power_w(gamma: float) -> float:
        return _wald_power(gamma * slope_dir, cov_pre, alpha)

    def solve(fn: Callable[[float], float]) -> float:
        f = fn
        hi = float(np.sqrt(np.diag(cov_pre)).max() / max(np.abs(slope_dir).min(), 1e-12))
        while f(hi) < target_power:
            hi *= 2
        return float(optimize.brentq(lambda g: f(g) - target_power, 0.0, hi, xtol=1e-12, rtol=1e-10))

    s_any = solve(power_any)
    s_wald = solve(power_w)
    pa = pw = None
    if hypothesised_trend is not None:
        delta = np.asarray(hypothesised_trend, dtype=float)
        if delta.shape != e.shape:
            raise OptionError(f"hypothesised trend needs {e.size} values, got {delta.size}")
        pa = rejection_probability_any(delta, cov_pre, z=z)
        pw = _wald_power(delta, cov_pre, alpha)
    return PretestPower(target_power, s_any, s_wald, tuple(float(v) for v in e), float(reference), alpha, pa, pw,
                        None if hypothesised_trend is None else tuple(float(v) for v in hypothesised_trend))
