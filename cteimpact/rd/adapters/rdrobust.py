"""Thin adapter over ``rdrobust`` (Calonico, Cattaneo, Farrell & Titiunik): local polynomial RD estimation and
bandwidth selection.

Everything passed in is a float64 numpy array (rdrobust 2.1 accepts pandas objects, but numpy inputs avoid any
dependence on pandas 3 copy-on-write or string-dtype semantics); everything passed out is a frozen dataclass of
plain Python floats, ints and small numpy arrays. The adapter pins nothing; the supported version range is in
``pyproject.toml`` and the golden-number tests in ``tests/rd`` catch a behaviour change.

Cluster identifiers must already be integer codes (see :func:`pandas.factorize`): rdrobust drops rows with a
missing numeric cluster silently and cannot sort mixed-type identifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cteimpact.errors import DesignError
from cteimpact.limits import MAX_MAGNITUDE
from cteimpact.rd.adapters._capture import DESIGN_RULES, call_reference, import_quietly
from cteimpact.rd.adapters._translate import data_arguments, package_version, plain_fields

__all__ = [
    "BandwidthSelection",
    "FirstStage",
    "Jump",
    "LocalPolynomialFit",
    "fit_rdrobust",
    "rdrobust_version",
    "select_bandwidths",
]


def rdrobust_version() -> str:
    """Installed rdrobust version (from the package metadata)."""
    return package_version("rdrobust")


@dataclass(frozen=True, slots=True)
class Jump:
    """A jump at the cutoff as rdrobust reports it: conventional and bias-corrected estimates, conventional and
    robust standard errors, and the ``(conventional, bias-corrected, robust)`` statistics, p-values and intervals."""

    estimate: float
    estimate_bc: float
    se: float
    se_robust: float
    z: tuple[float, float, float]
    p_value: tuple[float, float, float]
    ci: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class FirstStage(Jump):
    """The jump in treatment take-up at the cutoff (fuzzy designs): conventional, bias-corrected and robust."""

    @property
    def f_statistic(self) -> float:
        """Square of the conventional z statistic of the first stage (the usual weak-instrument diagnostic)."""
        return float(self.z[0] ** 2)

    def to_dict(self) -> dict[str, Any]:
        return {**plain_fields(self), "f_statistic": self.f_statistic}


@dataclass(frozen=True, slots=True)
class LocalPolynomialFit(Jump):
    """One rdrobust fit translated to plain numbers.

    Three inference procedures are reported, in the order rdrobust uses: conventional (estimate, conventional
    SE), bias-corrected (bias-corrected estimate, conventional SE) and robust bias-corrected (bias-corrected
    estimate, robust SE; Calonico, Cattaneo & Titiunik 2014).

    Attributes
    ----------
    estimate, estimate_bc
        Conventional and bias-corrected RD estimates.
    se, se_robust
        Conventional and robust standard errors.
    z, p_value, ci
        ``(conventional, bias-corrected, robust)`` statistics, p-values and intervals.
    h, b
        Main and bias bandwidths ``(left, right)``.
    n, n_h, n_b, n_unique
        Observations on each side, within ``h``, within ``b``, and distinct running-variable values.
    limits, limits_bc
        Estimated conditional means at the cutoff from the left and right (conventional and bias-corrected).
    beta_left, beta_right
        Local polynomial coefficients (in powers of ``x - c``) of the outcome on each side.
    vcov_left, vcov_right
        Conventional variance of ``beta_left``/``beta_right``.
    n_clusters, n_clusters_side
        Clusters in the estimation sample (total, and ``(left, right)`` within the larger bandwidth).
    first_stage
        Fuzzy designs: the jump in take-up.
    coef_covariates
        Covariate-adjustment coefficients (``gamma``), covariate-adjusted fits only.
    notes
        Lines rdrobust printed (for example a mass-points note).
    """

    h: tuple[float, float]
    b: tuple[float, float]
    n: tuple[int, int]
    n_h: tuple[int, int]
    n_b: tuple[int, int]
    n_unique: tuple[int, int]
    cutoff: float
    p: int
    q: int
    deriv: int
    kernel: str
    vce: str
    bwselect: str
    level: float
    bias: tuple[float, float]
    limits: tuple[float, float]
    limits_bc: tuple[float, float]
    beta_left: np.ndarray = field(repr=False)
    beta_right: np.ndarray = field(repr=False)
    vcov_left: np.ndarray = field(repr=False)
    vcov_right: np.ndarray = field(repr=False)
    n_clusters: int | None = None
    n_clusters_side: tuple[int, int] | None = None
    first_stage: FirstStage | None = None
    coef_covariates: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def n_effective(self) -> int:
        """Observations within the main bandwidth, both sides."""
        return int(self.n_h[0] + self.n_h[1])

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (no large arrays beyond the local polynomial coefficients)."""
        return plain_fields(self, skip=("vcov_left", "vcov_right"))


@dataclass(frozen=True, slots=True)
class BandwidthSelection:
    """Bandwidths chosen by ``rdbwselect``: one row per selector, ``(h_left, h_right, b_left, b_right)``."""

    bandwidths: dict[str, tuple[float, float, float, float]]
    n: tuple[int, int]
    kernel: str
    vce: str
    p: int
    q: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


def _pair(values: Sequence[Any]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


def _ipair(values: Sequence[Any]) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def _triples(frame: Any) -> tuple[float, float, float]:
    v = np.asarray(frame, dtype=float).reshape(-1)
    return float(v[0]), float(v[1]), float(v[2])


def _ci(frame: Any) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    v = np.asarray(frame, dtype=float).reshape(3, 2)
    return (float(v[0, 0]), float(v[0, 1])), (float(v[1, 0]), float(v[1, 1])), (float(v[2, 0]), float(v[2, 1]))


def _jump(coef: Any, se: Any, z: Any, p_value: Any, ci: Any) -> dict[str, Any]:
    """The fields of a :class:`Jump` from rdrobust's output frames (``coef``/``se`` or their ``_T`` versions)."""
    c, s = _triples(coef), _triples(se)
    return {"estimate": c[0], "estimate_bc": c[1], "se": s[0], "se_robust": s[2], "z": _triples(z),
            "p_value": _triples(p_value), "ci": _ci(ci)}


def _bandwidth_arg(value: float | tuple[float, float] | None) -> float | list[float] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list, np.ndarray)):
        vals = [float(v) for v in value]
        return vals[0] if len(vals) == 1 else vals
    return float(value)


def _check_inputs(y: np.ndarray, x: np.ndarray, cutoff: float, *, selecting: bool, context: str,
                  cluster: np.ndarray | None = None) -> None:
    """Refuse, before calling rdrobust, inputs it would report as "not enough variability in the running variable":
    an outcome too large to square or, when a bandwidth is to be selected, an outcome constant on both sides of the
    cutoff or a side with a single cluster."""
    yv = np.asarray(y, dtype=float)
    big = float(np.max(np.abs(yv))) if yv.size else 0.0
    if big > MAX_MAGNITUDE:
        raise DesignError(f"{context}: the outcome has values up to {big:.3g} in magnitude; rescale it (for example "
                          f"to thousands or millions of its unit): its squares overflow beyond {MAX_MAGNITUDE:.0e}")
    if not selecting:
        return
    xv = np.asarray(x, dtype=float)
    below, above = yv[xv < cutoff], yv[xv >= cutoff]
    if below.size and above.size and np.ptp(below) == 0 and np.ptp(above) == 0:
        what = (f"all {below[0]:g}" if below[0] == above[0]
                else f"all {below[0]:g} below the cutoff and all {above[0]:g} above")
        raise DesignError(f"{context}: the outcome is constant on both sides of the cutoff ({what}); there is no "
                          "variability to select a bandwidth from, nothing to estimate")
    if cluster is not None:
        codes = np.asarray(cluster)
        n_below, n_above = np.unique(codes[xv < cutoff]).size, np.unique(codes[xv >= cutoff]).size
        if min(n_below, n_above) < 2:
            raise DesignError(
                f"{context}: {n_below} cluster{'s' if n_below != 1 else ''} below the cutoff and {n_above} at or "
                f"above; cluster-robust variances need at least 2 clusters on each side (the scores of a lone "
                "cluster sum to zero), so no bandwidth can be selected: cluster on a finer unit or drop the "
                "clustering")


MAX_BANDWIDTH_RATIO = 1e10
"""Largest bandwidth, as a multiple of the farthest distance of the data from the cutoff: beyond it every kernel
weight is 1 to machine precision and rdrobust's powers of ``h`` underflow (its standard errors degrade, then vanish)."""


def _check_bandwidths(x: np.ndarray, cutoff: float, context: str,
                      **bandwidths: float | tuple[float, float] | None) -> None:
    xv = np.asarray(x, dtype=float)
    reach = float(np.max(np.abs(xv - cutoff))) if xv.size else 0.0
    if not reach > 0:
        return
    for name, value in bandwidths.items():
        if value is None:
            continue
        widest = max(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)))
        if widest > MAX_BANDWIDTH_RATIO * reach:
            raise DesignError(
                f"{context}: the bandwidth {name} = {widest:.3g} is more than {MAX_BANDWIDTH_RATIO:.0e} times the "
                f"farthest distance of the data from the cutoff ({reach:.3g}); at that ratio rdrobust's computations "
                f"lose their precision: give {name} of at most {MAX_BANDWIDTH_RATIO * reach:.3g} (a bandwidth wider "
                "than the data uses every observation)")


def fit_rdrobust(
    y: np.ndarray,
    x: np.ndarray,
    *,
    cutoff: float = 0.0,
    fuzzy: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    p: int = 1,
    q: int | None = None,
    deriv: int = 0,
    h: float | tuple[float, float] | None = None,
    b: float | tuple[float, float] | None = None,
    rho: float | None = None,
    kernel: str = "triangular",
    bwselect: str = "mserd",
    vce: str = "nn",
    nnmatch: int = 3,
    level: float = 95.0,
    masspoints: str = "adjust",
    bwcheck: int | None = None,
    bwrestrict: bool = True,
    stdvars: bool = True,
    scaleregul: float = 1.0,
    sharpbw: bool = False,
    covs_drop: bool = True,
    context: str = "rdrobust",
) -> LocalPolynomialFit:
    """Run ``rdrobust.rdrobust`` and translate its output.

    Parameters mirror rdrobust's (``level`` in percent). Arrays must be 1-D float64 (``covariates`` 2-D) without
    missing values: the caller owns the sample and records exclusions in its sample flow.

    Raises
    ------
    DesignError
        The cutoff is outside the data, too few distinct running-variable values near the cutoff, a fuzzy
        treatment without a jump, an outcome too large to square, or (bandwidth selection) an outcome constant on
        both sides of the cutoff.
    EstimationError
        Any other failure inside rdrobust.
    """
    _check_inputs(y, x, cutoff, selecting=h is None, context=context, cluster=cluster)
    _check_bandwidths(x, cutoff, context, h=h, b=b)
    rdrobust_mod = import_quietly("rdrobust")
    kwargs: dict[str, Any] = {
        "c": float(cutoff), "p": int(p), "q": None if q is None else int(q), "deriv": int(deriv),
        "h": _bandwidth_arg(h), "b": _bandwidth_arg(b), "rho": None if rho is None else float(rho), "kernel": kernel,
        "bwselect": bwselect, "vce": vce, "nnmatch": int(nnmatch), "level": float(level), "masspoints": masspoints,
        "bwcheck": bwcheck, "bwrestrict": bwrestrict,
        "stdvars": stdvars, "scaleregul": float(scaleregul), "sharpbw": bool(sharpbw), "covs_drop": bool(covs_drop),
    }
    kwargs.update(data_arguments(fuzzy=fuzzy, covariates=covariates, cluster=cluster, weights=weights))
    res, outcome = call_reference(rdrobust_mod.rdrobust, np.asarray(y, dtype=float), np.asarray(x, dtype=float),
                                  context=context, rules=DESIGN_RULES, stacklevel=4, **kwargs)
    bws = np.asarray(res.bws, dtype=float)
    first_stage = None
    if res.tau_T is not None:
        first_stage = FirstStage(**_jump(res.tau_T, res.se_T, res.z_T, res.pv_T, res.ci_T))
    if first_stage is not None and (first_stage.estimate == 0 or not np.isfinite(first_stage.estimate)):
        raise DesignError(
            f"{context}: the take-up of the treatment does not change within the bandwidth (first-stage jump "
            f"{first_stage.estimate}); the fuzzy estimate is not identified, estimate the sharp effect instead"
        )
    coef_chk = np.asarray(res.coef, dtype=float).reshape(-1)
    se_chk = np.asarray(res.se, dtype=float).reshape(-1)
    if not (np.all(np.isfinite(coef_chk)) and np.all(np.isfinite(se_chk))):
        raise DesignError(
            f"{context}: rdrobust returned a non-finite estimate or standard error (estimates {coef_chk.tolist()}, "
            f"standard errors {se_chk.tolist()}); the local fit is degenerate: too few distinct values or clusters "
            "near the cutoff, or an outcome that is constant there"
        )
    beta_l = np.asarray(res.beta_p_l, dtype=float)
    beta_r = np.asarray(res.beta_p_r, dtype=float)
    beta_l = beta_l[:, 0] if beta_l.ndim == 2 else beta_l
    beta_r = beta_r[:, 0] if beta_r.ndim == 2 else beta_r
    n_cl_side = None
    if res.n_clust_l is not None:
        n_cl_side = (int(res.n_clust_l), int(res.n_clust_r))
    kernel_name = {"Triangular": "triangular", "Epanechnikov": "epanechnikov", "Uniform": "uniform"}.get(
        str(res.kernel), str(res.kernel).lower())
    return LocalPolynomialFit(
        **_jump(res.coef, res.se, res.z, res.pv, res.ci), h=_pair(bws[0]), b=_pair(bws[1]), n=_ipair(res.N),
        n_h=_ipair(res.N_h), n_b=_ipair(res.N_b), n_unique=_ipair(res.M), cutoff=float(res.c), p=int(res.p),
        q=int(res.q), deriv=int(deriv), kernel=kernel_name, vce=str(res.vce).lower(), bwselect=str(res.bwselect),
        level=float(res.level), bias=_pair(res.bias), limits=_pair(res.tau_cl), limits_bc=_pair(res.tau_bc),
        beta_left=beta_l.copy(), beta_right=beta_r.copy(),
        vcov_left=np.asarray(res.V_cl_l, dtype=float).copy(), vcov_right=np.asarray(res.V_cl_r, dtype=float).copy(),
        n_clusters=None if res.n_clust is None else int(res.n_clust), n_clusters_side=n_cl_side,
        first_stage=first_stage,
        coef_covariates=None if res.coef_covs is None else np.asarray(res.coef_covs, dtype=float).copy(),
        notes=outcome.notes, warnings=outcome.warnings,
    )


def select_bandwidths(
    y: np.ndarray,
    x: np.ndarray,
    *,
    cutoff: float = 0.0,
    fuzzy: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    p: int = 1,
    q: int | None = None,
    deriv: int = 0,
    kernel: str = "triangular",
    bwselect: str = "mserd",
    vce: str = "nn",
    all_selectors: bool = False,
    masspoints: str = "adjust",
    context: str = "rdbwselect",
) -> BandwidthSelection:
    """Run ``rdrobust.rdbwselect`` (one selector, or all ten with ``all_selectors``) and translate its output."""
    _check_inputs(y, x, cutoff, selecting=True, context=context, cluster=cluster)
    rdrobust_mod = import_quietly("rdrobust")
    kwargs: dict[str, Any] = {"c": float(cutoff), "p": int(p), "q": None if q is None else int(q), "deriv": int(deriv),
                                  "kernel": kernel, "bwselect": bwselect, "vce": vce, "all": bool(all_selectors),
                                  "masspoints": masspoints}
    kwargs.update(data_arguments(fuzzy=fuzzy, covariates=covariates, cluster=cluster, weights=weights))
    res, outcome = call_reference(rdrobust_mod.rdbwselect, np.asarray(y, dtype=float), np.asarray(x, dtype=float),
                                  context=context, rules=DESIGN_RULES, stacklevel=4, **kwargs)
    table = res.bws
    rows = {str(idx): tuple(float(v) for v in np.asarray(table.loc[idx], dtype=float)) for idx in table.index}
    return BandwidthSelection(
        bandwidths={k: (v[0], v[1], v[2], v[3]) for k, v in rows.items()}, n=_ipair(res.N),
        kernel=str(res.kernel).lower(), vce=str(res.vce).lower(), p=int(res.p), q=int(res.q), notes=outcome.notes)
