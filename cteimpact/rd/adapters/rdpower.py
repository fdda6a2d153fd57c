"""Thin adapter over ``rdpower`` (Cattaneo, Titiunik & Vazquez-Bare): power and minimum detectable effect of the
robust bias-corrected RD test.

``rdpower``/``rdmde`` print a report and draw nothing unless asked; the adapter captures the report and returns
frozen dataclasses.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cteimpact.errors import OptionError
from cteimpact.rd.adapters._capture import DESIGN_RULES, CallOutcome, call_reference, import_quietly
from cteimpact.rd.adapters._translate import data_arguments, package_version, plain_fields

__all__ = ["MdeCalculation", "PowerCalculation", "mde_calculation", "power_calculation", "rdpower_version"]


def rdpower_version() -> str:
    """Installed rdpower version."""
    return package_version("rdpower")


@dataclass(frozen=True, slots=True)
class PowerCalculation:
    """Power of the two-sided robust bias-corrected test against ``tau``.

    Attributes
    ----------
    power
        Power against ``tau`` with the robust bias-corrected standard error.
    power_conventional
        Power with the conventional standard error and the estimated bias (``None`` unless requested).
    se_robust
        Robust standard error implied for the (new) sample sizes.
    sample_size
        ``(left, right)`` units within the bandwidths used for the calculation.
    h
        Bandwidths ``(left, right)``.
    n, n_h
        Units on each side and within the original bandwidths (clusters when clustered).
    """

    tau: float
    alpha: float
    power: float
    power_conventional: float | None
    se_robust: float
    se_conventional: float | None
    sample_size: tuple[int, int]
    h: tuple[float, float]
    n: tuple[int, int]
    n_h: tuple[int, int]
    bias: tuple[float, float]
    variance: tuple[float, float]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self, skip=("notes",))


@dataclass(frozen=True, slots=True)
class MdeCalculation:
    """Minimum detectable effect of the robust bias-corrected test at power ``beta`` and level ``alpha``."""

    mde: float
    mde_conventional: float | None
    alpha: float
    beta: float
    sample_size: tuple[int, int]
    h: tuple[float, float]
    n: tuple[int, int]
    n_h: tuple[int, int]
    bias: tuple[float, float]
    variance: tuple[float, float]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self, skip=("notes",))


def _call(function: Any, y: np.ndarray, x: np.ndarray, *, cutoff: float, sample_size: tuple[int, int] | None,
          h_sample: tuple[float, float] | None, cluster: np.ndarray | None, covariates: np.ndarray | None,
          fuzzy: np.ndarray | None, context: str, options: dict[str, Any], **settings: Any
          ) -> tuple[dict[str, Any], CallOutcome]:
    """Run ``rdpower.rdpower`` or ``rdpower.rdmde`` (``function``) on ``(y, x)``: the data and options both take,
    then the call's own ``settings``."""
    data = np.column_stack([np.asarray(y, dtype=float), np.asarray(x, dtype=float)])
    kwargs: dict[str, Any] = {"cutoff": float(cutoff)}
    kwargs.update({k: v for k, v in options.items() if v is not None})
    kwargs.update(data_arguments(cluster=cluster, covariates=covariates, fuzzy=fuzzy))
    kwargs.update(settings)
    if sample_size is not None:
        kwargs["sampsi"] = [int(sample_size[0]), int(sample_size[1])]
    if h_sample is not None:
        kwargs["samph"] = [float(h_sample[0]), float(h_sample[1])]
    return call_reference(function, data=data, context=context, rules=DESIGN_RULES, stacklevel=5, **kwargs)


def _pair(a: Any, b: Any, kind: type = float) -> tuple[Any, Any]:
    return kind(a), kind(b)


def _design(out: dict[str, Any]) -> dict[str, Any]:
    """The sample sizes, bandwidths, biases and variances both rdpower and rdmde report."""
    return {"sample_size": _pair(out["sampsi_l"], out["sampsi_r"], int), "h": _pair(out["samph_l"], out["samph_r"]),
            "n": _pair(out["N_l"], out["N_r"], int), "n_h": _pair(out["Nh_l"], out["Nh_r"], int),
            "bias": _pair(out["bias_l"], out["bias_r"]), "variance": _pair(out["Vl_rb"], out["Vr_rb"])}


def _check_level(value: float, name: str, what: str) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < float(value) < 1):
        raise OptionError(f"{name} ({what}) must be a number strictly between 0 and 1, got {value!r}")


def power_calculation(
    y: np.ndarray,
    x: np.ndarray,
    *,
    tau: float,
    cutoff: float = 0.0,
    alpha: float = 0.05,
    sample_size: tuple[int, int] | None = None,
    h_sample: tuple[float, float] | None = None,
    cluster: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    fuzzy: np.ndarray | None = None,
    conventional: bool = False,
    context: str = "rdpower",
    **options: Any,
) -> PowerCalculation:
    """Run ``rdpower.rdpower`` on ``(y, x)`` and translate its output.

    ``options`` are passed to rdrobust through rdpower (``p``, ``h``, ``b``, ``kernel``, ``bwselect``, ``vce``...).
    """
    if isinstance(tau, bool) or not isinstance(tau, int | float) or not math.isfinite(float(tau)):
        raise OptionError(f"tau (the effect the power is computed against) must be a finite number, got {tau!r}")
    _check_level(alpha, "alpha", "the test's level")
    mod = import_quietly("rdpower")
    out, outcome = _call(mod.rdpower, y, x, cutoff=cutoff, sample_size=sample_size, h_sample=h_sample,
                         cluster=cluster, covariates=covariates, fuzzy=fuzzy, context=context, options=options,
                         tau=float(tau), alpha=float(alpha), all=bool(conventional))
    return PowerCalculation(
        tau=float(out["tau"]), alpha=float(out["alpha"]), power=float(out["power_rbc"]),
        power_conventional=float(out["power_conv"]) if "power_conv" in out else None,
        se_robust=float(out["se_rbc"]), se_conventional=float(out["se_conv"]) if "se_conv" in out else None,
        **_design(out), notes=outcome.notes)


def _bracketed_mde(n: float, tau0: float, stilde: float, z: float, beta: float) -> dict[str, float]:
    """The effect with power ``beta`` under rdpower's own power function, found by bracketing and Brent's method.

    rdpower's Newton-Raphson (``rdpower_powerNR_mde``) iterates until the power is within machine epsilon of
    ``beta`` with no iteration limit; where rounding keeps it a few ulps away it never returns (seen on simple
    simulated designs). The power ``1 − Φ(√n τ/s + z) + Φ(√n τ/s − z)`` is increasing in ``τ > 0``, so its root is
    unique and bracketed; Brent's method returns it to the last bits, the value Newton converges to when it does.
    """
    from scipy import optimize
    from scipy.stats import norm

    scale = math.sqrt(n) / stilde

    def gap(tau: float) -> float:
        return float(1 - norm.cdf(scale * tau + z) + norm.cdf(scale * tau - z) - beta)

    hi = abs(tau0) if tau0 and math.isfinite(tau0) else stilde / math.sqrt(n)
    lo = 0.0
    steps = 0
    while gap(hi) < 0 and steps < 200:
        lo, hi = hi, hi * 2
        steps += 1
    if gap(hi) < 0:
        raise OptionError(f"rdmde: no effect reaches power {beta:g} (standard error {stilde:g}, n {n:g})")
    root, res = optimize.brentq(gap, lo, hi, xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, full_output=True)
    return {"mde": float(root), "iter": float(res.iterations + steps), "powercheck": float(gap(root) + beta)}


def mde_calculation(
    y: np.ndarray,
    x: np.ndarray,
    *,
    cutoff: float = 0.0,
    alpha: float = 0.05,
    beta: float = 0.8,
    sample_size: tuple[int, int] | None = None,
    h_sample: tuple[float, float] | None = None,
    cluster: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    fuzzy: np.ndarray | None = None,
    conventional: bool = False,
    context: str = "rdmde",
    **options: Any,
) -> MdeCalculation:
    """Run ``rdpower.rdmde`` on ``(y, x)`` and translate its output."""
    _check_level(alpha, "alpha", "the test's level")
    _check_level(beta, "beta", "the power")
    mod = import_quietly("rdpower")
    module: Any = importlib.import_module("rdpower.rdmde")
    newton = module.rdpower_powerNR_mde
    module.rdpower_powerNR_mde = _bracketed_mde  # the reference's own formulas, a solver that always returns
    try:
        out, outcome = _call(mod.rdmde, y, x, cutoff=cutoff, sample_size=sample_size, h_sample=h_sample,
                             cluster=cluster, covariates=covariates, fuzzy=fuzzy, context=context, options=options,
                             alpha=float(alpha), beta=float(beta), all=bool(conventional))
    finally:
        module.rdpower_powerNR_mde = newton
    return MdeCalculation(
        mde=float(out["mde"]), mde_conventional=float(out["mde_conv"]) if "mde_conv" in out else None,
        alpha=float(out["alpha"]), beta=float(out["beta"]), **_design(out), notes=outcome.notes)
