"""Thin adapter over ``rdhonest`` (Python port of Kolesár & Armstrong's R package RDHonest): bias-aware ("honest")
confidence intervals for sharp and fuzzy RD.

Two function classes are offered:

* ``"holder"`` -- the conditional mean has a second derivative bounded by ``M`` on each side of the cutoff
  (Armstrong & Kolesár 2018, 2020). The interval is the fixed-length CI ``estimate ± cv(bias/se)·se``, with the
  bandwidth chosen to minimise worst-case MSE given ``M``. ``M`` is either given or taken from Armstrong & Kolesár's
  (2020) rule of thumb (the largest absolute second derivative of a global quartic fitted on each side; R RDHonest's
  default). Valid with a discrete running variable: the construction makes no assumption about its support.
* ``"bme"`` -- bounded misspecification error (Kolesár & Rothe 2018, section 5.2): the local-polynomial fit is no
  worse at the cutoff than at any support point in the window. Sharp designs only, uniform kernel.

What is passed in is float64 numpy arrays (sorted here by the running variable); what comes out is a frozen
dataclass of plain floats. Two gaps of rdhonest 0.0.1 are bridged by calling the package's own pieces:

* its nearest-neighbour variance fails for fuzzy designs (a two-column outcome), so for fuzzy designs the
  per-side nearest-neighbour variances are computed here (``cteimpact.rd.nn_variance``: the estimator of
  ``rdhonest.variance.sigma_nn`` in O(n log n) instead of its quadratic loop, equal to it to rounding) and passed in
  as supplied variances (its optimal-bandwidth step fails there too, so a fuzzy design needs a bandwidth);
* its rule of thumb for ``M`` builds an ``n × n`` weight matrix, so the same global-quartic rule (unweighted data)
  is evaluated here without it; tests check both agree with the package's ``mrot`` on its own data sets.

Clustering: rdhonest computes cluster-robust (EHW-type) standard errors for sharp designs only; for a fuzzy
design its clustered variance lacks the covariance term, so clusters are not used there and the record says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cteimpact.errors import DesignError, OptionError
from cteimpact.rd.adapters._capture import call_reference, import_quietly
from cteimpact.rd.adapters._translate import package_version, plain_fields
from cteimpact.rd.nn_variance import nearest_neighbour_variance

__all__ = [
    "DEFAULT_M_MULTIPLIERS",
    "FEW_MASS_POINTS",
    "HonestMethod",
    "HonestRD",
    "HonestSensitivity",
    "fit_honest",
    "rdhonest_version",
    "rule_of_thumb_m",
]

HonestMethod = Literal["holder", "bme"]
HonestKernel = Literal["triangular", "epanechnikov", "uniform"]
DEFAULT_M_MULTIPLIERS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Multiples of the chosen ``M`` in the sensitivity table."""
FEW_MASS_POINTS = 30
"""A side of the cutoff with at most this many distinct scores counts as having few mass points."""


def rdhonest_version() -> str:
    """Installed rdhonest version (from the package metadata)."""
    return package_version("rdhonest")


@dataclass(frozen=True, slots=True)
class HonestSensitivity:
    """The honest interval at one value of ``M`` (bandwidth re-optimised for that ``M``)."""

    m: float
    multiple: float | None
    estimate: float
    se: float
    max_bias: float
    ci_low: float
    ci_high: float
    bandwidth: float

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


@dataclass(frozen=True, slots=True)
class HonestRD:
    """A bias-aware RD interval translated to plain numbers.

    Attributes
    ----------
    method
        ``"holder"`` (Armstrong–Kolesár, second derivative bounded by ``m``) or ``"bme"`` (Kolesár–Rothe).
    design
        ``"sharp"`` or ``"fuzzy"``.
    estimate, se, max_bias, ci_low, ci_high
        Local-linear estimate, its standard error, the worst-case bias over the class and the bias-aware
        ``1 - alpha`` interval.
    m, m_outcome, m_first_stage, m_source
        The bound used (for fuzzy designs the effective bound on the ratio and the two bounds it combines, else
        ``nan``), and ``"rule of thumb"`` or ``"user"`` (``nan`` and ``"not used"`` for BME).
    kernel, bandwidth, eff_obs, leverage, first_stage, alpha
        As rdhonest reports them (``first_stage`` is ``nan`` for sharp designs).
    mass_points_left, mass_points_right, few_mass_points
        Distinct running-variable values below / at-or-above the cutoff, and whether a side has at most
        :data:`FEW_MASS_POINTS`.
    variance, clusters, assumption
        The variance estimator, the number of clusters it accounts for (``None``: observations independent) and
        what the interval assumes, in words.
    sensitivity
        The interval over a grid of ``M`` (Hölder class only).
    package_version
        The rdhonest version used.
    """

    method: HonestMethod
    design: Literal["sharp", "fuzzy"]
    estimate: float
    se: float
    max_bias: float
    ci_low: float
    ci_high: float
    m: float
    m_outcome: float
    m_first_stage: float
    m_source: str
    kernel: str
    bandwidth: float
    eff_obs: float
    leverage: float
    first_stage: float
    alpha: float
    mass_points_left: int
    mass_points_right: int
    few_mass_points: bool
    variance: str
    clusters: int | None
    assumption: str
    sensitivity: tuple[HonestSensitivity, ...]
    package_version: str

    @property
    def label(self) -> str:
        """Row label for tables, e.g. ``Bias-aware interval (Armstrong–Kolesár, M=0.1)``."""
        if self.method == "bme":
            return "Bias-aware interval (Kolesár–Rothe BME)"
        if self.design == "fuzzy":
            return (f"Bias-aware interval (Armstrong–Kolesár, M={self.m_outcome:.4g} outcome, "
                    f"{self.m_first_stage:.4g} take-up)")
        return f"Bias-aware interval (Armstrong–Kolesár, M={self.m:.4g})"

    def to_dict(self) -> dict[str, Any]:
        return {**plain_fields(self), "label": self.label}

    def tidy(self) -> list[dict[str, Any]]:
        """One row for the chosen ``M`` and one per sensitivity value, as plain dicts."""
        rows = [{"term": self.label, "m": self.m, "estimate": self.estimate, "std_error": self.se,
                 "max_bias": self.max_bias, "conf_low": self.ci_low, "conf_high": self.ci_high,
                 "bandwidth": self.bandwidth}]
        for s in self.sensitivity:
            rows.append({"term": f"M sensitivity (M={s.m:.4g})", "m": s.m, "estimate": s.estimate,
                         "std_error": s.se, "max_bias": s.max_bias, "conf_low": s.ci_low, "conf_high": s.ci_high,
                         "bandwidth": s.bandwidth})
        return rows

    def summary(self) -> str:
        """A few lines of text: the interval, what it assumes, and the sensitivity over ``M``."""
        lines = [f"{self.label}: {self.estimate:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}] "
                 f"(SE {self.se:.4f}, max bias {self.max_bias:.4f}, {self.kernel} kernel, h={self.bandwidth:.4g}, "
                 f"effective N {self.eff_obs:.0f})",
                 f"  M: {self.m_source}; distinct scores below/above the cutoff: {self.mass_points_left}/"
                 f"{self.mass_points_right}; variance: {self.variance}",
                 f"  Assumes: {self.assumption}"]
        lines += [f"  M={s.m:.4g}: [{s.ci_low:.4f}, {s.ci_high:.4f}] (h={s.bandwidth:.4g})" for s in self.sensitivity]
        return "\n".join(lines)


def _finite_array(name: str, values: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if n is not None and len(arr) != n:
        raise DesignError(f"honest RD: {name} has {len(arr)} values but the running variable has {n}")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise DesignError(f"honest RD: {name} has {bad} missing or non-finite values of {len(arr)}")
    return arr


def check_m(name: str, value: float) -> float:
    """``value`` as a positive finite float, else :class:`OptionError` naming ``name``."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a positive number or 'rot', got {value!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise OptionError(f"{name} must be a positive number (a bound on the second derivative), got {value!r}")
    return f


def _side_quartic_m(x: np.ndarray, y: np.ndarray) -> float:
    z = np.vander(x, 5, increasing=True)
    coef = np.linalg.lstsq(z, y, rcond=None)[0]

    def f2(t: float) -> float:
        return abs(2 * coef[2] + 6 * t * coef[3] + 12 * t * t * coef[4])

    lo, hi = float(x.min()), float(x.max())
    m = max(f2(lo), f2(hi))
    if abs(coef[4]) > 1e-10:
        t = -coef[3] / (4 * coef[4])
        if lo < t < hi:
            m = max(m, f2(t))
    return float(m)


def rule_of_thumb_m(y: np.ndarray, x_centered: np.ndarray, *, name: str = "outcome") -> float:
    """Armstrong & Kolesár (2020) rule of thumb for ``M``: a global quartic fitted separately below and above the
    cutoff (``x_centered`` is the running variable minus the cutoff); the largest absolute second derivative of
    either fit over its side's support. Needs at least 5 distinct scores on each side."""
    out = 0.0
    for side, mask in (("below", x_centered < 0), ("at or above", x_centered >= 0)):
        distinct = len(np.unique(x_centered[mask]))
        if distinct < 5:
            raise DesignError(
                f"honest RD: the rule of thumb for M fits a quartic on each side of the cutoff and needs at least 5 "
                f"distinct scores there; {name} has {distinct} {side} the cutoff ({int(mask.sum())} rows); give "
                "honest_m as a number instead")
        out = max(out, _side_quartic_m(x_centered[mask], y[mask]))
    return out


def _coefficients(result: Any) -> dict[str, Any]:
    row = result.coefficients.iloc[0]
    return {k: row[k] for k in row.index}


def _fuzzy_nn_variance(xc: np.ndarray, y: np.ndarray, d: np.ndarray, j: int) -> np.ndarray:
    # Per-side nearest-neighbour (co)variances of (outcome, treatment), as the R package computes them (our
    # O(n log n) evaluation of rdhonest.variance.sigma_nn, equal to it to rounding: tests/rd/test_nn_variance.py)
    yy = np.column_stack([y, d])
    out = np.zeros((len(xc), 4))
    for mask in (xc < 0, xc >= 0):
        if mask.any():
            out[mask] = nearest_neighbour_variance(xc[mask], yy[mask], j)
    return out


def fit_honest(
    y: Sequence[float] | np.ndarray,
    x: Sequence[float] | np.ndarray,
    *,
    cutoff: float,
    treatment: Sequence[float] | np.ndarray | None = None,
    method: HonestMethod = "holder",
    m: float | tuple[float, float] | Literal["rot"] = "rot",
    m_multipliers: Sequence[float] = DEFAULT_M_MULTIPLIERS,
    m_values: Sequence[float] = (),
    kernel: HonestKernel = "triangular",
    bandwidth: float | None = None,
    bme_order: int = 1,
    alpha: float = 0.05,
    cluster: Sequence[Any] | np.ndarray | None = None,
    name: str = "outcome",
    score_name: str = "score",
) -> HonestRD:
    """Bias-aware RD interval with rdhonest.

    Parameters
    ----------
    y, x
        Outcome and running variable (rows with missing values must be removed by the caller).
    cutoff
        The cutoff; units with ``x >= cutoff`` are assigned.
    treatment
        Treatment received, for a fuzzy design (``None``: sharp).
    method
        ``"holder"`` (Armstrong–Kolesár) or ``"bme"`` (Kolesár–Rothe; sharp only).
    m
        Bound on the second derivative (sharp: a number; fuzzy: ``(M_outcome, M_first_stage)``) or ``"rot"`` for
        the Armstrong–Kolesár (2020) rule of thumb.
    m_multipliers, m_values
        The sensitivity table: the chosen ``M`` times each multiplier, then each user value (sharp designs; for a
        fuzzy design the user values are not used and both bounds are scaled by the multipliers).
    kernel, bandwidth
        Kernel and bandwidth of the Hölder-class estimate (``bandwidth=None``: worst-case-MSE optimal). For BME
        the kernel is uniform and ``bandwidth=None`` uses all the data.
    bme_order
        Polynomial order of the BME fit.
    alpha
        One minus the confidence level.
    cluster
        Cluster identifiers (sharp designs: cluster-robust EHW standard errors).
    name, score_name
        Names of the outcome and running variable, for messages.
    """
    if not (0 < alpha < 1):
        raise OptionError(f"honest RD: alpha must be in (0, 1), got {alpha!r}")
    xv = _finite_array(f"running variable '{score_name}'", x)
    n = len(xv)
    yv = _finite_array(f"outcome '{name}'", y, n)
    dv = None if treatment is None else _finite_array("treatment", treatment, n)
    fuzzy = dv is not None
    if bandwidth is not None:
        bandwidth = check_m("honest bandwidth", bandwidth)
    order = np.argsort(xv, kind="stable")
    xc = xv[order] - float(cutoff)
    yv = yv[order]
    dv = None if dv is None else dv[order]
    cl = None if cluster is None else np.asarray(cluster)[order]
    left, right = int(np.count_nonzero(xc < 0)), int(np.count_nonzero(xc >= 0))
    mp_left, mp_right = len(np.unique(xc[xc < 0])), len(np.unique(xc[xc >= 0]))
    need = (bme_order + 1) if method == "bme" else 2
    if min(mp_left, mp_right) < need:
        raise DesignError(
            f"honest RD on '{name}': running variable '{score_name}' has {mp_left} distinct value(s) below the cutoff "
            f"({left} rows) and {mp_right} at or above it ({right} rows); a local-linear fit needs at least {need} "
            "on each side")
    few = min(mp_left, mp_right) <= FEW_MASS_POINTS
    rdh = import_quietly("rdhonest")
    context = f"rdhonest on outcome '{name}'"
    version = rdhonest_version()

    if method == "bme":
        if fuzzy:
            raise OptionError("honest_method 'bme' is for sharp designs only (Kolesár–Rothe); use 'holder' with a "
                              "fuzzy design")
        h = math.inf if bandwidth is None else bandwidth
        res, _ = call_reference(rdh.rd_honest_bme, yv, xc, cutoff=0.0, h=h, alpha=alpha, order=bme_order,
                                context=context)
        co = _coefficients(res)
        return HonestRD(
            method="bme", design="sharp", estimate=float(co["estimate"]), se=float(co["std.error"]),
            max_bias=float(co["maximum.bias"]), ci_low=float(co["conf.low"]), ci_high=float(co["conf.high"]),
            m=math.nan, m_outcome=math.nan, m_first_stage=math.nan, m_source="not used", kernel="uniform",
            bandwidth=float(h), eff_obs=float(co["eff.obs"]), leverage=float(co["leverage"]), first_stage=math.nan,
            alpha=alpha, mass_points_left=mp_left, mass_points_right=mp_right, few_mass_points=few,
            variance="EHW (joint with the saturated fit)", clusters=None,
            assumption=(f"the specification error of the order-{bme_order} fit at the cutoff is no larger than at "
                        "any support point in the window (Kolesár–Rothe BME); observations independent"),
            sensitivity=(), package_version=version)

    # Hölder class: the bound(s) on the second derivative
    if isinstance(m, str):
        if m != "rot":
            raise OptionError(f"honest_m must be a positive number or 'rot', got {m!r}")
        m_y = rule_of_thumb_m(yv, xc, name=f"outcome '{name}'")
        m_d = rule_of_thumb_m(dv, xc, name="treatment") if dv is not None else math.nan
        source = "rule of thumb (Armstrong & Kolesár 2020)"
    else:
        if fuzzy:
            if isinstance(m, (int, float)) or len(m) != 2:
                raise OptionError("honest_m for a fuzzy design takes two bounds (outcome, first stage), got "
                                  f"{m!r}")
            m_y, m_d = check_m("honest_m (outcome)", m[0]), check_m("honest_m (first stage)", m[1])
        else:
            if not isinstance(m, (int, float)):
                raise OptionError(f"honest_m for a sharp design takes one bound, got {m!r}")
            m_y, m_d = check_m("honest_m", m), math.nan
        source = "user"
    if fuzzy and bandwidth is None:
        raise OptionError(
            "honest_bandwidth is required for a fuzzy design: rdhonest 0.0.1 cannot choose a fuzzy-RD bandwidth "
            "(its preliminary variance step fails on a two-column outcome); give the bandwidth, e.g. the robust "
            "estimate's")
    multipliers = [check_m("honest_m_grid multiplier", v) for v in m_multipliers]
    extra = [check_m("honest_m_grid value", v) for v in m_values]

    use_cluster = cl is not None and not fuzzy
    if cl is not None and use_cluster:
        variance, n_clusters = "cluster-robust EHW", len(np.unique(cl))
        assumption = (f"second derivative of E[{name} | score] bounded by M on each side; errors independent across "
                      f"the {n_clusters} clusters")
    else:
        variance, n_clusters = "nearest-neighbour (J=3)", None
        assumption = (f"second derivative of E[{name} | score] bounded by M on each side; observations independent")
        if cl is not None:
            assumption += (" -- clustering is NOT accounted for (rdhonest has no cluster-robust variance for fuzzy "
                           "designs): a sensitivity row, not the study's inference")

    # the nearest-neighbour variances do not depend on M: computed once for the whole sensitivity table
    fuzzy_sigma2 = _fuzzy_nn_variance(xc, yv, dv, 3) if dv is not None else None

    def one(my: float, md: float, h: float | None) -> dict[str, Any]:
        kw: dict[str, Any] = {"cutoff": 0.0, "kern": kernel, "alpha": alpha, "sclass": "H"}
        if dv is None:
            kw |= {"M": my, "h": h}
            if use_cluster:
                kw |= {"clusterid": cl, "se_method": "EHW"}
            res, _ = call_reference(rdh.rd_honest, yv, xc, context=context, **kw)
            return _coefficients(res)
        res, _ = call_reference(rdh.rd_honest, yv, xc, D=dv, M=np.array([my, md]), h=h, T0=0.0,
                                se_method="supplied.var", sigma2=fuzzy_sigma2, context=context, **kw)
        return _coefficients(res)

    co = one(m_y, m_d, bandwidth)
    grid: list[tuple[float, float, float | None]] = [(m_y * k, m_d * k, k) for k in multipliers]
    if not fuzzy:
        grid += [(v, math.nan, None) for v in extra]
    sens = []
    for my, md, k in grid:
        c = co if (k == 1.0 and bandwidth is None) else one(my, md, bandwidth)
        sens.append(HonestSensitivity(m=float(c["M"]), multiple=k, estimate=float(c["estimate"]),
                                      se=float(c["std.error"]), max_bias=float(c["maximum.bias"]),
                                      ci_low=float(c["conf.low"]), ci_high=float(c["conf.high"]),
                                      bandwidth=float(c["bandwidth"])))
    for key in ("estimate", "std.error", "conf.low", "conf.high"):
        if not math.isfinite(float(co[key])):
            raise DesignError(f"honest RD on '{name}': rdhonest returned a non-finite {key} (bandwidth "
                              f"{float(co['bandwidth']):.4g}, effective N {float(co['eff.obs']):.0f}); too few "
                              "observations near the cutoff")
    return HonestRD(
        method="holder", design="fuzzy" if fuzzy else "sharp", estimate=float(co["estimate"]),
        se=float(co["std.error"]), max_bias=float(co["maximum.bias"]), ci_low=float(co["conf.low"]),
        ci_high=float(co["conf.high"]), m=float(co["M"]), m_outcome=m_y if fuzzy else math.nan,
        m_first_stage=m_d if fuzzy else math.nan, m_source=source, kernel=str(co["kernel"]),
        bandwidth=float(co["bandwidth"]), eff_obs=float(co["eff.obs"]), leverage=float(co["leverage"]),
        first_stage=float(co["first.stage"]), alpha=alpha, mass_points_left=mp_left, mass_points_right=mp_right,
        few_mass_points=few, variance=variance, clusters=n_clusters, assumption=assumption,
        sensitivity=tuple(sens), package_version=version)
