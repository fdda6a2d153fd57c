"""Identities between estimators that hold exactly, checked to rounding error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna


@pytest.mark.reference
def test_repeated_cross_sections_clustered_by_unit_equal_the_panel(mpdta: pd.DataFrame) -> None:
    """Without covariates, on a balanced panel, the repeated cross-section estimator gives the panel's ATT(g,t);
    clustered by unit, its influence functions sum to the panel's within each unit, so the SEs agree too."""
    panel = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat").fit()
    rcs = CallawaySantAnna(mpdta, outcome="lemp", time="year", cohort="first.treat", panel=False,
                           cluster="countyreal").fit()
    np.testing.assert_allclose(rcs.group_time["att"], panel.group_time["att"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(rcs.estimand_se, panel.estimand_se, rtol=1e-10)


@pytest.mark.reference
def test_no_covariates_dr_ipw_reg_identical(mpdta: pd.DataFrame) -> None:
    fits = [CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                             method=m).fit() for m in ("dr", "ipw", "reg")]  # type: ignore[arg-type]
    for f in fits[1:]:
        np.testing.assert_allclose(f.covariance, fits[0].covariance, rtol=0, atol=1e-15)
        np.testing.assert_allclose([e.estimate for e in f.estimands], [e.estimate for e in fits[0].estimands],
                                   rtol=0, atol=1e-15)


@pytest.mark.reference
def test_weights_scale_invariance_and_unit_weights(mpdta: pd.DataFrame) -> None:
    a = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat").fit()
    b = CallawaySantAnna(mpdta.assign(w=3.7), outcome="lemp", unit="countyreal", time="year",
                         cohort="first.treat", weights="w").fit()
    np.testing.assert_allclose(b.covariance, a.covariance, rtol=1e-12, atol=0)
    np.testing.assert_allclose(b.estimand_se, a.estimand_se, rtol=1e-12)
