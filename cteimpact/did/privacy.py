"""Small-cell suppression of difference-in-differences results: what a published DiD result may show.

The rule (one rule, applied the same way to results files, tables, figures and the command line):

* **students.** Cells are counted in students: each row of the data is one student unless a student-count column
  is named (``students=``, for aggregated data such as a district × cohort panel, where each row's count is
  summed). The counts come from :attr:`cteimpact.did.panel.StaggeredData.cohort_period_students`.
* **what an estimate describes.** ATT(g,t) compares cohort ``g`` with its comparison group (never-treated, or
  never- and not-yet-treated cohorts) between the base period and ``t``: it describes the cohort's students and
  the comparison group's students in each of the two periods. Its cell size is the smallest of those four counts.
  An aggregate (simple ATT, a cohort's ATT, an event time, a calendar period, an overall parameter) describes the
  students of every cohort it averages (each cohort counted once, in the smaller of its periods) and the
  comparison groups of its cells; its size is the smaller of the treated total and the smallest comparison group.
* **primary suppression.** An estimate whose size is below ``min_cell`` is hidden: estimate, standard error,
  test, interval, effective N and its cell counts are not shown; it keeps its label, ``suppressed = true`` and the
  reason (which states the size only as "fewer than ``min_cell``").
* **complementary suppression.** An aggregate is a weighted average of its cells (and an overall parameter of its
  family's elements): with the aggregate and all but one component shown, the hidden one would follow, and an
  aggregate of one component is that component. Each aggregate and its components form a group, within which the
  rule of :func:`cteimpact.provenance.suppression.small_cell_mask` applies (at least two hidden members that
  together describe at least ``min_cell`` students); groups overlap (a cell enters its cohort, its event time and
  its calendar period) and the rule is applied until none changes. The smallest shown member is hidden first, so
  the simple ATT and the overall parameters, which average every cohort, are hidden last. When rows are
  students, cohort sizes add up to the number of units shown in the summary, so the same rule applies to the
  cohort sizes: the cell counts (``n_treated``, ``n_comparison``) and
  the effective N of any row involving a cohort whose size is hidden are not shown.
* **what depends on a hidden estimate** is hidden with it: its wild-bootstrap result and its row of the sampling
  distribution (a suppressed estimate cannot be priced). The pre-trend tests, HonestDiD sensitivity and TWFE
  comparison combine every cohort and are shown.
* **diagnostic tables** (:func:`suppress_baseline_equivalence`, :func:`suppress_bacon`,
  :func:`suppress_sun_abraham`, :func:`suppress_effect_size`) hide rows describing fewer than ``min_cell`` students
  with :func:`cteimpact.provenance.suppression.suppress_small_cells` (complementary suppression within the rows
  that add up to a total).

Results computed from sufficient statistics in a database engine
(:class:`~cteimpact.did.sufficient.SufficientDiDResults`) follow the same rule (:func:`suppress_sufficient`): the
students of each cohort and period are the rows the engine counted for it (rows are students, or unit-periods of a
panel; a student-count column is not supported there), the cells are the fit's own.

Estimation is untouched: every estimate uses all rows; only what is shown changes. The decision depends only on
the counts, so it is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.did.grouptime import enumerate_cells
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import check_min_cell, small_cell_mask, suppress_small_cells, suppression_note

if TYPE_CHECKING:
    from cteimpact.did.aggregation import Estimand
    from cteimpact.did.bacon import BaconDecomposition
    from cteimpact.did.panel import StaggeredData
    from cteimpact.did.results import DiDResults
    from cteimpact.did.sufficient.results import SufficientDiDResults

__all__ = ["CellCounts", "DiDSuppression", "counts_suppression", "did_suppression", "suppress_bacon",
           "suppress_baseline_equivalence", "suppress_descriptives", "suppress_did", "suppress_effect_size",
           "suppress_sufficient", "suppress_sun_abraham"]


def _small(min_cell: int) -> str:
    return f"fewer than {min_cell} students in the treated cohort or its comparison group"


def _complement(min_cell: int) -> str:
    return (f"complementary suppression: shown with the aggregate it enters, it would reveal an estimate of fewer "
            f"than {min_cell} students")


@dataclass(frozen=True)
class DiDSuppression:
    """What the small-cell rule hides in one DiD result.

    Attributes
    ----------
    min_cell
        The minimum applied.
    hidden
        Label of every hidden estimate (``Y``, ``Y[group=2015]``, ``Y[g=2015,t=2016]``...) → reason.
    hidden_cohorts
        Cohorts (0 = never treated) whose size is not shown (empty when rows are not students).
    cohort_students
        Students of each cohort (the smaller over periods), used for the tables beside the estimator.
    students_are_rows
        True when each row of the data is one student (no student-count column).
    """

    min_cell: int
    hidden: Mapping[str, str]
    hidden_cohorts: frozenset[float]
    cohort_students: Mapping[float, float]
    students_are_rows: bool


@dataclass(frozen=True)
class CellCounts:
    """What the small-cell rule reads of one result: its group-time cells and the students of each cohort in each
    period. The in-memory results take them from their prepared data (:func:`did_suppression`), the results computed
    from sufficient statistics from the engine's cohort × period counts (:func:`suppress_sufficient`); the rule is
    the same.

    Attributes
    ----------
    cells
        The group-time cells (:func:`cteimpact.did.grouptime.enumerate_cells`), in the order of the estimands'
        coefficient vectors.
    students
        Cohort (0 = never treated) → students in each period.
    n_periods
        Periods.
    students_are_rows
        True when each row of the data is one student (no student-count column).
    students_column
        The student-count column, or ``None``.
    """

    cells: Sequence[Any]
    students: Mapping[float, np.ndarray]
    n_periods: int
    students_are_rows: bool
    students_column: str | None = None


def _students(d: StaggeredData) -> Mapping[float, np.ndarray]:
    if not d.cohort_period_students:
        raise OptionError("these results do not carry student counts (prepared data without "
                          "cohort_period_students); re-fit them to apply the small-cell rule")
    return d.cohort_period_students


def _counts_of(res: DiDResults) -> CellCounts:
    """The cells and student counts of in-memory results (from their prepared data)."""
    d = res.data
    if d is None:
        raise OptionError("these results do not carry their prepared data; the small-cell rule needs the cohort "
                          "sizes")
    s = _students(d)
    cells = enumerate_cells(d.times, d.groups, d.row_cohort, anticipation=d.anticipation,
                            base_period=res.options["base_period"], control=res.options["control"])
    return CellCounts(cells, s, int(d.times.size), d.students is None, d.students)


def did_suppression(res: DiDResults, min_cell: int) -> DiDSuppression:
    """Decide which estimates of ``res`` are hidden (see the module docstring)."""
    return counts_suppression(_counts_of(res), res.estimands, res.outcome, min_cell)


def counts_suppression(counts: CellCounts, estimands: Sequence[Estimand], outcome: str,
                       min_cell: int) -> DiDSuppression:
    """Decide which of ``estimands`` are hidden, from the cells and student counts alone (the rule of the module
    docstring; the estimates are needed only to tell reported ones from cells that could not be estimated)."""
    from cteimpact.did.results import estimand_label

    min_cell = check_min_cell(min_cell)
    s = counts.students
    sizes = _estimand_sizes(estimands, counts.cells, s, counts.n_periods)
    # only estimates that are reported take part (failed cells are not estimates)
    reported = np.array([math.isfinite(e.estimate) for e in estimands])
    size_in = np.where(reported, sizes, np.inf)
    groups = [[p for p in g if reported[p]] for g in _suppression_groups(estimands)]
    mask = small_cell_mask(size_in, min_cell=min_cell, groups=groups)
    hidden: dict[str, str] = {}
    for i, e in enumerate(estimands):
        if mask[i] and reported[i]:
            hidden[estimand_label(outcome, e)] = _small(min_cell) if sizes[i] < min_cell else _complement(min_cell)

    cohort_students = {c: float(v.min()) for c, v in s.items()}
    hidden_cohorts: frozenset[float] = frozenset()
    if counts.students_are_rows:
        keys = sorted(cohort_students)
        cmask = small_cell_mask([cohort_students[c] for c in keys], min_cell=min_cell, groups=[list(range(len(keys)))])
        hidden_cohorts = frozenset(c for c, m in zip(keys, cmask, strict=True) if m)
    return DiDSuppression(min_cell, hidden, hidden_cohorts, cohort_students, counts.students_are_rows)


def _estimand_sizes(estimands: Sequence[Estimand], cells: Sequence[Any], s: Mapping[float, np.ndarray],
                    n_periods: int) -> np.ndarray:
    """Students each estimate describes: the smaller of its treated total (each cohort once, in the smaller of its
    periods) and its smallest comparison group; NaN for an estimate of no cell."""
    zero = np.zeros(n_periods)

    def students(cohort: float, ti: int) -> float:
        return float(s.get(float(cohort), zero)[ti])

    treated = np.array([min(students(c.group, c.t_idx), students(c.group, c.b_idx)) for c in cells])
    comparison = np.array([min(sum(students(k, c.t_idx) for k in c.controls),
                               sum(students(k, c.b_idx) for k in c.controls)) for c in cells])
    sizes = np.empty(len(estimands))
    for i, e in enumerate(estimands):
        comps = list(e.cells)
        if not comps:
            sizes[i] = math.nan
            continue
        by_cohort: dict[float, float] = {}
        for k in comps:
            g = cells[k].group
            by_cohort[g] = min(by_cohort.get(g, math.inf), float(treated[k]))
        sizes[i] = min(sum(by_cohort.values()), float(min(comparison[k] for k in comps)))
    return sizes


def _suppression_groups(estimands: Sequence[Estimand]) -> list[list[int]]:
    """Each aggregate with its components: with the aggregate shown, one hidden component would follow from the
    others (and an aggregate of a single hidden component would show it), so the aggregate is a member too; and
    each family's overall parameter with its elements."""
    position = {id(e): i for i, e in enumerate(estimands)}
    cell_position = {k: i for i, e in enumerate(estimands) if e.family == "attgt" for k in e.cells}
    groups: list[list[int]] = []
    for i, e in enumerate(estimands):
        if e.family == "attgt":
            continue
        groups.append([i, *(cell_position[k] for k in e.cells if k in cell_position)])
    for fam in ("group", "dynamic", "calendar"):
        overall = [position[id(e)] for e in estimands if e.family == fam and e.element is None]
        elems = [position[id(e)] for e in estimands if e.family == fam and e.element is not None
                 and (fam != "dynamic" or float(e.element) >= 0)]
        if overall:
            groups.append([overall[0], *elems])
    return groups


def _cohorts_of(res: DiDResults, label: str) -> set[float]:
    """Cohorts (treated and comparison) whose units an estimate's effective N counts."""
    if res.data is None:
        return set()
    return _cohorts_in(_counts_of(res).cells, res.estimands[res.estimand_labels.index(label)])


def _cohorts_in(cells: Sequence[Any], estimand: Estimand) -> set[float]:
    out: set[float] = set()
    for k in estimand.cells:
        out.add(cells[k].group)
        out.update(cells[k].controls)
    return out


def suppress_did(res: DiDResults, min_cell: int) -> DiDResults:
    """``res`` as it may be published (see the module docstring for the rule).

    Raises
    ------
    OptionError
        ``min_cell`` is not a whole number of at least 1, or ``res`` lacks its prepared data.
    """
    counts = _counts_of(res)
    sup = counts_suppression(counts, res.estimands, res.outcome, min_cell)
    fields = _published_fields(res, counts, sup)
    wild = {k: v for k, v in res.wild.items() if k not in sup.hidden}
    return replace(res, **fields, wild=wild)


def suppress_sufficient(res: SufficientDiDResults, min_cell: int) -> SufficientDiDResults:
    """Results computed from sufficient statistics (:class:`~cteimpact.did.sufficient.SufficientDiDResults`) as
    they may be published: the rule of the module docstring applied to the engine's cohort × period row counts
    (each row is one student, or one unit-period of a panel), exactly as :func:`suppress_did` applies it to the
    prepared data of the in-memory results.

    Raises
    ------
    OptionError
        ``min_cell`` is not a whole number of at least 1, or ``res`` lacks its group-time fit.
    """
    fit = res.fit
    if fit is None:
        raise OptionError("these results do not carry their group-time fit; the small-cell rule needs its cohort × "
                          "period counts")
    layout = fit.statistics.layout
    students = {float(c): np.asarray(layout.cohort_period_count[i], dtype=float)
                for i, c in enumerate(layout.cohorts)}
    counts = CellCounts(fit.cells, students, int(layout.times.size), True, None)
    sup = counts_suppression(counts, res.estimands, res.outcome, min_cell)
    return replace(res, **_published_fields(res, counts, sup))


def _published_fields(res: Any, counts: CellCounts, sup: DiDSuppression) -> dict[str, Any]:
    """The fields of a Callaway–Sant'Anna result (in memory or from sufficient statistics: both have estimates,
    estimands, their labels, standard errors and covariance, the group-time table and the inference rows) that the
    small-cell rule changes."""
    hidden = sup.hidden
    hc = sup.hidden_cohorts
    cells = counts.cells
    estimates = []
    for e in res.estimates:
        if e.label in hidden:
            estimates.append(e.suppress(hidden[e.label]))
        elif (hc and e.n_effective is not None
              and _cohorts_in(cells, res.estimands[res.estimand_labels.index(e.label)]) & hc):
            estimates.append(replace(e, n_effective=None))
        else:
            estimates.append(e)
    est_se = np.array(res.estimand_se, dtype=float, copy=True)
    cov = np.array(res.covariance, dtype=float, copy=True)
    estimands: list[Estimand] = []
    for i, (lab, est) in enumerate(zip(res.estimand_labels, res.estimands, strict=True)):
        if lab in hidden:
            est_se[i] = math.nan
            cov[i, :] = math.nan
            cov[:, i] = math.nan
            estimands.append(replace(est, estimate=math.nan))
        else:
            estimands.append(est)
    gt = res.group_time.copy()
    labels_gt = [res.estimand_labels[i] for i, e in enumerate(res.estimands) if e.family == "attgt"]
    row_hidden = np.array([lab in hidden for lab in labels_gt], dtype=bool)
    for col in ("att", "se", "ci_lower", "ci_upper"):
        gt[col] = gt[col].astype(float).where(~row_hidden)
    treated_hidden = row_hidden.copy()
    comparison_hidden = row_hidden.copy()
    if hc:
        treated_hidden |= np.array([c.group in hc for c in cells], dtype=bool)
        comparison_hidden |= np.array([bool(set(c.controls) & hc) for c in cells], dtype=bool)
    gt["n_treated"] = pd.array([None if h else int(v) for v, h in zip(gt["n_treated"], treated_hidden, strict=True)],
                               dtype="Int64")
    gt["n_comparison"] = pd.array([None if h else int(v) for v, h in zip(gt["n_comparison"], comparison_hidden,
                                                                         strict=True)], dtype="Int64")
    gt["suppressed"] = row_hidden
    gt["suppression"] = [hidden.get(lab) for lab in labels_gt]
    n_hidden = sum(e.suppressed for e in estimates)
    note = suppression_note(sup.min_cell, n_hidden)
    if hc:
        note += (f"; the sizes of {len(hc)} cohort(s) are not shown (fewer than {sup.min_cell} students, or they would "
                 "reveal such a cohort by subtraction from the number of units)")
    privacy = {"min_cell": sup.min_cell, "suppressed_estimates": int(n_hidden),
               "hidden_cohort_sizes": sorted(hc), "students": counts.students_column, "note": note}
    numbers = ("p_value_simultaneous", "std_error_influence_function", "std_error_multiplier_bootstrap")
    inference = {lab: ({**row, **dict.fromkeys(numbers)} if lab in hidden else row)
                 for lab, row in res.inference.items()}
    return {"estimates": tuple(estimates), "estimands": tuple(estimands), "estimand_se": est_se, "covariance": cov,
            "group_time": gt, "privacy": privacy, "inference": inference}


def _cohort_size(sup: DiDSuppression, cohort: float) -> float:
    return float(sup.cohort_students.get(float(cohort), math.nan))


def _values(frame: pd.DataFrame, skip: Sequence[str]) -> list[str]:
    return [c for c in frame.columns if c not in skip]


def suppress_baseline_equivalence(table: pd.DataFrame, res: DiDResults, min_cell: int) -> pd.DataFrame:
    """Baseline-equivalence rows (one per cohort) with the cohorts of fewer than ``min_cell`` students (or whose
    comparison group is that small) hidden: means, standard deviations, sizes, effect size and WWC category, with
    ``suppressed = true`` and the reason in ``suppression``. Complementary suppression runs over all rows (cohort
    sizes add up to the number of units)."""
    if table.empty:
        return table.assign(suppressed=pd.Series(dtype=bool), suppression=pd.Series(dtype=object))
    d = res.data
    if d is None:
        raise OptionError("these results do not carry their prepared data; the small-cell rule needs them")
    s = _students(d)
    notyet = res.options.get("control") == "notyet"
    sizes = []
    for r in table.itertuples(index=False):
        g, base = float(r.cohort), float(r.baseline_period)
        bi = int(np.searchsorted(d.times, base))
        limit = base + d.anticipation
        treated = float(s.get(g, np.zeros(d.times.size))[bi])
        comp = sum(float(v[bi]) for c, v in s.items()
                   if c != g and (c == 0 or (notyet and c > limit)))
        sizes.append(min(treated, comp))
    frame = table.copy()
    frame["_size"] = sizes
    st = suppress_small_cells(frame, n_column="_size", min_cell=min_cell,
                              value_columns=_values(frame, ("cohort", "baseline_period", "kind", "_size")))
    out = st.values.drop(columns=["_size"])
    hidden = st.suppressed["_size"].to_numpy()
    small = frame["_size"].to_numpy() < check_min_cell(min_cell)
    out["suppressed"] = hidden
    out["suppression"] = [None if not h else (_small(min_cell) if sm else _complement(min_cell))
                          for h, sm in zip(hidden, small, strict=True)]
    return out


def suppress_descriptives(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Descriptive statistics by cohort (:func:`cteimpact.did.descriptives.cohort_descriptives`) as they may be
    published: a cohort of fewer than ``min_cell`` students in one of its periods (``min_period_students``, the
    cohort size of the estimates' rule) has every count, mean and standard deviation hidden (``null``),
    ``suppressed = true`` and the reason in ``suppression``; complementary suppression runs over all cohorts (their
    student counts add up to the total)."""
    if table.empty:
        return table.assign(suppressed=pd.Series(dtype=bool), suppression=pd.Series(dtype=object))
    frame = table.copy()
    frame["_size"] = frame["min_period_students"].astype(float)
    keep = ("cohort", "cohort_label", "pre_first_period", "pre_last_period", "_size")
    st = suppress_small_cells(frame, n_column="_size", min_cell=min_cell, value_columns=_values(frame, keep))
    out = st.values.drop(columns=["_size"])
    hidden = st.suppressed["_size"].to_numpy()
    small = frame["_size"].to_numpy() < check_min_cell(min_cell)
    out["suppressed"] = hidden
    out["suppression"] = [
        None if not h else (f"fewer than {min_cell} students in a period of the cohort" if s
                            else f"complementary suppression: shown, it would reveal a cohort of fewer than "
                                 f"{min_cell} students by subtraction from the total")
        for h, s in zip(hidden, small, strict=True)]
    return out


def suppress_bacon(bd: BaconDecomposition, res: DiDResults, min_cell: int) -> BaconDecomposition:
    """The Goodman-Bacon decomposition with every 2×2 comparison involving a cohort of fewer than ``min_cell``
    students hidden (estimate and weight; the weights reveal cohort shares), complementary suppression within
    each comparison type (the summary by type is their weighted average)."""
    sup = did_suppression(res, min_cell)
    tab = bd.two_by_twos.copy()
    tab["_size"] = [min(_cohort_size(sup, a), _cohort_size(sup, b)) for a, b in zip(tab["treated"], tab["control"],
                                                                                   strict=True)]
    st = suppress_small_cells(tab, n_column="_size", value_columns=["estimate", "weight"], min_cell=min_cell,
                              by="type")
    out = st.values.drop(columns=["_size"])
    out["suppressed"] = st.suppressed["_size"].to_numpy()
    return replace(bd, two_by_twos=out)


def suppress_sun_abraham(record: Mapping[str, Any], res: DiDResults, min_cell: int) -> dict[str, Any]:
    """The Sun-Abraham record (:meth:`SunAbrahamResult.record`) with cohort × event-time effects of cohorts of
    fewer than ``min_cell`` students hidden (complementary within each event time, whose estimate averages them)
    and event-time estimates of fewer than ``min_cell`` students hidden."""
    sup = did_suppression(res, min_cell)
    out = dict(record)
    ce = pd.DataFrame(record.get("cohort_effects") or [])
    if not ce.empty:
        ce["_size"] = [_cohort_size(sup, g) for g in ce["cohort"]]
        st = suppress_small_cells(ce, n_column="_size", value_columns=["estimate", "std_error", "weight"],
                                  min_cell=min_cell, by="event_time")
        vals = st.values.drop(columns=["_size"])
        vals["suppressed"] = st.suppressed["_size"].to_numpy()
        out["cohort_effects"] = vals.to_dict(orient="records")
        totals = ce.groupby("event_time")["_size"].sum()
        es = pd.DataFrame(record.get("event_study") or [])
        if not es.empty:
            es["_size"] = [float(totals.get(e, math.nan)) for e in es["event_time"]]
            st2 = suppress_small_cells(es, n_column="_size", min_cell=min_cell, complementary=False,
                                       value_columns=_values(es, ("event_time", "_size")))
            vals2 = st2.values.drop(columns=["_size"])
            vals2["suppressed"] = st2.suppressed["_size"].to_numpy()
            out["event_study"] = vals2.to_dict(orient="records")
    if res.outcome in sup.hidden:
        out["att"] = None
        out["att_se"] = None
        out["suppressed"] = True
    return out


def suppress_effect_size(record: Mapping[str, Any], res: DiDResults, min_cell: int) -> dict[str, Any]:
    """An effect-size record (:meth:`EffectSize.to_dict`): hidden with its estimate; its unit-period counts are
    not shown when they involve a cohort whose size is hidden."""
    sup = did_suppression(res, min_cell)
    out = dict(record)
    label = str(record.get("label"))
    if label in sup.hidden:
        for k in ("estimate", "std_error", "ci_lower", "ci_upper", "att", "n_treated", "n_comparison", "omega",
                  "standardiser", "n_students_treated", "n_students_comparison", "mean_treated", "sd_treated",
                  "mean_comparison", "sd_comparison"):
            out[k] = None
        out["suppressed"] = True
        out["suppression"] = sup.hidden[label]
        return out
    if sup.hidden_cohorts and label in res.estimand_labels and _cohorts_of(res, label) & sup.hidden_cohorts:
        for k in ("n_treated", "n_comparison", "n_students_treated", "n_students_comparison"):
            out[k] = None
    out["suppressed"] = False
    out["suppression"] = None
    return out
