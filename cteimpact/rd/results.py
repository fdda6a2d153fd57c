"""Results of a continuity-based RD analysis: :class:`RDResults` and its parts.

Estimate rows (see :class:`~cteimpact.results.EffectEstimate`), for outcome ``Y``:

* ``Y`` — the primary row: the **conventional** point estimate, with the **robust bias-corrected** standard
  error, test and confidence interval (``ci_type = "robust_bias_corrected"``; the interval is centred on the
  bias-corrected estimate, so it need not be centred on the point estimate);
* ``Y[conventional]`` — conventional estimate, conventional SE and interval;
* ``Y[bias_corrected]`` — bias-corrected estimate with the conventional SE (reported for completeness; its
  interval under-covers and should not be used for inference);
* fuzzy designs: ``Y[first_stage]`` (jump in take-up) and ``Y[reduced_form]`` (jump in the outcome, the
  intention-to-treat effect of crossing the cutoff), both robust bias-corrected;
* ``Y[female=1]``... — subgroup estimates; ``Y[female=1 vs female=0]`` — their difference;
* ``Y[cutoff=55]``... — cutoff-specific estimates of multi-cutoff designs (``Y`` is then the pooled estimate on
  the normalised running variable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError, SuppressedEstimateError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.baseline import BASELINE_SOURCE, ControlBaseline, EffectSizes
from cteimpact.rd.descriptives import DescriptiveCell, tidy_descriptives
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_estimates, format_number, format_p

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.rd.adapters.rdhonest import HonestRD
    from cteimpact.rd.diagnostics import RDDiagnostics
    from cteimpact.rd.local_randomization import LocalRandomizationResult

__all__ = ["FIT_COLUMNS", "SUBGROUP_DIFFERENCE_ESTIMATOR", "WEAK_FIRST_STAGE_F", "BinnedMeans",
           "CutoffHeterogeneity", "OutcomeFit", "RDResults", "SubgroupComparison", "robust_estimate_rows"]

FitKind = Literal["main", "subgroup", "cutoff"]

WEAK_FIRST_STAGE_F = 10.0
"""First-stage F (squared conventional z of the jump in take-up) below which a fuzzy design is warned about
(the conventional Staiger-Stock rule of thumb; not a WWC threshold)."""

FIT_COLUMNS: tuple[str, ...] = (
    "label", "outcome", "kind", "design", "cutoff", "h_left", "h_right", "b_left", "b_right", "n_left", "n_right",
    "n_h_left", "n_h_right", "clusters_left", "clusters_right", "p", "q", "kernel", "vce", "bwselect", "suppressed",
    "suppression",
)
"""Columns of :meth:`RDResults.tidy_fits`."""


@dataclass(frozen=True)
class BinnedMeans:
    """Binned means of an outcome for the RD plot (evenly spaced bins on each side of the cutoff)."""

    x: np.ndarray
    """Mean of the running variable in each bin."""
    mean: np.ndarray
    se: np.ndarray
    n: np.ndarray
    left: np.ndarray
    """True for bins below the cutoff."""

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "mean": self.mean.tolist(), "se": self.se.tolist(),
                "n": self.n.tolist(), "left": self.left.tolist()}

    def without_small_bins(self, min_cell: int) -> BinnedMeans:
        """The bins based on at least ``min_cell`` observations (small cells are not shown in any output)."""
        keep = self.n >= min_cell
        return BinnedMeans(self.x[keep], self.mean[keep], self.se[keep], self.n[keep], self.left[keep])

    @classmethod
    def compute(cls, x: np.ndarray, y: np.ndarray, cutoff: float, bins_per_side: int | None = None,
                weights: np.ndarray | None = None) -> BinnedMeans:
        """Evenly spaced bins on each side; ``bins_per_side`` defaults to ``clip(2 n^(1/3), 5, 40)``."""
        xs, ms, ses, ns, lefts = [], [], [], [], []
        for is_left in (True, False):
            mask = x < cutoff if is_left else x >= cutoff
            xv, yv = x[mask], y[mask]
            wv = None if weights is None else weights[mask]
            if xv.size == 0:
                continue
            k = bins_per_side or int(np.clip(round(2 * xv.size ** (1 / 3)), 5, 40))
            lo, hi = float(xv.min()), float(xv.max())
            edges = np.linspace(lo, cutoff, k + 1) if is_left else np.linspace(cutoff, hi, k + 1)
            idx = np.clip(np.searchsorted(edges, xv, side="right") - 1, 0, k - 1)
            w = np.ones_like(yv) if wv is None else wv
            n = np.bincount(idx, minlength=k).astype(float)
            sw = np.bincount(idx, weights=w, minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.bincount(idx, weights=w * yv, minlength=k) / sw
                xm = np.bincount(idx, weights=w * xv, minlength=k) / sw
                dev = yv - mean[idx]
                var = np.bincount(idx, weights=w * dev**2, minlength=k) / sw
                se = np.sqrt(var / np.maximum(n - 1, 1))
            ok = n > 0
            xs.append(xm[ok])
            ms.append(mean[ok])
            ses.append(se[ok])
            ns.append(n[ok])
            lefts.append(np.full(int(ok.sum()), is_left))
        return cls(np.concatenate(xs), np.concatenate(ms), np.concatenate(ses), np.concatenate(ns),
                   np.concatenate(lefts))


@dataclass(frozen=True)
class OutcomeFit:
    """One estimated RD effect with everything needed to report and plot it.

    Attributes
    ----------
    label
        Label of its primary estimate row (``"dropout"``, ``"dropout[female=1]"``...).
    outcome
        Outcome column.
    kind
        ``"main"``, ``"subgroup"`` (``group`` = ``(column, value)``) or ``"cutoff"`` (``cutoff_value``).
    fit
        The rdrobust fit.
    reduced_form
        Fuzzy designs: the sharp fit of the outcome at the same bandwidths.
    flow
        Sample flow of this fit (the common flow plus its own exclusions).
    bins
        Binned means for the RD plot.
    suppressed
        Why the small-cell rule hides this fit (``None`` when it is shown): its :meth:`to_dict` then carries no
        number computed from its students (see :meth:`RDResults.with_min_cell`).
    baseline
        The outcome's level just below the cutoff (:class:`~cteimpact.rd.baseline.ControlBaseline`): the
        unadjusted local fit at the estimate's bandwidth, and the in-bandwidth mean.
    effect_sizes
        The relative change and (0/1 outcomes) the Cox index of each effect row of this fit against ``baseline``
        (a sharp fit: its effect; a fuzzy main fit: the reduced form and the local average treatment effect).
    """

    label: str
    outcome: str
    kind: FitKind
    fit: LocalPolynomialFit
    flow: SampleFlow
    design: Literal["sharp", "fuzzy"] = "sharp"
    reduced_form: LocalPolynomialFit | None = None
    group: tuple[str, str] | None = None
    cutoff_value: float | None = None
    bins: BinnedMeans | None = None
    running_label: str = "running variable"
    suppressed: str | None = None
    baseline: ControlBaseline | None = None
    effect_sizes: tuple[EffectSizes, ...] = ()

    def _weak_first_stage(self) -> dict[str, Any] | None:
        """Fuzzy fits: the first stage's F against :data:`WEAK_FIRST_STAGE_F`."""
        fs = self.fit.first_stage
        if fs is None:
            return None
        return {"f_statistic": fs.f_statistic, "threshold": WEAK_FIRST_STAGE_F,
                "weak": bool(fs.f_statistic < WEAK_FIRST_STAGE_F),
                "rule": "weak when F (the squared conventional z of the jump in take-up) is below the threshold "
                        "(Staiger-Stock rule of thumb)"}

    def to_dict(self) -> dict[str, Any]:
        head = {"label": self.label, "outcome": self.outcome, "kind": self.kind, "design": self.design,
                "group": None if self.group is None else list(self.group), "cutoff_value": self.cutoff_value}
        if self.suppressed is not None:
            return {**head, "fit": None, "reduced_form": None, "sample_flow": None, "baseline": None,
                    "effect_sizes": None, "weak_first_stage": None, "suppressed": True,
                    "suppression": self.suppressed}
        return {
            **head,
            "fit": self.fit.to_dict(),
            "reduced_form": None if self.reduced_form is None else self.reduced_form.to_dict(),
            "sample_flow": self.flow.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "effect_sizes": [e.to_dict() for e in self.effect_sizes],
            "weak_first_stage": self._weak_first_stage(),
            "suppressed": False, "suppression": None,
        }


SUBGROUP_DIFFERENCE_ESTIMATOR = (
    "the family of the subgroup estimate rows (rdrobust's primary row): conventional point estimate; robust "
    "bias-corrected standard error, interval and test, the interval centred on the bias-corrected difference"
)
"""How :class:`SubgroupComparison` estimates a difference (recorded as its ``estimator``)."""


@dataclass(frozen=True)
class SubgroupComparison:
    """Test that two subgroups' RD effects are equal, in the estimator family of the subgroup rows.

    The subgroup rows (``Y[female=1]``) show rdrobust's primary row: the conventional point estimate with the robust
    bias-corrected standard error, interval and test (the interval centred on the bias-corrected estimate). The
    comparison is of the same family (:data:`SUBGROUP_DIFFERENCE_ESTIMATOR`), so a table of differences agrees with
    the table of subgroup estimates above it:

    * ``difference = estimate_a − estimate_b``: the difference of the two rows' (conventional) estimates;
    * ``difference_bc = estimate_bc_a − estimate_bc_b``: the centre of the interval and the numerator of ``z``;
    * ``se = sqrt(se_a² + se_b² − 2 covariance)`` from the two robust standard errors. ``covariance`` is zero when
      the subgroups share no cluster (disjoint students, independent samples: ``se`` is the square root of the sum
      of squares); when they share clusters (a school with both girls and boys) it is the covariance of the two
      bias-corrected estimates computed from the fits' cluster scores (see :mod:`cteimpact.rd.scores`), so ``se``
      accounts for the common cluster shocks. ``method`` states which.
    """

    outcome: str
    column: str
    level_a: str
    level_b: str
    label_a: str
    label_b: str
    estimate_a: float
    estimate_b: float
    estimate_bc_a: float
    estimate_bc_b: float
    se_a: float
    se_b: float
    se: float
    covariance: float
    z: float
    p_value: float
    ci: tuple[float, float]
    method: str
    suppressed: str | None = None
    """Why the small-cell rule hides the comparison (a subgroup it compares is hidden); ``None`` when shown."""

    @property
    def label(self) -> str:
        return f"{self.outcome}[{self.column}={self.level_a} vs {self.column}={self.level_b}]"

    @property
    def difference(self) -> float:
        """``estimate_a − estimate_b``: the difference of the two subgroup rows' point estimates."""
        return self.estimate_a - self.estimate_b

    @property
    def difference_bc(self) -> float:
        """``estimate_bc_a − estimate_bc_b``: the centre of the robust interval."""
        return self.estimate_bc_a - self.estimate_bc_b

    def to_dict(self) -> dict[str, Any]:
        head = {"label": self.label, "outcome": self.outcome, "column": self.column, "level_a": self.level_a,
                "level_b": self.level_b, "label_a": self.label_a, "label_b": self.label_b,
                "estimator": SUBGROUP_DIFFERENCE_ESTIMATOR}
        numbers = ("difference", "difference_bc", "estimate_a", "estimate_b", "estimate_bc_a", "estimate_bc_b",
                   "se_a", "se_b", "se", "covariance", "z", "p_value", "ci")
        if self.suppressed is not None:
            return {**head, **dict.fromkeys(numbers), "method": self.method, "suppressed": True,
                    "suppression": self.suppressed}
        return {**head, "difference": self.difference, "difference_bc": self.difference_bc,
                "estimate_a": self.estimate_a, "estimate_b": self.estimate_b, "estimate_bc_a": self.estimate_bc_a,
                "estimate_bc_b": self.estimate_bc_b, "se_a": self.se_a, "se_b": self.se_b, "se": self.se,
                "covariance": self.covariance, "z": self.z, "p_value": self.p_value, "ci": list(self.ci),
                "method": self.method, "se_formula": "sqrt(se_a^2 + se_b^2 - 2 covariance)", "suppressed": False,
                "suppression": None}


@dataclass(frozen=True)
class CutoffHeterogeneity:
    """Wald test that the cutoff-specific effects are equal (independent samples across cutoffs)."""

    outcome: str
    cutoffs: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    pooled_weighted: float
    suppressed: str | None = None
    """Why the small-cell rule hides the test (a cutoff-specific estimate it combines is hidden)."""

    def to_dict(self) -> dict[str, Any]:
        if self.suppressed is not None:
            return {"outcome": self.outcome, "cutoffs": list(self.cutoffs), "statistic": None, "df": self.df,
                    "p_value": None, "precision_weighted_mean": None, "suppressed": True,
                    "suppression": self.suppressed}
        return {"outcome": self.outcome, "cutoffs": list(self.cutoffs), "statistic": self.statistic, "df": self.df,
                "p_value": self.p_value, "precision_weighted_mean": self.pooled_weighted, "suppressed": False,
                "suppression": None}


_Shown = TypeVar("_Shown", OutcomeFit, SubgroupComparison, CutoffHeterogeneity)


def _shown_lines(items: Sequence[_Shown], name: Callable[[_Shown], str],
                 lines: Callable[[_Shown], list[str]]) -> list[str]:
    """The summary lines of ``items``: ``lines(item)``, or one line saying the small-cell rule hides it."""
    out: list[str] = []
    for item in items:
        if item.suppressed is not None:
            out.append(f"  {name(item)}: {SUPPRESSION_MARKER} suppressed ({item.suppressed})")
        else:
            out += lines(item)
    return out


def _fit_lines(f: OutcomeFit) -> list[str]:
    """The summary lines of a shown fit: its settings and sample sizes, and its first stage."""
    fit = f.fit
    cl = ""
    if fit.n_clusters_side is not None:
        cl = f"; clusters {fit.n_clusters_side[0]:,} / {fit.n_clusters_side[1]:,}"
    out = [f"  {f.label}: {f.design}, cutoff {format_number(fit.cutoff, 3)}, p={fit.p}, q={fit.q}, "
           f"{fit.kernel} kernel, {fit.bwselect} bandwidth, vce {fit.vce}; h {_fmt_pair(fit.h)}; "
           f"b {_fmt_pair(fit.b)}; N {fit.n[0]:,} / {fit.n[1]:,}; effective N {fit.n_h[0]:,} / {fit.n_h[1]:,}{cl}"]
    if fit.first_stage is not None:
        fs = fit.first_stage
        out.append(f"    first stage {format_number(fs.estimate)} (robust p {format_p(fs.p_value[2])}"
                   f", F = {format_number(fs.f_statistic, 1)})")
    return out


def robust_estimate_rows(label: str, outcome: str, fit: LocalPolynomialFit, *, term: str, level: float,
                         with_variants: bool = True) -> list[EffectEstimate]:
    """The primary (robust bias-corrected) row of ``fit`` and, optionally, its conventional and bias-corrected rows."""
    n_eff = float(fit.n_effective)
    rows = [EffectEstimate.from_normal(label, outcome, term, fit.estimate, fit.se_robust, ci_level=level,
                                       ci_type="robust_bias_corrected", n_effective=n_eff, centre=fit.estimate_bc)]
    if with_variants:
        rows.append(EffectEstimate.from_normal(f"{label[:-1]},conventional]" if label.endswith("]")
                                               else f"{label}[conventional]", outcome, f"{term}; conventional",
                                               fit.estimate, fit.se, ci_level=level, ci_type="conventional",
                                               n_effective=n_eff))
        rows.append(EffectEstimate.from_normal(f"{label[:-1]},bias_corrected]" if label.endswith("]")
                                               else f"{label}[bias_corrected]", outcome, f"{term}; bias-corrected",
                                               fit.estimate_bc, fit.se, ci_level=level, ci_type="bias_corrected",
                                               n_effective=n_eff))
    return rows


def _fmt_pair(v: Sequence[float], digits: int = 3) -> str:
    return f"{format_number(float(v[0]), digits)} / {format_number(float(v[1]), digits)}"


@dataclass(frozen=True)
class RDResults(ImpactResults):
    """Results of :meth:`cteimpact.rd.RegressionDiscontinuity.fit` (see the module docstring for the rows).

    Attributes
    ----------
    estimates
        All estimate rows.
    options
        Every option used (design columns, estimation options, versions of the reference packages).
    sample_flow
        The flow of the primary outcome's sample (with several outcomes: the common flow; each fit's own flow is
        in ``fits``).
    fits
        One :class:`OutcomeFit` per estimated effect (bandwidths ``h``/``b`` per side, N and effective N per side,
        kernel, variance estimator, cluster counts).
    subgroup_comparisons, cutoff_tests
        Tests of equal effects across subgroups and across cutoffs.
    diagnostics
        Validation checks (manipulation test, covariate balance, placebo cutoffs, sensitivity, attrition) and the
        WWC-style standards review, when requested.
    local_randomization
        Randomisation-inference results in a small window, when requested.
    """

    design: ClassVar[str] = "rd"
    estimator: ClassVar[str] = (
        "Regression discontinuity: local polynomial estimates with robust bias-corrected inference "
        "(rdrobust; Calonico, Cattaneo & Titiunik 2014; Calonico, Cattaneo, Farrell & Titiunik 2019)"
    )

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    fits: tuple[OutcomeFit, ...]
    outcomes: tuple[str, ...]
    cutoff: float
    running: str
    subgroup_comparisons: tuple[SubgroupComparison, ...] = ()
    cutoff_tests: tuple[CutoffHeterogeneity, ...] = ()
    subgroup_covariances: tuple[tuple[str, str, float], ...] = ()
    diagnostics: Mapping[str, RDDiagnostics] = field(default_factory=dict)
    local_randomization: Mapping[str, LocalRandomizationResult] = field(default_factory=dict)
    centres: Mapping[str, float] = field(default_factory=dict)
    """Bias-corrected estimate of each robust row (the centre of its interval and sampling distribution)."""
    notes: tuple[str, ...] = ()
    unestimated: tuple[tuple[str, str, str], ...] = ()
    """Subgroup and cutoff fits that could not be estimated: ``(label, outcome, group)`` with ``group`` the
    subgroup column or ``"cutoff"`` (the small-cell rule treats them as hidden cells of their group)."""
    privacy: Mapping[str, Any] | None = None
    """After :meth:`with_min_cell`: ``min_cell``, the number of estimates suppressed and the note stating why."""
    descriptives: tuple[DescriptiveCell, ...] = ()
    """Descriptive statistics of each outcome's analysis sample and of its students within the main bandwidth, by
    side of the cutoff (see :mod:`cteimpact.rd.descriptives`)."""
    honest: Mapping[str, HonestRD] = field(default_factory=dict)
    """Bias-aware (honest) intervals by outcome (``fit(honest=True)``; rdhonest), beside the robust ones."""

    # -- access -----------------------------------------------------------------------------------------------
    def with_min_cell(self, min_cell: int) -> RDResults:
        """The results as they may be published: estimates describing fewer than ``min_cell`` students hidden.

        See :func:`cteimpact.rd.privacy.suppress_rd` for the rule. The copy's :meth:`to_dict`, :meth:`tidy`,
        :meth:`tidy_fits`, :meth:`summary` and plots show no number of a hidden estimate; binned means in the RD
        plots drop bins of fewer than ``min_cell`` students.
        """
        from cteimpact.rd.privacy import suppress_rd

        return suppress_rd(self, min_cell)

    def fit_for(self, label: str) -> OutcomeFit:
        """The fit behind the estimate labelled ``label``."""
        for f in self.fits:
            if f.label == label:
                return f
        raise OptionError(f"no fit labelled '{label}'; fits: {', '.join(f.label for f in self.fits)}")

    def primary_fit(self, outcome: str | None = None) -> OutcomeFit:
        outcome = outcome or self.outcomes[0]
        if outcome not in self.outcomes:
            raise OptionError(f"no outcome '{outcome}'; outcomes: {', '.join(self.outcomes)}")
        return self.fit_for(outcome)

    # -- contract ---------------------------------------------------------------------------------------------
    def sampling_distribution(self) -> SamplingDistribution:
        """Normal sampling distribution of the robust bias-corrected estimates.

        Centre: the **bias-corrected** estimates (``tau_bc``). Scale: the **robust** standard errors (``se_rb``)
        of Calonico, Cattaneo & Titiunik (2014), so draws are consistent with the robust confidence intervals.
        Labels: every row with ``ci_type == "robust_bias_corrected"`` (primary outcomes, first stage and reduced
        form, subgroups, cutoff-specific estimates, subgroup differences). Covariances between subgroup estimates
        that share clusters are filled in (and imply the differences' variances); other covariances are unknown
        and set to zero (``joint=False``).
        """
        rows = [e for e in self.estimates if e.ci_type == "robust_bias_corrected" and not e.suppressed]
        labels = tuple(e.label for e in rows)
        index = {lab: i for i, lab in enumerate(labels)}
        centres = []
        for e in rows:
            if e.label in self.centres:
                centres.append(float(self.centres[e.label]))
            else:
                centres.append((e.ci_lower + e.ci_upper) / 2 if math.isfinite(e.ci_lower) else e.estimate)
        se = np.array([e.std_error for e in rows], dtype=float)
        se = np.where(np.isfinite(se), se, 0.0)
        cov = np.diag(se**2)
        for a, b, c in self.subgroup_covariances:
            if a in index and b in index:
                cov[index[a], index[b]] = cov[index[b], index[a]] = c
        # a difference D = A − B covaries with every row X as cov(A, X) − cov(B, X): with its two subgroups, and
        # with the other differences of the same subgroup variable (two levels compared with one reference share
        # it); rows are filled in order, a later difference overwriting what an earlier one could not know yet
        for comp in self.subgroup_comparisons:
            if comp.label in index and comp.label_a in index and comp.label_b in index:
                i, ia, ib = index[comp.label], index[comp.label_a], index[comp.label_b]
                line = cov[ia, :] - cov[ib, :]
                line[i] = cov[ia, ia] + cov[ib, ib] - 2 * cov[ia, ib]
                cov[i, :] = line
                cov[:, i] = line
        return SamplingDistribution(labels, np.array(centres, dtype=float), cov, joint=len(labels) <= 1,
                                    centre="bias-corrected RD estimate (tau_bc)",
                                    scale="robust bias-corrected standard error (Calonico, Cattaneo & Titiunik 2014)")

    def summary(self) -> str:
        lines = self._summary_header()
        lines.append(format_estimates(self.estimates))
        lines.append("")
        lines.append("Fits (left / right of the cutoff)")
        lines += _shown_lines(self.fits, lambda f: f.label, _fit_lines)
        if self.subgroup_comparisons:
            lines += ["", "Subgroup differences (conventional estimate; robust bias-corrected SE and p)"]
            lines += _shown_lines(self.subgroup_comparisons, lambda s: s.label, lambda s: [
                f"  {s.label}: {format_number(s.difference)} (SE {format_number(s.se)}, p {format_number(s.p_value)}; "
                f"{s.method})"])
        if self.cutoff_tests:
            lines += ["", "Equality of cutoff-specific effects"]
            lines += _shown_lines(self.cutoff_tests, lambda t: t.outcome, lambda t: [
                f"  {t.outcome}: chi2({t.df}) = {format_number(t.statistic, 3)}, p {format_number(t.p_value)}"])
        for outcome, diag in self.diagnostics.items():
            lines += ["", f"Diagnostics for {outcome}", diag.summary()]
        for outcome, lr in self.local_randomization.items():
            lines += ["", f"Local randomisation for {outcome}", lr.summary()]
        for outcome, hr in self.honest.items():
            lines += ["", f"Bias-aware interval for {outcome}", hr.summary()]
        lines += ["", "Sample flow", self.sample_flow.summary()]
        if self.notes:
            lines += ["", "Notes", *[f"  - {n}" for n in self.notes]]
        if self.privacy is not None:
            lines += ["", f"Privacy: {self.privacy['note']}"]
        return "\n".join(lines)

    def plot(self, outcome: str | None = None, *, label: str | None = None, **kwargs: Any) -> Figure:
        """Binned-means RD plot of an outcome with the fitted local polynomials and their 95% bands."""
        from cteimpact.rd.plots import plot_rd

        fit = self.fit_for(label) if label is not None else self.primary_fit(outcome)
        if fit.suppressed is not None:
            raise SuppressedEstimateError(f"the RD plot of '{fit.label}' is not drawn: the estimate is suppressed "
                                          f"({fit.suppressed})")
        lp = fit.fit
        kwargs["title"] = kwargs.get("title") or f"RD plot: {fit.label}"
        kwargs["xlabel"] = kwargs.get("xlabel") or fit.running_label
        kwargs["ylabel"] = kwargs.get("ylabel") or fit.outcome
        bins = None if fit.bins is None else {"x": fit.bins.x, "mean": fit.bins.mean, "se": fit.bins.se,
                                              "left": fit.bins.left}
        # the lines are the outcome's fits on each side: annotate the jump they show (for a fuzzy design the
        # reduced form, the intention-to-treat effect; its local average effect divides it by the take-up jump)
        shown, what = (lp, "estimate") if fit.reduced_form is None else (fit.reduced_form, "jump (intention to treat)")
        return plot_rd(cutoff=lp.cutoff, p=lp.p, beta=(lp.beta_left, lp.beta_right),
                       vcov=(lp.vcov_left, lp.vcov_right), h=lp.h, estimate=shown.estimate, ci=shown.ci[2],
                       n_h=lp.n_h, bins=bins, estimate_label=what, **kwargs)

    def plot_density(self, outcome: str | None = None) -> Figure:
        """Density plot of the manipulation test (needs ``diagnostics``)."""
        outcome = outcome or self.outcomes[0]
        if outcome not in self.diagnostics:
            raise OptionError("no diagnostics were run; fit with diagnostics=True for the density plot")
        return self.diagnostics[outcome].check("density_test").plot()

    def tidy_fits(self) -> pd.DataFrame:
        """One row per fit (columns :data:`FIT_COLUMNS`): bandwidths, sample sizes and cluster counts per side; a
        fit hidden by the small-cell rule keeps only its label, kind and the reason."""
        rows = []
        for f in self.fits:
            fit = f.fit
            if f.suppressed is not None:
                rows.append({"label": f.label, "outcome": f.outcome, "kind": f.kind, "design": f.design,
                             "suppressed": True, "suppression": f.suppressed})
                continue
            rows.append({
                "label": f.label, "outcome": f.outcome, "kind": f.kind, "design": f.design, "cutoff": fit.cutoff,
                "h_left": fit.h[0], "h_right": fit.h[1], "b_left": fit.b[0], "b_right": fit.b[1],
                "n_left": fit.n[0], "n_right": fit.n[1], "n_h_left": fit.n_h[0], "n_h_right": fit.n_h[1],
                "clusters_left": None if fit.n_clusters_side is None else fit.n_clusters_side[0],
                "clusters_right": None if fit.n_clusters_side is None else fit.n_clusters_side[1],
                "p": fit.p, "q": fit.q, "kernel": fit.kernel, "vce": fit.vce, "bwselect": fit.bwselect,
                "suppressed": False, "suppression": None,
            })
        frame = pd.DataFrame(rows, columns=list(FIT_COLUMNS))
        for col in ("n_left", "n_right", "n_h_left", "n_h_right", "clusters_left", "clusters_right", "p", "q"):
            frame[col] = pd.array([None if v is None or pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
        return frame

    def tidy_descriptives(self) -> pd.DataFrame:
        """The descriptive statistics by side of the cutoff, one row per cell and variable (columns
        :data:`cteimpact.rd.descriptives.DESCRIPTIVE_COLUMNS`; values hidden by the small-cell rule are missing)."""
        return tidy_descriptives(self.descriptives)

    def _details(self) -> dict[str, Any]:
        return {
            "outcomes": list(self.outcomes),
            "running": self.running,
            "cutoff": self.cutoff,
            "fits": [f.to_dict() for f in self.fits],
            "subgroup_comparisons": [s.to_dict() for s in self.subgroup_comparisons],
            "cutoff_tests": [t.to_dict() for t in self.cutoff_tests],
            "diagnostics": {k: v.to_dict() for k, v in self.diagnostics.items()},
            "local_randomization": {k: v.to_dict() for k, v in self.local_randomization.items()},
            **({"honest": {k: v.to_dict() for k, v in self.honest.items()}} if self.honest else {}),
            "notes": list(self.notes),
            "privacy": None if self.privacy is None else dict(self.privacy),
            "baseline_source": BASELINE_SOURCE,
            "descriptives": {
                "definition": "each outcome's analysis sample, and its students within the main fit's bandwidth h, "
                              "below and at or above the cutoff: numbers of students and clusters; for the outcome, "
                              "the take-up of a fuzzy design (participation rate), the adjustment and baseline "
                              "covariates the number of values, the mean and (variables other than 0/1) the "
                              "standard deviation; unweighted",
                "min_cell": None if self.privacy is None else self.privacy.get("min_cell"),
                "cells": [c.to_dict() for c in self.descriptives],
            },
        }
