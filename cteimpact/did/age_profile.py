"""The earnings path over ages: the effect of a district's launch on earnings at each age, from wage records.

Wage records are long: one row per student and year with the student's age that year and the earnings. For each
age ``a`` (19, 20, ...), each student's age-``a`` earnings become the outcome of a student-level staggered DiD
(:mod:`cteimpact.did.student_level`): entering cohorts are repeated cross-sections within districts, the treatment
timing is the district's launch year, and only the cohorts whose age-``a`` earnings are observed enter (a cohort is
observed at age ``a`` when some of its students have a wage record at that age; older ages are observed for the
earlier cohorts only). The age profile is the simple ATT at each age (cohort-size weighted mean of the
post-launch ATT(g, t) observed at that age; R ``did``'s ``aggte(type = "simple")``), with

* pointwise intervals from each age's analytic (cluster-robust) influence-function standard error;
* a simultaneous band over the ages: the ages' estimates use the same students (and districts), so their
  influence functions are stacked by cluster (by student without clustering) and perturbed with the *same*
  multipliers (Mammen or Rademacher, seeded): the band's critical value is the ``level`` quantile of the largest
  studentised deviation over the ages (sup-t), never below the pointwise normal one;
* the joint covariance of the ages' estimates (from the stacked influence functions), which gives the primary
  estimate: the mean effect over the estimated ages, equally weighted, with its standard error.

Ages at which no observed cohort entered after its district's launch (with the last wage year, the oldest ages are
seen only for cohorts that entered before any launch) are reported as not estimable with the reason.

Joining the records to the students uses the student identifier only inside this function: it is never written to
the results, their flows, or a message (counts only). Every record or student left out is recorded: the wage-record
flow (records of students not in the student file, of students outside the analysed sample, at ages not asked for,
with a missing age or earnings) and, for each age, the students' flow (cohorts not observed at that age, students
without a wage record at that age, then the estimator's own steps). A student without a record at an age where the
cohort is observed is not observed (``missing_record="exclude"``, the synthetic data's convention: attrition), or
has zero earnings (``missing_record="zero"``, the convention of unemployment-insurance wage records, where a
missing record means no covered earnings).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.config.declared import declared
from cteimpact.data.columns import ColumnMap
from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.data.validation import coerce_kind
from cteimpact.did.age_profile_results import PROFILE_COLUMNS, AgeFit, AgeProfileResults, age_label, ages_text
from cteimpact.did.estimator import CallawaySantAnna
from cteimpact.did.multiplier import MultiplierWeights, quantile_type1, two_point
from cteimpact.did.options import DEFAULT_BOOTSTRAP_SEED, DiDEstimation, check_literal
from cteimpact.did.results import DiDResults
from cteimpact.did.student_level import (
    DISTRICT,
    _arm_counts,
    _check_present,
    _constant_within_district,
    _resolve_cluster,
    check_arms,
    check_student_ids,
)
from cteimpact.errors import DuplicateRowsError, InvalidValueError, OptionError
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.intervals import check_level
from cteimpact.threads import one_blas_thread

__all__ = ["PROFILE_COLUMNS", "AgeProfileResults", "MissingRecord", "earnings_age_profile"]

MissingRecord = Literal["exclude", "zero"]
"""A student without a wage record at an age where the cohort is observed: not observed (``exclude``), or zero
earnings (``zero``)."""

_ESTIMATION = tuple(o.name for o in declared(DiDEstimation))
_IQR_NORMAL = 1.3489795003921634  # qnorm(.75) - qnorm(.25)
_DRAW_CHUNK = 128

def _whole(values: np.ndarray, column: str, what: str) -> np.ndarray:
    ok = np.isfinite(values)
    if np.any(values[ok] != np.floor(values[ok])):
        n_bad = int(np.sum(values[ok] != np.floor(values[ok])))
        raise InvalidValueError(f"{what} column '{column}' has {n_bad:,} values that are not whole numbers; ages and "
                                "cohorts must be whole years")
    return values


def _requested_ages(ages: Sequence[int] | None, present: np.ndarray, column: str) -> tuple[int, ...]:
    have = sorted(int(a) for a in np.unique(present))
    if not have:
        raise OptionError(f"the wage records have no age in column '{column}' for the students analysed")
    if ages is None:
        return tuple(have)
    if isinstance(ages, (str, bytes)) or not isinstance(ages, Sequence | np.ndarray | range):
        raise OptionError(f"ages must be a list of whole numbers, got {ages!r}")
    asked: list[int] = []
    for a in ages:
        if isinstance(a, bool) or not isinstance(a, int | np.integer | float) or not float(a).is_integer():
            raise OptionError(f"ages must be whole numbers, got {a!r}")
        asked.append(int(a))
    if not asked:
        raise OptionError("ages is empty: give at least one age (or None for every age in the wage records)")
    if len(set(asked)) != len(asked):
        raise OptionError(f"ages are repeated: {asked}")
    outside = [a for a in asked if a not in have]
    if outside:
        raise OptionError(
            f"age{'s' if len(outside) > 1 else ''} {', '.join(str(a) for a in outside)} "
            f"{'are' if len(outside) > 1 else 'is'} not in the wage records (column '{column}' has ages "
            f"{ages_text(have)} for the students analysed)")
    return tuple(sorted(asked))


def _outcome_name(earnings: str, age: int, taken: Sequence[str]) -> str:
    name = f"{earnings}_age{age}"
    if name in taken:
        raise OptionError(f"the outcome column of age {age} would be named '{name}', which is also a column the "
                          "analysis uses; rename that column")
    return name


@one_blas_thread()
def _joint_band(phi: np.ndarray, *, level: float, n_draws: int, weights: MultiplierWeights,
                seed: int | None) -> tuple[np.ndarray, float]:
    """Bootstrap standard errors of the columns of ``phi`` (clusters × estimands, each column's influence function
    summed within clusters and divided by its n: the estimate minus its limit is about the column sum) and the
    sup-t critical value at ``level``. One multiplier per cluster and draw, shared by every column."""
    tp = two_point(weights)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    g, m = phi.shape
    draws = np.empty((n_draws, m))
    for b0 in range(0, n_draws, _DRAW_CHUNK):
        b1 = min(n_draws, b0 + _DRAW_CHUNK)
        u = rng.random((b1 - b0, g)) < tp.q
        v = np.where(u, tp.b, tp.a)
        draws[b0:b1] = v @ phi
    q75 = quantile_type1(draws, 0.75, axis=0)
    q25 = quantile_type1(draws, 0.25, axis=0)
    se = (q75 - q25) / _IQR_NORMAL
    ok = se > 0
    z = float(stats.norm.ppf(0.5 + level / 2))
    if not ok.any():
        return np.where(ok, se, np.nan), z
    tmax = np.abs(draws[:, ok] / se[ok]).max(axis=1)
    crit = float(quantile_type1(tmax, level))
    return np.where(ok, se, np.nan), max(crit, z)


def _students_base(students: pd.DataFrame, *, student: str, district: str, cohort: str, first_treated: str,
                   cluster: str | None, where: Sequence[str], source: str) -> tuple[pd.DataFrame, SampleFlow]:
    frame, flow = students, SampleFlow(source, len(students), unit="students")
    check_student_ids(frame, student)
    if where:
        frame, flow = apply_restrictions(frame, flow, where)
    for col, what in ((district, "district"), (cohort, "cohort"), (first_treated, "launch year")):
        frame, flow = flow.apply(frame, frame[col].notna().to_numpy(), f"{what} '{col}' missing")
    _constant_within_district(frame, first_treated, district, "launch year")
    if cluster is not None and cluster != district:
        frame, flow = flow.apply(frame, frame[cluster].notna().to_numpy(), f"cluster '{cluster}' missing")
        _constant_within_district(frame, cluster, district, "cluster")
    _whole(coerce_kind(frame[cohort], "numeric", what=f"cohort column '{cohort}'").to_numpy(dtype=float), cohort,
           "cohort")
    return frame.reset_index(drop=True), flow


def _wage_records(wages: pd.DataFrame, all_ids: pd.Index, base_ids: pd.Index, *, student: str, age: str,
                  earnings: str, source: str) -> tuple[pd.DataFrame, SampleFlow]:
    """The wage records of the analysed students, with every record left out recorded (counts of records and of
    students; never an identifier)."""
    flow = SampleFlow(source, len(wages), unit="wage records")
    ages = coerce_kind(wages[age], "numeric", what=f"age column '{age}'").to_numpy(dtype=float)
    earn = coerce_kind(wages[earnings], "numeric", what=f"earnings column '{earnings}'").to_numpy(dtype=float)
    frame = pd.DataFrame({"sid": wages[student].to_numpy(), "age": ages, "earnings": earn})
    frame, flow = flow.apply(frame, frame["sid"].notna().to_numpy(), f"student identifier '{student}' missing")
    frame, flow = flow.apply(frame, np.isfinite(frame["age"].to_numpy()), f"age '{age}' missing")
    _whole(frame["age"].to_numpy(), age, "age")
    frame, flow = flow.apply(frame, np.isfinite(frame["earnings"].to_numpy()), f"earnings '{earnings}' missing")
    known = frame["sid"].isin(all_ids).to_numpy()
    n_unknown = int(frame.loc[~known, "sid"].nunique())
    frame, flow = flow.apply(frame, known, f"records of {n_unknown:,} students not in the student file")
    kept = frame["sid"].isin(base_ids).to_numpy()
    n_out = int(frame.loc[~kept, "sid"].nunique())
    frame, flow = flow.apply(frame, kept, f"records of {n_out:,} students outside the analysed student sample "
                                          "(restrictions, missing district, cohort or launch year)")
    dup = frame.duplicated(["sid", "age"], keep=False)
    if dup.any():
        n_students = int(frame.loc[dup, "sid"].nunique())
        raise DuplicateRowsError(
            f"{n_students:,} students have more than one wage record at the same age ({int(dup.sum()):,} records; "
            f"columns '{student}', '{age}'); give one record per student and age (sum the earnings of a year first)")
    return frame, flow


def earnings_age_profile(
    students: pd.DataFrame,
    wages: pd.DataFrame,
    *,
    ages: Sequence[int] | None = None,
    student: str = "student_id",
    district: str = "district_id",
    cohort: str = "cohort",
    first_treated: str = "first_treated",
    age: str = "age",
    earnings: str = "earnings",
    cluster: str | None = DISTRICT,
    covariates: Sequence[str] = (),
    missing_record: MissingRecord = "exclude",
    where: Sequence[str] = (),
    level: float = 0.95,
    bootstrap: int = 999,
    multiplier: MultiplierWeights = "mammen",
    seed: int | None = DEFAULT_BOOTSTRAP_SEED,
    source: str = "students",
    wage_source: str = "wage records",
    estimation: DiDEstimation | None = None,
    **options: Any,
) -> AgeProfileResults:
    """The effect of the district's launch on earnings at each age (see the module docstring).

    Parameters
    ----------
    students
        One row per student: identifier, district, entering cohort, district launch year (0 = never).
    wages
        Wage records, one row per student and year: identifier, age, earnings (other columns are not used).
    ages
        Ages to estimate (default: every age in the records of the analysed students); an age not in the records
        is refused.
    student, district, cohort, first_treated
        Columns of the student file (``student`` also names the identifier column of the wage records).
    age, earnings
        Columns of the wage records.
    cluster
        ``"district"`` (default: the district column), another column of the student file holding whole districts
        (for example the consortium), or ``None`` (students independent).
    covariates
        Student-file covariates of the 2×2 estimators.
    missing_record
        See :data:`MissingRecord`.
    where
        Restrictions of the student file (cteimpact's restriction language), each recorded in its flow.
    level
        Confidence level of the intervals and of the band.
    bootstrap, multiplier, seed
        Draws, weights and seed of the multiplier bootstrap of the band (same seed, same band).
    source, wage_source
        Names of the two tables in the flows.
    estimation, **options
        Estimation options (:class:`~cteimpact.did.options.DiDEstimation`: ``control``, ``method``,
        ``anticipation``, ...; ``panel`` is always off: students are repeated cross-sections).

    Returns
    -------
    AgeProfileResults

    Raises
    ------
    MissingColumnError
        A named column (for example the age column of the wage records) is absent.
    OptionError
        An age not in the wage records, an unknown option, ``panel=True``, a bad level, bootstrap or seed.
    DuplicateRowsError
        A student twice in the student file, or twice at one age in the wage records (counts only).
    InvalidValueError
        A launch year varying within a district, a cluster splitting a district, a missing student identifier.
    AllMissingError
        At an age, an arm with students but no wage record (column, arm and counts named).
    DesignError
        No age can be estimated.
    """
    if not isinstance(students, pd.DataFrame) or not isinstance(wages, pd.DataFrame):
        raise OptionError("students and wages must be pandas DataFrames")
    for key in options:
        if key not in _ESTIMATION:
            raise OptionError(f"unknown option '{key}' for earnings_age_profile(); estimation options: "
                              f"{', '.join(_ESTIMATION)}")
    if options.get("panel") is True:
        raise OptionError("student cohorts are repeated cross-sections (each student appears once): panel must be "
                          "false here")
    est = dataclasses.replace(estimation if estimation is not None else DiDEstimation(), **{**options,
                                                                                          "panel": False})
    check_level(level)
    check_literal(missing_record, MissingRecord, "missing_record")
    check_literal(multiplier, MultiplierWeights, "multiplier")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 1:
        raise OptionError(f"bootstrap must be a positive number of draws, got {bootstrap!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise OptionError(f"seed must be a non-negative whole number, got {seed!r}")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    cluster_col = _resolve_cluster(cluster, district)
    _check_present(wages, {"student identifier": student, "age": age, "earnings": earnings}, "wage records")
    named = {"student identifier": student, "district": district, "cohort": cohort, "launch year": first_treated,
             "cluster": cluster_col}
    named.update({f"covariate {i + 1}": c for i, c in enumerate(covariates)})
    _check_present(students, named, "student file")

    base, student_flow = _students_base(students, student=student, district=district, cohort=cohort,
                                        first_treated=first_treated, cluster=cluster_col, where=where, source=source)
    base_ids = pd.Index(base[student])
    records, wage_flow = _wage_records(wages, pd.Index(students[student].dropna()), base_ids, student=student,
                                       age=age, earnings=earnings, source=wage_source)
    asked = _requested_ages(ages, records["age"].to_numpy(), age)
    at_ages = records["age"].isin(asked).to_numpy()
    records, wage_flow = records.loc[at_ages], wage_flow.exclude(
        int((~at_ages).sum()), f"records at ages other than {ages_text(asked)}")
    position = base_ids.get_indexer(records["sid"])
    rec_age = records["age"].to_numpy().astype(np.int64)
    rec_earn = records["earnings"].to_numpy()
    del records  # the identifiers are not needed past the join

    columns = [district, cohort, first_treated, *([cluster_col] if cluster_col not in (None, district) else []),
               *covariates]
    columns = list(dict.fromkeys(c for c in columns if c is not None))
    base_cohort = base[cohort].to_numpy(dtype=float)
    fits: list[AgeFit] = []
    for a in asked:
        fits.append(_fit_age(a, base, student_flow, columns, position[rec_age == a], rec_earn[rec_age == a],
                             base_cohort, earnings=earnings, cohort=cohort, first_treated=first_treated,
                             cluster=cluster_col, covariates=covariates, est=est, level=level,
                             missing_record=missing_record))
    done = [f for f in fits if f.results is not None]
    if not done:
        from cteimpact.errors import DesignError

        raise DesignError("no age can be estimated: " + "; ".join(f"age {f.age}: {f.reason}" for f in fits))
    return _assemble(fits, done, cluster=cluster_col, earnings=earnings,
                     level=level, bootstrap=int(bootstrap), multiplier=multiplier, seed=seed, est=est,
                     missing_record=missing_record, wage_flow=wage_flow, student_flow=student_flow, asked=asked,
                     options_record={"student": "(identifier: not recorded)", "district": district, "cohort": cohort,
                                     "first_treated": first_treated, "age": age, "earnings": earnings,
                                     "cluster": cluster_col, "covariates": list(covariates), "where": list(where)})


def _fit_age(a: int, base: pd.DataFrame, student_flow: SampleFlow, columns: list[str], pos: np.ndarray,
             earn: np.ndarray, base_cohort: np.ndarray, *, earnings: str, cohort: str,
             first_treated: str, cluster: str | None, covariates: Sequence[str], est: DiDEstimation, level: float,
             missing_record: MissingRecord) -> AgeFit:
    """One age: the students of the cohorts observed at that age with their age-``a`` earnings, and their DiD."""
    name = _outcome_name(earnings, a, columns)
    y = np.full(len(base), np.nan)
    y[pos] = earn
    observed_cohorts = np.unique(base_cohort[pos])
    in_observed = np.isin(base_cohort, observed_cohorts)
    not_observed = tuple(int(c) for c in np.unique(base_cohort[~in_observed]))
    frame = base[columns].copy()
    frame[name] = y
    flow = student_flow
    reason = (f"cohort not observed at age {a} (no wage record at that age; entering cohorts "
              f"{', '.join(str(c) for c in not_observed)})" if not_observed
              else f"cohort not observed at age {a} (none: every entering cohort has wage records at that age)")
    frame, flow = flow.apply(frame, in_observed, reason)
    missing = ~np.isfinite(frame[name].to_numpy())
    n_missing = int(missing.sum())
    t = frame[cohort].to_numpy(dtype=float)
    g = frame[first_treated].to_numpy(dtype=float)
    if missing_record == "exclude":
        # an arm whose students of observed cohorts all lack a record at this age: refused, not dropped silently
        arms = _arm_counts(frame[name].to_numpy(dtype=float), t, g, control=est.control,
                           anticipation=est.anticipation)
        check_arms(arms, f"{earnings} at age {a}", control=est.control)
        frame, flow = flow.apply(frame, ~missing, f"no wage record at age {a} (entering cohort observed at that age)")
        t, g = t[~missing], g[~missing]
    else:
        frame.loc[missing, name] = 0.0
        flow = flow.exclude(0, f"no wage record at age {a}: {n_missing:,} students counted with zero earnings")
    cohorts = tuple(int(c) for c in observed_cohorts)
    kw = {"age": a, "outcome": name, "cohorts": cohorts, "cohorts_not_observed": not_observed,
          "n_without_record": n_missing}
    lo, hi = float(t.min()), float(t.max())
    post = (g > lo + est.anticipation) & (t >= g)
    if not post.any():
        launches = g[g > 0]
        why = (f"no entering cohort observed at age {a} ({int(lo)}-{int(hi)}) entered after its district's launch"
               + (f" (earliest launch {int(launches.min())})" if launches.size else " (no district launched)"))
        return AgeFit(flow=flow, reason=why, **kw)  # type: ignore[arg-type]
    cs = CallawaySantAnna(StudentData(frame, ColumnMap(), flow), outcome=name, time=cohort, cohort=first_treated,
                          cluster=cluster, covariates=covariates, estimation=est)
    res = cs.fit(level=level)
    if name not in res.estimand_labels:
        return AgeFit(flow=res.sample_flow, reason=f"no post-launch group-time effect could be estimated at age {a}",
                      **kw)  # type: ignore[arg-type]
    return AgeFit(flow=res.sample_flow, results=res, positions=frame.index.to_numpy(dtype=np.int64),
                  **kw)  # type: ignore[arg-type]


def _influence_by_unit(res: DiDResults, label: str, unit_codes: dict[Any, int], *, clustered: bool,
                       frame_positions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the clusters (students without clustering) and the simple ATT's influence function summed within
    them, divided by n (so that the estimate minus its limit is about their sum)."""
    fit = res.fit_state
    d = res.data
    if fit is None or d is None:
        raise RuntimeError("internal error: the age's results do not carry their influence functions")
    e = res.estimands[res.estimand_labels.index(label)]
    if clustered:
        labels = d.cluster_labels
        if labels is None:
            raise RuntimeError("internal error: clustered results without cluster labels")
        values = (fit.moments @ e.coef) / d.n
        codes = np.array([unit_codes.setdefault(lab, len(unit_codes)) for lab in labels.tolist()], dtype=np.int64)
        return codes, values
    if frame_positions is None:
        raise RuntimeError("internal error: student positions are needed without clustering")
    values = res.influence.combine(e.coef) / d.n
    rows = frame_positions[np.asarray(d.row_id, dtype=np.int64)]
    codes = np.array([unit_codes.setdefault(int(r), len(unit_codes)) for r in rows.tolist()], dtype=np.int64)
    return codes, values


def _assemble(fits: list[AgeFit], done: list[AgeFit], *, cluster: str | None,
              earnings: str, level: float, bootstrap: int, multiplier: MultiplierWeights, seed: int | None,
              est: DiDEstimation, missing_record: MissingRecord, wage_flow: SampleFlow, student_flow: SampleFlow,
              asked: tuple[int, ...], options_record: dict[str, Any]) -> AgeProfileResults:
    clustered = cluster is not None
    unit_codes: dict[Any, int] = {}
    parts = []
    for f in done:
        res = f.fitted()
        parts.append(_influence_by_unit(res, f.outcome, unit_codes, clustered=clustered,
                                        frame_positions=f.positions))
    phi = np.zeros((len(unit_codes), len(done)))
    for j, (codes, values) in enumerate(parts):
        np.add.at(phi[:, j], codes, values)
    est_age = np.array([float(f.fitted().estimate(f.outcome).estimate) for f in done])
    weights = np.full(len(done), 1.0 / len(done))
    phi_all = np.column_stack([phi @ weights, phi])
    cov = phi_all.T @ phi_all
    cov = (cov + cov.T) / 2
    se_boot, crit = _joint_band(phi, level=level, n_draws=bootstrap, weights=multiplier, seed=seed)
    band_lo, band_hi = est_age - crit * se_boot, est_age + crit * se_boot
    rows: list[EffectEstimate] = []
    primary_se = math.sqrt(max(float(cov[0, 0]), 0.0))
    rows.append(EffectEstimate.from_normal(
        earnings, earnings, f"mean effect on {earnings} over ages {ages_text([f.age for f in done])} (equal weights "
                            "of the simple ATT at each age)", float(est_age.mean()), primary_se, ci_level=level,
        ci_type="pointwise", n_effective=float(max(int(f.results.n_units) for f in done if f.results is not None))))
    for f, theta in zip(done, est_age, strict=True):
        res = f.fitted()
        r = res.estimate(f.outcome)
        rows.append(EffectEstimate.from_normal(
            age_label(earnings, f.age), earnings, f"ATT on {earnings} at age {f.age} (simple: cohort-size weighted "
                                                   "mean of post-launch ATT(g,t) observed at that age)",
            float(theta), float(r.std_error), ci_level=level, ci_type="pointwise", n_effective=r.n_effective))
    options = {"ages": list(asked), **options_record, "missing_record": missing_record, "level": level,
               "bootstrap": bootstrap, "multiplier": multiplier, "seed": seed, "control": est.control,
               "method": est.method, "base_period": est.base_period, "anticipation": est.anticipation,
               "panel": False, "trim_level": est.trim_level}
    boot = {"n_draws": bootstrap, "weights": multiplier, "seed": seed, "critical_value": crit,
            "std_error": [float(s) for s in se_boot], "clustered": clustered,
            "units": "clusters" if clustered else "students", "n_units": int(phi.shape[0]),
            "band": "sup-t over the estimated ages, multipliers shared by the ages"}
    notes = ("pointwise intervals use each age's analytic influence-function standard error; the band uses the "
             "bootstrap standard errors and the sup-t critical value",)
    return AgeProfileResults(tuple(rows), options, wage_flow, earnings, asked, tuple(fits), cov, band_lo, band_hi,
                             boot, student_flow, n_clusters=int(phi.shape[0]) if clustered else None, notes=notes)
