"""The surrogacy check on older cohorts: does the surrogate index reproduce an effect that has been realised?

In older cohorts that were treated (or randomised) long enough ago for the long-run outcome to be seen, the same
rows give two estimates of the treatment's effect on it:

* the **realised** effect: the difference in means of the long-run outcome itself, ``d̂_y``;
* the **surrogate-index** estimate: the difference in means of the index, ``β̂'d̂``, as if the long-run outcome
  had not been seen yet.

Under surrogacy and comparability both estimate the same effect. Their difference ``Δ = β̂'d̂ − d̂_y`` is the
treatment's effect on the index's prediction error ``ĥ − y``: it measures the part of the effect that does not run
through the surrogates (plus any change in the surrogates' relation to the outcome). Its standard error combines
the older-cohort comparison (the joint covariance of ``d̂`` and ``d̂_y``, which share rows) with the index's
coefficients, estimated on a *separate* observational sample (:mod:`cteimpact.surrogate.variance`)::

    Var(Δ) = g'Σ g + d'Σ_β d (+ tr(Σ_β Σ_d)),   g = (β, −1).

The check **flags** the index when ``|Δ| / SE(Δ)`` exceeds the two-sided normal critical value at ``alpha``. The
index must not have been fitted on these same older cohorts: fitted there (both arms pooled), its coefficients
absorb part of any direct effect and the check loses its power. A check that is not flagged does not prove
surrogacy: it rules out biases larger than about two standard errors of ``Δ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.student_data import StudentData
from cteimpact.errors import OptionError
from cteimpact.results.estimate import normal_row
from cteimpact.surrogate.assumptions import assumption_statements
from cteimpact.surrogate.effect import compare_arms
from cteimpact.surrogate.model import SurrogateIndex, SurrogateModel
from cteimpact.surrogate.results import SurrogateValidation
from cteimpact.surrogate.sample import Column
from cteimpact.surrogate.variance import VarianceMethod, VarianceParts, check_variance_method, product_variance

__all__ = ["validate_on_older_cohorts"]



def check_alpha(alpha: object) -> float:
    """The size of the check's test, ``alpha``, as a float in (0, 1), or :class:`~cteimpact.errors.OptionError`."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise OptionError("alpha must be a number strictly between 0 and 1 (the size of the check's test, such as "
                          f"0.05), got {alpha!r}")
    return float(alpha)


def validate_on_older_cohorts(
    model: SurrogateModel | SurrogateIndex,
    older: pd.DataFrame | StudentData,
    *,
    treatment: str,
    adjust: Sequence[str] = (),
    weights: str | None = None,
    cluster: str | None = None,
    where: Sequence[str] = (),
    alpha: float = 0.05,
    variance: VarianceMethod = "exact",
    source: str | None = None,
) -> SurrogateValidation:
    """Compare the surrogate-index estimate with the realised long-run effect in older cohorts.

    Parameters
    ----------
    model
        A fitted :class:`~cteimpact.surrogate.model.SurrogateModel`, or a :class:`SurrogateIndex` specification,
        which is fitted on its own observational sample. That sample must be distinct from ``older``.
    older
        Older cohorts with treatment, surrogates, the index's covariates and the realised long-run outcome.
    treatment
        0/1 treatment column.
    adjust
        Adjustment covariates for covariate-adjusted differences in means.
    weights, cluster, where
        Weights, cluster column and sample restrictions of the older cohorts.
    alpha
        Size of the check's test (the rows' intervals are at confidence 1 − alpha).
    variance
        ``"exact"`` or ``"first_order"`` (:mod:`cteimpact.surrogate.variance`).
    source
        Name of the data in a new sample flow (default ``"older-cohort sample"``).

    Returns
    -------
    SurrogateValidation
        ``flagged`` is the verdict; ``verdict()`` says it in words.

    Raises
    ------
    SampleColumnError
        The older cohorts lack the long-run outcome, a surrogate, a covariate or the treatment.
    EmptyArmError
        An arm with no row where the outcome and every surrogate are present.
    OptionError, DesignError, TooFewRowsError, CollinearColumnsError
        As for :func:`~cteimpact.surrogate.effect.surrogate_effect`.
    """
    if isinstance(model, SurrogateIndex):
        model = model.fit()
    if not isinstance(model, SurrogateModel):
        raise OptionError(f"model must be a SurrogateModel or a SurrogateIndex specification, got "
                          f"{type(model).__name__}")
    alpha = check_alpha(alpha)
    method = check_variance_method(variance)
    y = model.outcome
    comp = compare_arms(model, older, treatment=treatment, adjust=adjust,
                        extra=[Column(y, "long-run outcome")], weights=weights, cluster=cluster, where=where,
                        sample="older-cohort sample", source=source)
    k = len(model.terms)
    d, cov_d = comp.effects[:k], comp.cov[:k, :k]
    realised = float(comp.effects[k])
    var_realised = float(comp.cov[k, k])
    index_parts = product_variance(model.params, model.cov, d, cov_d, method=method)
    index_effect = float(d @ model.params)
    g = np.append(model.params, -1.0)
    diff_parts = VarianceParts(float(g @ comp.cov @ g), index_parts.model, index_parts.product, method)
    difference = index_effect - realised
    diff_se = math.sqrt(diff_parts.total)
    z = difference / diff_se if diff_se > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan
    flagged = bool(math.isfinite(p) and p < alpha)
    # joint covariance of (realised, index, difference): the realised and index effects share the older rows
    cross = float(comp.cov[k, :k] @ model.params)
    base = np.array([[var_realised, cross], [cross, index_parts.total]])
    lin = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    covariance = lin @ base @ lin.T
    n_used = comp.prepared.n
    rows = (
        normal_row(y, y, "realised effect (difference in means of the long-run outcome)", realised,
                   math.sqrt(max(var_realised, 0.0)), level=1 - alpha, n_effective=n_used),
        normal_row(f"{y}[surrogate_index]", y, "surrogate-index estimate from the same rows", index_effect,
                   math.sqrt(index_parts.total), level=1 - alpha, n_effective=n_used),
        normal_row(f"{y}[index_minus_realised]", y, "surrogate-index estimate minus realised effect", difference,
                   diff_se, level=1 - alpha, n_effective=n_used),
    )
    options = {"treatment": treatment, "adjust": list(adjust), "weights": weights, "cluster": cluster,
               "where": list(where), "alpha": alpha, "variance": method, "model": dict(model.options)}
    return SurrogateValidation(
        model=model, realised=realised, realised_se=math.sqrt(max(var_realised, 0.0)), index_effect=index_effect,
        index_se=math.sqrt(index_parts.total), difference=difference, difference_se=diff_se, statistic=z,
        p_value=p, alpha=alpha, flagged=flagged, variance=diff_parts, covariance=covariance,
        arm_counts=comp.prepared.arm_counts(),
        assumptions=assumption_statements(outcome=y, surrogates=model.surrogates, covariates=model.covariates,
                                          design=f"random assignment of '{treatment}' in the older cohorts"),
        estimates=rows, options=options, sample_flow=comp.prepared.flow)
