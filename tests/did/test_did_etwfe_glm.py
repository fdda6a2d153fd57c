"""Nonlinear ETWFE (Wooldridge 2023): Poisson against R ``etwfe``, logit and Poisson against ``statsmodels``, the
analytic delta-method Jacobian against finite differences, and the outcome checks.

Reference numbers: R ``etwfe`` 0.6.2's test files (github.com/grantmcdermott/etwfe, commit
2b47cfdf61b90140c8372574eece4ad6d43d37f9): ``inst/tinytest/test_etwfe.R`` ``m3p_known`` (``etwfe(emp ~ lpop, ...,
family = "poisson", vcov = ~countyreal)``, ``emp = exp(lemp)``, ``fixest::coeftable``) and
``inst/tinytest/test_emfx.R`` ``event_pois_known`` (``emfx(m3p, type = "event")``), on ``did::mpdta``.

Tolerances: coefficients 1e-8 absolute and average effects 1e-7 relative (fixest stops its IRLS at a relative
deviance change of 1e-8, we at 1e-12; the coefficients agree to ~3e-10). Standard errors 5e-5 *relative*: ours
differ from fixest's by 2e-6 to 1e-5 relative, the same on the coefficients as on the effects; not explained here
(a plausible cause is the IRLS iterate at which fixest evaluates the weights of the bread; our covariance agrees
with statsmodels' to 1e-9, see below). Against statsmodels (same model, same cluster small-sample factor
``G/(G−1)·(n−1)/(n−K)``): coefficients and standard errors 1e-7 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import etwfe
from cteimpact.did.etwfe import aggregation_sets, build_design
from cteimpact.did.etwfe_glm import _design_matrix, _mean
from cteimpact.did.panel import prepare_staggered_data
from cteimpact.errors import CteImpactError, InvalidValueError, OptionError

# m3p_known (test_etwfe.R): the seven cell coefficients, then lpop: (estimate, std. error)
M3P_CELLS = [(-0.0309556552918575, 0.0176207591941838), (-0.0662240386949426, 0.0255833352827062),
             (-0.132971344933512, 0.0237253169390011), (-0.117022779216096, 0.022500568035011),
             (-0.00904940559832479, 0.0244213099833293), (-0.0681486377022154, 0.025111336200421),
             (-0.0399915656289664, 0.0168249306911585)]
M3P_LPOP = (1.03962548577062, 0.0168639979795991)
M3P_INTERCEPT = (2.4844551064551, 0.0774941076110031)
# event_pois_known (test_emfx.R): event, estimate, std.error
EVENT_POIS = [(0, -25.3497484355494, 15.8862762958862), (1, 1.09175116997388, 40.2952222352926),
              (2, -75.1246321552693, 23.1541376499351), (3, -101.823979344829, 27.0877431076141)]
SE_REL = 5e-5


def _mp(mpdta: pd.DataFrame) -> pd.DataFrame:
    out = mpdta.copy()
    out["emp"] = np.exp(out["lemp"])
    r = out["lemp"] - out["lpop"]
    out["hi"] = (r > r.median()).astype(float)
    return out


@pytest.mark.reference
def test_poisson_matches_r_etwfe(mpdta: pd.DataFrame) -> None:
    res = etwfe(_mp(mpdta), outcome="emp", time="year", unit="countyreal", cohort="first.treat",
                covariates=["lpop"], family="poisson")
    cells = res.cell_effects
    assert len(cells) == len(M3P_CELLS)
    for row, (b, se) in zip(cells.itertuples(), M3P_CELLS, strict=True):
        assert row.estimate == pytest.approx(b, abs=1e-8)
        assert row.std_error == pytest.approx(se, rel=SE_REL)
    coef = res.coefficients.set_index("name")
    assert coef.loc["covariate:lpop", "estimate"] == pytest.approx(M3P_LPOP[0], abs=1e-8)
    assert coef.loc["covariate:lpop", "std_error"] == pytest.approx(M3P_LPOP[1], rel=SE_REL)
    assert coef.loc["(intercept)", "estimate"] == pytest.approx(M3P_INTERCEPT[0], abs=1e-8)
    assert coef.loc["(intercept)", "std_error"] == pytest.approx(M3P_INTERCEPT[1], rel=SE_REL)
    ev = res.aggregation("event").set_index("level")
    for e, b, se in EVENT_POIS:
        assert ev.loc[float(e), "estimate"] == pytest.approx(b, rel=1e-7)
        assert ev.loc[float(e), "std_error"] == pytest.approx(se, rel=SE_REL)
    assert res.options["family"] == "poisson"
    assert "poisson" in res.estimate("emp[etwfe,event=0]").term
    assert res.summary().startswith("Extended two-way fixed effects (Wooldridge 2023), poisson link")


@pytest.mark.parametrize(("family", "outcome"), [("logit", "hi"), ("poisson", "emp")])
def test_glm_matches_statsmodels(mpdta: pd.DataFrame, family: str, outcome: str) -> None:
    import statsmodels.api as sm

    df = _mp(mpdta)
    res = etwfe(df, outcome=outcome, time="year", unit="countyreal", cohort="first.treat", covariates=["lpop"],
                family=family)  # type: ignore[arg-type]
    d = prepare_staggered_data(df, outcome=outcome, time="year", unit="countyreal", cohort="first.treat",
                               control="notyet", covariates=("lpop",), allow_unbalanced=True)
    ds = build_design(d, control="notyet", with_covariates=True)
    x, names = _design_matrix(ds)
    fam = sm.families.Binomial() if family == "logit" else sm.families.Poisson()
    sm_fit = sm.GLM(ds.lp.y, x, family=fam).fit(cov_type="cluster", cov_kwds={"groups": ds.lp.cluster},
                                                 tol=1e-14)
    coef = res.coefficients.set_index("name")
    np.testing.assert_allclose(coef.loc[names, "estimate"].to_numpy(), sm_fit.params, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(coef.loc[names, "std_error"].to_numpy(), sm_fit.bse, rtol=1e-7)


def test_glm_effects_and_jacobian_by_finite_differences(mpdta: pd.DataFrame) -> None:
    df = _mp(mpdta)
    res = etwfe(df, outcome="hi", time="year", unit="countyreal", cohort="first.treat", covariates=["lpop"],
                family="logit")
    d = prepare_staggered_data(df, outcome="hi", time="year", unit="countyreal", cohort="first.treat",
                               control="notyet", covariates=("lpop",), allow_unbalanced=True)
    ds = build_design(d, control="notyet", with_covariates=True)
    specs = aggregation_sets(ds, "notyet")
    x, names = _design_matrix(ds)
    beta = res.coefficients.set_index("name").loc[names, "estimate"].to_numpy()
    treat = np.array([nm.startswith("tau_") for nm in names])

    def effects(b: np.ndarray) -> np.ndarray:
        out = []
        for _, _, rows in specs:
            x1 = x[rows]
            x0 = np.where(treat, 0.0, x1)
            out.append(np.mean(_mean(x1 @ b, "logit")[0] - _mean(x0 @ b, "logit")[0]))
        return np.array(out)

    np.testing.assert_allclose(res.aggregations["estimate"], effects(beta), rtol=0, atol=1e-13)
    h = 1e-6
    jac = np.column_stack([(effects(beta + h * np.eye(beta.size)[j]) - effects(beta - h * np.eye(beta.size)[j]))
                           / (2 * h) for j in range(beta.size)])
    cov = res.coefficients.set_index("name").loc[names]  # order of the design
    v = np.asarray(res.covariance)
    assert v.shape == (len(specs), len(specs))
    # the reported standard errors are sqrt(diag(J V J')) with the finite-difference J up to its error
    from cteimpact.did.etwfe_glm import fit_glm

    g = fit_glm(ds, "logit", specs)
    np.testing.assert_allclose(g.jacobian, jac, rtol=1e-5, atol=1e-8)
    se_fd = np.sqrt(np.diag(jac @ g.cov @ jac.T))
    np.testing.assert_allclose(res.aggregations["std_error"], se_fd, rtol=1e-5)
    assert list(cov.index) == names


def test_glm_bad_outcomes(mpdta: pd.DataFrame) -> None:
    df = _mp(mpdta)
    with pytest.raises(InvalidValueError, match=r"family='logit' needs a binary \(0/1\) outcome, but column 'lemp' "
                                                r"has 2,500 of 2,500 observations"):
        etwfe(df, outcome="lemp", time="year", unit="countyreal", cohort="first.treat", family="logit")
    neg = df.assign(z=df["lemp"] - 5.0)
    n_neg = int((neg["z"] < 0).sum())
    with pytest.raises(InvalidValueError, match=rf"column 'z' has {n_neg:,} of 2,500 observations below 0"):
        etwfe(neg, outcome="z", time="year", unit="countyreal", cohort="first.treat", family="poisson")
    with pytest.raises(OptionError, match="family"):
        etwfe(df, outcome="hi", time="year", unit="countyreal", cohort="first.treat", family="probit")  # type: ignore[arg-type]
    assert issubclass(InvalidValueError, CteImpactError)  # the CLI's exit-2 class
