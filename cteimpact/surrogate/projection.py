"""The long-run effect of a study's own design: its effect on the surrogate index, with both samples' uncertainty.

A run applies the fitted index ``ĥ = β̂'z`` (:class:`~cteimpact.surrogate.model.SurrogateModel`) to every student of
the study sample and estimates, **with the design's own estimator and options** (an RD at its cutoff, a DiD
aggregate), the effect ``θ̂_h`` on that column and the effects ``τ̂_S`` on each surrogate. The projected long-run
effect and its variance are::

    estimate  = θ̂_h                                   the design's effect on the index
    variance  = Var_design(θ̂_h)  +  τ̂_S' Σ_β,SS τ̂_S       design (index held fixed) + index coefficients

The two terms come from independent samples: the design's variance treats the index as a fixed column; the second
term carries the uncertainty of the surrogates' coefficients ``β̂_S`` (covariance ``Σ_β,SS``, estimated on the
training sample) into the effect, as in the ``model`` term of :mod:`cteimpact.surrogate.variance`. The covariates of
the index are measured before treatment: a valid design does not move them, so their coefficients' uncertainty does
not enter. No separate product term is added: the design's variance of ``θ̂_h``, computed with ``β̂`` in place of
``β``, already includes it in expectation (``E[β̂'Σ_d β̂] = β'Σ_d β + tr(Σ_β Σ_d)``).

When the design chooses its bandwidth outcome by outcome (RD), ``θ̂_h`` is the RD estimate on the index, not
exactly ``β̂_S'τ̂_S``; :attr:`ProjectedEffect.linear_combination` gives the latter for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.surrogate.model import SurrogateModel, freeze_arrays

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ProjectedEffect", "ProjectedResults", "SurrogateProjection", "joined_distribution", "project_effect"]


@dataclass(frozen=True, eq=False)
class ProjectedEffect:
    """One projected long-run effect (see the module docstring).

    Attributes
    ----------
    label
        Its estimate label (``earnings_age26[surrogate]``, ``earnings_age26[surrogate][reduced_form]``).
    index_label
        The design's estimate on the index column it projects.
    surrogate_labels
        Surrogate → the design's estimate label of its effect (same estimand as ``index_label``).
    centre
        The design's centre for the index (its sampling distribution's mean): the projected estimate.
    estimate
        The design's point estimate on the index (for RD rows, the conventional estimate; the centre is the
        bias-corrected one).
    design_variance
        The design's variance of the index effect.
    surrogate_effects
        ``τ̂_S``: the design's centres of the effects on the surrogates, in the model's order.
    model_variance
        ``τ̂_S' Σ_β,SS τ̂_S``.
    row
        The estimate row (interval at the design's level, around the centre; normal or the design's t reference).
    """

    label: str
    index_label: str
    surrogate_labels: Mapping[str, str]
    centre: float
    estimate: float
    design_variance: float
    surrogate_effects: np.ndarray
    model_variance: float
    row: EffectEstimate
    df: float | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self, "surrogate_effects")
        object.__setattr__(self, "surrogate_labels", dict(self.surrogate_labels))

    @property
    def variance(self) -> float:
        """``design_variance + model_variance``."""
        return self.design_variance + self.model_variance

    @property
    def std_error(self) -> float:
        """Square root of :attr:`variance`."""
        return math.sqrt(self.variance)

    def linear_combination(self, model: SurrogateModel) -> float:
        """``β̂_S'τ̂_S``: the surrogates' coefficients times the design's effects on them (equal to the centre when
        the design is linear in the outcome with the same weights for every column)."""
        beta, _ = model.surrogate_block()
        return float(beta @ self.surrogate_effects)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the labels, the estimate, and the variance terms."""
        return {"label": self.label, "index_label": self.index_label,
                "surrogate_labels": dict(self.surrogate_labels), "estimate": self.estimate, "centre": self.centre,
                "std_error": self.std_error,
                "variance": {"design": self.design_variance, "model": self.model_variance, "total": self.variance},
                "surrogate_effects": dict(zip(self.surrogate_labels, self.surrogate_effects.tolist(), strict=True)),
                "df": self.df}


def project_effect(model: SurrogateModel, distribution: SamplingDistribution, rows: Mapping[str, EffectEstimate], *,
                   index_label: str, surrogate_labels: Mapping[str, str], label: str, outcome: str,
                   term: str = "long-run effect via the surrogate index (the design's effect on the index)"
                   ) -> ProjectedEffect:
    """Combine the design's effect on the index column with the index's coefficient uncertainty.

    Parameters
    ----------
    model
        The fitted index.
    distribution
        The design's sampling distribution with the index's and the surrogates' estimates.
    rows
        The design's estimate rows by label (for the point estimate, the interval level and type, the effective N).
    index_label
        Label of the design's estimate on the index column.
    surrogate_labels
        Each surrogate of the model → label of the design's estimate on it (the same estimand).
    label, outcome, term
        The projected row's label, outcome column and description.

    Raises
    ------
    OptionError
        A label absent from the distribution or the rows (a suppressed or missing estimate), or a surrogate without
        a label.
    """
    missing = [s for s in model.surrogates if s not in surrogate_labels]
    if missing:
        raise OptionError(f"no design estimate is named for the surrogate(s) {', '.join(missing)}")
    wanted = [index_label, *(surrogate_labels[s] for s in model.surrogates)]
    absent = [w for w in wanted if w not in distribution.labels or w not in rows]
    if absent:
        raise OptionError(f"the design's results have no estimate {', '.join(repr(a) for a in absent)} to project "
                          f"(it has {', '.join(distribution.labels) or 'none'})")
    pos = {lab: i for i, lab in enumerate(distribution.labels)}
    i = pos[index_label]
    centre = float(distribution.mean[i])
    design_var = float(distribution.cov[i, i])
    tau = np.array([float(distribution.mean[pos[surrogate_labels[s]]]) for s in model.surrogates])
    _, cov_beta = model.surrogate_block()
    model_var = float(tau @ cov_beta @ tau)
    src = rows[index_label]
    se = math.sqrt(design_var + model_var)
    row = EffectEstimate.from_normal(label, outcome, term, src.estimate, se, ci_level=src.ci_level,
                                     ci_type=src.ci_type, n_effective=src.n_effective, centre=centre,
                                     df=distribution.df)
    return ProjectedEffect(label, index_label, {s: surrogate_labels[s] for s in model.surrogates}, centre,
                           float(src.estimate), design_var, tau, model_var, row, distribution.df)


@dataclass(frozen=True, eq=False)
class SurrogateProjection(ImpactResults):
    """The projected long-run effects of a run: one row per projected estimate (primary and, for a fuzzy RD, the
    reduced form), honouring the results contract so a contract can pay on them.

    Its sampling distribution is normal (or the design's t), centred at the design's centres on the index, with
    the combined variances; the covariance between two projected estimates is set to zero, as the RD's between
    its estimates of different estimands (``joint`` is false when there are several).
    """

    design: ClassVar[str] = "surrogate"
    estimator: ClassVar[str] = "Surrogate index projection of the design's effect (Athey, Chetty, Imbens & Kang 2019)"

    projections: tuple[ProjectedEffect, ...]
    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    assumptions: tuple[str, ...] = ()

    def sampling_distribution(self) -> SamplingDistribution:
        labels = tuple(p.label for p in self.projections)
        mean = np.array([p.centre for p in self.projections], dtype=float)
        cov = np.diag([p.variance for p in self.projections]).astype(float)
        dfs = [p.df for p in self.projections if p.df is not None]
        return SamplingDistribution(labels, mean, cov, joint=len(labels) <= 1, df=min(dfs) if dfs else None,
                                    centre="the design's centre of its effect on the surrogate index",
                                    scale="the design's standard error with the index's coefficient uncertainty "
                                          "added (two independent samples)")

    def summary(self) -> str:
        notes = ["Assumptions (the estimate is the long-run effect only if they hold):",
                 *(f"  - {a}" for a in self.assumptions)]
        return self._default_summary(notes)

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return {"projections": [p.to_dict() for p in self.projections], "assumptions": list(self.assumptions)}


def joined_distribution(parts: Sequence[SamplingDistribution]) -> SamplingDistribution:
    """One distribution from several (block-diagonal: different results' estimates drawn as independent), with the
    heaviest tails among their references.

    Raises
    ------
    OptionError
        Two parts repeat a label.
    """
    labels = tuple(lab for d in parts for lab in d.labels)
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise OptionError(f"the estimate label(s) {', '.join(repeated)} appear in the design's results and the "
                          "surrogate projection; choose another [surrogate] label")
    first = parts[0]
    return SamplingDistribution.block_diagonal(
        parts, centre=f"{first.centre}; surrogate projections: the design's centre on the index",
        scale=f"{first.scale}; surrogate projections: with the index's coefficient uncertainty added")


@dataclass(frozen=True, eq=False)
class ProjectedResults:
    """A design's results with the surrogate projections joined: its estimates then the projected ones, and one
    sampling distribution (:func:`joined_distribution`) that pricing draws from (it honours
    :class:`~cteimpact.results.contract.HasSamplingDistribution`)."""

    results: ImpactResults
    projection: SurrogateProjection

    @property
    def estimates(self) -> tuple[EffectEstimate, ...]:
        return (*self.results.estimates, *self.projection.estimates)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(e.label for e in self.estimates)

    def sampling_distribution(self) -> SamplingDistribution:
        return joined_distribution([self.results.sampling_distribution(), self.projection.sampling_distribution()])
