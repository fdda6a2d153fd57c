"""The regression discontinuity estimator: :class:`RegressionDiscontinuity`.

Data and design (columns, cutoff, sample restrictions) go into the constructor, which checks them and builds the
analysis sample; estimation options go into :meth:`RegressionDiscontinuity.fit`, which returns an immutable
:class:`~cteimpact.rd.results.RDResults`.

Conventions: the treated side is at or above the cutoff (``x >= c``); effects are the right limit minus the left
limit. For a design that treats units below the cutoff, negate the running variable and the cutoff.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.config.declared import build_options, option
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.errors import (
    CteImpactError,
    DesignError,
    MissingColumnError,
    OptionError,
    SmallSampleWarning,
    WeakFirstStageWarning,
)
from cteimpact.limits import check_magnitude, check_memory, max_abs
from cteimpact.rd._parallel import TaskRunner, resolve_jobs
from cteimpact.rd.adapters.rdhonest import HonestRD
from cteimpact.rd.adapters.rdpower import MdeCalculation, PowerCalculation, mde_calculation, power_calculation
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.baseline import Estimand, control_baseline, effect_sizes
from cteimpact.rd.descriptives import DescriptiveCell, describe_outcome_sample
from cteimpact.rd.diagnostics import DiagnosticOptions, RDDiagnostics, run_diagnostics, start_diagnostics
from cteimpact.rd.honest import check_support, honest_interval, mass_points_note
from cteimpact.rd.local_randomization import LocalRandomizationResult, local_randomization, unit_codes
from cteimpact.rd.options import RDOptions
from cteimpact.rd.results import (
    WEAK_FIRST_STAGE_F,
    BinnedMeans,
    CutoffHeterogeneity,
    OutcomeFit,
    RDResults,
    SubgroupComparison,
    robust_estimate_rows,
)
from cteimpact.rd.sample import OutcomeSample, RDSample, format_value, prepare_sample
from cteimpact.rd.scores import cluster_covariance, fit_scores
from cteimpact.rd.standards import review_standards
from cteimpact.results.estimate import EffectEstimate
from cteimpact.threads import one_blas_thread

__all__ = ["FEW_CLUSTERS_CR1", "WEAK_FIRST_STAGE_F", "LocalRandomizationOptions", "RegressionDiscontinuity",
           "check_reach", "constant_sides_text"]


def _other_designs() -> dict[str, list[str]]:
    """Options of the difference-in-differences estimator, to say so when one is given to RD."""
    from cteimpact.config.design_options import other_design_options

    return other_design_options("rd")


FEW_CLUSTERS_CR1 = 50
"""Clusters a side below which cr1 is warned about (see ``tests/rd/test_rd_montecarlo.py``)."""
MAX_GROUP_LEVELS = 12
MAX_CUTOFFS = 30


@dataclass(frozen=True)
class LocalRandomizationOptions:
    """Options of the local-randomisation analysis (see :func:`cteimpact.rd.local_randomization.local_randomization`).

    ``window`` is a half-width on the running variable's scale; ``None`` selects it from the baseline covariates.
    """

    window: float | None = option(None, "Half-width of the local-randomisation window on the running variable's "
                                        "scale (default: selected where the baseline covariates are balanced).")
    reps: int = option(1000, "Re-randomisations of the assignment (at least 100).")
    seed: int = option(666, "Seed of the re-randomisations.")
    ci: bool = option(True, "Invert the randomisation test for a confidence interval under a constant effect.")
    window_alpha: float = option(0.15, "Size of the covariate balance tests that select the window (0 to 1; a "
                                       "window is kept while every balance p-value is at least this; CTV 2016).")
    statistic: Literal["diffmeans", "ksmirnov", "ranksum"] = option(
        "diffmeans", "Statistic of the randomisation test: difference in means, Kolmogorov-Smirnov (ksmirnov) or "
                     "Wilcoxon rank sum (ranksum; rdlocrand's statistics; the last two need one row per unit).")

    def __post_init__(self) -> None:
        if self.window is not None and not (isinstance(self.window, int | float) and not isinstance(self.window, bool)
                                            and 0 < float(self.window) < math.inf):
            raise OptionError(f"the local-randomisation window (half-width) must be a positive number, got "
                              f"{self.window!r}")
        for name, value, low in (("reps", self.reps, 100), ("seed", self.seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise OptionError(f"the local-randomisation {name} must be a whole number of at least {low}, got "
                                  f"{value!r}")
        if not (isinstance(self.window_alpha, int | float) and 0 < float(self.window_alpha) < 1):
            raise OptionError(f"window_alpha must be a number strictly between 0 and 1, got {self.window_alpha!r}")
        if self.statistic not in ("diffmeans", "ksmirnov", "ranksum"):
            raise OptionError(f"statistic must be one of diffmeans, ksmirnov, ranksum; got {self.statistic!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "reps": self.reps, "seed": self.seed, "ci": self.ci,
                "window_alpha": self.window_alpha, "statistic": self.statistic}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("rdrobust", "rddensity", "rdpower", "rdlocrand"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - all four are dependencies
            out[pkg] = "not installed"
    return out


RUNNING_SCALE = (1e-12, 1e15)
"""Smallest and largest distance of the running variable's farthest value from the cutoff: local polynomials of
order up to 4 (and 5 for the bias) raise it to powers whose sums underflow or overflow beyond these."""
COVARIATE_NORM = 1e-5
"""rdrobust drops a covariate column whose norm is at most this (its collinearity check), and then fails."""


def _constant_sides(y: np.ndarray, x: np.ndarray, cutoff: float) -> str | None:
    """``"all 0 below and above the cutoff"`` when ``y`` is constant on each side of the cutoff, else None."""
    below, above = y[x < cutoff], y[x >= cutoff]
    if below.size == 0 or above.size == 0:
        return None
    return constant_sides_text((float(below.min()), float(below.max())), (float(above.min()), float(above.max())))


def constant_sides_text(below: tuple[float, float], above: tuple[float, float]) -> str | None:
    """:func:`_constant_sides` from the outcome's (min, max) below and at or above the cutoff (both sides hold
    rows)."""
    if below[1] > below[0] or above[1] > above[0]:
        return None
    if below[0] == above[0]:
        return f"all {below[0]:g} below and above the cutoff"
    return f"all {below[0]:g} below the cutoff and all {above[0]:g} above: an exact jump with no sampling variability"


def _check_outcomes(s: RDSample, outcomes: Sequence[str]) -> None:
    """Refuse, before any fit, an outcome rdrobust would report as "not enough variability in the running
    variable": constant on both sides of the cutoff, or too large to square."""
    for outcome in outcomes:
        osample = s.outcome(outcome)
        y = osample.y[osample.keep]
        check_magnitude(y, role="outcome", column=outcome)
        constant = _constant_sides(y, s.x[osample.keep], s.cutoff)
        if constant is not None:
            raise DesignError(f"outcome '{outcome}' is constant on both sides of the cutoff ({constant}); nothing to "
                              "estimate")


def _check_scales(s: RDSample) -> None:
    """Refuse columns rdrobust cannot use and would report as another problem: a running variable on an extreme
    scale, covariates too large to square or too small for rdrobust's collinearity check."""
    running = s.running if s.cutoff_column is None else f"{s.running} - {s.cutoff_column}"
    check_reach(max_abs(s.x - s.cutoff), running)
    if s.covariates is not None:
        cov = s.covariates.reshape(s.covariates.shape[0], -1)
        for j, name in enumerate(s.covariate_columns):
            col = cov[:, j]
            check_magnitude(col, role="covariate", column=name)
            if np.ptp(col) > 0 and float(np.sqrt(np.sum(col * col))) <= COVARIATE_NORM:
                raise DesignError(
                    f"covariate '{name}' has values no larger than {max_abs(col):.3g} in magnitude: rdrobust's "
                    "collinearity check treats a covariate this small as zero, drops it and fails; rescale it (for "
                    "example multiply it by 1,000,000)")


def check_reach(reach: float, running: str) -> None:
    """Refuse a running variable whose farthest value from the cutoff (``reach``) is on an extreme scale."""
    if reach > RUNNING_SCALE[1] or 0 < reach < RUNNING_SCALE[0]:
        raise DesignError(
            f"running variable '{running}' reaches {reach:.3g} from the cutoff at most; rescale it so that its "
            f"distances from the cutoff lie between {RUNNING_SCALE[0]:g} and {RUNNING_SCALE[1]:g} (the local "
            "polynomials raise them to powers that underflow or overflow beyond)")


def _with_effect_sizes(of: OutcomeFit, rows: Sequence[EffectEstimate], y: np.ndarray, x: np.ndarray,
                       cutoff: float, arrays: dict[str, Any]) -> OutcomeFit:
    """``of`` with its control-side baseline and the effect sizes of its effect rows (see :mod:`cteimpact.rd.baseline`).

    The baseline is the outcome's unadjusted local fit from below at the fit's own bandwidth below the cutoff (a
    fuzzy fit's reduced form uses the same bandwidths), with the fit's kernel, order, weights and clusters.
    """
    fit = of.fit
    base = control_baseline(y, x, cutoff, h=fit.h[0], p=fit.p, kernel=fit.kernel, weights=arrays["weights"],
                            cluster=arrays["cluster"])
    wanted: dict[str, Estimand]
    if of.design == "sharp":
        wanted = {of.label: "sharp"}
    elif of.kind == "main":
        wanted = {f"{of.label}[reduced_form]": "intention_to_treat", of.label: "late"}
    else:
        wanted = {of.label: "late"}
    by_label = {r.label: r for r in rows}
    sizes = tuple(effect_sizes(label, estimand, by_label[label].estimate,
                               (by_label[label].ci_lower, by_label[label].ci_upper),
                               float(by_label[label].n_effective or 0.0), base)
                  for label, estimand in wanted.items() if label in by_label)
    return replace(of, baseline=base, effect_sizes=sizes)


@dataclass
class _Collected:
    """What :meth:`RegressionDiscontinuity.fit` gathers across outcomes."""

    estimates: list[EffectEstimate] = field(default_factory=list)
    fits: list[OutcomeFit] = field(default_factory=list)
    comparisons: list[SubgroupComparison] = field(default_factory=list)
    cut_tests: list[CutoffHeterogeneity] = field(default_factory=list)
    covs: list[tuple[str, str, float]] = field(default_factory=list)
    centres: dict[str, float] = field(default_factory=dict)
    diags: dict[str, RDDiagnostics] = field(default_factory=dict)
    lrs: dict[str, LocalRandomizationResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unestimated: list[tuple[str, str, str]] = field(default_factory=list)
    flows: dict[str, SampleFlow] = field(default_factory=dict)
    descriptives: list[DescriptiveCell] = field(default_factory=list)
    honest: dict[str, HonestRD] = field(default_factory=dict)


class RegressionDiscontinuity:
    """Sharp and fuzzy RD designs with one or several cutoffs, on one or several outcomes.

    Parameters
    ----------
    data
        A pandas DataFrame or a :class:`~cteimpact.data.StudentData` (its flow is continued). Not modified.
    outcomes
        Outcome column(s): ``"dropout"`` or ``["dropout", "graduated", "earnings_age19"]``.
    running
        Running variable (score) column.
    cutoff
        The cutoff on the running variable. Omit it and give ``cutoff_column`` for multi-cutoff data.
    cutoff_column
        Column holding each row's cutoff (grant rounds, schools' admission cutoffs). The pooled estimate uses the
        normalised running variable ``running - cutoff_column`` with cutoff 0; cutoff-specific estimates are added
        (labels ``Y[cutoff=55]``) and tested for equality.
    fuzzy
        Treatment take-up column (for example pathway participation) for a fuzzy design; the first stage, the
        reduced form and a weak-first-stage warning are reported.
    cluster
        Cluster column (consortium, school): cluster-robust variance (``cr1`` by default).
    covariates
        Covariates for covariate-adjusted estimation (Calonico, Cattaneo, Farrell & Titiunik 2019).
    weights
        Weight column (multiplies the kernel weights).
    subgroups
        Columns defining subgroups (``female``, ``low_income``): one estimate per level and a test of each level
        against the first (labels ``Y[female=1]``, ``Y[female=1 vs female=0]``).
    baseline_covariates
        Pre-treatment characteristics whose continuity at the cutoff the diagnostics check.
    assignment_unit
        Column of the unit the score was assigned to (consortium); the density test and the local-randomisation
        analysis then use one score per unit. Defaults to the cluster column when the score is constant within
        clusters.
    where
        Sample restrictions, such as ``"cohort >= award_year"``, applied in order, each recorded in the sample
        flow. They are written in cteimpact's restriction language (column names, numbers, text in quotes,
        comparisons, and/or/not, ``in [...]``, ``is missing``, arithmetic; see
        :mod:`cteimpact.data.restriction_language`), never evaluated as Python.
    donut
        Exclude observations with ``|running - cutoff| < donut`` from every fit.
    source
        Description of the data for the sample flow.
    missing_cluster
        ``"error"`` (default): missing cluster identifiers are an error; ``"drop"``: those rows are excluded.

    Raises
    ------
    MissingColumnError, ColumnTypeError, AllMissingError, DataValidationError
        A column is absent, not numeric, empty, or (cluster) has missing values.
    DesignError
        Constant running variable, cutoff outside the data, no observations on a side, a treatment that never
        changes.

    Examples
    --------
    >>> rd = RegressionDiscontinuity(students, "dropout", "rubric_score", cutoff_column="cutoff",
    ...                              cluster="consortium_id", where=["cohort >= award_year"])  # doctest: +SKIP
    >>> res = rd.fit(diagnostics=True)  # doctest: +SKIP
    >>> res.estimate("dropout")  # doctest: +SKIP
    """

    def __init__(
        self,
        data: pd.DataFrame | StudentData,
        outcomes: str | Sequence[str],
        running: str,
        cutoff: float | None = None,
        *,
        cutoff_column: str | None = None,
        fuzzy: str | None = None,
        cluster: str | None = None,
        covariates: Sequence[str] = (),
        weights: str | None = None,
        subgroups: Sequence[str] = (),
        baseline_covariates: Sequence[str] = (),
        assignment_unit: str | None = None,
        where: Sequence[str] = (),
        donut: float = 0.0,
        source: str | None = None,
        missing_cluster: Literal["error", "drop"] = "error",
    ) -> None:
        flow: SampleFlow | None = None
        if isinstance(data, StudentData):
            frame, flow = data.frame, data.flow
        elif isinstance(data, pd.DataFrame):
            frame = data
        else:
            raise OptionError(f"data must be a pandas DataFrame or StudentData, got {type(data).__name__}")
        outcome_list = [outcomes] if isinstance(outcomes, str) else list(outcomes)
        if not outcome_list:
            raise OptionError("give at least one outcome column")
        if len(set(outcome_list)) != len(outcome_list):
            raise OptionError(f"outcomes are repeated: {outcome_list}")
        for name, cols in (("where", where), ("covariates", covariates), ("subgroups", subgroups),
                           ("baseline_covariates", baseline_covariates)):
            if isinstance(cols, str):
                raise OptionError(f"{name} must be a list of strings, got the single string {cols!r}")
        self.outcomes: tuple[str, ...] = tuple(outcome_list)
        self.running = running
        self.fuzzy = fuzzy
        self.cluster = cluster
        self.covariates = tuple(covariates)
        self.weights = weights
        self.subgroups = tuple(subgroups)
        self.baseline_covariates = tuple(baseline_covariates)
        self.assignment_unit = assignment_unit
        self.where = tuple(where)
        self.cutoff_column = cutoff_column
        available = [str(c) for c in frame.columns]
        for role, cols in (("outcome", self.outcomes), ("subgroup", self.subgroups),
                           ("baseline covariate", self.baseline_covariates),
                           ("assignment unit", () if assignment_unit is None else (assignment_unit,))):
            for col in cols:
                if col not in frame.columns:
                    raise MissingColumnError(col, available, role=role)
        keep = [*self.outcomes, *self.subgroups, *self.baseline_covariates]
        if assignment_unit is not None:
            keep.append(assignment_unit)
        self.sample: RDSample = prepare_sample(
            frame, running=running, cutoff=cutoff, cutoff_column=cutoff_column, fuzzy=fuzzy, cluster=cluster,
            covariates=self.covariates, weights=weights, keep_columns=list(dict.fromkeys(keep)),
            where=self.where, donut=donut, source=source or "data frame", flow=flow, missing_cluster=missing_cluster)
        self.design: Literal["sharp", "fuzzy"] = "fuzzy" if fuzzy is not None else "sharp"
        _check_scales(self.sample)

    # -- helpers ----------------------------------------------------------------------------------------------
    def _arrays(self, mask: np.ndarray) -> dict[str, Any]:
        s = self.sample

        def part(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[mask]

        covariates = part(s.covariates)
        if covariates is not None:
            # a covariate constant on this sample (the subgroup's own variable, e.g. female within female = 1) is
            # collinear with the intercept: rdrobust drops it, so it is left out here and the fit's covariate
            # coefficients line up with the covariates passed
            cov2 = covariates.reshape(covariates.shape[0], -1)
            varies = np.ptp(cov2, axis=0) > 0 if cov2.shape[0] else np.ones(cov2.shape[1], bool)
            covariates = cov2[:, varies] if varies.any() else None
            if covariates is not None and covariates.shape[1] == 1 and s.covariates is not None \
                    and s.covariates.ndim == 1:
                covariates = covariates[:, 0]
        return {"fuzzy": part(s.fuzzy), "covariates": covariates, "cluster": part(s.cluster),
                "weights": part(s.weights)}

    def _described(self, keep: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
        """``(name, role, values)`` of the variables the descriptive statistics summarise besides the outcome:
        the take-up of a fuzzy design, the adjustment covariates and the baseline covariates (rows ``keep``)."""
        s = self.sample
        out: list[tuple[str, str, np.ndarray]] = []
        if s.fuzzy is not None and self.fuzzy is not None:
            out.append((self.fuzzy, "participation", np.asarray(s.fuzzy, dtype=float)[keep]))
        for name in dict.fromkeys([*self.covariates, *self.baseline_covariates]):
            role = ", ".join(r for r, cols in (("covariate", self.covariates),
                                              ("baseline covariate", self.baseline_covariates)) if name in cols)
            values = pd.to_numeric(s.frame[name], errors="coerce").to_numpy(dtype=float)[keep]
            out.append((name, role, values))
        return out

    def _design_options(self) -> dict[str, Any]:
        s = self.sample
        return {
            "outcomes": list(self.outcomes), "running": self.running, "cutoff": s.cutoff,
            "cutoff_column": self.cutoff_column, "fuzzy": self.fuzzy, "cluster": self.cluster,
            "covariates": list(self.covariates), "weights": self.weights, "subgroups": list(self.subgroups),
            "baseline_covariates": list(self.baseline_covariates), "assignment_unit": self.assignment_unit,
            "where": list(self.where), "donut": s.donut, "design": self.design,
        }

    # -- estimation -------------------------------------------------------------------------------------------
    @one_blas_thread()
    def fit(
        self,
        options: RDOptions | None = None,
        *,
        by_cutoff: bool = True,
        diagnostics: bool | DiagnosticOptions = False,
        local_randomization: bool | LocalRandomizationOptions = False,
        n_jobs: int | None = None,
        **estimation: Any,
    ) -> RDResults:
        """Estimate the RD effect on each outcome (and subgroups, cutoffs), with optional diagnostics.

        Parameters
        ----------
        options, **estimation
            Estimation options: an :class:`~cteimpact.rd.options.RDOptions`, and/or its fields as keywords
            (``p=2, kernel="uniform", h=5.0``...; keywords override ``options``). The fields of ``RDOptions`` are
            the one declaration of these options; an unknown keyword is named with the closest valid one.
        by_cutoff
            Multi-cutoff designs: also estimate each cutoff separately.
        diagnostics
            ``True`` (all checks) or a :class:`~cteimpact.rd.diagnostics.DiagnosticOptions`; adds the checks and
            the WWC-style standards review for each outcome.
        local_randomization
            ``True`` or :class:`LocalRandomizationOptions`: randomisation inference in a window (the window is
            selected from the baseline covariates unless given).
        n_jobs
            Worker processes for the diagnostic fits (default: 2 on large data with 2 cores, else 1). Results do
            not depend on it.
        """
        opts = build_options(RDOptions, estimation, base=options, where="RegressionDiscontinuity.fit()",
                             elsewhere=_other_designs)
        level = float(opts.level)
        s = self.sample
        _check_outcomes(s, self.outcomes)
        kw = opts.rdrobust_kwargs(clustered=s.cluster is not None)
        diag_opts = diagnostics if isinstance(diagnostics, DiagnosticOptions) else (
            DiagnosticOptions() if diagnostics else None)
        lr_opts = self._local_randomization_options(local_randomization)
        jobs = resolve_jobs(n_jobs, s.n) if diag_opts is not None else 1
        out = _Collected(notes=list(s.notes))
        with TaskRunner(jobs) as runner:
            started = None
            if diag_opts is not None:
                started = start_diagnostics(sample=s, options=diag_opts, runner=runner,
                                            baseline_covariates=self.baseline_covariates,
                                            assignment_unit=self.assignment_unit)
            for outcome in self.outcomes:
                osample = s.outcome(outcome)
                out.flows[outcome] = osample.flow
                check_support(outcome, s.x[osample.keep], s.cutoff, self._running_label())
                fit = self._fit_primary(outcome, osample, kw, level, out)
                self._add_honest(outcome, osample, fit, opts, out)
                for col in self.subgroups:
                    self._add_subgroups(outcome, col, osample, kw, level, out)
                if by_cutoff and s.row_cutoffs is not None:
                    self._add_cutoffs(outcome, osample, kw, level, out)
                if diag_opts is not None:
                    checks = run_diagnostics(
                        outcome=outcome, sample=s, osample=osample, fit=fit, fit_kwargs=kw, options=diag_opts,
                        runner=runner, baseline_covariates=self.baseline_covariates, started=started,
                        assignment_unit=self.assignment_unit, fixed_bandwidth=opts.h is not None)
                    review = review_standards(fit=fit, checks=checks, design=self.design,
                                              adjusted_covariates=self.covariates)
                    out.diags[outcome] = RDDiagnostics(outcome, tuple(checks), diag_opts, review)
                if lr_opts is not None:
                    out.lrs[outcome] = self._local_randomization(outcome, osample.keep, osample.y, lr_opts, level)
        recorded = {
            **self._design_options(), **opts.to_dict(), "vce_used": kw["vce"], "by_cutoff": by_cutoff,
            "diagnostics": None if diag_opts is None else diag_opts.to_dict(),
            "local_randomization": None if lr_opts is None else lr_opts.to_dict(),
            "versions": _versions(),
        }
        flow = out.flows[self.outcomes[0]] if len(self.outcomes) == 1 else s.flow
        return RDResults(
            estimates=tuple(out.estimates), options=recorded, sample_flow=flow, fits=tuple(out.fits),
            outcomes=self.outcomes, cutoff=s.cutoff, running=self._running_label(),
            subgroup_comparisons=tuple(out.comparisons), cutoff_tests=tuple(out.cut_tests),
            subgroup_covariances=tuple(out.covs), diagnostics=out.diags, local_randomization=out.lrs,
            centres=out.centres, notes=tuple(dict.fromkeys(out.notes)), unestimated=tuple(out.unestimated),
            descriptives=tuple(out.descriptives), honest=out.honest)

    def _add_honest(self, outcome: str, osample: OutcomeSample, fit: LocalPolynomialFit, opts: RDOptions,
                    out: _Collected) -> None:
        """Note a running variable with few mass points; with ``honest``, add the bias-aware interval."""
        s = self.sample
        keep = osample.keep
        note = mass_points_note(outcome, s.x[keep], s.cutoff, self._running_label())
        if note is not None:
            out.notes.append(note)
        if opts.honest:
            arr = self._arrays(keep)
            res, notes = honest_interval(outcome, y=osample.y[keep], x=s.x[keep], cutoff=s.cutoff, fit=fit,
                                         options=opts, treatment=arr["fuzzy"], cluster=arr["cluster"],
                                         running=self._running_label())
            out.honest[outcome] = res
            out.notes.extend(notes)
            if self.covariates:
                out.notes.append(f"{outcome}: the bias-aware interval is not adjusted for the covariates "
                                 f"({', '.join(self.covariates)})")

    def _running_label(self) -> str:
        return self.running if self.cutoff_column is None else f"{self.running} - {self.cutoff_column}"

    def _main_term(self) -> str:
        return "RD effect at the cutoff" + (" (fuzzy: local average effect of take-up)" if self.design == "fuzzy"
                                            else " (sharp)")

    def _local_randomization_options(self, local_randomization: bool | LocalRandomizationOptions
                                     ) -> LocalRandomizationOptions | None:
        """The local-randomisation options of ``fit``, with the memory its re-randomisations need checked."""
        if isinstance(local_randomization, LocalRandomizationOptions):
            lr_opts: LocalRandomizationOptions | None = local_randomization
        else:
            lr_opts = LocalRandomizationOptions() if local_randomization else None
        if lr_opts is not None:
            # the re-randomisation statistics of the outcome (or of every baseline covariate, when the window is
            # selected) and of the treatment are kept, with the working copies of the interval's test inversion
            per = 2 * (1 + len(self.baseline_covariates)) + 6
            check_memory(int(lr_opts.reps), 8 * per, items="re-randomisations", breakdown=f"{per} values × 8 bytes",
                         what="the local-randomisation analysis", option="--reps, [design.local_randomization] reps",
                         minimum=100)
        return lr_opts

    def _fit_primary(self, outcome: str, osample: OutcomeSample, kw: dict[str, Any], level: float,
                     out: _Collected) -> LocalPolynomialFit:
        """Fit the outcome on its analysis sample (and, fuzzy, the reduced form) and collect its rows."""
        s = self.sample
        keep = osample.keep
        x = s.x[keep]
        y = osample.y[keep]
        arr = self._arrays(keep)
        fit = fit_rdrobust(y, x, cutoff=s.cutoff, **arr, **kw, context=f"rdrobust on outcome '{outcome}'")
        out.notes.extend(f"{outcome}: {n}" for n in fit.notes)
        if fit.vce == "cr1" and fit.n_clusters_side is not None and min(fit.n_clusters_side) < FEW_CLUSTERS_CR1:
            msg = (f"outcome '{outcome}': only {fit.n_clusters_side[0]} / {fit.n_clusters_side[1]} clusters "
                   f"within the bandwidth below / above the cutoff; cr1 robust intervals tend to under-cover "
                   f"with fewer than {FEW_CLUSTERS_CR1} a side (cteimpact's Monte Carlo: 88% for 95% at about "
                   "30 a side); consider vce='cr3'")
            warnings.warn(msg, SmallSampleWarning, stacklevel=3)
            out.notes.append(msg)
        bins = BinnedMeans.compute(x, y, s.cutoff, weights=arr["weights"])
        reduced = None
        rows = robust_estimate_rows(outcome, outcome, fit, term=self._main_term(), level=level)
        out.centres[outcome] = fit.estimate_bc
        if self.design == "fuzzy":
            reduced = fit_rdrobust(y, x, cutoff=s.cutoff, **{**arr, "fuzzy": None},
                                   **{**kw, "h": fit.h, "b": fit.b, "rho": None},
                                   context=f"reduced form of outcome '{outcome}'")
            rows.extend(self._fuzzy_rows(outcome, fit, reduced, level, out))
        fits_out = OutcomeFit(outcome, outcome, "main", fit, osample.flow, self.design, reduced, None, None, bins,
                              self._running_label())
        out.fits.append(_with_effect_sizes(fits_out, rows, y, x, s.cutoff, arr))
        out.estimates.extend(rows)
        out.descriptives.extend(describe_outcome_sample(outcome, y, x, s.cutoff, fit.h,
                                                        variables=self._described(keep), cluster=arr["cluster"]))
        return fit

    def _fuzzy_rows(self, outcome: str, fit: LocalPolynomialFit, reduced: LocalPolynomialFit, level: float,
                    out: _Collected) -> list[EffectEstimate]:
        """The first-stage and reduced-form rows of a fuzzy design (warned about when the first stage is weak)."""
        assert fit.first_stage is not None  # noqa: S101 - rdrobust returns it for every fuzzy fit
        fs = fit.first_stage
        rows = [EffectEstimate.from_normal(
            f"{outcome}[first_stage]", outcome, f"jump in take-up of '{self.fuzzy}' at the cutoff",
            fs.estimate, fs.se_robust, ci_level=level, ci_type="robust_bias_corrected",
            n_effective=float(fit.n_effective), centre=fs.estimate_bc)]
        out.centres[f"{outcome}[first_stage]"] = fs.estimate_bc
        rows.extend(robust_estimate_rows(f"{outcome}[reduced_form]", outcome, reduced,
                                         term="reduced form: jump in the outcome (intention to treat)",
                                         level=level, with_variants=False))
        out.centres[f"{outcome}[reduced_form]"] = reduced.estimate_bc
        if fs.f_statistic < WEAK_FIRST_STAGE_F:
            warnings.warn(
                f"weak first stage for outcome '{outcome}': the jump in '{self.fuzzy}' at the cutoff is "
                f"{fs.estimate:.4g} with F = {fs.f_statistic:.2f} < {WEAK_FIRST_STAGE_F:g}; the fuzzy "
                "estimate and its interval are unreliable, report the reduced form",
                WeakFirstStageWarning, stacklevel=4)
            out.notes.append(f"{outcome}: weak first stage (F = {fs.f_statistic:.2f})")
        return rows

    def _add_subgroups(self, outcome: str, col: str, osample: OutcomeSample, kw: dict[str, Any], level: float,
                       out: _Collected) -> None:
        """Fit each level of subgroup column ``col`` and compare the levels; collect their rows."""
        s = self.sample
        sub, sub_notes, failed = self._fit_subgroups(outcome, col, osample.keep, osample.y, kw, level,
                                                     self._running_label(), osample.flow)
        out.notes.extend(sub_notes)
        out.unestimated.extend((lab, outcome, col) for lab in failed)
        for sf, smask in sub:
            srows = robust_estimate_rows(sf.label, outcome, sf.fit, level=level, with_variants=False,
                                         term=f"RD effect for {sf.group[0]}={sf.group[1]}" if sf.group
                                         else self._main_term())
            out.fits.append(_with_effect_sizes(sf, srows, osample.y[smask], s.x[smask], s.cutoff,
                                               self._arrays(smask)))
            out.estimates.extend(srows)
            out.centres[sf.label] = sf.fit.estimate_bc
        comp, cov_entries = self._compare_subgroups(outcome, col, sub, osample.y, level)
        out.comparisons.extend(comp)
        out.covs.extend(cov_entries)
        for cmp in comp:
            out.estimates.append(EffectEstimate.from_normal(
                cmp.label, outcome, f"difference in RD effects, {col}={cmp.level_a} minus {col}={cmp.level_b}",
                cmp.difference, cmp.se, ci_level=level, ci_type="robust_bias_corrected", centre=cmp.difference_bc))
            out.centres[cmp.label] = cmp.difference_bc

    def _add_cutoffs(self, outcome: str, osample: OutcomeSample, kw: dict[str, Any], level: float,
                     out: _Collected) -> None:
        """Fit each cutoff of a multi-cutoff design separately, test their equality; collect their rows."""
        s = self.sample
        keep = osample.keep
        cfits, cnotes, cfailed = self._fit_cutoffs(outcome, keep, osample.y, kw, level, osample.flow)
        out.notes.extend(cnotes)
        out.unestimated.extend((lab, outcome, "cutoff") for lab in cfailed)
        for cf in cfits:
            crows = robust_estimate_rows(cf.label, outcome, cf.fit, level=level, with_variants=False,
                                         term=f"RD effect at the cutoff {format_value(cf.cutoff_value)}")
            cmask = keep & (s.row_cutoffs == cf.cutoff_value)
            assert s.raw_running is not None  # noqa: S101 - multi-cutoff designs keep the raw score
            out.fits.append(_with_effect_sizes(cf, crows, osample.y[cmask], s.raw_running[cmask],
                                               float(cf.fit.cutoff), self._arrays(cmask)))
            out.estimates.extend(crows)
            out.centres[cf.label] = cf.fit.estimate_bc
        if len(cfits) >= 2:
            out.cut_tests.append(self._cutoff_test(outcome, cfits))

    def _fit_subgroups(self, outcome: str, col: str, keep: np.ndarray, y_all: np.ndarray, kw: dict[str, Any],
                       level: float, running_label: str, flow: SampleFlow
                       ) -> tuple[list[tuple[OutcomeFit, np.ndarray]], list[str], list[str]]:
        s = self.sample
        values = s.frame[col].to_numpy()[keep]
        present = pd.notna(values)
        levels = pd.unique(values[present])
        if len(levels) > MAX_GROUP_LEVELS:
            raise OptionError(f"subgroup column '{col}' has {len(levels)} distinct values; give a categorical column "
                              f"with at most {MAX_GROUP_LEVELS} levels (for example a binary indicator)")
        try:
            levels = sorted(levels)
        except TypeError:
            levels = sorted(levels, key=str)
        out: list[tuple[OutcomeFit, np.ndarray]] = []
        notes: list[str] = []
        failed: list[str] = []
        idx_keep = np.flatnonzero(keep)
        n_missing = int((~present).sum())
        if n_missing:
            notes.append(f"{outcome}: {n_missing:,} rows with '{col}' missing are left out of the '{col}' subgroups")
        for lev in levels:
            sel = present & (values == lev)
            mask = np.zeros(s.n, dtype=bool)
            mask[idx_keep[sel]] = True
            label = f"{outcome}[{col}={format_value(lev)}]"
            sub_flow = flow.exclude(int(keep.sum() - mask.sum()), f"subgroup {col}={format_value(lev)}")
            try:
                fit = fit_rdrobust(y_all[mask], s.x[mask], cutoff=s.cutoff, **self._arrays(mask), **kw,
                                   context=f"rdrobust on outcome '{outcome}', subgroup {col}={format_value(lev)}")
            except CteImpactError as exc:
                notes.append(f"{label} not estimated: {exc}")
                failed.append(label)
                continue
            out.append((OutcomeFit(label, outcome, "subgroup", fit, sub_flow, self.design, None,
                                   (col, format_value(lev)), None,
                                   BinnedMeans.compute(s.x[mask], y_all[mask], s.cutoff), running_label), mask))
        return out, notes, failed

    def _compare_subgroups(self, outcome: str, col: str, sub: list[tuple[OutcomeFit, np.ndarray]],
                           y_all: np.ndarray, level: float
                           ) -> tuple[list[SubgroupComparison], list[tuple[str, str, float]]]:
        if len(sub) < 2:
            return [], []
        s = self.sample
        sub_fits = [sf for sf, _ in sub]
        scores = {}
        cov_entries: list[tuple[str, str, float]] = []
        if s.cluster is not None:
            for sf, mask in sub:
                arr = self._arrays(mask)
                scores[sf.label] = fit_scores(sf.fit, x=s.x[mask], y=y_all[mask], cluster=arr["cluster"],
                                              fuzzy=arr["fuzzy"], covariates=arr["covariates"],
                                              weights=arr["weights"])
        z = float(stats.norm.ppf(0.5 + level / 2))
        ref = sub_fits[0]
        out = []
        for other in sub_fits[1:]:
            a, b = other, ref
            if scores:
                sa, sb = scores[a.label], scores[b.label]
                va, vb = sa.variance(True), sb.variance(True)
                cab = cluster_covariance(sa, sb, robust=True)
                rho = cab / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0
                cov = rho * a.fit.se_robust * b.fit.se_robust
                method = ("clusters shared across subgroups: covariance from the fits' cluster scores "
                          f"(CR1 form; correlation {rho:.3f})")
            else:
                cov = 0.0
                method = "independent samples (no cluster shared)"
            diff = a.fit.estimate_bc - b.fit.estimate_bc
            var = a.fit.se_robust**2 + b.fit.se_robust**2 - 2 * cov
            se = math.sqrt(max(var, 0.0))
            zstat = diff / se if se > 0 else math.nan
            p = float(2 * stats.norm.sf(abs(zstat))) if math.isfinite(zstat) else math.nan
            assert a.group is not None and b.group is not None  # noqa: S101 - subgroup fits carry their group
            out.append(SubgroupComparison(outcome, col, a.group[1], b.group[1], a.label, b.label, a.fit.estimate,
                                          b.fit.estimate, a.fit.estimate_bc, b.fit.estimate_bc, a.fit.se_robust,
                                          b.fit.se_robust, se, cov, zstat, p, (diff - z * se, diff + z * se), method))
            if cov != 0.0:
                cov_entries.append((a.label, b.label, cov))
        if scores and len(sub_fits) > 2:
            for i, fa in enumerate(sub_fits[1:], start=1):
                for fb in sub_fits[i + 1:]:
                    sa, sb = scores[fa.label], scores[fb.label]
                    va, vb = sa.variance(True), sb.variance(True)
                    rho = cluster_covariance(sa, sb) / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0
                    cov_entries.append((fa.label, fb.label, rho * fa.fit.se_robust * fb.fit.se_robust))
        return out, cov_entries

    def _fit_cutoffs(self, outcome: str, keep: np.ndarray, y_all: np.ndarray, kw: dict[str, Any], level: float,
                     flow: SampleFlow) -> tuple[list[OutcomeFit], list[str], list[str]]:
        s = self.sample
        assert s.row_cutoffs is not None and s.raw_running is not None  # noqa: S101 - multi-cutoff designs only
        cuts = np.unique(s.row_cutoffs[keep])
        if cuts.size > MAX_CUTOFFS:
            return [], [f"{outcome}: {cuts.size} distinct cutoffs; only the pooled (normalised) estimate is "
                        "reported"], []
        if cuts.size < 2:
            return [], [], []
        out: list[OutcomeFit] = []
        notes: list[str] = []
        failed: list[str] = []
        for cut in cuts:
            mask = keep & (s.row_cutoffs == cut)
            label = f"{outcome}[cutoff={format_value(cut)}]"
            sub_flow = flow.exclude(int(keep.sum() - mask.sum()), f"rows with cutoff {format_value(cut)}")
            try:
                fit = fit_rdrobust(y_all[mask], s.raw_running[mask], cutoff=float(cut), **self._arrays(mask), **kw,
                                   context=f"rdrobust on outcome '{outcome}' at cutoff {format_value(cut)}")
            except CteImpactError as exc:
                notes.append(f"{label} not estimated: {exc}")
                failed.append(label)
                continue
            out.append(OutcomeFit(label, outcome, "cutoff", fit, sub_flow, self.design, None, None, float(cut),
                                  BinnedMeans.compute(s.raw_running[mask], y_all[mask], float(cut)), self.running))
        return out, notes, failed

    @staticmethod
    def _cutoff_test(outcome: str, cfits: list[OutcomeFit]) -> CutoffHeterogeneity:
        est = np.array([f.fit.estimate_bc for f in cfits])
        se = np.array([f.fit.se_robust for f in cfits])
        w = 1 / se**2
        mean = float(np.sum(w * est) / np.sum(w))
        chi2 = float(np.sum(w * (est - mean) ** 2))
        df = len(cfits) - 1
        return CutoffHeterogeneity(outcome, tuple(float(f.cutoff_value or 0.0) for f in cfits), chi2, df,
                                   float(stats.chi2.sf(chi2, df)), mean)

    def _local_randomization(self, outcome: str, keep: np.ndarray, y_all: np.ndarray,
                             opts: LocalRandomizationOptions, level: float) -> LocalRandomizationResult:
        s = self.sample
        unit = self.assignment_unit
        if unit is None and s.cluster_column is not None:
            codes_all = s.cluster
            x_all = s.x
            # the cluster is the assignment unit only if the score is constant within clusters
            assert codes_all is not None  # noqa: S101 - cluster_column implies codes
            ser = pd.Series(x_all).groupby(codes_all)
            if bool((ser.min() == ser.max()).all()):
                unit = s.cluster_column
        codes = unit_codes(s.frame, unit)
        covs = {}
        for col in self.baseline_covariates:
            covs[col] = pd.to_numeric(s.frame[col], errors="coerce").to_numpy(dtype=float)[keep]
        return local_randomization(
            s.x[keep], y_all[keep], s.cutoff, outcome=outcome, window=opts.window,
            codes=None if codes is None else codes[keep], unit="rows" if unit is None else f"units of '{unit}'",
            covariates=covs or None, reps=opts.reps, seed=opts.seed, level=level, ci=opts.ci,
            window_alpha=opts.window_alpha, statistic=opts.statistic)

    # -- planning ---------------------------------------------------------------------------------------------
    @one_blas_thread()
    def power(self, outcome: str, tau: float, *, alpha: float = 0.05,
              sample_size: tuple[int, int] | None = None, **options: Any) -> PowerCalculation:
        """Power of the robust bias-corrected test against an effect ``tau`` (rdpower; Cattaneo, Titiunik &
        Vazquez-Bare 2019), estimated from this design's data. ``sample_size`` = new ``(left, right)`` numbers of
        units within the bandwidth; ``options`` go to rdrobust (``p``, ``h``, ``kernel``...)."""
        y, x, arr = self._planning_arrays(outcome)
        return power_calculation(y, x, tau=tau, cutoff=self.sample.cutoff, alpha=alpha, sample_size=sample_size,
                                 cluster=arr["cluster"], covariates=arr["covariates"], fuzzy=arr["fuzzy"],
                                 context=f"rdpower for outcome '{outcome}'", **options)

    @one_blas_thread()
    def mde(self, outcome: str, *, alpha: float = 0.05, power: float = 0.8,
            sample_size: tuple[int, int] | None = None, **options: Any) -> MdeCalculation:
        """Minimum detectable effect at ``power`` and level ``alpha`` (rdmde)."""
        y, x, arr = self._planning_arrays(outcome)
        return mde_calculation(y, x, cutoff=self.sample.cutoff, alpha=alpha, beta=power, sample_size=sample_size,
                               cluster=arr["cluster"], covariates=arr["covariates"], fuzzy=arr["fuzzy"],
                               context=f"rdmde for outcome '{outcome}'", **options)

    def _planning_arrays(self, outcome: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        if outcome not in self.outcomes:
            raise OptionError(f"'{outcome}' is not an outcome of this design; outcomes: {', '.join(self.outcomes)}")
        osample = self.sample.outcome(outcome)
        keep = osample.keep
        return osample.y[keep], self.sample.x[keep], self._arrays(keep)
