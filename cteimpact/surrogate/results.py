"""Results of the surrogate index: the long-run effect (:class:`SurrogateEffect`) and the older-cohort check
(:class:`SurrogateValidation`).

Both honour the results contract (:class:`~cteimpact.results.contract.ImpactResults`): estimate rows, options,
sample flow, sampling distribution, ``summary()``, ``tidy()``, ``to_dict()`` and ``plot()``. Both state the
identifying assumptions (:mod:`cteimpact.surrogate.assumptions`) in their summary and record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_number, format_p
from cteimpact.surrogate.bootstrap import BootstrapSummary
from cteimpact.surrogate.model import SurrogateModel, freeze_arrays
from cteimpact.surrogate.variance import VarianceParts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["EffectPath", "SurrogateEffect", "SurrogateValidation"]

EffectPath = Literal["difference_in_means", "surrogate_effects"]
"""``difference_in_means``: the index compared between the arms of the experimental sample;
``surrogate_effects``: the design's effects on the surrogates supplied with their covariance."""

_CITATION = "Athey, Chetty, Imbens & Kang (2019), NBER WP 26463"



def _variance_lines(v: VarianceParts, what: str) -> list[str]:
    total = v.total
    share = (lambda x: f" ({x / total:.0%})") if total > 0 else (lambda x: "")
    terms = "experimental + model + product" if v.method == "exact" else "first order: experimental + model"
    lines = [f"Variance of {what} ({terms}):",
             f"  experimental sample (index held fixed)  {format_number(v.experimental, 6)}{share(v.experimental)}",
             f"  surrogate model (coefficients)          {format_number(v.model, 6)}{share(v.model)}"]
    if v.method == "exact":
        lines.append(f"  product term tr(Σ_β Σ_d)               {format_number(v.product, 6)}{share(v.product)}")
    else:
        lines.append(f"  product term tr(Σ_β Σ_d), not added     {format_number(v.product, 6)}")
    return lines


def _assumption_lines(assumptions: tuple[str, ...]) -> list[str]:
    return ["Assumptions (the estimate is the long-run effect only if they hold):",
            *(f"  - {a}" for a in assumptions)]


@dataclass(frozen=True, eq=False)
class SurrogateEffect(ImpactResults):
    """The long-run effect estimated through the surrogate index.

    Attributes
    ----------
    model
        The fitted index.
    effect, std_error
        The long-run effect ``β̂'d̂`` and its standard error (both samples' uncertainty, see
        :mod:`cteimpact.surrogate.variance`).
    variance
        The terms of its variance.
    path
        See :data:`EffectPath`.
    regressor_terms
        The index terms the design's effects cover: every term for the difference in means (intercept, surrogates,
        covariates: chance imbalance in covariates enters the estimate), the surrogates for supplied effects
        (covariates are pre-treatment: their effect is zero by design).
    regressor_effects, regressor_cov
        The design's effects ``d̂`` on those terms and their covariance ``Σ_d``.
    arm_counts
        Rows of each arm used (empty for supplied effects).
    assumptions
        The identifying assumptions in plain words.
    bootstrap
        The two-sample bootstrap, when it was run.
    estimates
        ``<outcome>`` (the long-run effect, analytic standard error), ``<outcome>[bootstrap]`` (the same estimate
        with the bootstrap standard error, when run) and one row per surrogate (the design's effect on it).
    """

    design: ClassVar[str] = "surrogate"
    estimator: ClassVar[str] = f"Surrogate index long-run effect ({_CITATION})"

    model: SurrogateModel
    effect: float
    std_error: float
    variance: VarianceParts
    path: EffectPath
    regressor_terms: tuple[str, ...]
    regressor_effects: np.ndarray
    regressor_cov: np.ndarray
    arm_counts: Mapping[str, int]
    assumptions: tuple[str, ...]
    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    bootstrap: BootstrapSummary | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self, "regressor_effects", "regressor_cov")
        object.__setattr__(self, "arm_counts", dict(self.arm_counts))

    @property
    def outcome(self) -> str:
        """The long-run outcome."""
        return self.model.outcome

    def _beta_used(self) -> np.ndarray:
        pos = {t: i for i, t in enumerate(self.model.terms)}
        return self.model.params[[pos[t] for t in self.regressor_terms]]

    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal of the long-run effect and the effects on the surrogates.

        Centre: the estimates. Scale: the analytic standard errors (the long-run effect's includes the index's
        uncertainty). The covariance of the long-run effect with the effect on surrogate ``s`` is ``(Σ_d β)_s``
        (the index's coefficients are independent of the experimental sample). The bootstrap row is not part of
        it (it repeats the long-run estimate).
        """
        pos = {t: i for i, t in enumerate(self.regressor_terms)}
        idx = [pos[s] for s in self.model.surrogates]
        cross = (self.regressor_cov @ self._beta_used())[idx]
        k = len(idx)
        cov = np.zeros((k + 1, k + 1))
        cov[0, 0] = self.std_error**2
        cov[0, 1:] = cov[1:, 0] = cross
        cov[1:, 1:] = self.regressor_cov[np.ix_(idx, idx)]
        mean = np.concatenate([[self.effect], self.regressor_effects[idx]])
        return SamplingDistribution((self.outcome, *self.model.surrogates), mean, cov, joint=True,
                                    centre="surrogate-index estimate and effects on the surrogates",
                                    scale="standard errors from both samples (experimental + surrogate model)")

    def summary(self) -> str:
        notes = _variance_lines(self.variance, f"the long-run effect on '{self.outcome}'")
        if self.bootstrap is not None:
            b = self.bootstrap
            lo, hi = b.percentile_interval
            notes += ["", f"Two-sample bootstrap ({b.scheme}): {b.draws.size:,} of {b.n_boot:,} replicates used "
                      f"(seed {b.seed}); standard error {format_number(b.std_error)}, {b.level:.0%} percentile "
                      f"interval [{format_number(lo)}, {format_number(hi)}]"]
        if self.path == "difference_in_means":
            counts = ", ".join(f"{k} {v:,}" for k, v in self.arm_counts.items())
            notes += ["", f"Experimental comparison: difference in means of the index between the arms ({counts})"
                      + (f", adjusted for {', '.join(self.options.get('adjust', []))}"
                         if self.options.get("adjust") else "") + "."]
        else:
            notes += ["", "Effects on the surrogates supplied by the design (with their covariance); covariates are "
                      "pre-treatment, their effect is zero by design."]
        notes += ["", *_assumption_lines(self.assumptions), "", self.model.summary()]
        return self._default_summary(notes)

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The long-run effect and the effects on the surrogates with their intervals."""
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "effect": self.effect,
            "std_error": self.std_error,
            "variance": self.variance.to_dict(),
            "regressor_terms": list(self.regressor_terms),
            "regressor_effects": self.regressor_effects,
            "regressor_cov": self.regressor_cov,
            "arm_counts": dict(self.arm_counts),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(),
            "assumptions": list(self.assumptions),
            "model": self.model.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class SurrogateValidation(ImpactResults):
    """The surrogacy check on older cohorts: the surrogate-index estimate against the realised long-run effect.

    Attributes
    ----------
    model
        The index checked.
    realised, realised_se
        The treatment's effect on the realised long-run outcome in the older cohorts (difference in means).
    index_effect, index_se
        The surrogate-index estimate of the same effect from the same rows.
    difference, difference_se
        ``index_effect − realised`` and its standard error (both samples' uncertainty).
    statistic, p_value
        ``difference / difference_se`` and its two-sided normal p-value.
    alpha
        Size of the check's test (its significance level; not a confidence level).
    flagged
        True when ``p_value < alpha``: the surrogates miss part of the effect on the long-run outcome (or the
        index does not carry over to these cohorts).
    variance
        The terms of the variance of the difference.
    arm_counts
        Rows of each arm used.
    assumptions
        The assumptions the check bears on.
    estimates
        ``<outcome>`` (realised effect), ``<outcome>[surrogate_index]`` and ``<outcome>[index_minus_realised]``.
    """

    design: ClassVar[str] = "surrogate"
    estimator: ClassVar[str] = f"Surrogate index check on older cohorts ({_CITATION})"

    model: SurrogateModel
    realised: float
    realised_se: float
    index_effect: float
    index_se: float
    difference: float
    difference_se: float
    statistic: float
    p_value: float
    alpha: float
    flagged: bool
    variance: VarianceParts
    covariance: np.ndarray
    arm_counts: Mapping[str, int]
    assumptions: tuple[str, ...]
    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow

    def __post_init__(self) -> None:
        freeze_arrays(self, "covariance")
        object.__setattr__(self, "arm_counts", dict(self.arm_counts))

    @property
    def outcome(self) -> str:
        """The long-run outcome."""
        return self.model.outcome

    @property
    def share_captured(self) -> float:
        """``index_effect / realised``: the share of the realised effect the index reproduces (NaN if it is 0)."""
        return self.index_effect / self.realised if self.realised != 0 else math.nan

    def verdict(self) -> str:
        """The check's conclusion in one sentence."""
        gap = self.index_effect - self.realised
        stats = (f"SE {format_number(self.difference_se)}, z = {self.statistic:.2f}, p = {format_p(self.p_value)}")
        if math.isclose(self.difference, gap, rel_tol=1e-9, abs_tol=1e-9):
            test = (f"the surrogate-index estimate {format_number(self.index_effect)} differs from the realised effect "
                    f"{format_number(self.realised)} by {format_number(self.difference)} ({stats})")
        else:  # a design with its own bandwidth per outcome estimates the difference as one effect of its own
            test = (f"the design's effect on the index's prediction error (index minus realised outcome) is "
                    f"{format_number(self.difference)} ({stats}); estimated separately, the surrogate-index estimate "
                    f"is {format_number(self.index_effect)} and the realised effect {format_number(self.realised)}, "
                    f"{format_number(gap)} apart")
        if self.flagged:
            return (f"FLAGGED at the {self.alpha:.0%} level: {test}. In these cohorts the surrogates do not carry the "
                    "whole effect on the long-run outcome (surrogacy or comparability fails); a long-run projection "
                    "from them is biased by about the difference.")
        return (f"Not flagged at the {self.alpha:.0%} level: {test}. No evidence against surrogacy in these cohorts; "
                "the check cannot detect a bias much smaller than about twice its standard error.")

    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal of the realised effect, the index estimate and their difference (the index's coefficients
        are independent of the older cohorts; the realised and index effects share those rows)."""
        y = self.outcome
        return SamplingDistribution((y, f"{y}[surrogate_index]", f"{y}[index_minus_realised]"),
                                    np.array([self.realised, self.index_effect, self.difference]), self.covariance,
                                    joint=True, centre="estimates", scale="standard errors from both samples")

    def summary(self) -> str:
        notes = ["Surrogacy check: " + self.verdict(),
                 f"Share of the realised effect the index reproduces: "
                 f"{'NA' if math.isnan(self.share_captured) else f'{self.share_captured:.0%}'}.",
                 "", *_variance_lines(self.variance, "the difference"),
                 "", *_assumption_lines(self.assumptions), "", self.model.summary()]
        return self._default_summary(notes)

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The realised effect, the index estimate and their difference with their intervals."""
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return {
            "realised": self.realised, "realised_se": self.realised_se, "index_effect": self.index_effect,
            "index_se": self.index_se, "difference": self.difference, "difference_se": self.difference_se,
            "statistic": self.statistic, "p_value": self.p_value, "alpha": self.alpha, "flagged": self.flagged,
            "share_captured": self.share_captured, "verdict": self.verdict(), "variance": self.variance.to_dict(),
            "arm_counts": dict(self.arm_counts), "assumptions": list(self.assumptions),
            "model": self.model.to_dict(),
        }
