"""Estimation options of the continuity-based RD estimator, typed and validated."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from cteimpact.config.declared import option
from cteimpact.errors import CteImpactWarning, OptionError
from cteimpact.stats.kernels import Kernel

__all__ = [
    "BANDWIDTH_SELECTORS",
    "KERNELS",
    "VCE_TYPES",
    "BandwidthSelector",
    "ClusterVarianceWarning",
    "Kernel",
    "MassPoints",
    "RDOptions",
    "VarianceEstimator",
    "check_choice",
    "parse_bandwidth_text",
]

BandwidthSelector = Literal["mserd", "msetwo", "msesum", "msecomb1", "msecomb2", "cerrd", "certwo", "cersum",
                            "cercomb1", "cercomb2"]
"""rdbwselect's selectors: MSE- or coverage-error-optimal, one common (``rd``) or two (``two``) bandwidths..."""
VarianceEstimator = Literal["nn", "hc0", "hc1", "hc2", "hc3", "cr1", "cr2", "cr3"]
"""Nearest-neighbour (``nn``), heteroskedasticity-robust plug-in (``hc0``-``hc3``) or cluster-robust
(``cr1``; ``cr2`` Bell-McCaffrey; ``cr3`` Pustejovsky-Tipton)."""
MassPoints = Literal["adjust", "check", "off"]
HonestMethod = Literal["holder", "bme"]
"""Bias-aware interval: Armstrong-Kolesár Hölder class (bounded second derivative) or Kolesár-Rothe BME."""


class ClusterVarianceWarning(CteImpactWarning):
    """A variance estimator that ignores clusters was asked for with a cluster column; cr1 is used instead."""


KERNELS: tuple[str, ...] = get_args(Kernel)
BANDWIDTH_SELECTORS: tuple[str, ...] = get_args(BandwidthSelector)
VCE_TYPES: tuple[str, ...] = get_args(VarianceEstimator)
MASS_POINTS: tuple[str, ...] = get_args(MassPoints)


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed`` (case-insensitive), else raise :class:`OptionError`."""
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise OptionError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _bandwidth(name: str, value: float | Sequence[float] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    vals = [value] if isinstance(value, (int, float)) else list(value)
    if len(vals) not in (1, 2):
        raise OptionError(f"{name} takes one bandwidth or two (left, right); got {len(vals)} values")
    out = []
    for v in vals:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise OptionError(f"{name} must be a positive number, got {v!r}") from None
        if not (f > 0 and math.isfinite(f)):
            raise OptionError(f"{name} must be a positive number, got {v!r}")
        out.append(f)
    return (out[0], out[0]) if len(out) == 1 else (out[0], out[1])


def _parse_numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in str(text).split(",") if p.strip())
    except ValueError:
        raise OptionError(f"takes numbers separated by commas, got {text!r}") from None


def parse_bandwidth_text(text: str) -> float | tuple[float, float]:
    """A bandwidth given as text: one number (``4.5``) or two separated by a comma (``4.5,6``: left, right)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise OptionError(f"takes one number or two separated by a comma (left,right), got {text!r}") from None
    if len(nums) == 1:
        return nums[0]
    if len(nums) == 2:
        return nums[0], nums[1]
    raise OptionError(f"takes one or two numbers, got {len(nums)}")


@dataclass(frozen=True)
class RDOptions:
    """Options of the local polynomial estimator (rdrobust's, with cteimpact's defaults).

    The one declaration of these options: ``RegressionDiscontinuity.fit()``'s keywords, the ``[design.estimation]``
    section of a specification, the estimation options of ``cteimpact rd`` and ``results.options`` all come from
    the fields below (:mod:`cteimpact.config.declared`). Each field's help text is the documentation of the
    option.
    """

    p: int = option(1, "Order of the local polynomial of the estimate (1: local linear; 0 to 8).")
    q: int | None = option(None, "Order of the local polynomial of the bias correction (default p + 1; at most 9).")
    kernel: Kernel = option("triangular", "Kernel weighting observations by their distance to the cutoff.")
    bwselect: BandwidthSelector = option("mserd", "Bandwidth selector when h is not given (mserd: one MSE-optimal "
                                                  "bandwidth; msetwo: one per side; cer*: coverage-error optimal).")
    vce: VarianceEstimator | None = option(None, "Variance estimator (default nn without clusters, cr1 with "
                                                 "clusters; cr2 Bell-McCaffrey, cr3 Pustejovsky-Tipton).")
    h: float | tuple[float, float] | None = option(None, "Fixed main bandwidth: one value, or left,right.",
                                                   parse=parse_bandwidth_text)
    b: float | tuple[float, float] | None = option(None, "Fixed bias bandwidth: one value, or left,right "
                                                         "(default h, or h / rho).", parse=parse_bandwidth_text)
    rho: float | None = option(None, "Ratio h / b when only h is given.")
    level: float = option(0.95, "Confidence level of the intervals (0.5 to 1).")
    masspoints: MassPoints = option("adjust", "Repeated values of the running variable: adjust the bandwidths "
                                              "and variance for them (adjust), only report them (check), or ignore "
                                              "them (off).")
    nnmatch: int = option(3, "Neighbours of the nearest-neighbour (nn) variance estimator.")
    bwrestrict: bool = option(True, "Keep selected bandwidths within the range of the running variable.")
    stdvars: bool = option(True, "Standardise the running variable and outcome before selecting bandwidths.")
    sharpbw: bool = option(False, "Fuzzy designs: select the bandwidth for the reduced form (as a sharp design).")
    bwcheck: int | None = option(None, "Widen a selected bandwidth until it holds at least this many distinct values "
                                       "of the running variable on each side (rdrobust's bwcheck).")
    scaleregul: float = option(1.0, "Scale of the regularisation term of bandwidth selection (rdrobust's "
                                    "scaleregul; 0: no regularisation).")
    honest: bool = option(False, "Also report a bias-aware (honest) interval with rdhonest (Armstrong & Kolesár "
                                 "2018, 2020), valid with a discrete running variable.")
    honest_method: HonestMethod = option("holder", "Bias-aware interval: second derivative bounded by M (holder; "
                                                   "Armstrong-Kolesár) or bounded misspecification error (bme; "
                                                   "Kolesár-Rothe, sharp designs).")
    honest_m: float | None = option(None, "Bound M on the second derivative of the outcome's conditional mean "
                                          "(default: Armstrong-Kolesár 2020 rule of thumb).")
    honest_m_first_stage: float | None = option(None, "Fuzzy designs with honest_m: the bound on the take-up's "
                                                      "conditional mean (default: rule of thumb with honest_m unset).")
    honest_m_grid: tuple[float, ...] | None = option(
        None, "Extra values of M for the bias-aware interval's sensitivity table (beside 0.5, 1, 2, 4 times the "
              "chosen M).", parse=_parse_numbers)

    def __post_init__(self) -> None:
        if not isinstance(self.p, int) or isinstance(self.p, bool) or not 0 <= self.p <= 8:
            raise OptionError(f"p (polynomial order) must be an integer from 0 to 8, got {self.p!r}")
        if self.q is not None and (not isinstance(self.q, int) or isinstance(self.q, bool) or self.q <= self.p
                                   or self.q > 9):
            raise OptionError(f"q (bias-correction order) must be an integer above p={self.p} and at most 9, "
                              f"got {self.q!r}")
        object.__setattr__(self, "kernel", check_choice("kernel", self.kernel, KERNELS))
        object.__setattr__(self, "bwselect", check_choice("bwselect", self.bwselect, BANDWIDTH_SELECTORS))
        if self.vce is not None:
            object.__setattr__(self, "vce", check_choice("vce", self.vce, VCE_TYPES))
        object.__setattr__(self, "masspoints", check_choice("masspoints", self.masspoints, MASS_POINTS))
        object.__setattr__(self, "h", _bandwidth("h", self.h))
        object.__setattr__(self, "b", _bandwidth("b", self.b))
        if self.b is not None and self.h is None:
            raise OptionError("a bias bandwidth b was given without a main bandwidth h; give h too")
        if self.rho is not None and not (float(self.rho) > 0 and math.isfinite(float(self.rho))):
            raise OptionError(f"rho must be a positive number, got {self.rho!r}")
        if self.rho is not None and self.b is not None:
            raise OptionError("give either b or rho, not both")
        if not (0.5 <= float(self.level) < 1):
            raise OptionError(f"level must be a confidence level between 0.5 and 1 (such as 0.95), got {self.level}")
        if not isinstance(self.nnmatch, int) or self.nnmatch < 1:
            raise OptionError(f"nnmatch must be a positive integer, got {self.nnmatch!r}")
        if self.bwcheck is not None and (isinstance(self.bwcheck, bool) or not isinstance(self.bwcheck, int)
                                         or self.bwcheck < 1):
            raise OptionError(f"bwcheck must be a positive whole number of distinct values, got {self.bwcheck!r}")
        if (isinstance(self.scaleregul, bool) or not isinstance(self.scaleregul, int | float)
                or not (math.isfinite(float(self.scaleregul)) and float(self.scaleregul) >= 0)):
            raise OptionError(f"scaleregul must be a non-negative number, got {self.scaleregul!r}")
        self._check_honest()

    def _check_honest(self) -> None:
        object.__setattr__(self, "honest_method", check_choice("honest_method", self.honest_method,
                                                               get_args(HonestMethod)))
        for name in ("honest_m", "honest_m_first_stage"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                          and math.isfinite(value) and value > 0):
                raise OptionError(f"{name} must be a positive number (a bound on the second derivative), got "
                                  f"{value!r}")
        grid = tuple(self.honest_m_grid or ())
        bad = [v for v in grid if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
        if bad:
            raise OptionError(f"honest_m_grid takes positive numbers; {len(bad)} of {len(grid)} are not: {bad!r}")
        object.__setattr__(self, "honest_m_grid", tuple(float(v) for v in grid))

    @property
    def q_effective(self) -> int:
        return self.p + 1 if self.q is None else int(self.q)

    def resolved_vce(self, clustered: bool) -> str:
        """The variance estimator to use, checked against whether clusters were given."""
        if self.vce is None:
            return "cr1" if clustered else "nn"
        if clustered and self.vce == "nn":
            warnings.warn("vce='nn' ignores clusters; with the cluster column given, the cluster-robust cr1 "
                          "variance is used instead", ClusterVarianceWarning, stacklevel=3)
            return "cr1"
        if clustered and not self.vce.startswith("cr"):
            raise OptionError(
                f"vce='{self.vce}' ignores the clusters that were given; use cr1 (default with clusters), cr2 or cr3"
            )
        if not clustered and self.vce.startswith("cr"):
            raise OptionError(f"vce='{self.vce}' is cluster-robust and needs a cluster column")
        return self.vce

    def rdrobust_kwargs(self, clustered: bool) -> dict[str, Any]:
        """Keyword arguments for :func:`cteimpact.rd.adapters.rdrobust.fit_rdrobust`."""
        return {"p": self.p, "q": self.q_effective, "kernel": self.kernel, "bwselect": self.bwselect,
                "vce": self.resolved_vce(clustered), "h": self.h, "b": self.b, "rho": self.rho,
                "level": 100.0 * float(self.level), "masspoints": self.masspoints, "nnmatch": self.nnmatch,
                "bwrestrict": self.bwrestrict, "stdvars": self.stdvars, "sharpbw": self.sharpbw,
                "bwcheck": self.bwcheck, "scaleregul": float(self.scaleregul)}

    def honest_dict(self) -> dict[str, Any]:
        """The bias-aware interval's options, as recorded."""
        return {"honest": self.honest, "honest_method": self.honest_method, "honest_m": self.honest_m,
                "honest_m_first_stage": self.honest_m_first_stage, "honest_m_grid": list(self.honest_m_grid or ())}

    def to_dict(self) -> dict[str, Any]:
        h = _bandwidth("h", self.h)
        b = _bandwidth("b", self.b)
        return {"p": self.p, "q": self.q_effective, "kernel": self.kernel, "bwselect": self.bwselect,
                "vce": self.vce, "h": None if h is None else list(h), "b": None if b is None else list(b),
                "rho": self.rho, "level": float(self.level), "masspoints": self.masspoints, "nnmatch": self.nnmatch,
                "bwrestrict": self.bwrestrict, "stdvars": self.stdvars, "sharpbw": self.sharpbw,
                "bwcheck": self.bwcheck, "scaleregul": float(self.scaleregul), **self.honest_dict()}
