"""The ``[surrogate]`` step of a run: fit the index on the training sample, project the design onto it, check it.

1. **Training sample**: the ``training`` restrictions applied to the data read (before ``[sample]``), each a step of
   its flow; the index (:class:`~cteimpact.surrogate.model.SurrogateIndex`) is fitted there. A training sample of
   fewer than ``min_cell`` students suppresses the whole section (said so in the record).
2. **Study sample**: the data after ``[sample]``, where each surrogate must be seen in both arms of the design (the
   treated side of an RD cutoff and the other; DiD: treated cells after treatment and the rest). The index is
   predicted for every student with every surrogate and covariate (the others are recorded as excluded).
3. **Projection** (:mod:`cteimpact.surrogate.projection`): the design's own estimator, with its options, on the index
   column and on each surrogate; the projected estimate is the design's effect on the index, its variance the
   design's plus ``τ̂'Σ_β τ̂``. For a fuzzy RD both the Wald (primary) and the reduced-form effects are projected,
   labelled like the RD's (``<label>`` and ``<label>[reduced_form]``).
4. **Validation** (``validation_outcome``): an index for an outcome the study sample has, fitted on the same
   training sample; the design's direct estimate on it against its projection, the difference estimated as the
   design's effect on the prediction error ``ĥ − y`` (semantics of
   :class:`~cteimpact.surrogate.results.SurrogateValidation`), flagged at ``validation_alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.student_data import StudentData
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import DiDDesignSpec, RDDesignSpec
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.serialization import to_jsonable
from cteimpact.surrogate.assumptions import assumption_statements
from cteimpact.surrogate.errors import EmptyArmError, TrainingSampleError
from cteimpact.surrogate.model import SurrogateIndex, SurrogateModel
from cteimpact.surrogate.projection import ProjectedEffect, SurrogateProjection, joined_distribution, project_effect
from cteimpact.surrogate.results import SurrogateValidation
from cteimpact.surrogate.spec import SurrogateSpec
from cteimpact.surrogate.variance import VarianceParts

__all__ = ["SURROGATE_RECORD", "SurrogateRun", "check_surrogate_inputs", "run_surrogate", "training_sample"]

SURROGATE_RECORD = "cteimpact.surrogate/1"
"""Identifier and version of ``results.json``'s ``surrogate`` layout."""

_SECTION = "[surrogate]"


@dataclass(frozen=True)
class SurrogateRun:
    """What the surrogate step produced: its ``results.json`` record and, unless suppressed, the projection (a
    results object whose labels join the design's for pricing)."""

    record: dict[str, Any]
    projection: SurrogateProjection | None
    tables: dict[str, pd.DataFrame]


def _n(value: int) -> str:
    return f"{value:,}"


def training_sample(spec: SurrogateSpec, read: StudentData) -> StudentData:
    """The data read, restricted by ``training`` (each restriction a step of the flow).

    Raises
    ------
    TrainingSampleError
        A restriction keeps no row (named with the rows before it), or no row kept has the long-run outcome (or the
        validation outcome): the message gives the rows kept and the rows with the outcome.
    """
    data = read
    for expr in spec.training:
        before = data.flow.rows_used
        data = data.filter(evaluate_restriction(data.frame, expr), f"surrogate training restriction: {expr}")
        if data.flow.rows_used == 0:
            raise TrainingSampleError(
                f"{_SECTION} training restriction '{expr}' keeps no row (0 of the {_n(before)} rows before it; "
                f"{_n(read.flow.rows_read)} rows read): the training sample must hold older cohorts with "
                f"'{spec.outcome}' observed", rows_kept=0, rows_with_outcome=0, column=spec.outcome)
    kept = data.flow.rows_used
    for role, col in (("long-run outcome", spec.outcome), ("validation outcome", spec.validation_outcome)):
        if col is None:
            continue
        have = int(pd.to_numeric(data.frame[col], errors="coerce").notna().sum())
        if have == 0:
            raise TrainingSampleError(
                f"{_SECTION} training sample lacks the {role} '{col}': the training restrictions "
                f"({'; '.join(spec.training)}) kept {_n(kept)} of {_n(read.flow.rows_read)} rows read and 0 of "
                f"them have '{col}'; choose training cohorts old enough for it to be observed",
                rows_kept=kept, rows_with_outcome=0, column=col)
    return data


# -- arms of the design ------------------------------------------------------------------------------------------


def _arms(design: RDDesignSpec | DiDDesignSpec, frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, str]]:
    """The two arms of the study sample: each row's membership and the arm described (rows without the running
    variable, cutoff, cohort or time are in neither: the design excludes them)."""
    def col(name: str) -> np.ndarray:
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    if isinstance(design, RDDesignSpec):
        x = col(design.running)
        if design.cutoff_column is not None:
            c = col(design.cutoff_column)
            rule = f"{design.running} >= {design.cutoff_column}"
        else:
            c = np.full(x.size, float(design.cutoff))  # type: ignore[arg-type]
            rule = f"{design.running} >= {design.cutoff:g}"
        valid = ~np.isnan(x) & ~np.isnan(c)
        treated = valid & (x >= np.where(valid, c, 0.0))
        return {"treated": (treated, f"the treated arm ({rule})"),
                "comparison": (valid & ~treated, "the comparison arm (below the cutoff)")}
    g, t = col(design.cohort), col(design.time)
    valid = ~np.isnan(g) & ~np.isnan(t)
    treated = valid & (g > 0) & (t >= np.where(valid, g, 0.0))
    return {"treated": (treated, f"the treated arm ({design.cohort} > 0 and {design.time} >= {design.cohort})"),
            "comparison": (valid & ~treated, "the comparison arm (not yet or never treated)")}


def _check_arms(spec: SurrogateSpec, design: RDDesignSpec | DiDDesignSpec, frame: pd.DataFrame,
                min_cell: int) -> dict[str, Any]:
    """Each surrogate (and the validation outcome) seen in both arms, else :class:`EmptyArmError`; the arms'
    counts, those under ``min_cell`` suppressed (``None``)."""
    arms = _arms(design, frame)
    rows = {k: int(np.count_nonzero(m)) for k, (m, _) in arms.items()}
    record: dict[str, Any] = {"rule": {k: v[1] for k, v in arms.items()}, "rows": {}, "present": {}}
    named = [("surrogate", c) for c in spec.surrogates]
    if spec.validation_outcome is not None:
        named.append(("validation outcome", spec.validation_outcome))
    for role, col in named:
        seen = frame[col].notna().to_numpy()
        present = {k: int(np.count_nonzero(m & seen)) for k, (m, _) in arms.items()}
        for k, (_, name) in arms.items():
            if rows[k] > 0 and present[k] == 0:
                other = "comparison" if k == "treated" else "treated"
                raise EmptyArmError(
                    f"{_SECTION} {role} '{col}' is missing in all {_n(rows[k])} rows of {name} of the study "
                    f"sample; {arms[other][1]} has it in {_n(present[other])} of {_n(rows[other])} rows. The "
                    f"design's effect on it{' (and on the index)' if role == 'surrogate' else ''} needs it in both "
                    "arms", arm=k, rows=rows[k], present={col: present[k]})
        record["present"][col] = {k: (v if v >= min_cell else None) for k, v in present.items()}
    record["rows"] = {k: (v if v >= min_cell else None) for k, v in rows.items()}
    return record


def check_surrogate_inputs(spec: SurrogateSpec, design: RDDesignSpec | DiDDesignSpec, read: StudentData,
                           study: StudentData) -> None:
    """The checks of the data :func:`run_surrogate` makes first, for a run to make before it estimates anything: the
    training sample (:func:`training_sample`) and each surrogate (and the validation outcome) present in both arms
    of the study sample.

    Raises
    ------
    TrainingSampleError, EmptyArmError
        See :func:`training_sample` and the module docstring.
    """
    training_sample(spec, read)
    _check_arms(spec, design, study.frame, 1)


# -- the design on the index and the surrogates ------------------------------------------------------------------


def _fit_rd(design: RDDesignSpec, data: StudentData, outcomes: list[str], min_cell: int) -> ImpactResults:
    from cteimpact.rd import RegressionDiscontinuity

    rd = RegressionDiscontinuity(
        data, outcomes, design.running, design.cutoff, cutoff_column=design.cutoff_column, fuzzy=design.fuzzy,
        cluster=design.cluster, covariates=design.covariates, assignment_unit=design.assignment_unit,
        donut=design.donut)
    res = rd.fit(design.estimation.to_options(), diagnostics=False, local_randomization=False)
    return res.with_min_cell(min_cell)


def _fit_did(design: DiDDesignSpec, data: StudentData, outcomes: list[str], seed: int,
             min_cell: int) -> list[ImpactResults]:
    from cteimpact.did import CallawaySantAnna

    inference = replace(design.inference.to_options(), seed=derive_seed(seed, "surrogate.did") % (2**63 - 1),
                        bootstrap=None, wild_bootstrap=None, wild_labels=None)
    window: dict[str, Any] = {}
    if design.min_e is not None:
        window["min_e"] = design.min_e
    if design.max_e is not None:
        window["max_e"] = design.max_e
    out: list[ImpactResults] = []
    for y in outcomes:
        cs = CallawaySantAnna(
            data.frame, outcome=y, time=design.time, unit=design.unit, cohort=design.cohort,
            covariates=design.covariates, weights=design.weights, cluster=design.cluster, source=data.flow.source,
            students=design.students, estimation=design.to_options())
        out.append(cs.fit(inference, balance_e=design.balance_e, twfe=False, **window).with_min_cell(min_cell))
    return out


def _design_effects(design: RDDesignSpec | DiDDesignSpec, data: StudentData, outcomes: list[str], *, seed: int,
                    min_cell: int) -> tuple[SamplingDistribution, dict[str, EffectEstimate], list[ImpactResults]]:
    fits = ([_fit_rd(design, data, outcomes, min_cell)] if isinstance(design, RDDesignSpec)
            else _fit_did(design, data, outcomes, seed, min_cell))
    dist = fits[0].sampling_distribution() if len(fits) == 1 else joined_distribution(
        [f.sampling_distribution() for f in fits])
    rows = {e.label: e for f in fits for e in f.estimates}
    return dist, rows, fits


def _kinds(design: RDDesignSpec | DiDDesignSpec) -> list[str | None]:
    """Estimands projected: the primary one and, for a fuzzy RD, the reduced form (the ITT pricing pays on)."""
    return [None, "reduced_form"] if isinstance(design, RDDesignSpec) and design.fuzzy else [None]


def _with(label: str, kind: str | None) -> str:
    return label if kind is None else f"{label}[{kind}]"


# -- the record ----------------------------------------------------------------------------------------------------


def _model_record(model: SurrogateModel) -> dict[str, Any]:
    table = model.coefficients()
    return {"outcome": model.outcome, "surrogates": list(model.surrogates), "covariates": list(model.covariates),
            "terms": list(model.terms), "coefficients": table.to_dict(orient="records"), "cov": model.cov,
            "n": model.n, "n_clusters": model.n_clusters, "r_squared": model.r_squared, "cov_type": model.cov_type,
            "outcome_mean": model.outcome_mean, "outcome_sd": model.outcome_sd,
            "sample_flow": model.flow.to_dict()}


def _suppressed(spec: SurrogateSpec, reason: str, min_cell: int) -> dict[str, Any]:
    return {"schema": SURROGATE_RECORD, "label": spec.projected_label, "labels": [], "outcome": spec.outcome,
            "surrogates": list(spec.surrogates), "covariates": list(spec.covariates),
            # the training rows are fewer than min_cell or nearly so: no count of them is published
            "training": {"restrictions": list(spec.training), "sample_flow": None},
            "min_cell": min_cell, "suppressed": True, "suppression": reason, "model": None,
            "validation_model": None, "study_sample": None, "design_effects": [], "projections": [],
            "projection": None, "validation": None,
            "assumptions": list(assumption_statements(outcome=spec.outcome, surrogates=spec.surrogates,
                                                      covariates=spec.covariates))}


def _validation(spec: SurrogateSpec, model: SurrogateModel, dist: SamplingDistribution,
                rows: Mapping[str, EffectEstimate], kind: str | None, index_col: str, diff_col: str,
                assumptions: tuple[str, ...]) -> dict[str, Any]:
    v = str(spec.validation_outcome)
    labels = {s: _with(s, kind) for s in model.surrogates}
    direct_label = _with(v, kind)
    needed = [direct_label, _with(index_col, kind), _with(diff_col, kind)]
    hidden = [lab for lab in needed if lab not in dist.labels]
    if hidden:
        return {"estimand": kind or "primary", "suppressed": True,
                "suppression": f"the design's estimate {', '.join(hidden)} is suppressed or not estimated (small "
                               "cells or too few rows)"}
    projected = project_effect(model, dist, rows, index_label=_with(index_col, kind), surrogate_labels=labels,
                               label=_with(f"{v}[surrogate]", kind), outcome=v)
    diff = project_effect(model, dist, rows, index_label=_with(diff_col, kind), surrogate_labels=labels,
                          label=_with(f"{v}[index_minus_direct]", kind), outcome=v,
                          term="the design's effect on the index's prediction error (index minus outcome)")
    pos = {lab: i for i, lab in enumerate(dist.labels)}
    direct = float(dist.mean[pos[direct_label]])
    direct_var = float(dist.cov[pos[direct_label], pos[direct_label]])
    z = diff.centre / diff.std_error if diff.std_error > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan
    alpha = spec.validation_alpha
    cross = (projected.variance + direct_var - diff.variance) / 2
    covariance = np.array([[direct_var, cross, cross - direct_var],
                           [cross, projected.variance, projected.variance - cross],
                           [cross - direct_var, projected.variance - cross, diff.variance]])
    check = SurrogateValidation(
        model=model, realised=direct, realised_se=math.sqrt(max(direct_var, 0.0)), index_effect=projected.centre,
        index_se=projected.std_error, difference=diff.centre, difference_se=diff.std_error, statistic=z, p_value=p,
        alpha=alpha, flagged=bool(math.isfinite(p) and p < alpha),
        variance=VarianceParts(diff.design_variance, diff.model_variance, 0.0, "first_order"),
        covariance=covariance, arm_counts={}, assumptions=assumptions,
        estimates=(rows[direct_label], projected.row, diff.row), options={"alpha": alpha, "estimand": kind},
        sample_flow=model.flow)
    return {"estimand": kind or "primary", "suppressed": False, "suppression": None, "outcome": v,
            "direct": direct, "direct_se": check.realised_se, "projected": check.index_effect,
            "projected_se": check.index_se, "difference": check.difference, "difference_se": check.difference_se,
            "projected_minus_direct": check.index_effect - check.realised, "statistic": check.statistic,
            "p_value": check.p_value, "alpha": alpha, "flagged": check.flagged,
            "share_captured": check.share_captured, "verdict": check.verdict(),
            "variance": {"design": diff.design_variance, "model": diff.model_variance, "total": diff.variance},
            "estimates": [e.to_dict() for e in check.estimates]}


def _overlap(training: StudentData, study: StudentData, min_cell: int) -> dict[str, Any]:
    """Rows both in the training sample and in the study sample (the variance treats the two as independent)."""
    n = int(training.frame.index.intersection(study.frame.index).size)
    if n == 0:
        return {"overlap_rows": 0, "independent": True, "overlap_note": None}
    shown = n if n >= min_cell else None
    return {"overlap_rows": shown, "independent": False,
            "overlap_note": (f"the training sample shares {f'{n:,}' if shown is not None else f'fewer than {min_cell}'}"
                             " rows with the study sample: the standard errors treat the two samples as independent "
                             "(the index's coefficients and the design's effects), which they then are not; train on "
                             "cohorts outside the study sample for the stated variance to hold")}


def _column_name(base: str, taken: Sequence[str]) -> str:
    name = base
    while name in taken:
        name = f"_{name}"
    return name


def run_surrogate(spec: SurrogateSpec, design: RDDesignSpec | DiDDesignSpec, read: StudentData,
                  study: StudentData, *, seed: int, min_cell: int) -> SurrogateRun:
    """Fit the index on the training sample, project the design's effect, check it (see the module docstring).

    Parameters
    ----------
    spec
        The ``[surrogate]`` section.
    design
        The study's design (its estimator and options are used on the index and the surrogates).
    read
        The data read (before ``[sample]``): the training restrictions select from it.
    study
        The study sample (after ``[sample]``).
    seed
        The study's master seed.
    min_cell
        The small-cell threshold.

    Raises
    ------
    TrainingSampleError, EmptyArmError
        See :func:`training_sample` and the module docstring.
    """
    training = training_sample(spec, read)
    assumptions = assumption_statements(
        outcome=spec.outcome, surrogates=spec.surrogates, covariates=spec.covariates,
        design=("the regression discontinuity at the cutoff" if isinstance(design, RDDesignSpec)
                else "the staggered difference-in-differences (parallel trends)") + " of the study sample")
    cluster = spec.cluster if spec.vce != "hc1" else None

    def fit(outcome: str) -> SurrogateModel:
        return SurrogateIndex(training, outcome=outcome, surrogates=spec.surrogates, covariates=spec.covariates,
                              weights=spec.weights, cluster=cluster, source="training sample").fit()

    model = fit(spec.outcome)
    if model.n < min_cell:
        reason = (f"the training sample has fewer than {min_cell} students with '{spec.outcome}' and every surrogate "
                  "and covariate: the index, its projection and the training sample's counts are suppressed")
        return SurrogateRun(to_jsonable(_suppressed(spec, reason, min_cell)), None, {})
    val_model = fit(spec.validation_outcome) if spec.validation_outcome is not None else None
    validation: list[dict[str, Any]] | None = None
    if val_model is not None and val_model.n < min_cell:
        val_model = None
        validation = [{"estimand": "primary", "suppressed": True,
                       "suppression": f"fewer than {min_cell} training students have '{spec.validation_outcome}' "
                                      "and every surrogate and covariate: the check is suppressed"}]
    frame = study.frame
    arms = _check_arms(spec, design, frame, min_cell)
    taken = list(frame.columns)
    index_col = _column_name(f"{spec.outcome}__index", taken)
    index_values = model.index(frame, source="study sample")
    added = {index_col: index_values.values.reindex(frame.index)}
    index_flow = index_values.flow
    outcomes = [index_col, *spec.surrogates]
    val_cols: tuple[str, str] | None = None
    if val_model is not None:
        v = str(spec.validation_outcome)
        vi = _column_name(f"{v}__index", [*taken, *added])
        vd = _column_name(f"{v}__index_minus_outcome", [*taken, *added, vi])
        h = val_model.index(frame, source="study sample").values.reindex(frame.index)
        added[vi] = h
        added[vd] = h - pd.to_numeric(frame[v], errors="coerce")
        outcomes += [c for c in (v, vi, vd) if c not in outcomes]
        val_cols = (vi, vd)
    # an arm with fewer than min_cell students with the index: no projection of it is published
    with_index = {k: int(np.count_nonzero(m & added[index_col].notna().to_numpy()))
                  for k, (m, _) in _arms(design, frame).items()}
    arms["with_index"] = {k: (v if v >= min_cell else None) for k, v in with_index.items()}
    small = [k for k, v in with_index.items() if v < min_cell]
    projections: list[ProjectedEffect] = []
    notes: list[dict[str, Any]] = []
    fits: list[ImpactResults] = []
    if small:
        reason = (f"the {' and the '.join(small)} arm{'s have' if len(small) > 1 else ' has'} fewer than {min_cell} "
                  "students of the study sample with every surrogate and covariate: the projection is suppressed")
        notes = [{"label": _with(spec.projected_label, kind), "suppressed": True, "suppression": reason}
                 for kind in _kinds(design)]
        if val_model is not None:
            validation = [{"estimand": "primary", "suppressed": True, "suppression": reason}]
    else:
        augmented = StudentData(frame.assign(**added), study.columns, study.flow)
        dist, rows, fits = _design_effects(design, augmented, outcomes, seed=seed, min_cell=min_cell)
    for kind in [] if small else _kinds(design):
        label = _with(spec.projected_label, kind)
        wanted = [_with(index_col, kind), *(_with(s, kind) for s in spec.surrogates)]
        hidden = [w for w in wanted if w not in dist.labels]
        if hidden:
            notes.append({"label": label, "suppressed": True,
                          "suppression": f"the design's estimate on {', '.join(hidden)} is suppressed or not "
                                         f"estimated (fewer than {min_cell} students, or too few rows)"})
            continue
        projections.append(project_effect(model, dist, rows, index_label=_with(index_col, kind),
                                          surrogate_labels={s: _with(s, kind) for s in spec.surrogates},
                                          label=label, outcome=spec.outcome))
    projection = None
    if projections:
        projection = SurrogateProjection(
            tuple(projections), tuple(p.row for p in projections),
            {"outcome": spec.outcome, "surrogates": list(spec.surrogates), "covariates": list(spec.covariates),
             "training": list(spec.training), "design": design.type, "index_column": index_col},
            index_flow, assumptions)
    if val_model is not None and val_cols is not None and not small:
        validation = [_validation(spec, val_model, dist, rows, kind, val_cols[0], val_cols[1], assumptions)
                      for kind in _kinds(design)]
    effect_rows = [e for f in fits for e in f.estimates]
    record = {
        "schema": SURROGATE_RECORD,
        "label": spec.projected_label,
        "labels": [p.label for p in projections],
        "outcome": spec.outcome, "surrogates": list(spec.surrogates), "covariates": list(spec.covariates),
        "training": {"restrictions": list(spec.training), "sample_flow": training.flow.to_dict(),
                     **_overlap(training, study, min_cell)},
        "min_cell": min_cell, "suppressed": False, "suppression": None,
        "model": _model_record(model),
        "validation_model": None if val_model is None else _model_record(val_model),
        "study_sample": {"index_column": index_col, "index_flow": index_flow.to_dict(), "arms": arms},
        "design_effects": [e.to_dict() for e in effect_rows],
        "projections": [p.to_dict() for p in projections] + notes,
        "projection": None if projection is None else projection.to_dict(),
        "validation": validation,
        "assumptions": list(assumptions),
    }
    tables = {"tables/surrogate-model.csv": model.coefficients()}
    if projection is not None:
        tables["tables/surrogate-projection.csv"] = projection.tidy()
    return SurrogateRun(to_jsonable(record), projection, tables)
