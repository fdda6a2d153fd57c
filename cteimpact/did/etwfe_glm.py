"""Nonlinear ETWFE (Wooldridge 2023): logit and Poisson links with cohort and period dummies.

Wooldridge (2023, "Simple approaches to nonlinear difference-in-differences with panel data", *The Econometrics
Journal* 26(3)) applies the saturated ETWFE index inside a canonical-link generalised linear model:
``E[y_it | ·] = F(α + α_g + λ_t + x'β + … + Σ_{(g,s) ∈ C} 1{G_i = g, t = s}(τ_gs + (x − x̄_g)'δ_gs))`` with
``F`` the logistic (binary outcomes) or exponential (non-negative outcomes, Poisson quasi-likelihood) function and
the cohort and period effects as dummies (as R ``etwfe`` with ``family = "logit"/"poisson"``, ``fe = "none"``).

The effect on a treated observation is ``F(η_it) − F(η_it − cell terms)``, the difference between its expected
outcome with and without the treatment terms; the aggregations average it over the same treated observations as
the linear model (:func:`cteimpact.did.etwfe.aggregation_sets`). Standard errors by the delta method with the
analytic Jacobian and the cluster-robust covariance of the coefficients (``fixest``'s small-sample factor
``G/(G−1) · (n−1)/(n−K)``, ``K`` the number of coefficients).

The model is fitted by iteratively reweighted least squares (Fisher scoring) to a relative change in deviance of
``1e-12``; no convergence (for example perfect separation in a logit) is an
:class:`~cteimpact.errors.EstimationError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cteimpact.errors import DesignError, EstimationError

if TYPE_CHECKING:
    from cteimpact.did.etwfe import Design

__all__ = ["GLMFit", "fit_glm"]

MAX_ITER = 200
TOL = 1e-12


@dataclass(frozen=True, eq=False)
class GLMFit:
    """Coefficients, their covariance, and the aggregated average effects with their Jacobian."""

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    n_clusters: int
    effects: np.ndarray
    jacobian: np.ndarray
    iterations: int


def _mean(eta: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    """``F(η)`` and ``F'(η)`` of the canonical link."""
    if family == "logit":
        mu = 1.0 / (1.0 + np.exp(-eta))
        return mu, mu * (1.0 - mu)
    mu = np.exp(eta)
    return mu, mu


def _deviance(y: np.ndarray, mu: np.ndarray, family: str) -> float:
    if family == "logit":
        eps = 1e-300
        return float(-2.0 * np.sum(y * np.log(np.maximum(mu, eps)) + (1 - y) * np.log(np.maximum(1 - mu, eps))))
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2.0 * np.sum(term - (y - mu)))


def _design_matrix(ds: Design) -> tuple[np.ndarray, list[str]]:
    lp = ds.lp
    cols = [np.ones(lp.y.size)]
    names = ["(intercept)"]
    for m in range(1, ds.cohort_levels.size):
        cols.append((ds.ccode == m).astype(np.float64))
        names.append(f"cohort={ds.cohort_levels[m]:g}")
    for m in range(1, lp.times.size):
        cols.append((lp.time == m).astype(np.float64))
        names.append(f"time={lp.times[m]:g}")
    for name, build in ds.columns:
        cols.append(np.asarray(build(), dtype=np.float64))
        names.append(name)
    return np.column_stack(cols), names


def _separation(family: str, it: int) -> str:
    what = ("some fitted probabilities reached 0 or 1 (perfect separation: a cell or covariate value where the "
            "outcome is all 0 or all 1)" if family == "logit" else "some fitted means reached 0 or overflowed")
    return f"the {family} ETWFE fit failed at iteration {it}: {what}"


def fit_glm(ds: Design, family: str, specs: list[tuple[str, float, np.ndarray]]) -> GLMFit:
    """Fit the ETWFE GLM of ``family`` (``"logit"`` or ``"poisson"``) and average the effects over ``specs``."""
    y = ds.lp.y
    x, names = _design_matrix(ds)
    n, p = x.shape
    scale = np.sqrt(np.sum(x * x, axis=0))
    xs = x / scale
    sv = np.linalg.svd(xs, compute_uv=False)
    if sv[-1] <= 1e-10 * sv[0]:
        raise DesignError(f"the {family} ETWFE regressors are collinear ({p} regressors, {n:,} observations); "
                          f"check the covariates {', '.join(repr(c) for c in ds.covs) or '(none)'}")
    mu = (y + 0.5) / 2.0 if family == "logit" else (y + float(np.mean(y))) / 2.0
    eta = np.log(mu / (1.0 - mu)) if family == "logit" else np.log(mu)
    dev_old = _deviance(y, mu, family)
    beta = np.zeros(p)
    it = 0
    for it in range(1, MAX_ITER + 1):
        _, w = _mean(eta, family)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = eta + (y - mu) / w
        if not (np.all(np.isfinite(z)) and np.all(w > 1e-200)):
            raise EstimationError(_separation(family, it))
        sw = np.sqrt(w)
        try:
            beta_s, *_ = np.linalg.lstsq(xs * sw[:, None], z * sw, rcond=None)
        except np.linalg.LinAlgError as exc:
            raise EstimationError(_separation(family, it)) from exc
        eta = xs @ beta_s
        mu, _ = _mean(eta, family)
        dev = _deviance(y, mu, family)
        beta = beta_s / scale
        if abs(dev - dev_old) <= TOL * (abs(dev) + 0.1):
            break
        dev_old = dev
    else:
        raise EstimationError(f"the {family} ETWFE fit did not converge in {MAX_ITER} iterations (relative change "
                              f"in deviance above {TOL:g}); for a logit, check for cells where the outcome is all 0 "
                              "or all 1 (perfect separation)")
    if family == "logit" and (np.min(mu) < 1e-10 or np.max(mu) > 1 - 1e-10):
        raise EstimationError("the logit ETWFE fit separates some observations perfectly (fitted probabilities of "
                              "0 or 1); the cells with an outcome that is all 0 or all 1 cannot be estimated")
    _, w = _mean(eta, family)
    xtwx = x.T @ (x * w[:, None])
    bread = np.linalg.inv(xtwx)
    resid = y - mu
    lp = ds.lp
    g = lp.n_clusters
    scores = np.empty((g, p))
    for j in range(p):
        scores[:, j] = np.bincount(lp.cluster, weights=x[:, j] * resid, minlength=g)
    cov = bread @ (scores.T @ scores) @ bread
    cov = cov * (g / (g - 1)) * ((n - 1) / max(n - p, 1))
    cov = (cov + cov.T) / 2
    treat_cols = np.array([i for i, nm in enumerate(names) if nm.startswith("tau_")])
    effects = np.empty(len(specs))
    jac = np.empty((len(specs), p))
    for i, (_, _, rows) in enumerate(specs):
        x1 = x[rows]
        x0 = x1.copy()
        x0[:, treat_cols] = 0.0
        m1, d1 = _mean(x1 @ beta, family)
        m0, d0 = _mean(x0 @ beta, family)
        effects[i] = float(np.mean(m1 - m0))
        jac[i] = (d1 @ x1 - d0 @ x0) / x1.shape[0]
    return GLMFit(tuple(names), beta, cov, g, effects, jac, it)
