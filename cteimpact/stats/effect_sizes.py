"""Effect sizes of the What Works Clearinghouse (WWC), in one place for both designs.

The WWC puts every finding on one scale, a standardized mean difference, so that findings on continuous and on
yes-or-no outcomes can be compared and judged against the same thresholds:

* **Hedges' g** of a continuous outcome (:func:`hedges_g`, :func:`standardized_difference`)::

      g = ω · (ȳ_t − ȳ_c) / S,     S = sqrt(((n_t − 1) s_t² + (n_c − 1) s_c²) / (n_t + n_c − 2)),

  with ``S`` the pooled within-group standard deviation (:func:`pooled_sd`, :func:`pooled_sd_from_values`).
* **The Cox index** of a proportion (:func:`cox_index`)::

      d_Cox = ω · [logit(p_t) − logit(p_c)] / 1.65,     logit(p) = ln(p / (1 − p)),

  the difference in log-odds divided by 1.65 (:data:`COX_SCALE`), which puts it on the scale of ``g``.
* **The small-sample correction** of both (:func:`hedges_omega`), defined for ``N ≥ 3``::

      ω = 1 − 3 / (4N − 9),     N = n_t + n_c.

* **Baseline equivalence** (:func:`wwc_category`): a baseline difference ``|d| ≤ 0.05`` satisfies equivalence,
  ``0.05 < |d| ≤ 0.25`` satisfies it only with statistical adjustment for that characteristic, ``|d| > 0.25`` does
  not (:data:`EQUIVALENCE_SATISFIED`, :data:`EQUIVALENCE_LIMIT`).

**Edge convention (the one convention of the package).** The Cox index of a proportion at 0 or 1, or beyond
(a local fit or a counterfactual ``p_t − ATT`` can be estimated outside [0, 1]), is *undefined*: a logit of 0 or 1
is infinite, and the WWC formula then gives no finite effect size. :func:`cox_index` returns a :class:`CoxIndex`
whose ``value`` is ``None`` and whose ``reason`` says why; it never clips the proportions to a band such as
[0.001, 0.999] and never adds a continuity correction (adding 0.5 to each cell of a 2 × 2 table is a convention of
meta-analyses of counts; the proportions here are estimates, with no cells to add to): either would publish a
number that depends on an arbitrary constant. The same holds when an input is NaN or infinite (a fit that failed)
and when ``N < 3`` (see below). A caller that needs an exception — a user asked for one
effect size and it does not exist — raises its own typed error with :attr:`CoxIndex.reason`.

Functions that return a plain number (:func:`hedges_omega`, :func:`pooled_sd`, :func:`standardized_difference`,
:func:`hedges_g`) have no way to say "undefined" and raise instead: :class:`~cteimpact.errors.OptionError` for a
count or standard deviation outside its range, :class:`~cteimpact.errors.DesignError` for a pooled standard
deviation of zero (nothing varies: no standardized difference exists). Every function refuses an argument that is
not a real number (a string, ``None``, a boolean) with an :class:`~cteimpact.errors.OptionError` naming it.

References
----------
What Works Clearinghouse (2022). *What Works Clearinghouse Procedures and Standards Handbook, Version 5.0*.
U.S. Department of Education, Institute of Education Sciences, National Center for Education Evaluation and
Regional Assistance. Effect sizes of findings: Hedges' g with the small-sample correction ω for continuous
outcomes, the Cox index with the same ω for dichotomous outcomes; baseline equivalence of group designs. Version 4.1
(2020), Appendix E, gives the same formulas. Some tools (R ``baselinr``) report the Cox index without ω:
``correction=False`` gives it.

WWC, "Reference Resources: Equivalence" (ies.ed.gov/ncee/wwc/Document/256): the 0.05 and 0.25 thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np

from cteimpact.errors import DesignError, OptionError

__all__ = ["COX_SCALE", "EQUIVALENCE_LIMIT", "EQUIVALENCE_SATISFIED", "EQUIVALENCE_SOURCE", "CoxIndex",
           "WWCCategory", "cox_index", "hedges_g", "hedges_omega", "pooled_sd", "pooled_sd_from_values",
           "standardized_difference", "wwc_category"]

COX_SCALE = 1.65
"""The Cox index divides the difference in log-odds by 1.65 to put it on the scale of a standardized mean
difference (WWC)."""
EQUIVALENCE_SATISFIED = 0.05
"""Baseline difference (SD units) at or below which equivalence holds without adjustment (WWC)."""
EQUIVALENCE_LIMIT = 0.25
"""Baseline difference (SD units) above which equivalence cannot be established (WWC)."""
EQUIVALENCE_SOURCE = ("WWC 'Reference Resources: Equivalence' (ies.ed.gov/ncee/wwc/Document/256), citing Handbook "
                      "Version 3.0 pp. 15-16; same rule in Handbook Version 4.1 Section II and Version 5.0")
"""Where the baseline-equivalence thresholds come from (recorded beside every verdict)."""
OMEGA_MIN_N = 3
"""``ω = 1 − 3 / (4N − 9)`` is a correction factor, in [0, 1), only for ``N ≥ 3`` (see :func:`hedges_omega`)."""

WWCCategory = Literal["satisfied", "satisfied with adjustment", "not satisfied"]


def _real(name: str, value: Any) -> float:
    """``value`` as a float (NaN and infinities kept); a value that is not a real number is refused, naming it."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise OptionError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def _omega(n: float) -> float | None:
    """``1 − 3 / (4N − 9)``, or ``None`` when ``N`` is not a finite number of at least 3."""
    if not math.isfinite(n) or n < OMEGA_MIN_N:
        return None
    return 1.0 - 3.0 / (4.0 * n - 9.0)


def hedges_omega(n_total: float) -> float:
    """The WWC small-sample correction ``ω = 1 − 3 / (4N − 9)`` of Hedges' g and the Cox index.

    ``ω`` is Hedges' approximation ``1 − 3 / (4 df − 1)`` of the exact bias correction of a standardized mean
    difference with ``df = N − 2`` degrees of freedom. It is a correction factor, in [0, 1), only for ``df ≥ 1``:
    at ``N = 3`` it is 0, as the exact correction is; for ``2.25 < N < 3`` it would be negative and for
    ``N < 2.25`` above 1. So ``N`` must be at least 3 (the WWC applies it to student counts, always whole numbers;
    a fractional ``N`` between 2.25 and 3 — the bound this package once used — would have flipped the sign of an
    effect size).

    Parameters
    ----------
    n_total
        ``N``: the students (observations) in both groups together.

    Returns
    -------
    float
        ``ω``, in (0, 1) for ``N > 3``; 0 at ``N = 3``.

    Raises
    ------
    OptionError
        ``n_total`` is not a number, or not a finite number of at least 3.

    Examples
    --------
    >>> hedges_omega(6)
    0.8
    >>> round(hedges_omega(1000), 8)
    0.99924831
    """
    n = _real("n_total", n_total)
    omega = _omega(n)
    if omega is None:
        raise OptionError(f"n_total = {n:g}: the small-sample correction 1 − 3/(4N − 9) needs N of at least "
                          f"{OMEGA_MIN_N} (N counts the students of both groups)")
    return omega


def _pool(var_t: Any, var_c: Any, n_t: Any, n_c: Any) -> float:
    return math.sqrt(((n_t - 1) * var_t + (n_c - 1) * var_c) / (n_t + n_c - 2))


def pooled_sd(sd_t: float, sd_c: float, n_t: float, n_c: float) -> float:
    """The pooled within-group standard deviation ``sqrt(((n_t − 1) s_t² + (n_c − 1) s_c²) / (n_t + n_c − 2))``.

    Parameters
    ----------
    sd_t, sd_c
        Standard deviations (``ddof = 1``) of the treated and comparison groups.
    n_t, n_c
        Their sizes.

    Raises
    ------
    OptionError
        An argument is not a number, a standard deviation is negative, a group has fewer than one member, or the
        groups have 2 members or fewer in all.

    Examples
    --------
    >>> pooled_sd(1.0, 3.0, 3, 3)
    2.23606797749979
    """
    st, sc = _real("sd_t", sd_t), _real("sd_c", sd_c)
    nt, nc = _real("n_t", n_t), _real("n_c", n_c)
    for name, sd in (("sd_t", st), ("sd_c", sc)):
        if sd < 0:
            raise OptionError(f"{name} = {sd:g}: a standard deviation cannot be negative")
    for name, n in (("n_t", nt), ("n_c", nc)):
        if not n >= 1:
            raise OptionError(f"{name} = {n:g}: each group needs at least one member")
    if nt + nc <= 2:
        raise OptionError(f"n_t + n_c = {nt + nc:g}: the pooled standard deviation needs more than 2 observations "
                          "in all")
    return _pool(sd_t ** 2, sd_c ** 2, n_t, n_c)


def pooled_sd_from_values(values_t: Sequence[float] | np.ndarray, values_c: Sequence[float] | np.ndarray) -> float:
    """:func:`pooled_sd` of two groups' values, from their variances (``ddof = 1``) without taking square roots
    first.

    Raises
    ------
    OptionError
        A group has fewer than 2 values (its variance is not defined).

    Examples
    --------
    >>> pooled_sd_from_values([5.0, 6.0, 7.0], [4.0, 5.0, 6.0])
    1.0
    """
    vt, vc = np.asarray(values_t), np.asarray(values_c)
    for name, v in (("values_t", vt), ("values_c", vc)):
        if v.size < 2:
            raise OptionError(f"{name} has {v.size} value(s): a standard deviation needs at least 2")
    return _pool(np.var(vt, ddof=1), np.var(vc, ddof=1), vt.size, vc.size)


def standardized_difference(difference: float, *, sd_pooled: float, n_total: float, correction: bool = True) -> float:
    """``ω · difference / S``: a difference (of means, an RD jump, an ATT or an end of its interval) in pooled
    standard deviations ``S``, with the WWC small-sample correction (Hedges' g when ``difference`` is a difference
    of group means).

    Parameters
    ----------
    difference
        The difference to standardize.
    sd_pooled
        ``S`` (:func:`pooled_sd`).
    n_total
        ``N`` of ``ω`` (:func:`hedges_omega`).
    correction
        Apply ``ω`` (the WWC's choice); ``False`` gives Cohen's d on the pooled standard deviation.

    Raises
    ------
    DesignError
        ``sd_pooled`` is zero (nothing varies: the standardized difference is undefined).
    OptionError
        An argument is not a number, ``sd_pooled`` is negative, or ``n_total`` is below 3.
    """
    s = _real("sd_pooled", sd_pooled)
    _real("difference", difference)
    if s < 0:
        raise OptionError(f"sd_pooled = {s:g}: a standard deviation cannot be negative")
    if not s > 0:
        raise DesignError("the pooled standard deviation is zero: Hedges' g is undefined")
    omega = hedges_omega(n_total) if _flag("correction", correction) else 1.0
    return omega * difference / sd_pooled


def hedges_g(difference: float, sd_t: float, sd_c: float, n_t: float, n_c: float, *,
             correction: bool = True) -> float:
    """Hedges' g of a difference of group means, as the WWC computes it: ``ω · difference / S``.

    Parameters
    ----------
    difference
        ``ȳ_t − ȳ_c``.
    sd_t, sd_c, n_t, n_c
        The groups' standard deviations and sizes (:func:`pooled_sd`); ``N = n_t + n_c`` in ``ω``.
    correction
        Apply the small-sample correction ``ω`` (default, the WWC's choice).

    Raises
    ------
    DesignError
        The pooled standard deviation is zero.
    OptionError
        See :func:`pooled_sd` and :func:`hedges_omega`.

    Examples
    --------
    Treated 5, 6, 7 and comparison 4, 5, 6: a difference of 1 in a pooled SD of 1, ``ω = 1 − 3/15 = 0.8``:

    >>> round(hedges_g(1.0, 1.0, 1.0, 3, 3), 12)
    0.8
    """
    s = pooled_sd(sd_t, sd_c, n_t, n_c)
    return standardized_difference(difference, sd_pooled=s, n_total=n_t + n_c, correction=correction)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise OptionError(f"{name} must be true or false, got {value!r}")
    return bool(value)


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
        Difference in proportions ``p_t − p_c``.
    p_treated
        ``p_t``.
    n
        Students in both groups (``N`` of ``ω``).
    omega
        ``1 − 3 / (4N − 9)`` (1 without the correction), or ``None`` when ``N < 3``.
    reason
        Why the index is undefined, ``None`` when it is defined.
    correction
        Whether ``ω`` was applied.
    """

    value: float | None
    p_control: float
    effect: float
    p_treated: float
    n: float
    omega: float | None
    reason: str | None
    correction: bool = True

    def to_dict(self) -> dict[str, Any]:
        formula = ("omega * (logit(p_control + effect) - logit(p_control)) / 1.65, omega = 1 - 3 / (4 n - 9)"
                   if self.correction else "(logit(p_control + effect) - logit(p_control)) / 1.65, without the "
                                           "small-sample correction")
        return {"value": self.value, "p_control": self.p_control, "effect": self.effect,
                "p_treated": self.p_treated, "n": self.n, "omega": self.omega, "scale": COX_SCALE,
                "formula": formula, "reason": self.reason}


def cox_index(p_control: float, effect: float | None = None, *, n: float, p_treated: float | None = None,
              correction: bool = True) -> CoxIndex:
    """The WWC Cox index of a difference in proportions: ``ω · [logit(p_t) − logit(p_c)] / 1.65``.

    Give the comparison proportion and either the difference ``effect`` (``p_t = p_control + effect``: an RD jump
    from the control side's level) or the treated proportion ``p_treated`` (``effect = p_treated − p_control``: a
    DiD's observed treated mean against its counterfactual).

    Parameters
    ----------
    p_control
        ``p_c``, the comparison group's proportion.
    effect
        The difference in proportions (not with ``p_treated``).
    n
        ``N``, the students of both groups (of ``ω``).
    p_treated
        ``p_t`` (not with ``effect``).
    correction
        Apply the small-sample correction ``ω`` (default, the WWC's choice).

    Returns
    -------
    CoxIndex
        Undefined (``value`` None, with the reason) when ``p_c`` or ``p_t`` is not strictly between 0 and 1, an
        input is NaN or infinite, or (with the correction) ``N < 3``: see the module docstring for this
        convention. Never clipped.

    Raises
    ------
    OptionError
        Both or neither of ``effect`` and ``p_treated`` given, an argument that is not a number, a negative
        ``n``, or a ``correction`` that is not true or false.

    Examples
    --------
    >>> round(cox_index(0.10, -0.02, n=1000).value, 6)
    -0.148447
    >>> round(cox_index(1 / 3, p_treated=2 / 3, n=6, correction=False).value, 7)
    0.8401784
    >>> cox_index(0.02, -0.05, n=1000).reason
    'the treated-side proportion p + effect = -0.03 is not strictly between 0 and 1: its logit is not finite'
    """
    corrected = _flag("correction", correction)
    if (effect is None) == (p_treated is None):
        raise OptionError("give the Cox index either effect (the difference in proportions) or p_treated (the "
                          f"treated proportion), not {'both' if effect is not None else 'neither'}")
    pc = _real("p_control", p_control)
    n_v = _real("n", n)
    if n_v < 0:
        raise OptionError(f"n = {n_v:g}: the number of students cannot be negative")
    if effect is not None:
        eff = _real("effect", effect)
        pt = pc + eff
        second, shown = "the effect", eff
        treated_name = "the treated-side proportion p + effect"
    else:
        pt = _real("p_treated", p_treated)
        eff = pt - pc
        second, shown = "the treated proportion", pt
        treated_name = "the treated proportion p_treated"
    omega = _omega(n_v) if corrected else 1.0

    def undefined(reason: str) -> CoxIndex:
        return CoxIndex(None, pc, eff, pt, n_v, omega, reason, corrected)

    if not (math.isfinite(pc) and math.isfinite(shown)):
        return undefined(f"the proportion ({pc!r}) or {second} ({shown!r}) is not a finite number")
    if not 0.0 < pc < 1.0:
        return undefined(f"the comparison proportion p = {pc:.6g} is not strictly between 0 and 1: its logit is not "
                         "finite")
    if not 0.0 < pt < 1.0:
        return undefined(f"{treated_name} = {pt:.6g} is not strictly between 0 and 1: its logit is not finite")
    if omega is None:
        return undefined(f"the number of students N = {n_v:g} is below {OMEGA_MIN_N}: the small-sample factor "
                         "1 − 3/(4N − 9) is no correction there")
    value = omega * (math.log(pt / (1.0 - pt)) - math.log(pc / (1.0 - pc))) / COX_SCALE
    return CoxIndex(value, pc, eff, pt, n_v, omega, None, corrected)


def wwc_category(es: float) -> WWCCategory | None:
    """The WWC baseline-equivalence category of a standardized baseline difference ``es`` (Hedges' g or the Cox
    index): ``|es| ≤ 0.05`` satisfied, ``≤ 0.25`` satisfied with adjustment, otherwise not satisfied; ``None`` for
    an effect size that does not exist (NaN or infinite), which cannot be classified.

    Raises
    ------
    OptionError
        ``es`` is not a number.

    Examples
    --------
    >>> wwc_category(-0.05), wwc_category(0.12), wwc_category(0.3)
    ('satisfied', 'satisfied with adjustment', 'not satisfied')
    """
    a = abs(_real("es", es))
    if not math.isfinite(a):
        return None
    if a <= EQUIVALENCE_SATISFIED:
        return "satisfied"
    if a <= EQUIVALENCE_LIMIT:
        return "satisfied with adjustment"
    return "not satisfied"
