"""The control-side baseline of an RD estimate and the effect sizes computed from it.

A reader of an RD effect asks "from what level?": the outcome's mean just below the cutoff, on the untreated side
(the treated side is at or above the cutoff, see :mod:`cteimpact.rd.estimator`). Two values are recorded for every
fit (main, subgroup, cutoff-specific):

* ``local_fit``: the outcome's **unadjusted** local polynomial fit at the cutoff from below — the same kernel,
  bandwidth ``h`` (below) and order ``p`` as the estimate's fit, and its weights, but **no covariates**. For a
  fuzzy design this is the untreated-side value of the reduced form (which uses the fuzzy fit's bandwidths).
* ``in_bandwidth_mean``: the plain mean of the outcome over the students below the cutoff within ``h``, with
  their number (and number of clusters).

The relative change and the Cox index use ``local_fit`` (``source = "local_fit"``). Why not the covariate-adjusted
fit's intercept (``fit.limits[0]``)? With covariates, rdrobust's side limits are intercepts net of the covariates'
contribution (``β_Y − γ'β_Z``), a level shifted by the covariates' means, not the outcome's mean at the cutoff.
Why not the in-bandwidth mean? The effect is a limit at the cutoff; the in-bandwidth mean averages over the whole
bandwidth and, where the outcome trends with the score, is biased for the level at the cutoff by about the slope
times the average distance from it. The unadjusted local fit estimates exactly the level the effect is a jump
from, by the estimator the effect itself uses; the in-bandwidth mean is recorded beside it as a check a reader can
recompute from the data.

The standard error of ``local_fit`` is the conventional heteroskedasticity-robust (HC1) sandwich of the weighted
least-squares intercept, or the cluster-robust one (CR1) when the design is clustered; it is not bias-corrected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cteimpact.stats.effect_sizes import CoxIndex, cox_index
from cteimpact.stats.kernels import kernel_weights

__all__ = ["BASELINE_SOURCE", "ControlBaseline", "EffectSizes", "control_baseline", "effect_sizes", "is_binary",
           "kernel_weights", "local_intercept"]

BASELINE_SOURCE: Literal["local_fit"] = "local_fit"
"""Which baseline the relative change and the Cox index use (see the module docstring for why)."""

Estimand = Literal["sharp", "intention_to_treat", "late"]

_ESTIMAND_TEXT: dict[str, str] = {
    "sharp": "effect at the cutoff (sharp)",
    "intention_to_treat": "intention-to-treat effect of crossing the cutoff (reduced form)",
    "late": "local average treatment effect (fuzzy)",
}


def local_intercept(y: np.ndarray, x: np.ndarray, cutoff: float, *, h: float, p: int, kernel: str,
                    side: Literal["below", "above"] = "below", weights: np.ndarray | None = None,
                    cluster: np.ndarray | None = None) -> tuple[float, float, int, int | None]:
    """Local polynomial fit of ``y`` at ``cutoff`` from one side: ``(value, se, n, clusters)``.

    Weighted least squares of ``y`` on ``1, (x − c), …, (x − c)^p`` over the observations on ``side`` (below:
    ``x < c``; above: ``x ≥ c``) with kernel weight ``K((x − c)/h)`` (:func:`cteimpact.stats.kernels.kernel_weights`,
    times ``weights``) positive. ``se`` is the
    HC1 sandwich of the intercept, or CR1 with ``cluster``; ``n`` the observations used, ``clusters`` their
    clusters. ``value`` and ``se`` are NaN when fewer than ``p + 1`` distinct scores are used (the fit is then not
    identified).
    """
    on_side = x < cutoff if side == "below" else x >= cutoff
    u = (x - cutoff) / h
    w = kernel_weights(u, kernel)
    if weights is not None:
        w = w * weights
    use = on_side & (w > 0)
    n = int(use.sum())
    n_cl = None if cluster is None else int(np.unique(cluster[use]).size)
    if n == 0 or np.unique(x[use]).size < p + 1:
        return math.nan, math.nan, n, n_cl
    d = x[use] - cutoff
    design = np.vander(d, p + 1, increasing=True)
    wu, yu = w[use], y[use]
    xtw = design.T * wu
    bread = np.linalg.pinv(xtw @ design)
    beta = bread @ (xtw @ yu)
    resid = yu - design @ beta
    k = p + 1
    scores = design * (wu * resid)[:, None]
    if cluster is None:
        meat = scores.T @ scores
        factor = n / (n - k) if n > k else math.nan
    else:
        codes = np.unique(cluster[use], return_inverse=True)[1]
        summed = np.zeros((int(codes.max()) + 1, k))
        np.add.at(summed, codes, scores)
        meat = summed.T @ summed
        g = summed.shape[0]
        factor = (g / (g - 1)) * ((n - 1) / (n - k)) if g > 1 and n > k else math.nan
    var = factor * (bread @ meat @ bread)[0, 0]
    return float(beta[0]), float(math.sqrt(var)) if var >= 0 else math.nan, n, n_cl


def is_binary(y: np.ndarray) -> bool:
    """True when every value of ``y`` is 0 or 1 (a proportion outcome: the Cox index applies)."""
    return bool(y.size) and bool(np.all((y == 0) | (y == 1)))


@dataclass(frozen=True)
class ControlBaseline:
    """The outcome's level just below the cutoff, two ways (see the module docstring).

    Attributes
    ----------
    local_fit, local_fit_se
        Unadjusted local polynomial fit at the cutoff from below, and its conventional (HC1 / CR1) standard error.
    h, p, kernel
        Bandwidth below the cutoff, order and kernel of that fit (the estimate's own).
    n_local, clusters_local
        Observations (clusters) with positive kernel weight below the cutoff.
    mean_in_bandwidth, n_in_bandwidth, clusters_in_bandwidth
        Plain mean of the outcome over the observations below the cutoff within ``h`` (weighted by the design's
        weights, if any), their number and clusters.
    binary
        The outcome takes only the values 0 and 1.
    """

    local_fit: float
    local_fit_se: float
    h: float
    p: int
    kernel: str
    n_local: int
    clusters_local: int | None
    mean_in_bandwidth: float
    n_in_bandwidth: int
    clusters_in_bandwidth: int | None
    binary: bool
    source: Literal["local_fit"] = BASELINE_SOURCE

    @property
    def value(self) -> float:
        """The baseline the relative change and the Cox index use (``source``)."""
        return self.local_fit

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value, "source": self.source,
            "definition": "the outcome's level just below the cutoff (the untreated side): its local polynomial "
                          "fit at the cutoff from below with the estimate's kernel, bandwidth and order and no "
                          "covariates (for a fuzzy design, the untreated-side value of the reduced form)",
            "local_fit": {"value": self.local_fit, "se": self.local_fit_se, "h": self.h, "p": self.p,
                          "kernel": self.kernel, "n": self.n_local, "clusters": self.clusters_local,
                          "se_type": "conventional, HC1" if self.clusters_local is None
                          else "conventional, cluster-robust CR1"},
            "in_bandwidth_mean": {"value": self.mean_in_bandwidth, "n": self.n_in_bandwidth,
                                  "clusters": self.clusters_in_bandwidth, "h": self.h},
            "binary": self.binary,
        }


def control_baseline(y: np.ndarray, x: np.ndarray, cutoff: float, *, h: float, p: int, kernel: str,
                     weights: np.ndarray | None = None, cluster: np.ndarray | None = None) -> ControlBaseline:
    """:class:`ControlBaseline` of the outcome ``y`` at ``cutoff`` (``h``: the fit's bandwidth below the cutoff)."""
    value, se, n_local, cl_local = local_intercept(y, x, cutoff, h=h, p=p, kernel=kernel, side="below",
                                                   weights=weights, cluster=cluster)
    inside = (x < cutoff) & (x >= cutoff - h)
    n_in = int(inside.sum())
    if n_in == 0:
        mean = math.nan
    elif weights is None:
        mean = float(np.mean(y[inside]))
    else:
        wsum = float(np.sum(weights[inside]))
        mean = float(np.sum(weights[inside] * y[inside]) / wsum) if wsum > 0 else math.nan
    cl_in = None if cluster is None else int(np.unique(cluster[inside]).size)
    return ControlBaseline(value, se, float(h), int(p), kernel, n_local, cl_local, mean, n_in, cl_in, is_binary(y))


@dataclass(frozen=True)
class EffectSizes:
    """An estimate next to its baseline: the relative change and, for a 0/1 outcome, the Cox index.

    Attributes
    ----------
    label
        The estimate row (``dropout``, ``dropout[reduced_form]``, ``dropout[female=1]``...).
    estimand
        ``"sharp"``, ``"intention_to_treat"`` (a fuzzy design's reduced form) or ``"late"``.
    estimate, ci, n
        The row's point estimate (conventional, as in ``estimates``), its interval, and its effective N (students
        within the bandwidth on both sides: the ``N`` of the Cox index's small-sample factor).
    baseline
        :attr:`ControlBaseline.value`.
    relative_change, relative_ci
        ``estimate / baseline`` and ``ci / baseline`` (the baseline taken as known); ``None`` when the baseline
        is zero or not finite (``relative_reason`` says so).
    cox
        The Cox index (see :func:`cteimpact.stats.effect_sizes.cox_index`) of a 0/1 outcome, ``None`` for other
        outcomes.
    note
        What the baseline means for this estimand (the local average treatment effect's baseline is every
        student's, not the compliers').
    """

    label: str
    estimand: Estimand
    estimate: float
    ci: tuple[float, float]
    n: float
    baseline: float
    relative_change: float | None
    relative_ci: tuple[float, float] | None
    relative_reason: str | None
    cox: CoxIndex | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "estimand": self.estimand, "estimand_text": _ESTIMAND_TEXT[self.estimand],
            "estimate": self.estimate, "ci": list(self.ci), "n": self.n, "baseline": self.baseline,
            "baseline_source": BASELINE_SOURCE, "relative_change": self.relative_change,
            "relative_ci": None if self.relative_ci is None else list(self.relative_ci),
            "relative_formula": "estimate / baseline (interval: ci / baseline, the baseline taken as known)",
            "relative_reason": self.relative_reason,
            "cox_index": None if self.cox is None else self.cox.to_dict(),
            "note": self.note,
        }


_LATE_NOTE = ("the baseline is the level of all students just below the cutoff, not that of the compliers (the "
              "students whose take-up the cutoff changes), whose untreated level the effect is a change from")


def effect_sizes(label: str, estimand: Estimand, estimate: float, ci: tuple[float, float], n: float,
                 baseline: ControlBaseline) -> EffectSizes:
    """The relative change and (0/1 outcomes) the Cox index of ``estimate`` against ``baseline``."""
    b = baseline.value
    rel: float | None = None
    rel_ci: tuple[float, float] | None = None
    reason: str | None = None
    if estimand == "late":
        # the local average effect is a change from the compliers' untreated level, not from every student's:
        # dividing it by the level of all students below the cutoff would overstate it (demo: -84% for -29% ITT)
        reason = ("a relative change of the local average treatment effect needs the compliers' untreated level, "
                  "which is not estimated; see the intention-to-treat row's relative change")
    elif not math.isfinite(b):
        reason = "the baseline could not be estimated (too few distinct scores below the cutoff within h)"
    elif b == 0:
        reason = "the baseline is 0: a change relative to it is not defined"
    else:
        rel = estimate / b
        lo, hi = ci[0] / b, ci[1] / b
        rel_ci = (min(lo, hi), max(lo, hi))
    cox = cox_index(b, estimate, n=n) if baseline.binary and estimand != "late" else None
    return EffectSizes(label, estimand, float(estimate), (float(ci[0]), float(ci[1])), float(n), float(b), rel,
                       rel_ci, reason, cox, _LATE_NOTE if estimand == "late" else None)
