"""Student-level difference-in-differences: repeated cross-sections of student cohorts within districts.

A district launches its pathways in one year (its *launch year*, the cohort column of the staggered design; 0 =
never). Each student belongs to one entering cohort (the year the student entered 9th grade) of one district and
appears once. The students of a cohort are therefore a cross-section: time is the cohort, the treatment timing is
the district's launch year, and the group-time effect ATT(g, t) compares the students of districts launching in
``g`` who entered in ``t`` with those who entered in the base period, against the same difference among the
comparison districts' students (Callaway & Sant'Anna 2021 with the repeated cross-section 2×2 estimators of
Sant'Anna & Zhao 2020; R ``did``'s ``att_gt(panel = FALSE)``). Nothing is aggregated to district means first: the
cohort weights of the aggregations count students (R ``did``: observations), and effect sizes
(:func:`cteimpact.did.effect_size`) are in the students' own standard deviations.

:func:`student_cohort_did` is :class:`~cteimpact.did.CallawaySantAnna` with ``panel=False`` on the student file,
after the checks a student file needs and the plain call does not make:

* the launch year is constant within each district (it is the district's, not the student's), and a cluster other
  than the district holds whole districts (treatment is assigned to districts);
* with a student identifier column, each student appears once (the count of repeated rows is given, never an
  identifier);
* the outcome is observed for some students of each arm — the treated arm (students of launching districts who
  entered from the launch on) and the comparison arm (students of never-launching districts, and with
  ``control="notyet"`` those who entered before their district's launch); an arm whose outcome is entirely missing is
  refused naming the column, the arm and the counts (:class:`~cteimpact.errors.AllMissingError`).

Every row dropped (missing district, cohort or launch year; the restrictions of ``where``; then the estimator's own
steps) is recorded in the results' ``sample_flow``. Standard errors are clustered by district by default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.config.declared import declared
from cteimpact.data.columns import ColumnMap
from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.student_data import StudentData, frame_and_flow
from cteimpact.data.validation import coerce_kind
from cteimpact.did.aggregation import FAMILIES
from cteimpact.did.estimator import CallawaySantAnna
from cteimpact.did.options import DiDEstimation, DiDInference
from cteimpact.did.results import DiDResults
from cteimpact.errors import AllMissingError, DuplicateRowsError, InvalidValueError, MissingColumnError, OptionError

__all__ = ["DISTRICT", "StudentCohorts", "prepare_student_cohorts", "student_cohort_did"]

DISTRICT = "district"
"""Value of ``cluster`` meaning "the district column" (the default: standard errors clustered by district)."""

_ESTIMATION = tuple(o.name for o in declared(DiDEstimation))
_INFERENCE = tuple(o.name for o in declared(DiDInference))


@dataclasses.dataclass(frozen=True)
class StudentCohorts:
    """A student file checked for the student-level design (built by :func:`prepare_student_cohorts`).

    Attributes
    ----------
    data
        The rows kept, with the sample flow that recorded every exclusion so far (the estimator continues it).
    outcome, district, cohort, first_treated
        Column names.
    cluster
        The cluster column used (``None``: no clustering, students independent).
    arms
        Students and students with the outcome observed in each arm (``treated``, ``comparison``).
    """

    data: StudentData
    outcome: str
    district: str
    cohort: str
    first_treated: str
    cluster: str | None
    arms: Mapping[str, Mapping[str, int]]


def _resolve_cluster(cluster: str | None, district: str) -> str | None:
    if cluster is None:
        return None
    if not isinstance(cluster, str) or not cluster:
        raise OptionError(f"cluster must be a column name, '{DISTRICT}' (the district column) or None, got {cluster!r}")
    return district if cluster == DISTRICT else cluster


def _check_present(frame: pd.DataFrame, named: Mapping[str, str | None], what: str) -> None:
    available = [str(c) for c in frame.columns]
    for role, col in named.items():
        if col is not None and col not in frame.columns:
            raise MissingColumnError(col, available, f"{role} of the {what}")


def _numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    return coerce_kind(frame[column], "numeric", what=f"{what} column '{column}'").to_numpy(dtype=float)


def _constant_within_district(frame: pd.DataFrame, column: str, district: str, what: str) -> None:
    """Refuse ``column`` unless it takes one value in each district (counting districts, never listing people)."""
    n_values = frame.groupby(district, sort=False, dropna=False)[column].nunique(dropna=False)
    n_bad = int((n_values > 1).sum())
    if n_bad:
        raise InvalidValueError(
            f"{what} '{column}' takes more than one value within {n_bad:,} of {n_values.size:,} districts "
            f"('{district}'); it must be constant within each district")


def check_student_ids(frame: pd.DataFrame, student: str, what: str = "student file") -> None:
    """Refuse a student identifier that is missing or repeated, with counts only (no identifier is written)."""
    ids = frame[student]
    n_missing = int(ids.isna().sum())
    if n_missing:
        raise InvalidValueError(f"student identifier column '{student}' of the {what} is missing in {n_missing:,} of "
                                f"{len(frame):,} rows; every student needs an identifier")
    dup = ids.duplicated(keep=False)
    if dup.any():
        n_rows = int(dup.sum())
        n_students = int(ids[dup].nunique())
        raise DuplicateRowsError(
            f"{n_students:,} students appear more than once in the {what} ({n_rows:,} rows, column '{student}'); "
            "each student must appear once (one entering cohort in one district)")


def _arm_counts(y: np.ndarray, cohort: np.ndarray, launch: np.ndarray, *, control: str,
                anticipation: int) -> dict[str, dict[str, int]]:
    treated = (launch > 0) & (cohort >= launch - anticipation)
    never = launch == 0
    comparison = never | ((launch > 0) & (cohort < launch - anticipation)) if control == "notyet" else never
    seen = np.isfinite(y)
    return {arm: {"students": int(m.sum()), "observed": int((m & seen).sum())}
            for arm, m in (("treated", treated), ("comparison", comparison))}


_ARM_WORDS = {
    "treated": "treated arm (students of launching districts who entered from the launch on)",
    "comparison": "comparison arm (students of never-launching districts{notyet})",
}


def check_arms(arms: Mapping[str, Mapping[str, int]], outcome: str, *, control: str) -> None:
    """Refuse an outcome that is missing for every student of an arm that has students (naming the column, the arm
    and the counts)."""
    for arm in ("treated", "comparison"):
        a = arms[arm]
        if a["students"] > 0 and a["observed"] == 0:
            other = arms["comparison" if arm == "treated" else "treated"]
            words = _ARM_WORDS[arm].format(notyet=", and students who entered before their district's launch"
                                           if control == "notyet" else "")
            raise AllMissingError(
                f"outcome '{outcome}' is missing for all {a['students']:,} students of the {words}; the other arm "
                f"has it for {other['observed']:,} of {other['students']:,} students: no effect can be estimated")


def prepare_student_cohorts(
    students: pd.DataFrame | StudentData, *, outcome: str, district: str = "district_id", cohort: str = "cohort",
    first_treated: str = "first_treated", cluster: str | None = DISTRICT, student: str | None = None,
    covariates: Sequence[str] = (), weights: str | None = None, where: Sequence[str] = (), source: str = "students",
    control: str = "never", anticipation: int = 0,
) -> StudentCohorts:
    """Check a student file for the student-level design and record the rows it drops (see the module docstring
    for the rules; parameters as :func:`student_cohort_did`).

    Raises
    ------
    MissingColumnError
        A named column is not in the student file.
    InvalidValueError
        A launch year that varies within a district, a cluster that splits a district, a missing student
        identifier.
    DuplicateRowsError
        A student appearing twice (with ``student``).
    AllMissingError
        The outcome is missing for every student of one arm.
    """
    frame, flow = frame_and_flow(students, what="students", source=source, unit="students")
    cluster_col = _resolve_cluster(cluster, district)
    if isinstance(covariates, str):
        covariates = [covariates]
    named = {"outcome": outcome, "district": district, "cohort": cohort, "launch year": first_treated,
             "cluster": cluster_col, "student identifier": student, "weights": weights}
    named.update({f"covariate {i + 1}": c for i, c in enumerate(covariates)})
    _check_present(frame, named, "student file")
    if where:
        frame, flow = apply_restrictions(frame, flow, where)
    for col, what in ((district, "district"), (cohort, "cohort"), (first_treated, "launch year")):
        frame, flow = flow.apply(frame, frame[col].notna().to_numpy(), f"{what} '{col}' missing")
    if student is not None:
        check_student_ids(frame, student)
    _constant_within_district(frame, first_treated, district, "launch year")
    if cluster_col is not None and cluster_col != district:
        frame, flow = flow.apply(frame, frame[cluster_col].notna().to_numpy(), f"cluster '{cluster_col}' missing")
        _constant_within_district(frame, cluster_col, district, "cluster")
    y = _numeric(frame, outcome, "outcome")
    arms = _arm_counts(y, _numeric(frame, cohort, "cohort"), _numeric(frame, first_treated, "launch year"),
                       control=control, anticipation=anticipation)
    check_arms(arms, outcome, control=control)
    return StudentCohorts(StudentData(frame, ColumnMap(), flow), outcome, district, cohort, first_treated,
                          cluster_col, arms)


def student_cohort_did(
    students: pd.DataFrame | StudentData,
    *,
    outcome: str,
    district: str = "district_id",
    cohort: str = "cohort",
    first_treated: str = "first_treated",
    cluster: str | None = DISTRICT,
    student: str | None = None,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    where: Sequence[str] = (),
    source: str = "students",
    estimation: DiDEstimation | None = None,
    inference: DiDInference | None = None,
    aggregations: Sequence[str] = FAMILIES,
    min_e: float = -math.inf,
    max_e: float = math.inf,
    balance_e: int | None = None,
    **options: Any,
) -> DiDResults:
    """Staggered DiD on student records: each student once, time = entering cohort, timing = district launch year.

    Parameters
    ----------
    students
        One row per student (a DataFrame or a :class:`~cteimpact.data.StudentData`, whose sample flow continues).
    outcome
        Outcome column (missing: the student is not observed and is dropped, counted in the sample flow).
    district, cohort, first_treated
        District, entering-cohort (the period) and district launch-year (0 = never launched) columns.
    cluster
        Cluster column for the standard errors: ``"district"`` (default) means the district column; another
        column (for example the consortium) must hold whole districts; ``None``: students independent.
    student
        Optional student identifier column, only to check that each student appears once (it is never passed to
        the estimator nor written anywhere).
    covariates, weights
        Covariates of the 2×2 estimators and sampling weights (as :class:`~cteimpact.did.CallawaySantAnna`).
    where
        Sample restrictions (cteimpact's restriction language), each recorded in the sample flow.
    source
        Name of the data in the sample flow.
    estimation, inference, **options
        Estimation options (:class:`~cteimpact.did.options.DiDEstimation`: ``control``, ``method``, ...; ``panel``
        is always off here) and inference options (:class:`~cteimpact.did.options.DiDInference`: ``level``,
        ``bootstrap``, ``seed``, ...), as objects and/or keywords.
    aggregations, min_e, max_e, balance_e
        As :meth:`CallawaySantAnna.fit`.

    Returns
    -------
    DiDResults
        The results contract of the DiD estimator (``data_mode`` ``rcs``; ``n_units`` counts students); a note
        states the design.

    Raises
    ------
    OptionError
        ``panel=True`` (students are repeated cross-sections), an unknown option (the closest valid one named).
    MissingColumnError, InvalidValueError, DuplicateRowsError, AllMissingError
        See :func:`prepare_student_cohorts`.
    """
    est_kw = {k: v for k, v in options.items() if k in _ESTIMATION}
    inf_kw = {k: v for k, v in options.items() if k not in _ESTIMATION}
    if est_kw.get("panel") is True:
        raise OptionError("student cohorts are repeated cross-sections (each student appears once): panel must be "
                          "false here; use CallawaySantAnna for a panel of units")
    est_kw["panel"] = False
    base = estimation if estimation is not None else DiDEstimation()
    base = dataclasses.replace(base, **{k: v for k, v in est_kw.items() if k in _ESTIMATION})
    prepared = prepare_student_cohorts(
        students, outcome=outcome, district=district, cohort=cohort, first_treated=first_treated, cluster=cluster,
        student=student, covariates=covariates, weights=weights, where=where, source=source, control=base.control,
        anticipation=base.anticipation)
    cs = CallawaySantAnna(prepared.data, outcome=outcome, time=cohort, cohort=first_treated,
                          cluster=prepared.cluster, covariates=covariates, weights=weights, estimation=base)
    res = cs.fit(inference, aggregations=aggregations, min_e=min_e, max_e=max_e, balance_e=balance_e, **inf_kw)
    note = (f"student-level design: each student once (repeated cross-sections of entering cohorts '{cohort}' within "
            f"districts '{district}'), treatment timing = the district's launch year '{first_treated}'; "
            + (f"standard errors clustered by '{prepared.cluster}'" if prepared.cluster is not None
               else "students treated as independent (no clustering)"))
    return dataclasses.replace(res, notes=(*res.notes, note))
