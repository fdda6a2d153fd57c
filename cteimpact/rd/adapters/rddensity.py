"""Thin adapter over ``rddensity`` (Cattaneo, Jansson & Ma): the manipulation test based on the discontinuity of
the running variable's density at the cutoff (local polynomial density estimators).

The running variable goes in as a float64 numpy array; the result comes out as a frozen dataclass. rddensity
changes the global warning filters when imported; the adapter imports it inside ``catch_warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cteimpact.errors import DesignError
from cteimpact.rd.adapters._capture import CUTOFF_OUTSIDE_RANGE, ErrorRule, call_reference, import_quietly
from cteimpact.rd.adapters._translate import first_value, package_version, plain_fields

__all__ = ["DensityTest", "density_test", "rddensity_version"]

_RULES = (
    ErrorRule(r"within the range", DesignError, CUTOFF_OUTSIDE_RANGE),
    ErrorRule(r"empty|not enough|too few", DesignError, "{context}: too few observations ({msg})"),
)


def rddensity_version() -> str:
    """Installed rddensity version."""
    return package_version("rddensity")


@dataclass(frozen=True, slots=True)
class DensityTest:
    """Result of the density-discontinuity (manipulation) test.

    Attributes
    ----------
    statistic, p_value
        The test of equal densities at the cutoff (robust bias-corrected, with the jackknife or plug-in standard
        error named in ``vce``).
    density
        Estimated densities ``(left, right)`` at the cutoff.
    se
        Their standard errors ``(left, right)``.
    h
        Bandwidths ``(left, right)``.
    n, n_effective
        Observations on each side, and within the bandwidths.
    binomial_p_value
        Exact binomial test of equal counts in the smallest symmetric window (``None`` when not computed).
    """

    statistic: float
    p_value: float
    density: tuple[float, float]
    se: tuple[float, float]
    h: tuple[float, float]
    n: tuple[int, int]
    n_effective: tuple[int, int]
    cutoff: float
    p: int
    kernel: str
    vce: str
    fitselect: str
    bwselect: str
    binomial_p_value: float | None = None
    binomial_window: float | None = None
    binomial_n: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


def density_test(
    x: np.ndarray,
    *,
    cutoff: float = 0.0,
    p: int = 2,
    kernel: str = "triangular",
    fitselect: str = "unrestricted",
    vce: str = "jackknife",
    h: tuple[float, float] | None = None,
    bwselect: str = "comb",
    mass_points: bool = True,
    binomial: bool = False,
    context: str = "rddensity",
) -> DensityTest:
    """Run ``rddensity.rddensity`` on the running variable and translate its output.

    ``x`` must be free of missing values (the caller records exclusions in its sample flow).
    """
    mod = import_quietly("rddensity")
    x = np.asarray(x, dtype=float).reshape(-1)
    kwargs: dict[str, Any] = {"c": float(cutoff), "p": int(p), "kernel": kernel, "fitselect": fitselect, "vce": vce,
                                  "bwselect": bwselect, "massPoints": bool(mass_points), "bino_flag": bool(binomial)}
    if h is not None:
        kwargs["h"] = [float(h[0]), float(h[1])]
    res, outcome = call_reference(mod.rddensity, x, context=context, rules=_RULES, stacklevel=4, **kwargs)
    test = res.test
    use_jk = vce == "jackknife"
    stat = float(test["t_jk"] if use_jk else test["t_asy"])
    pval = float(test["p_jk"] if use_jk else test["p_asy"])
    sd = res.sd_jk if use_jk else res.sd_asy
    bino_p = bino_w = None
    bino_n = None
    bino = getattr(res, "bino", None)
    if binomial and bino is not None:
        try:
            bino_p = first_value(bino["pval"])
            bino_w = first_value(bino["rightWindow"])
            bino_n = (int(first_value(bino["leftN"])), int(first_value(bino["rightN"])))
        except (KeyError, IndexError, TypeError, ValueError):
            bino_p = bino_w = None
            bino_n = None
    n = res.n
    return DensityTest(
        statistic=stat, p_value=pval, density=(float(res.hat["left"]), float(res.hat["right"])),
        se=(float(sd["left"]), float(sd["right"])), h=(float(res.h["left"]), float(res.h["right"])),
        n=(int(n["left"]), int(n["right"])), n_effective=(int(n["eff_left"]), int(n["eff_right"])),
        cutoff=float(cutoff), p=int(res.p), kernel=str(res.kernel), vce=str(res.vce), fitselect=str(res.fitselect),
        bwselect=str(res.bwselect), binomial_p_value=bino_p, binomial_window=bino_w, binomial_n=bino_n,
        notes=outcome.notes,
    )
