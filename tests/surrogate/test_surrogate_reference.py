"""The surrogate index's regressions against statsmodels (the external reference), element by element at 1e-10.

The index (``SurrogateIndex.fit``) must equal ``statsmodels`` ``OLS``/``WLS`` with ``cov_type="HC1"`` or
``"cluster"`` (coefficients, every element of the covariance, R²). The experimental step must equal statsmodels'
robust variance of the treatment coefficient in the regression of the index on the treatment (with and without
Lin's covariate adjustment, with and without clusters); the older-cohort check's realised effect and the
experimental part of its difference likewise. The long-run standard error must equal the two-sample formula
assembled from statsmodels' numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from surrogate_dgp import Design, experiment, observational

from cteimpact.surrogate import SurrogateIndex, surrogate_effect, validate_on_older_cohorts

TOL = 1e-10
SURROGATES = ["credits", "credential"]
COVARIATES = ["baseline_score"]


def _close(ours: np.ndarray, ref: np.ndarray) -> None:
    """Every element within 1e-10 of the reference, relative to the reference's largest element."""
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL * scale)


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    frame = observational(1500, np.random.default_rng(11))
    frame["w"] = np.random.default_rng(12).uniform(0.2, 3.0, size=len(frame))
    return frame


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    frame = experiment(800, np.random.default_rng(13), schools=30)
    frame["w"] = np.random.default_rng(14).uniform(0.5, 2.0, size=len(frame))
    return frame


def _statsmodels_fit(frame: pd.DataFrame, y: str | np.ndarray, x: pd.DataFrame, *, weights: str | None,
                     cluster: str | None) -> sm.regression.linear_model.RegressionResultsWrapper:
    endog = frame[y] if isinstance(y, str) else y
    model = sm.OLS(endog, x) if weights is None else sm.WLS(endog, x, weights=frame[weights])
    if cluster is None:
        return model.fit(cov_type="HC1")
    return model.fit(cov_type="cluster", cov_kwds={"groups": frame[cluster].to_numpy()})


CASES = [(None, None), ("w", None), (None, "school"), ("w", "school")]


@pytest.mark.parametrize(("weights", "cluster"), CASES, ids=["hc1", "weighted-hc1", "cr1", "weighted-cr1"])
def test_index_equals_statsmodels(obs: pd.DataFrame, weights: str | None, cluster: str | None) -> None:
    model = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES,
                           weights=weights, cluster=cluster).fit()
    ref = _statsmodels_fit(obs, "earnings_26", sm.add_constant(obs[SURROGATES + COVARIATES]), weights=weights,
                           cluster=cluster)
    _close(model.params, ref.params.to_numpy())
    _close(model.cov, ref.cov_params().to_numpy())
    _close(model.std_errors.to_numpy(), ref.bse.to_numpy())
    assert model.r_squared == pytest.approx(ref.rsquared, abs=TOL)
    assert model.cov_type == ("HC1" if cluster is None else "CR1")
    assert model.n == len(obs)
    assert model.n_clusters == (None if cluster is None else obs[cluster].nunique())


@pytest.mark.parametrize("adjust", [(), ("baseline_score",)], ids=["plain", "lin-adjusted"])
@pytest.mark.parametrize(("weights", "cluster"), CASES, ids=["hc1", "weighted-hc1", "cr1", "weighted-cr1"])
def test_long_run_variance_from_statsmodels_numbers(obs: pd.DataFrame, trial: pd.DataFrame, weights: str | None,
                                                    cluster: str | None, adjust: tuple[str, ...]) -> None:
    """Estimate, experimental variance and total standard error rebuilt from statsmodels fits."""
    model = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES).fit()
    res = surrogate_effect(model, trial, treatment="treat", adjust=list(adjust), weights=weights, cluster=cluster)

    z = sm.add_constant(trial[SURROGATES + COVARIATES]).to_numpy()
    index = z @ model.params
    design = pd.DataFrame({"const": 1.0, "treat": trial["treat"]})
    for a in adjust:  # Lin (2013): centred covariate and its interaction with treatment
        w = np.ones(len(trial)) if weights is None else trial[weights].to_numpy()
        centred = trial[a] - np.sum(w * trial[a]) / w.sum()
        design[a] = centred
        design[f"treat:{a}"] = centred * trial["treat"]
    on_index = _statsmodels_fit(trial, index, design, weights=weights, cluster=cluster)
    assert res.effect == pytest.approx(on_index.params["treat"], abs=TOL * max(1, abs(res.effect)))
    assert res.variance.experimental == pytest.approx(on_index.cov_params().loc["treat", "treat"], rel=TOL)

    # the design's effect on each regressor of the index, from statsmodels, and the two-sample formula
    d = np.empty(z.shape[1])
    for j in range(z.shape[1]):
        d[j] = _statsmodels_fit(trial, z[:, j], design, weights=weights, cluster=cluster).params["treat"]
    _close(res.regressor_effects, d)
    ref_model = _statsmodels_fit(obs, "earnings_26", sm.add_constant(obs[SURROGATES + COVARIATES]), weights=None,
                                 cluster=None)
    cov_beta = ref_model.cov_params().to_numpy()
    model_term = d @ cov_beta @ d
    product = np.trace(cov_beta @ res.regressor_cov)
    assert res.variance.model == pytest.approx(model_term, rel=1e-9)
    expected_se = math.sqrt(on_index.cov_params().loc["treat", "treat"] + model_term + product)
    assert res.std_error == pytest.approx(expected_se, rel=1e-9)
    assert res.estimate("earnings_26").std_error == res.std_error

    # effects on the surrogates are the rows' estimates, with statsmodels' robust standard errors
    for j, s in enumerate(SURROGATES, start=1):
        ref = _statsmodels_fit(trial, z[:, j], design, weights=weights, cluster=cluster)
        row = res.estimate(s)
        assert row.estimate == pytest.approx(ref.params["treat"], abs=TOL)
        assert row.std_error == pytest.approx(ref.bse["treat"], rel=1e-9)


def test_first_order_variance_omits_the_product_term(obs: pd.DataFrame, trial: pd.DataFrame) -> None:
    model = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES).fit()
    exact = surrogate_effect(model, trial, treatment="treat")
    first = surrogate_effect(model, trial, treatment="treat", variance="first_order")
    assert exact.variance.product > 0
    assert exact.std_error**2 - first.std_error**2 == pytest.approx(exact.variance.product, rel=1e-9)
    assert first.std_error**2 == pytest.approx(first.variance.experimental + first.variance.model, rel=1e-12)


@pytest.mark.parametrize("cluster", [None, "school"])
def test_older_cohort_check_equals_statsmodels(obs: pd.DataFrame, cluster: str | None) -> None:
    older = experiment(900, np.random.default_rng(21), Design(direct=0.2), schools=30, with_outcome=True)
    model = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES).fit()
    check = validate_on_older_cohorts(model, older, treatment="treat", cluster=cluster)
    design = sm.add_constant(older[["treat"]])
    realised = _statsmodels_fit(older, "earnings_26", design, weights=None, cluster=cluster)
    assert check.realised == pytest.approx(realised.params["treat"], abs=TOL)
    assert check.realised_se == pytest.approx(realised.bse["treat"], rel=1e-9)
    index = sm.add_constant(older[SURROGATES + COVARIATES]).to_numpy() @ model.params
    gap = _statsmodels_fit(older, index - older["earnings_26"].to_numpy(), design, weights=None, cluster=cluster)
    assert check.difference == pytest.approx(gap.params["treat"], abs=TOL)
    assert check.variance.experimental == pytest.approx(gap.cov_params().loc["treat", "treat"], rel=1e-9)
    assert check.difference_se**2 == pytest.approx(
        check.variance.experimental + check.variance.model + check.variance.product, rel=1e-12)


@pytest.mark.parametrize("adjust", [(), ("baseline_score",), ("baseline_score", "school")])
@pytest.mark.parametrize("weights", [None, "w"])
def test_bootstrap_replicate_of_the_sample_itself_reproduces_the_estimate(obs: pd.DataFrame, trial: pd.DataFrame,
                                                                          adjust: tuple[str, ...],
                                                                          weights: str | None) -> None:
    """A resample that takes every row once gives the fitted index and the design's effects: the bootstrap's
    vectorised refits (normal equations; Lin's estimator arm by arm) compute the same estimator as the fit."""
    from cteimpact.surrogate.bootstrap import _ArmComparison, _IndexRefit
    from cteimpact.surrogate.effect import compare_arms

    model = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES,
                           weights=weights).fit()
    comp = compare_arms(model, trial, treatment="treat", adjust=list(adjust), weights=weights)
    assert model.training is not None
    beta, ok_beta = _IndexRefit(model.training)(np.ones((2, len(obs))))
    d, ok_d = _ArmComparison(comp.arrays())(np.ones((2, len(trial))))
    assert ok_beta.all()
    assert ok_d.all()
    _close(beta[1], model.params)
    _close(d[1], comp.effects)
