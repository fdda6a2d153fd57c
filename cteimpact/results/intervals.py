"""Confidence intervals of recorded estimates at another confidence level.

An :class:`~cteimpact.results.estimate.EffectEstimate` records its interval at one level together with how the
interval was built (``ci_type``). An interval of the form ``centre ± c·SE`` can be rebuilt at any level from the
recorded numbers, with ``c`` the documented critical value of its type:

* ``conventional``, ``pointwise``, ``external``: centred at the estimate; ``c`` is the normal quantile, or the
  Student t quantile with the result's recorded degrees of freedom;
* ``bias_corrected``, ``robust_bias_corrected``: centred at the bias-corrected estimate (the midpoint of the
  recorded interval, which differs from the reported conventional estimate), normal ``c``; the standard error is
  the one recorded (the robust one for ``robust_bias_corrected``), as rdrobust does at any level.

The recorded interval is checked first: it must be exactly ``centre ± c·SE`` at its own level with that reference
distribution, otherwise (or for ``simultaneous`` sup-t bands, whose critical value comes from the bootstrap draws,
and ``randomization`` and ``wild_cluster_bootstrap`` intervals, which come from inverting a test) the interval
cannot be rebuilt and :class:`IntervalLevelError` names the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from scipy import stats

from cteimpact.errors import OptionError
from cteimpact.results.estimate import EffectEstimate

__all__ = ["RESCALABLE_CI_TYPES", "IntervalLevelError", "critical_value", "interval_at_level", "size_of"]

RESCALABLE_CI_TYPES: tuple[str, ...] = (
    "conventional",
    "pointwise",
    "external",
    "bias_corrected",
    "robust_bias_corrected",
)
"""Interval types of the form ``centre ± c·SE`` that can be rebuilt at another level."""

_CENTRED_AT_ESTIMATE = ("conventional", "pointwise", "external")
_REL_TOL = 1e-7
"""Tolerance of the check that a recorded interval is ``centre ± c·SE`` (relative to the half-width)."""


class IntervalLevelError(OptionError):
    """The interval of an estimate cannot be recomputed at the confidence level asked for."""


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), or :class:`~cteimpact.errors.OptionError`."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise OptionError(f"level must be a number strictly between 0 and 1 (such as 0.9), got {level!r}")
    return float(level)


def size_of(level: float) -> float:
    """The size of the tests whose inversion gives intervals at confidence ``level``: ``1 - level``, computed in
    decimal, so that level 0.95 gives exactly 0.05 (the floating-point ``1 - 0.95`` is 0.050000000000000044) and an
    interval at level ``1 - a`` is bit for bit the one a size of ``a`` gave."""
    return float(Decimal(1) - Decimal(repr(float(level))))


def critical_value(level: float, df: float | None = None) -> float:
    """Two-sided critical value of a ``level`` interval: normal quantile, or Student t with ``df`` degrees."""
    q = 0.5 + check_level(level) / 2
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


def _fail(e: EffectEstimate, level: float, why: str) -> IntervalLevelError:
    return IntervalLevelError(
        f"cannot recompute the interval of '{e.label}' ({e.term}) at level {level:g}: {why}; its recorded "
        f"{e.ci_level:g} interval is [{e.ci_lower:.6g}, {e.ci_upper:.6g}] (pass labels=[...] to leave it out)"
    )


def interval_at_level(e: EffectEstimate, level: float, *, df: float | None = None) -> tuple[float, float]:
    """The interval of ``e`` at ``level``.

    At the recorded level the recorded interval is returned unchanged. At another level it is rebuilt as
    ``centre ± c·SE`` (see the module docstring); ``df`` is the result's recorded degrees of freedom of its t
    reference (``None``: normal). An estimate hidden by the small-cell rule, or one without a finite standard error
    or interval, gives ``(nan, nan)``.

    Raises
    ------
    IntervalLevelError
        The interval is not of the form ``centre ± c·SE`` with a documented ``c`` (a simultaneous band, a
        randomisation or wild-bootstrap interval, or a recorded interval inconsistent with its type).
    """
    level = check_level(level)
    if math.isclose(level, e.ci_level, rel_tol=0.0, abs_tol=1e-12):
        return float(e.ci_lower), float(e.ci_upper)
    if e.suppressed:
        return math.nan, math.nan
    if e.ci_type not in RESCALABLE_CI_TYPES:
        why = {
            "simultaneous": "it is a simultaneous (sup-t) band whose critical value comes from the bootstrap draws "
                            "at the level it was fitted at; refit at the level wanted",
            "randomization": "it inverts a randomisation test at the level it was fitted at; refit at the level "
                             "wanted",
            "wild_cluster_bootstrap": "it inverts a wild cluster bootstrap test at the level it was fitted at; refit "
                                      "at the level wanted",
        }.get(e.ci_type, f"intervals of type '{e.ci_type}' are not estimate ± critical value × SE")
        raise _fail(e, level, why)
    se, lo, hi = float(e.std_error), float(e.ci_lower), float(e.ci_upper)
    if not (math.isfinite(se) and math.isfinite(lo) and math.isfinite(hi)):
        return math.nan, math.nan
    ref_df = df if e.ci_type in ("conventional", "pointwise") else None
    half = (hi - lo) / 2
    c_recorded = critical_value(e.ci_level, ref_df)
    if not math.isclose(half, c_recorded * se, rel_tol=_REL_TOL, abs_tol=1e-300):
        ref = "normal" if ref_df is None else f"t({ref_df:g})"
        raise _fail(e, level, f"its recorded half-width {half:.6g} is not the {ref} critical value "
                              f"{c_recorded:.6g} × SE {se:.6g}")
    if e.ci_type in _CENTRED_AT_ESTIMATE:
        centre = float(e.estimate)
        if not math.isclose((lo + hi) / 2, centre, rel_tol=_REL_TOL, abs_tol=_REL_TOL * max(half, 1e-300)):
            raise _fail(e, level, f"its recorded interval is not centred at the estimate {centre:.6g}")
    else:
        centre = (lo + hi) / 2
    c = critical_value(level, ref_df)
    return centre - c * se, centre + c * se


def intervals_at_level(estimates: Sequence[EffectEstimate], level: float, *,
                       df: float | None = None) -> list[tuple[float, float]]:
    """:func:`interval_at_level` of each estimate (the first that cannot be rebuilt raises)."""
    return [interval_at_level(e, level, df=df) for e in estimates]
