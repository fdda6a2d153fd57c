"""The long-run effect through the surrogate index, two ways.

**Difference in means** (:func:`surrogate_effect`), the estimator of Athey, Chetty, Imbens & Kang (2019): in the
experimental sample, the index ``ĥ = β̂'z`` (``z``: intercept, surrogates, covariates) is compared between the arms,

    τ̂ = mean(ĥ | treated) − mean(ĥ | comparison) = β̂'d̂,

``d̂`` being the differences in means of the index's regressors; with adjustment covariates, each difference is the
covariate-adjusted one (Lin 2013: the coefficient on treatment in a regression on treatment, centred covariates
and their interactions). ``d̂`` and its joint covariance ``Σ_d`` (HC1, or CR1 with a cluster column) come from the
experimental sample, ``β̂`` and ``Σ_β`` from the observational one, and the variance combines them
(:mod:`cteimpact.surrogate.variance`). A two-sample bootstrap (:mod:`cteimpact.surrogate.bootstrap`) is available
as a cross-check.

**From the design's effects on the surrogates** (:func:`from_surrogate_effects`): because the index is linear, the
long-run effect of *any* design (an RD at a cutoff, a DiD aggregation) is ``β̂_S'τ̂_S`` where ``τ̂_S`` are that
design's effects on the surrogates and ``Σ_τ`` their joint covariance. The covariates of the index are measured
before treatment, so a valid design does not move them: their effect is zero by design and they drop out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.errors import DesignError, OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import normal_row
from cteimpact.results.intervals import check_level
from cteimpact.surrogate.assumptions import assumption_statements
from cteimpact.surrogate.bootstrap import ExperimentArrays, treatment_design, two_sample_bootstrap
from cteimpact.surrogate.model import SurrogateModel, _names
from cteimpact.surrogate.ols import check_full_rank, coefficient_row_covariance
from cteimpact.surrogate.results import SurrogateEffect
from cteimpact.surrogate.sample import Column, PreparedSample, prepare_sample
from cteimpact.surrogate.variance import VarianceMethod, check_variance_method, product_variance
from cteimpact.threads import one_blas_thread

__all__ = ["ExperimentalComparison", "check_model", "compare_arms", "from_surrogate_effects",
           "surrogate_effect"]




def check_model(model: object) -> SurrogateModel:
    """``model`` if it is a fitted :class:`SurrogateModel`; :class:`~cteimpact.errors.OptionError` otherwise."""
    if not isinstance(model, SurrogateModel):
        raise OptionError(f"model must be a fitted SurrogateModel (SurrogateIndex(...).fit()), got "
                          f"{type(model).__name__}")
    return model


class ExperimentalComparison:
    """The treatment comparison of an experimental (or older-cohort) sample: the design's effects on the index's
    regressors (and, optionally, on further columns such as a realised outcome), with their joint covariance.

    Built by :func:`compare_arms`.

    Attributes
    ----------
    prepared
        The sample after its checks and exclusions.
    terms
        Names of the compared columns: the model's terms, then the extra columns.
    effects, cov
        Treatment coefficients (difference in means, or covariate-adjusted) and their joint HC1/CR1 covariance.
    z
        The index's regressors of each row.
    adjust
        Raw adjustment covariates (``n × q``).
    """

    def __init__(self, prepared: PreparedSample, terms: tuple[str, ...], effects: np.ndarray, cov: np.ndarray,
                 z: np.ndarray, adjust: np.ndarray) -> None:
        self.prepared = prepared
        self.terms = terms
        self.effects = effects
        self.cov = cov
        self.z = z
        self.adjust = adjust

    def arrays(self) -> ExperimentArrays:
        """The rows the bootstrap resamples."""
        p = self.prepared
        if p.treatment is None:
            raise RuntimeError("internal error: a comparison without treatment")
        return ExperimentArrays(self.z, p.treatment, self.adjust, p.weights, p.cluster)


def compare_arms(model: SurrogateModel, data: pd.DataFrame | StudentData, *, treatment: str,
                 adjust: Sequence[str] = (), extra: Sequence[Column] = (), weights: str | None = None,
                 cluster: str | None = None, where: Sequence[str] = (), sample: str = "experimental sample",
                 source: str | None = None) -> ExperimentalComparison:
    """Check a sample with a treatment and estimate the treatment's effects on the index's regressors.

    Parameters
    ----------
    model
        The fitted index (its surrogates and covariates must be columns of ``data``).
    data
        The sample (DataFrame or :class:`~cteimpact.data.StudentData`); not modified.
    treatment
        0/1 treatment column.
    adjust
        Adjustment covariates for the covariate-adjusted difference in means.
    extra
        Further columns to compare (for example the realised long-run outcome), after the model's terms.
    weights, cluster, where, sample, source
        Weights, cluster, restrictions, the sample's name in messages, the data's name in a new flow.

    Raises
    ------
    OptionError
        Inconsistent column options.
    SampleColumnError, AllMissingError, ColumnTypeError, InvalidValueError
        A column absent, empty, not numeric, or a treatment that is not 0/1.
    EmptyArmError
        An arm with no row where every surrogate (covariate) is present.
    CollinearColumnsError
        Adjustment covariates collinear with each other or with the treatment.
    TooFewRowsError, DesignError
        An arm with fewer than two rows, one arm only, fewer than two clusters.
    """
    if not isinstance(treatment, str) or not treatment:
        raise OptionError(f"treatment must be a column name, got {treatment!r}")
    adj = _names(adjust, "adjust")
    model_cols = {*model.surrogates, *model.covariates}
    if treatment in model_cols or treatment in adj or treatment == model.outcome:
        raise OptionError(f"the treatment column '{treatment}' is also a surrogate, covariate or outcome")
    bad = sorted(set(adj) & set(model.surrogates))
    if bad:
        raise OptionError(f"adjust names the surrogate(s) {', '.join(repr(b) for b in bad)}; adjustment covariates "
                          "must be measured before treatment")
    for what, col in (("weights", weights), ("cluster", cluster)):
        if col is not None and (not isinstance(col, str) or not col):
            raise OptionError(f"{what} must be a column name or None, got {col!r}")
    columns = [Column(s, "surrogate") for s in model.surrogates]
    columns += [Column(c, "covariate") for c in model.covariates]
    columns += [Column(a, "adjustment covariate") for a in adj if a not in model.covariates]
    columns = [*extra, *columns]
    prepared = prepare_sample(data, sample=sample, columns=columns, treatment=treatment, weights=weights,
                              cluster=cluster, where=where, source=source)
    if prepared.treatment is None:
        raise RuntimeError("internal error: treatment not prepared")
    g = prepared.n_clusters
    if g is not None and g < 2:
        raise DesignError(f"{sample}: cluster '{cluster}' has {g} cluster among the {prepared.n:,} rows used; "
                          "cluster-robust standard errors need at least two")
    z = model.design(prepared)
    adjust_matrix = prepared.matrix(adj)
    d = treatment_design(prepared.treatment, adjust_matrix, prepared.weights)
    if d.shape[0] <= d.shape[1]:
        raise DesignError(f"{sample}: {prepared.n:,} rows for a comparison with {d.shape[1]} parameters "
                          "(fewer adjustment covariates, or more rows, are needed)")
    labels = ["the intercept", f"treatment '{treatment}'", *(f"adjustment covariate '{a}'" for a in adj),
              *(f"treatment × adjustment covariate '{a}'" for a in adj)]
    bare = ["intercept", treatment, *adj, *(f"{treatment}:{a}" for a in adj)]
    responses = np.column_stack([z, prepared.matrix([c.name for c in extra])])
    with one_blas_thread():
        sw = np.ones(prepared.n) if prepared.weights is None else np.sqrt(prepared.weights)
        check_full_rank(d * sw[:, None], labels, columns=bare, what=f"{sample}, treatment comparison")
        effects, cov = coefficient_row_covariance(d, responses, row=1, weights=prepared.weights,
                                                  cluster=prepared.cluster, n_clusters=g)
    terms = (*model.terms, *(c.name for c in extra))
    return ExperimentalComparison(prepared, terms, effects, cov, z, adjust_matrix)


def surrogate_effect(
    model: SurrogateModel,
    experimental: pd.DataFrame | StudentData,
    *,
    treatment: str,
    adjust: Sequence[str] = (),
    weights: str | None = None,
    cluster: str | None = None,
    where: Sequence[str] = (),
    level: float = 0.95,
    variance: VarianceMethod = "exact",
    n_boot: int = 0,
    seed: int = 0,
    source: str | None = None,
) -> SurrogateEffect:
    """The long-run effect in an experimental sample: the difference in means of the surrogate index.

    Parameters
    ----------
    model
        The fitted index (:meth:`SurrogateIndex.fit <cteimpact.surrogate.model.SurrogateIndex.fit>`).
    experimental
        The (quasi-)experimental sample: treatment, surrogates and the index's covariates (a DataFrame or
        :class:`~cteimpact.data.StudentData`, not modified). The long-run outcome is not needed.
    treatment
        0/1 treatment (assignment) column.
    adjust
        Pre-treatment covariates for the covariate-adjusted difference in means (Lin 2013); default none.
    weights
        Sampling weights of the experimental sample.
    cluster
        Cluster column of the experimental sample (for example the school in a school-randomised design): CR1
        covariance, and clusters resampled by the bootstrap.
    where
        Sample restrictions.
    level
        Confidence level of the intervals.
    variance
        ``"exact"`` (default: experimental + model + product terms) or ``"first_order"`` (the delta method);
        see :mod:`cteimpact.surrogate.variance`.
    n_boot
        Replicates of the two-sample bootstrap (0: none). With it, a row ``<outcome>[bootstrap]`` gives the same
        estimate with the bootstrap standard error.
    seed
        Seed of the bootstrap.
    source
        Name of the data in a new sample flow (default ``"experimental sample"``).

    Returns
    -------
    SurrogateEffect

    Raises
    ------
    SampleColumnError
        A surrogate, covariate or the treatment is not in the experimental sample.
    EmptyArmError
        An arm in which no row has every surrogate (the message names the column and the counts of each arm).
    OptionError, DesignError, TooFewRowsError, CollinearColumnsError
        See :func:`compare_arms`.
    """
    model = check_model(model)
    level = check_level(level)
    method = check_variance_method(variance)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0 or n_boot == 1:
        raise OptionError(f"n_boot must be 0 (no bootstrap) or a whole number of at least 2, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise OptionError(f"seed must be a non-negative whole number, got {seed!r}")
    comp = compare_arms(model, experimental, treatment=treatment, adjust=adjust, weights=weights, cluster=cluster,
                        where=where, source=source)
    parts = product_variance(model.params, model.cov, comp.effects, comp.cov, method=method)
    effect = float(comp.effects @ model.params)
    se = math.sqrt(parts.total)
    boot = None
    if n_boot:
        if model.training is None:
            raise OptionError("the model holds no training rows (it was not fitted here); the bootstrap needs them")
        with one_blas_thread():
            boot = two_sample_bootstrap(model.training, comp.arrays(), n_boot=int(n_boot), seed=int(seed),
                                        level=level)
    n_used = comp.prepared.n
    y = model.outcome
    adj = list(_names(adjust, "adjust"))
    how = "covariate-adjusted difference" if adj else "difference"
    rows = [normal_row(y, y, f"long-run effect via the surrogate index ({how} in means of the index)", effect, se,
                       level=level, n_effective=n_used)]
    if boot is not None:
        rows.append(normal_row(f"{y}[bootstrap]", y, "long-run effect via the surrogate index (two-sample "
                               "bootstrap standard error)", effect, boot.std_error, level=level,
                               n_effective=n_used))
    pos = {t: i for i, t in enumerate(comp.terms)}
    for s in model.surrogates:
        i = pos[s]
        rows.append(normal_row(s, s, f"effect on the surrogate ({how} in means)", float(comp.effects[i]),
                               math.sqrt(max(float(comp.cov[i, i]), 0.0)), level=level, n_effective=n_used))
    options: dict[str, Any] = {"path": "difference_in_means", "treatment": treatment, "adjust": adj,
                               "weights": weights, "cluster": cluster, "where": list(where), "level": level,
                               "variance": method, "n_boot": int(n_boot), "seed": int(seed),
                               "model": dict(model.options)}
    return SurrogateEffect(
        model=model, effect=effect, std_error=se, variance=parts, path="difference_in_means",
        regressor_terms=model.terms, regressor_effects=comp.effects, regressor_cov=comp.cov,
        arm_counts=comp.prepared.arm_counts(),
        assumptions=assumption_statements(outcome=y, surrogates=model.surrogates, covariates=model.covariates,
                                          design=f"random assignment of '{treatment}' in the experimental sample"),
        estimates=tuple(rows), options=options, sample_flow=comp.prepared.flow, bootstrap=boot)


def _supplied(model: SurrogateModel, effects: Mapping[str, float] | pd.Series | SamplingDistribution,
              covariance: np.ndarray | pd.DataFrame | None,
              labels: Mapping[str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """The supplied effects and covariance in the order of the model's surrogates."""
    if isinstance(effects, SamplingDistribution):
        return _from_distribution(list(model.surrogates), effects, covariance, labels)
    if labels is not None:
        raise OptionError("labels maps surrogates to the labels of a sampling distribution; give effects and "
                          "covariance by surrogate name instead")
    tau, given = _effects_by_name(list(model.surrogates), effects)
    cov = _covariance_by_name(list(model.surrogates), given, covariance)
    if not (np.all(np.isfinite(tau)) and np.all(np.isfinite(cov))):
        raise OptionError("effects and covariance must be finite numbers")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-14 * max(1.0, float(np.abs(cov).max(initial=0)))):
        raise OptionError("the covariance of the effects must be symmetric")
    scale = max(1.0, float(np.abs(np.diag(cov)).max(initial=0)))
    if np.linalg.eigvalsh((cov + cov.T) / 2).min() < -1e-10 * scale:
        raise OptionError("the covariance of the effects must be positive semi-definite (variances non-negative, "
                          "correlations within [-1, 1])")
    return tau, (cov + cov.T) / 2


def _from_distribution(surr: list[str], effects: SamplingDistribution, covariance: object,
                       labels: Mapping[str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Effects and covariance of the surrogates' rows of a sampling distribution (``labels``: surrogate → label)."""
    if covariance is not None:
        raise OptionError("effects given as a sampling distribution carry their covariance: leave covariance "
                          "unset")
    names = {s: (labels or {}).get(s, s) for s in surr}
    missing = [f"'{s}' (label '{names[s]}')" for s in surr if names[s] not in effects.labels]
    if missing:
        raise OptionError(f"the sampling distribution has no estimate for the surrogate(s) {', '.join(missing)}; "
                          f"it has {', '.join(effects.labels)}; map surrogates to labels with labels={{...}}")
    sub = effects.subset([names[s] for s in surr])
    return np.asarray(sub.mean, dtype=float), np.asarray(sub.cov, dtype=float)


def _effects_by_name(surr: list[str], effects: object) -> tuple[np.ndarray, list[str]]:
    """The effects (a mapping or Series keyed by surrogate) in the model's order, and the names in given order."""
    if not isinstance(effects, Mapping | pd.Series):
        raise OptionError(f"effects must be a mapping surrogate → effect, a pandas Series or a SamplingDistribution, "
                          f"got {type(effects).__name__}")
    given = [str(k) for k in (effects.index if isinstance(effects, pd.Series) else effects)]
    missing = [s for s in surr if s not in given]
    extra = [g for g in given if g not in surr]
    if missing or extra or len(given) != len(set(given)):
        raise OptionError(
            f"effects must give one effect for each of the model's {len(surr)} surrogates ({', '.join(surr)}); "
            + (f"missing: {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not surrogates of the model: {', '.join(extra)}" if extra else "")
            + ("repeated names" if not (missing or extra) else ""))
    values = {str(k): float(v) for k, v in effects.items()}
    return np.array([values[s] for s in surr]), given


def _covariance_by_name(surr: list[str], given: list[str], covariance: np.ndarray | pd.DataFrame | None) -> np.ndarray:
    """The covariance (a DataFrame indexed by surrogate, or an array in the order ``given``) in the model's order."""
    if covariance is None:
        raise OptionError("covariance of the supplied effects is required (their joint sampling covariance; a "
                          "diagonal of squared standard errors if the effects were estimated separately)")
    if isinstance(covariance, pd.DataFrame):
        for axis, idx in (("rows", covariance.index), ("columns", covariance.columns)):
            absent = [s for s in surr if s not in idx]
            if absent:
                raise OptionError(f"the covariance's {axis} lack the surrogate(s) {', '.join(absent)}")
        return covariance.loc[surr, surr].to_numpy(dtype=float)
    arr = np.atleast_2d(np.asarray(covariance, dtype=float))
    k = len(surr)
    if arr.shape != (k, k):
        raise OptionError(f"covariance must be {k}×{k} (one row and column per surrogate, in the order of the "
                          f"effects: {', '.join(given)}), got shape {arr.shape}")
    order = [given.index(s) for s in surr]
    return arr[np.ix_(order, order)]


def from_surrogate_effects(
    model: SurrogateModel,
    effects: Mapping[str, float] | pd.Series | SamplingDistribution,
    covariance: np.ndarray | pd.DataFrame | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    level: float = 0.95,
    variance: VarianceMethod = "exact",
    n_effective: float | None = None,
    design: str = "the design that estimated the effects on the surrogates",
    source: str = "effects on the surrogates supplied by a design",
) -> SurrogateEffect:
    """The long-run effect ``β̂_S'τ̂_S`` from any design's effects on the surrogates.

    Parameters
    ----------
    model
        The fitted index.
    effects
        The design's effect on each surrogate: a mapping or Series keyed by surrogate name, or a
        :class:`~cteimpact.results.distribution.SamplingDistribution` (for example ``res.sampling_distribution()``
        of a result whose labels are the surrogates' names; ``labels`` maps other names).
    covariance
        Joint covariance of the effects: an array in the order of ``effects``' keys, or a DataFrame indexed by
        surrogate name. Not given with a sampling distribution.
    labels
        Surrogate → label in the sampling distribution (default: the surrogate's name).
    level
        Confidence level of the intervals.
    variance
        ``"exact"`` or ``"first_order"`` (:mod:`cteimpact.surrogate.variance`).
    n_effective
        Effective number of observations behind the design's effects, recorded on the rows.
    design
        The design in words, for the assumptions.
    source
        Description recorded as the sample flow's source.

    Returns
    -------
    SurrogateEffect

    Raises
    ------
    OptionError
        An effect missing for a surrogate or given for a column that is not one, a covariance of the wrong shape,
        not symmetric or not positive semi-definite.
    """
    model = check_model(model)
    level = check_level(level)
    method = check_variance_method(variance)
    tau, cov_tau = _supplied(model, effects, covariance, labels)
    beta, cov_beta = model.surrogate_block()
    parts = product_variance(beta, cov_beta, tau, cov_tau, method=method)
    effect = float(beta @ tau)
    se = math.sqrt(parts.total)
    y = model.outcome
    rows = [normal_row(y, y, "long-run effect via the surrogate index (coefficients × design's effects on the "
                       "surrogates)", effect, se, level=level, n_effective=n_effective)]
    for i, s in enumerate(model.surrogates):
        rows.append(normal_row(s, s, "effect on the surrogate (supplied by the design)", float(tau[i]),
                               math.sqrt(max(float(cov_tau[i, i]), 0.0)), level=level, n_effective=n_effective))
    options: dict[str, Any] = {"path": "surrogate_effects", "level": level, "variance": method,
                               "labels": None if labels is None else dict(labels), "design": design,
                               "model": dict(model.options)}
    return SurrogateEffect(
        model=model, effect=effect, std_error=se, variance=parts, path="surrogate_effects",
        regressor_terms=model.surrogates, regressor_effects=tau, regressor_cov=cov_tau, arm_counts={},
        assumptions=assumption_statements(outcome=y, surrogates=model.surrogates, covariates=model.covariates,
                                          design=design),
        estimates=tuple(rows), options=options, sample_flow=SampleFlow(source, 0, unit="estimates"))

