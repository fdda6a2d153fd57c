"""Effect sizes of the What Works Clearinghouse, in one place: the small-sample factor ω and the Cox index.

The Cox index is the WWC effect size of a difference in proportions (*Procedures and Standards Handbook* 4.1,
Appendix E)::

    d_Cox = ω · [logit(p_c + effect) − logit(p_c)] / 1.65,     ω = 1 − 3 / (4N − 9),

with ``p_c`` the comparison group's proportion, ``effect`` the difference in proportions and ``N`` the number of
students in both groups.

**Edge convention (the one convention of the package).** The index is *undefined* — :attr:`CoxIndex.value` is
``None`` and :attr:`CoxIndex.reason` says why — when ``p_c`` or ``p_c + effect`` is not strictly between 0 and 1
(a logit of 0 or 1 is infinite: no finite effect size exists, and clipping the proportions would invent one), when
an input is not a finite number, or when ``N ≤ 2.25`` (ω is then not positive). It never raises for such values and
never clips: a reader sees "undefined" with its reason rather than a number that depends on an arbitrary bound.
Callers that need an exception (a user asked for an effect size that cannot exist) raise their own typed error
from :attr:`CoxIndex.reason`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["COX_SCALE", "CoxIndex", "cox_index", "hedges_omega"]

COX_SCALE = 1.65
"""The Cox index divides the difference in log-odds by 1.65 to put it on the scale of a standardized mean
difference (WWC)."""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    v = float(value)
    return v if math.isfinite(v) else None


def hedges_omega(n_total: float) -> float | None:
    """WWC small-sample factor ``ω = 1 − 3 / (4N − 9)``; ``None`` when ``N`` is not a finite number above 2.25
    (``ω`` would not be positive)."""
    n = _finite(n_total)
    if n is None or n <= 2.25:
        return None
    return 1.0 - 3.0 / (4.0 * n - 9.0)


@dataclass(frozen=True, slots=True)
class CoxIndex:
    """A Cox index with its inputs, or the reason it is undefined.

    Attributes
    ----------
    value
        ``ω · [logit(p_treated) − logit(p_control)] / 1.65``, or ``None`` when undefined.
    p_control
        Comparison proportion ``p_c``.
    effect
        Difference in proportions.
    p_treated
        ``p_c + effect``.
    n
        Students in both groups (``N`` of ``ω``).
    omega
        ``1 − 3 / (4N − 9)``, or ``None`` when ``N ≤ 2.25``.
    reason
        Why the index is undefined, ``None`` when it is defined.
    """

    value: float | None
    p_control: float
    effect: float
    p_treated: float
    n: float
    omega: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "p_control": self.p_control, "effect": self.effect,
                "p_treated": self.p_treated, "n": self.n, "omega": self.omega, "scale": COX_SCALE,
                "formula": "omega * (logit(p_control + effect) - logit(p_control)) / 1.65, "
                           "omega = 1 - 3 / (4 n - 9)",
                "reason": self.reason}


def cox_index(p_control: float, effect: float, *, n: float) -> CoxIndex:
    """The WWC Cox index of a difference ``effect`` in proportions from ``p_control``, for ``n`` students in all.

    Undefined (``value`` None, with the reason) when ``p_control`` or ``p_control + effect`` is outside (0, 1),
    an input is not finite, or ``n ≤ 2.25``: see the module docstring for this convention.

    Examples
    --------
    >>> round(cox_index(0.10, -0.02, n=1000).value, 6)
    -0.148447
    >>> cox_index(0.02, -0.05, n=1000).reason
    'the treated-side proportion p + effect = -0.03 is not strictly between 0 and 1: its logit is not finite'
    """
    pc, eff, nn = _finite(p_control), _finite(effect), _finite(n)
    pc_v = math.nan if pc is None else pc
    eff_v = math.nan if eff is None else eff
    n_v = math.nan if nn is None else nn
    pt = pc_v + eff_v
    omega = hedges_omega(n_v)

    def undefined(reason: str) -> CoxIndex:
        return CoxIndex(None, pc_v, eff_v, pt, n_v, omega, reason)

    if pc is None or eff is None:
        return undefined(f"the proportion ({p_control!r}) or the effect ({effect!r}) is not a finite number")
    if not 0.0 < pc < 1.0:
        return undefined(f"the comparison proportion p = {pc:.6g} is not strictly between 0 and 1: its logit is not "
                         "finite")
    if not 0.0 < pt < 1.0:
        return undefined(f"the treated-side proportion p + effect = {pt:.6g} is not strictly between 0 and 1: its "
                         "logit is not finite")
    if omega is None:
        return undefined(f"the number of students N = {n!r} is not above 2.25: the small-sample factor "
                         "1 − 3/(4N − 9) is not positive")
    value = omega * (math.log(pt / (1.0 - pt)) - math.log(pc / (1.0 - pc))) / COX_SCALE
    return CoxIndex(value, pc, eff, pt, n_v, omega, None)
