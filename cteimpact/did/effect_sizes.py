"""Education effect sizes for difference-in-differences results, following the What Works Clearinghouse (WWC).

* Hedges' g (continuous outcomes): ``g = ω · ATT / S_pooled``, with ``S_pooled`` the pooled within-group standard
  deviation of the outcome of the treated and comparison groups and the small-sample correction
  ``ω = 1 − 3 / (4N − 9)`` (WWC *Procedures Handbook*, Version 4.1, 2020, section VI.A and Appendix E, "effect
  size for continuous outcomes"; the same formula is in Version 5.0, 2022).
* Cox index (binary outcomes): ``d_Cox = ω · [logit(p_t) − logit(p_c)] / 1.65`` (WWC *Procedures Handbook*,
  Version 4.1, Appendix E, "effect size for dichotomous outcomes"), where for a DiD effect ``p_t`` is the treated
  group's post-treatment mean and ``p_c = p_t − ATT`` its counterfactual mean. ``correction=False`` drops ``ω``
  (some tools, e.g. R ``baselinr``, report the uncorrected index).
* Baseline equivalence (WWC *Standards Handbook*, Version 4.1/5.0, "baseline equivalence" of group designs): the
  standardized difference between each cohort and its comparison units in the outcome at the cohort's base
  (pre-treatment) period; ``|ES| <= 0.05``: satisfied; ``0.05 < |ES| <= 0.25``: satisfied only with statistical
  adjustment for the baseline measure; ``|ES| > 0.25``: not satisfied (:func:`wwc_category`,
  :func:`equivalence_review`).

**Which standard deviation.** Effect sizes of student outcomes are in standard deviations of the *students'*
outcome. The treated group of an estimate is the students of the treated cohorts in the post-treatment cells
``(g, t)`` it averages, the comparison group the comparison units' students (never treated; with
``control="notyet"`` also those not yet treated) in the same periods; ``S_pooled`` pools their within-group standard
deviations, each computed over all its students (:mod:`cteimpact.did.cells`). Rows that are students give it
directly; aggregated rows (a district × cohort panel) give it exactly when the data carry each row's student-level
standard deviation and count (``outcome_sd``, ``outcome_n``/``students``). Without them the standard deviation of
the unit means is the only one available: the effect size is then computed on it, recorded with
``level = "unit_means"`` and ``comparable_to_student_level = False`` — it is larger than a student-level effect size
(the spread of district means is a fraction of the students') and must not be read as one. Baseline equivalence
uses the same groups at each cohort's base period, with student-weighted means. ``ω`` counts students.

The effect size's interval rescales the estimate's own interval (the wild cluster bootstrap interval of a headline
aggregate, a simultaneous band of an element, ...): ``ω · [lower, upper] / S`` for Hedges' g, the Cox index of each
end for proportions, so the effect size and the estimate agree on significance. Its standard error treats the
standardiser as fixed (delta method on the estimate's standard error).

The WWC formulas (:func:`hedges_omega`, :func:`pooled_sd`, :func:`hedges_g`, :func:`cox_index`,
:func:`wwc_category`) are the package's one copy in :mod:`cteimpact.stats.effect_sizes`, which the regression
discontinuity design uses too; they are importable from here as before. Where the Cox index is undefined (a
proportion at 0 or 1, or a counterfactual ``p_t − ATT`` outside (0, 1): see that module's edge convention), the
effect size and baseline equivalence asked for here do not exist, and :func:`effect_size` and
:func:`baseline_equivalence` refuse with a :class:`~cteimpact.errors.DesignError` giving the reason; an interval end
beyond (0, 1) only leaves the effect size without an interval (``note`` says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cteimpact.did.cells import GroupStats, Level, ObservationStats
from cteimpact.did.descriptives import period_value
from cteimpact.errors import DesignError, OptionError
from cteimpact.stats.effect_sizes import (
    COX_SCALE,
    EQUIVALENCE_LIMIT,
    EQUIVALENCE_SATISFIED,
    EQUIVALENCE_SOURCE,
    WWCCategory,
    cox_index,
    hedges_g,
    hedges_omega,
    pooled_sd,
    wwc_category,
)

if TYPE_CHECKING:
    from cteimpact.did.panel import StaggeredData
    from cteimpact.did.results import DiDResults

__all__ = ["EQUIVALENCE_LIMIT", "EQUIVALENCE_SATISFIED", "EffectSize", "WWCCategory", "baseline_equivalence",
           "cox_index", "effect_size", "equivalence_review", "hedges_g", "hedges_omega", "pooled_sd", "wwc_category"]

BASELINE_SOURCE = EQUIVALENCE_SOURCE
Verdict = Literal["satisfied", "satisfied with adjustment", "not satisfied", "incomplete"]


def _cox_value(p_control: float, p_treated: float, n: float, *, correction: bool, what: str) -> float:
    """The Cox index of ``p_treated`` against ``p_control``, refused (with its reason) where it is undefined."""
    cox = cox_index(p_control, p_treated=p_treated, n=n, correction=correction)
    if cox.value is None:
        raise DesignError(f"the Cox index of {what} is undefined: {cox.reason}")
    return cox.value


@dataclass(frozen=True)
class EffectSize:
    """A standardized effect with its interval and what it is standardized by.

    Attributes
    ----------
    label, kind
        The estimate standardized and the measure (``"hedges_g"`` or ``"cox_index"``).
    estimate, std_error, ci_lower, ci_upper
        The effect size, its standard error and its interval (the estimate's interval rescaled).
    ci_type
        The type of the estimate's interval that was rescaled.
    att
        The estimate.
    n_treated, n_comparison
        Unit-periods (rows) in the treated and comparison groups.
    n_students_treated, n_students_comparison
        Students behind the treated and comparison statistics (``None`` when ``level = "unit_means"``).
    omega
        The small-sample correction (``N`` = students, or rows for unit means).
    standardiser
        Hedges' g: the pooled standard deviation; Cox index: the comparison proportion ``p_c``.
    standardiser_name
        Which standard deviation (or proportion) it is, in words.
    level, comparable_to_student_level
        What the standard deviations describe (:data:`cteimpact.did.cells.Level`) and whether the effect size may
        be compared with student-level effect sizes.
    mean_treated, sd_treated, mean_comparison, sd_comparison
        The groups' means and standard deviations.
    cohorts, periods
        Treated cohorts and the periods of the treated cells (the comparison group's periods).
    treated_group, comparison_group
        The groups in words.
    note
        Anything the reader must know (unit means; an interval that could not be rescaled).
    """

    label: str
    kind: Literal["hedges_g", "cox_index"]
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    att: float
    n_treated: int
    n_comparison: int
    omega: float
    standardiser: float
    ci_type: str = "pointwise"
    standardiser_name: str = ""
    level: Level = "students"
    comparable_to_student_level: bool = True
    n_students_treated: int | float | None = None
    n_students_comparison: int | float | None = None
    mean_treated: float = math.nan
    sd_treated: float = math.nan
    mean_comparison: float = math.nan
    sd_comparison: float = math.nan
    cohorts: tuple[int | float, ...] = ()
    periods: tuple[int | float, ...] = ()
    treated_group: str = ""
    comparison_group: str = ""
    note: str | None = None
    outcome: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["cohorts"] = list(self.cohorts)
        out["periods"] = list(self.periods)
        return out


def _observations(d: StaggeredData) -> ObservationStats:
    if d.observations is None:
        raise OptionError("these prepared data do not carry their rows' statistics; re-fit to compute effect sizes")
    return d.observations


def _comparison(obs: ObservationStats, d: StaggeredData, period: int, *, notyet: bool,
                exclude: float | None = None) -> np.ndarray:
    """Comparison rows in period index ``period``: never treated, or (``notyet``) not yet treated by then."""
    limit = float(d.times[period]) + d.anticipation
    c = obs.cohort
    ok = (c == 0) | (c > limit) if notyet else c == 0
    if exclude is not None:
        ok &= c != exclude
    return ok & (obs.period == period)


def _students(level: Level, stats: GroupStats) -> int | float | None:
    if level != "students":
        return None
    return int(stats.n) if float(stats.n).is_integer() else stats.n


def _standardiser_name(obs: ObservationStats, outcome: str) -> str:
    if obs.level == "unit_means":
        return f"pooled within-group standard deviation of the unit means of {outcome} (not the students')"
    return f"pooled within-group student-level standard deviation of {outcome}"


_UNIT_MEANS_NOTE = ("the data carry no student-level standard deviation of the outcome (name it with outcome_sd), so "
                    "this effect size is on the standard deviation of unit means: it overstates a student-level "
                    "effect size and is not comparable with one")


def effect_size(results: DiDResults, label: str | None = None, *, binary: bool | None = None,
                correction: bool = True) -> EffectSize:
    """Standardized effect (Hedges' g or Cox index) of an estimate (default: the simple ATT); see the module
    docstring for the groups and the standard deviation. ``binary`` defaults to "the outcome is a 0/1 indicator of
    the students" (:meth:`cteimpact.did.cells.ObservationStats.is_binary`)."""
    d = results.data
    if d is None:
        raise OptionError("these results do not carry their data; effect sizes need the outcome values")
    obs = _observations(d)
    label = label or results.outcome
    if label not in results.estimand_labels:
        raise OptionError(f"no estimate labelled '{label}'")
    e = results.estimands[results.estimand_labels.index(label)]
    row = results.estimate(label)
    cells = sorted({results.estimands[k].cell or (math.nan, math.nan) for k in e.cells})
    notyet = results.options.get("control") == "notyet"
    treated_mask = np.zeros(obs.outcome.size, dtype=bool)
    comparison_mask = np.zeros(obs.outcome.size, dtype=bool)
    periods = sorted({int(np.searchsorted(d.times, t)) for _, t in cells})
    for g, t in cells:
        ti = int(np.searchsorted(d.times, t))
        treated_mask |= (obs.cohort == g) & (obs.period == ti)
    for ti in periods:
        comparison_mask |= _comparison(obs, d, ti, notyet=notyet)
    comparison_mask &= ~treated_mask
    ts, cs = obs.stats(treated_mask), obs.stats(comparison_mask)
    if ts.n_rows < 1 or cs.n_rows < 1 or ts.n < 2 or cs.n < 2:
        raise DesignError(f"effect sizes need at least two treated and two comparison observations in the periods "
                          f"of '{label}'; found {ts.n:g} treated and {cs.n:g} comparison")
    is_binary = obs.is_binary() if binary is None else binary
    att, se = float(e.estimate), float(row.std_error)
    omega = hedges_omega(ts.n + cs.n) if correction else 1.0
    level = obs.level
    common: dict[str, Any] = {
        "ci_type": row.ci_type, "level": level, "comparable_to_student_level": level == "students",
        "n_students_treated": _students(level, ts), "n_students_comparison": _students(level, cs),
        "mean_treated": ts.mean, "sd_treated": ts.sd, "mean_comparison": cs.mean, "sd_comparison": cs.sd,
        "cohorts": tuple(period_value(g) for g in sorted({g for g, _ in cells})),
        "periods": tuple(period_value(d.times[ti]) for ti in periods),
        "treated_group": ("students of the treated cohorts in the post-treatment cells (cohort, period) the estimate "
                          "averages" if level == "students" else
                          "unit-periods of the treated cohorts in the cells the estimate averages"),
        "comparison_group": ("students of the " + ("never- and not-yet-treated" if notyet else "never-treated")
                             + " units in the same periods" if level == "students" else
                             "unit-periods of the " + ("never- and not-yet-treated" if notyet else "never-treated")
                             + " units in the same periods"),
        "note": _UNIT_MEANS_NOTE if level == "unit_means" else None, "outcome": results.outcome,
    }
    n_t, n_c = ts.n_rows, cs.n_rows
    if not is_binary:
        s = pooled_sd(ts.sd, cs.sd, ts.n, cs.n)
        if not s > 0:
            raise DesignError(f"the pooled standard deviation of '{results.outcome}' is zero: Hedges' g is undefined")
        g_value = omega * att / s
        lo, hi = omega * row.ci_lower / s, omega * row.ci_upper / s
        return EffectSize(label, "hedges_g", g_value, omega * se / s, lo, hi, att, n_t, n_c, omega, s,
                          standardiser_name=_standardiser_name(obs, results.outcome), **common)
    p_t = ts.mean
    p_c = p_t - att
    dcox = _cox_value(p_c, p_t, ts.n + cs.n, correction=correction, what=f"'{label}'")
    sd = omega * se / (COX_SCALE * p_c * (1 - p_c))
    ends = [cox_index(p_t - ci, p_treated=p_t, n=ts.n + cs.n, correction=correction).value
            for ci in (row.ci_lower, row.ci_upper)]
    if ends[0] is not None and ends[1] is not None:
        lo, hi = ends[0], ends[1]
    else:
        lo, hi = math.nan, math.nan
        common["note"] = ((common["note"] + "; ") if common["note"] else "") + (
            "the estimate's interval reaches a counterfactual proportion outside (0, 1), where the Cox index is "
            "undefined: no interval")
    return EffectSize(label, "cox_index", dcox, sd, lo, hi, att, n_t, n_c, omega, p_c,
                      standardiser_name=("counterfactual proportion of the treated group (treated mean − estimate); "
                                         "the Cox index needs no standard deviation"), **common)


def baseline_equivalence(results: DiDResults, *, binary: bool | None = None,
                         correction: bool = True) -> pd.DataFrame:
    """WWC-style baseline equivalence of each treated cohort on the pre-period outcome.

    For cohort ``g`` the baseline is its base period (the last period before ``g − anticipation``); the
    comparison units are the never-treated units (or, with ``control="notyet"``, every unit not yet treated by
    then). One row per cohort: ``cohort`` and ``baseline_period`` (whole numbers when the periods are), rows and
    students of each group, their (student-weighted) means and student-level standard deviations (of unit means
    for aggregated rows without them; see the module docstring), the standardized difference (Hedges' g, or the
    Cox index for binary outcomes) and its WWC category.
    """
    d = results.data
    if d is None:
        raise OptionError("these results do not carry their data; baseline equivalence needs the outcome values")
    obs = _observations(d)
    notyet = results.options.get("control") == "notyet"
    is_binary = obs.is_binary() if binary is None else binary
    rows = []
    for g in d.groups:
        pre = np.flatnonzero(d.times + d.anticipation < g)
        if pre.size == 0:
            continue
        bi = int(pre[-1])
        xt = obs.stats((obs.cohort == g) & (obs.period == bi))
        xc = obs.stats(_comparison(obs, d, bi, notyet=notyet, exclude=float(g)))
        if xt.n < 2 or xc.n < 2:
            continue
        if is_binary:
            es = _cox_value(xc.mean, xt.mean, xt.n + xc.n, correction=correction,
                            what=f"cohort {period_value(g)}'s baseline difference")
            kind = "cox_index"
        else:
            es = hedges_g(xt.mean - xc.mean, xt.sd, xc.sd, xt.n, xc.n, correction=correction)
            kind = "hedges_g"
        rows.append({"cohort": period_value(g), "baseline_period": period_value(d.times[bi]),
                     "n_treated": xt.n_rows, "n_comparison": xc.n_rows,
                     "n_students_treated": _students(obs.level, xt), "n_students_comparison": _students(obs.level, xc),
                     "mean_treated": xt.mean, "mean_comparison": xc.mean, "sd_treated": xt.sd,
                     "sd_comparison": xc.sd, "effect_size": es, "kind": kind, "wwc_category": wwc_category(es)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for col in ("cohort", "baseline_period"):
        if all(isinstance(v, int) for v in frame[col]):
            frame[col] = frame[col].astype("int64")
    for col in ("n_students_treated", "n_students_comparison"):
        values = frame[col].astype(float)
        if values.notna().all() and bool(np.all(values == np.floor(values))):
            frame[col] = values.astype("int64")
    return frame


def _cohort_list(cohorts: Sequence[Any]) -> str:
    return ", ".join(str(c) for c in cohorts)


def equivalence_review(table: pd.DataFrame, *, level: Level, outcome: str) -> dict[str, Any]:
    """The WWC verdict over the cohorts of a (published) baseline-equivalence table.

    Each shown cohort keeps its category; cohorts whose row is suppressed by the small-cell rule (or has no
    category) are *not assessed* and are not judged here. ``overall`` is ``"not satisfied"`` when a shown cohort is
    not satisfied, else ``"incomplete"`` when a cohort is not assessed, else ``"satisfied with adjustment"`` when
    one needs adjustment, else ``"satisfied"``; ``verdict`` says it in a sentence naming the cohorts.
    """
    buckets: dict[str, list[Any]] = {"satisfied": [], "satisfied with adjustment": [], "not satisfied": [],
                                     "not assessed": []}
    sizes: dict[str, float] = {}
    for r in table.to_dict(orient="records"):
        cohort = r.get("cohort")
        cohort = period_value(cohort) if cohort is not None and not pd.isna(cohort) else cohort
        cat = r.get("wwc_category")
        es = r.get("effect_size")
        if bool(r.get("suppressed", False)) or not isinstance(cat, str) or es is None or pd.isna(es):
            buckets["not assessed"].append(cohort)
            continue
        buckets[cat].append(cohort)
        sizes[str(cohort)] = float(es)
    overall: Verdict
    if buckets["not satisfied"]:
        overall = "not satisfied"
    elif buckets["not assessed"]:
        overall = "incomplete"
    elif buckets["satisfied with adjustment"]:
        overall = "satisfied with adjustment"
    else:
        overall = "satisfied"

    def listed(cat: str) -> str:
        return "; ".join(f"{c} ({sizes[str(c)]:+.3f} SD)" for c in buckets[cat])

    parts = []
    if buckets["not satisfied"]:
        plural = "s" if len(buckets["not satisfied"]) > 1 else ""
        parts.append(f"not satisfied (|d| > {EQUIVALENCE_LIMIT}) for cohort{plural} {listed('not satisfied')}")
    if buckets["satisfied with adjustment"]:
        parts.append(f"satisfied only with statistical adjustment for the pre-period outcome "
                     f"({EQUIVALENCE_SATISFIED} < |d| ≤ {EQUIVALENCE_LIMIT}) for {listed('satisfied with adjustment')}")
    if buckets["satisfied"]:
        parts.append(f"satisfied (|d| ≤ {EQUIVALENCE_SATISFIED}) for {listed('satisfied')}")
    if buckets["not assessed"]:
        parts.append(f"not assessed for {_cohort_list(buckets['not assessed'])} (suppressed by the small-cell rule "
                     "or not computable)")
    verdict = f"Baseline equivalence of {outcome}: " + ("; ".join(parts) if parts else "no cohort assessed") + "."
    if buckets["satisfied with adjustment"]:
        verdict += (" Whether the difference-in-differences' differencing of the pre-period outcome counts as the "
                    "required adjustment is for the reviewer to judge.")
    return {
        "overall": overall, "satisfied": buckets["satisfied"],
        "satisfied_with_adjustment": buckets["satisfied with adjustment"],
        "not_satisfied": buckets["not satisfied"], "not_assessed": buckets["not assessed"],
        "verdict": verdict, "thresholds": {"satisfied": EQUIVALENCE_SATISFIED, "limit": EQUIVALENCE_LIMIT},
        "rule": (f"|d| ≤ {EQUIVALENCE_SATISFIED}: satisfied; {EQUIVALENCE_SATISFIED} < |d| ≤ {EQUIVALENCE_LIMIT}: "
                 f"satisfied only with statistical adjustment for the baseline measure; |d| > {EQUIVALENCE_LIMIT}: "
                 "not satisfied (d: Hedges' g, or the Cox index for binary outcomes)"),
        "level": level, "comparable_to_student_level": level == "students",
        "note": None if level == "students" else _UNIT_MEANS_NOTE.replace("this effect size is",
                                                                           "these differences are"),
        "source": BASELINE_SOURCE,
    }
