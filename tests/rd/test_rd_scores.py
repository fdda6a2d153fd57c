"""The per-observation scores of :mod:`cteimpact.rd.scores` reproduce rdrobust's CR1 variances exactly; they are
what the subgroup-difference test uses for the covariance of estimates that share clusters."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from cteimpact.rd.adapters import fit_rdrobust
from cteimpact.rd.scores import cluster_covariance, fit_scores


@pytest.fixture(scope="module")
def arrays(senate):
    d = senate.dropna(subset=["vote", "termshouse", "termssenate"])
    return {"y": d["vote"].to_numpy(float), "x": d["margin"].to_numpy(float),
            "cluster": pd.factorize(d["state"])[0], "fuzzy": d["takeup"].to_numpy(float),
            "covariates": d[["termshouse", "termssenate"]].to_numpy(float)}


SPECS = {
    "default": {},
    "h_equals_b": {"h": 17.0, "b": 17.0},
    "two_sided": {"h": (12.0, 15.0), "b": (20.0, 25.0)},
    "uniform_p2": {"kernel": "uniform", "p": 2},
    "fuzzy": {"use_fuzzy": True},
    "covariates": {"use_covariates": True},
    "fuzzy_covariates": {"use_fuzzy": True, "use_covariates": True},
}


@pytest.mark.parametrize("spec", list(SPECS))
def test_scores_reproduce_rdrobust_cr1_variances(arrays, spec):
    kw = dict(SPECS[spec])
    fuzzy = arrays["fuzzy"] if kw.pop("use_fuzzy", False) else None
    covs = arrays["covariates"] if kw.pop("use_covariates", False) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_rdrobust(arrays["y"], arrays["x"], cluster=arrays["cluster"], vce="cr1", fuzzy=fuzzy,
                           covariates=covs, **kw)
    sc = fit_scores(fit, x=arrays["x"], y=arrays["y"], cluster=arrays["cluster"], fuzzy=fuzzy, covariates=covs)
    assert sc.variance(robust=True) == pytest.approx(fit.se_robust**2, rel=1e-9)
    assert sc.variance(robust=False) == pytest.approx(fit.se**2, rel=1e-9)
    # a fit's covariance with itself is its variance
    assert cluster_covariance(sc, sc) == pytest.approx(fit.se_robust**2, rel=1e-9)


def test_disjoint_clusters_give_zero_covariance(arrays):
    x, y, cl = arrays["x"], arrays["y"], arrays["cluster"]
    a = cl % 2 == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fa = fit_rdrobust(y[a], x[a], cluster=cl[a], vce="cr1")
        fb = fit_rdrobust(y[~a], x[~a], cluster=cl[~a], vce="cr1")
    sa = fit_scores(fa, x=x[a], y=y[a], cluster=cl[a])
    sb = fit_scores(fb, x=x[~a], y=y[~a], cluster=cl[~a])
    assert cluster_covariance(sa, sb) == 0.0
