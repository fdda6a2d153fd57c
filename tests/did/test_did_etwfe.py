"""Linear extended two-way fixed effects (Wooldridge 2021) against R ``etwfe``, a saturated PanelOLS regression and
a noise-free design with known effects.

Reference numbers: the "known outputs" of R ``etwfe`` 0.6.2's own test files (github.com/grantmcdermott/etwfe,
commit 2b47cfdf61b90140c8372574eece4ad6d43d37f9): ``inst/tinytest/test_etwfe.R`` (``m1_known``: ``lemp ~ 0``,
not-yet-treated; ``m2_known``: ``lemp ~ 0``, ``cgroup = "never"``; ``m3_known``: ``lemp ~ lpop``; each
``fixest::coeftable`` with ``vcov = ~countyreal``) and ``inst/tinytest/test_emfx.R`` (``simple_known``,
``group_known``, ``calendar_known``, ``event_known`` from ``emfx(m3, type = ...)``; ``event_never_window_known``
from the ``cgroup = "never"`` model with ``lpop``, ``window = c(2, 3)``), all on ``did::mpdta``. Those files print 15
significant digits.

Tolerances: regression coefficients, their standard errors and the aggregated estimates 1e-9 absolute (both sides
are exact least squares; the differences seen are ~1e-14). The aggregated standard errors 1e-7 absolute: R's
``marginaleffects`` (behind ``emfx``) takes the Jacobian by finite differences, which moves the 8th-9th digit (its
calendar-2004 standard error differs from the identical regression coefficient's by 7e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import ETWFEResult, etwfe
from cteimpact.errors import CteImpactError, DesignError, MissingColumnError, OptionError

TOL = 1e-9
TOL_EMFX_SE = 1e-7

CELLS_NY = [(2004, 2004), (2004, 2005), (2004, 2006), (2004, 2007), (2006, 2006), (2006, 2007), (2007, 2007)]
# m1_known (test_etwfe.R): estimate, std. error
M1 = [(-0.0193723636759116, 0.0223952764912568), (-0.0783190990620529, 0.030506236091693),
      (-0.136078114440309, 0.0354768817979489), (-0.104707471576594, 0.0338947465597152),
      (0.00251386194191313, 0.0199448451562706), (-0.0391927355917248, 0.0240232361043774),
      (-0.0431060328087001, 0.0184422693090335)]
CELLS_NEV = [(2004, 2004), (2004, 2005), (2004, 2006), (2004, 2007), (2006, 2003), (2006, 2004), (2006, 2006),
             (2006, 2007), (2007, 2003), (2007, 2004), (2007, 2005), (2007, 2007)]
# m2_known (test_etwfe.R)
M2 = [(-0.0105032462209509, 0.0233633078987137), (-0.0704231581031381, 0.0311343819027016),
      (-0.137258738889396, 0.0366116000064794), (-0.100811363085397, 0.0345251351219756),
      (-0.00376929367371485, 0.0314933678411734), (0.00275081875051886, 0.0196530028296998),
      (-0.00459460695286396, 0.0178409306056071), (-0.041224471546218, 0.0203268606975245),
      (0.00330635669251332, 0.0245699429153858), (0.033813012275807, 0.0212312006908406),
      (0.0310871193896906, 0.0179638358765074), (-0.0260544107191967, 0.0167358589135634)]
# m3_known (test_etwfe.R): the seven cell coefficients, then lpop
M3 = [(-0.0212480022225509, 0.0217240175852948), (-0.0818499992698647, 0.0273693782016555),
      (-0.137870386660852, 0.0307883605600032), (-0.10953945536511, 0.0323152812535003),
      (0.00253680638189265, 0.0188790276715869), (-0.04509347225369, 0.0219826417092899),
      (-0.0459545277368072, 0.017971446660356)]
M3_LPOP = (1.06546108405747, 0.0218237817228486)
# test_emfx.R, emfx(m3, type = ...): (type, level, estimate, std.error)
EMFX_M3 = [("simple", None, -0.0506270331228907, 0.0124972546529842),
           ("group", 2004, -0.0876269608795944, 0.0230474099815232),
           ("group", 2006, -0.0212783329358987, 0.0185912208081438),
           ("group", 2007, -0.0459545277368072, 0.0179714452432232),
           ("calendar", 2004, -0.0212480022225509, 0.0217240109737018),
           ("calendar", 2005, -0.0818499992698648, 0.0273693827216135),
           ("calendar", 2006, -0.0442655912990223, 0.0173733625406716),
           ("calendar", 2007, -0.0524323095862384, 0.015015825012757),
           ("event", 0, -0.0332122037837542, 0.0133659635774059),
           ("event", 1, -0.0573456479257483, 0.0171496442892364),
           ("event", 2, -0.137870386660852, 0.0307883597041053),
           ("event", 3, -0.10953945536511, 0.0323152785480507)]
# test_emfx.R, event_never_window_known (cgroup = "never", lemp ~ lpop, window = 2); event -1 is the reference
EMFX_M3N_EVENT = [(-2, 0.0234649547538384, 0.0145314904277398), (0, -0.0211467366918433, 0.0113935648352396),
                  (1, -0.0533558653415615, 0.0157744281621729), (2, -0.141080104628566, 0.0322891808795742),
                  (3, -0.107544274673025, 0.0329231688783015)]


def _fit(df: pd.DataFrame, **kw: object) -> ETWFEResult:
    return etwfe(df, outcome="lemp", time="year", unit="countyreal", cohort="first.treat", **kw)  # type: ignore[arg-type]


def _cells(res: ETWFEResult) -> dict[tuple[int, int], tuple[float, float]]:
    return {(int(r.cohort), int(r.time)): (float(r.estimate), float(r.std_error))
            for r in res.cell_effects.itertuples()}


@pytest.mark.reference
@pytest.mark.parametrize(("control", "covariates", "cells", "known"),
                         [("notyet", None, CELLS_NY, M1), ("never", None, CELLS_NEV, M2),
                          ("notyet", ["lpop"], CELLS_NY, M3)], ids=["m1_notyet", "m2_never", "m3_lpop"])
def test_cell_coefficients_match_r_etwfe(mpdta: pd.DataFrame, control: str, covariates: list[str] | None,
                                         cells: list[tuple[int, int]], known: list[tuple[float, float]]) -> None:
    res = _fit(mpdta, control=control, covariates=covariates)
    got = _cells(res)
    assert list(got) == cells
    for cell, (b, se) in zip(cells, known, strict=True):
        assert got[cell][0] == pytest.approx(b, abs=TOL), cell
        assert got[cell][1] == pytest.approx(se, abs=TOL), cell
    assert res.n_obs == 2500 and res.n_clusters == 500


@pytest.mark.reference
def test_covariate_coefficient_matches_r_etwfe(mpdta: pd.DataFrame) -> None:
    coef = _fit(mpdta, covariates=["lpop"]).coefficients.set_index("name")
    assert coef.loc["covariate:lpop", "estimate"] == pytest.approx(M3_LPOP[0], abs=TOL)
    assert coef.loc["covariate:lpop", "std_error"] == pytest.approx(M3_LPOP[1], abs=TOL)


@pytest.mark.reference
def test_aggregations_match_r_emfx(mpdta: pd.DataFrame) -> None:
    res = _fit(mpdta, covariates=["lpop"])
    agg = res.aggregations
    assert len(agg) == len(EMFX_M3)
    for (kind, lev, b, se), row in zip(EMFX_M3, agg.itertuples(), strict=True):
        assert row.type == kind
        assert (np.isnan(row.level) if lev is None else row.level == lev)
        assert row.estimate == pytest.approx(b, abs=TOL), (kind, lev)
        assert row.std_error == pytest.approx(se, abs=TOL_EMFX_SE), (kind, lev)
    # the contract rows carry the same numbers with normal intervals (emfx's)
    top = res.estimate("lemp[etwfe]")
    assert top.estimate == pytest.approx(EMFX_M3[0][2], abs=TOL)
    assert top.ci_lower == pytest.approx(-0.0751212021483654, abs=TOL_EMFX_SE)  # simple_known conf.low
    assert res.estimate("lemp[etwfe,group=2006]").estimate == pytest.approx(-0.0212783329358987, abs=TOL)
    assert res.estimate("lemp[etwfe,calendar=2007]").estimate == pytest.approx(-0.0524323095862384, abs=TOL)
    assert res.estimate("lemp[etwfe,event=1]").std_error == pytest.approx(0.0171496442892364, abs=TOL_EMFX_SE)


@pytest.mark.reference
def test_never_treated_event_study_matches_r_emfx(mpdta: pd.DataFrame) -> None:
    ev = _fit(mpdta, covariates=["lpop"], control="never").aggregation("event").set_index("level")
    assert -1.0 not in ev.index  # the reference period
    assert list(ev.index) == [-4.0, -3.0, -2.0, 0.0, 1.0, 2.0, 3.0]
    for e, b, se in EMFX_M3N_EVENT:
        assert ev.loc[float(e), "estimate"] == pytest.approx(b, abs=TOL), e
        assert ev.loc[float(e), "std_error"] == pytest.approx(se, abs=TOL_EMFX_SE), e


def test_simple_att_equals_saturated_panelols(mpdta: pd.DataFrame) -> None:
    """Without covariates, the not-yet-treated ETWFE cells are the coefficients of the saturated regression with
    unit (not cohort) and year effects (Wooldridge 2021), and the simple ATT their observation-weighted mean."""
    from linearmodels.panel import PanelOLS

    res = _fit(mpdta)
    df = mpdta.set_index(["countyreal", "year"])
    g, t = df["first.treat"], df.index.get_level_values("year")
    x = pd.DataFrame({f"d{c}_{s}": ((g == c) & (t == s)).astype(float) for c, s in CELLS_NY}, index=df.index)
    fit = PanelOLS(df["lemp"], x, entity_effects=True, time_effects=True).fit()
    ours = _cells(res)
    for c, s in CELLS_NY:
        assert ours[(c, s)][0] == pytest.approx(fit.params[f"d{c}_{s}"], abs=1e-10)
    n = x.sum(axis=0).to_numpy()
    att = float(n @ fit.params.to_numpy() / n.sum())
    assert res.att == pytest.approx(att, abs=1e-10)


def _known_panel(seed: int = 3, noise: float = 0.0, n_per: int = 30) -> pd.DataFrame:
    """Balanced panel, periods 1..6, cohorts 3, 5 and never; effect 1 + 0.5 (t − g) + 0.2 (x − cohort mean of x)
    in treated cells, a covariate trend, unit and period effects."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, g in enumerate(np.repeat([3, 5, 0], n_per)):
        a, x = rng.normal(), rng.normal(1.0 + 0.3 * (g == 3))
        for t in range(1, 7):
            rows.append({"id": i, "t": t, "g": g, "x": x, "alpha": a})
    df = pd.DataFrame(rows)
    xbar = df.groupby("g")["x"].transform("mean")
    treated = (df["g"] > 0) & (df["t"] >= df["g"])
    effect = np.where(treated, 1.0 + 0.5 * (df["t"] - df["g"]) + 0.2 * (df["x"] - xbar), 0.0)
    df["y"] = df["alpha"] + 0.1 * df["t"] ** 2 + 0.3 * df["x"] * df["t"] + effect + noise * rng.normal(size=len(df))
    df["effect"] = effect
    return df


@pytest.mark.parametrize("control", ["notyet", "never"])
def test_known_effects_recovered_exactly(control: str) -> None:
    df = _known_panel()
    res = etwfe(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x"], control=control)  # type: ignore[arg-type]
    treated = df[(df["g"] > 0) & (df["t"] >= df["g"])]
    assert res.att == pytest.approx(treated["effect"].mean(), abs=1e-10)
    ev = res.aggregation("event").set_index("level")
    for e in range(0, 4):
        assert ev.loc[float(e), "estimate"] == pytest.approx(1.0 + 0.5 * e, abs=1e-10)
    grp = res.aggregation("group").set_index("level")
    assert grp.loc[3.0, "estimate"] == pytest.approx(treated[treated["g"] == 3]["effect"].mean(), abs=1e-10)
    if control == "never":  # placebo cells are zero in a noise-free parallel-trends design
        assert ev.loc[-2.0, "estimate"] == pytest.approx(0.0, abs=1e-10)
    # without the covariate, the misspecified trend biases the estimate: the test can fail
    bad = etwfe(df, outcome="y", time="t", unit="id", cohort="g", control=control)  # type: ignore[arg-type]
    assert abs(bad.att - treated["effect"].mean()) > 1e-3


def test_known_effects_with_noise_covered_and_contract() -> None:
    df = _known_panel(seed=5, noise=0.5, n_per=200)
    res = etwfe(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x"])
    truth = df[(df["g"] > 0) & (df["t"] >= df["g"])]["effect"].mean()
    assert abs(res.att - truth) < 4 * res.att_se
    assert res.labels[0] == "y[etwfe]"
    assert "y[etwfe,group=3]" in res.labels and "y[etwfe,calendar=6]" in res.labels
    assert "y[etwfe,event=3]" in res.labels
    tidy = res.tidy()
    assert len(tidy) == len(res.aggregations)
    d = res.to_dict()
    assert d["options"]["control"] == "notyet" and d["options"]["covariates"] == ["x"]
    assert d["options"]["clustered_by"] == "unit"
    dist = res.sampling_distribution()
    assert dist.labels == res.labels and np.allclose(np.sqrt(np.diag(dist.cov)), res.aggregations["std_error"])
    assert "ETWFE" in res.summary() or "Extended two-way" in res.summary()
    with pytest.raises(AttributeError):
        res.n_obs = 1  # type: ignore[misc]


def test_bad_input_typed_errors() -> None:
    df = _known_panel()
    with pytest.raises(MissingColumnError, match="nope"):
        etwfe(df, outcome="nope", time="t", unit="id", cohort="g")
    with pytest.raises(OptionError, match="control"):
        etwfe(df, outcome="y", time="t", unit="id", cohort="g", control="sometimes")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="covariates"):
        etwfe(df, outcome="y", time="t", unit="id", cohort="g", covariates="x")
    only_treated = df[df["g"] == 3]
    with pytest.raises(DesignError, match=r"no comparison units: all 30 units belong to cohort 3"):
        etwfe(only_treated, outcome="y", time="t", unit="id", cohort="g", control="never")
    const = df.assign(c=df["g"] * 2.0)  # constant within cohort: absorbed by the cohort effects
    with pytest.raises(DesignError, match=r"covariate .c. constant within every cohort \(540 observations"):
        etwfe(const, outcome="y", time="t", unit="id", cohort="g", covariates=["c"])
    with pytest.raises(OptionError, match="level"):
        etwfe(df, outcome="y", time="t", unit="id", cohort="g", level=1.5)
    assert issubclass(DesignError, CteImpactError)


def test_cluster_option_unbalanced_panel_and_determinism() -> None:
    df = _known_panel(seed=7, noise=0.5, n_per=40)
    df["district"] = df["id"] % 60
    by_unit = etwfe(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x"])
    by_district = etwfe(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x"], cluster="district")
    assert by_unit.n_clusters == 120 and by_district.n_clusters == 60
    assert by_district.options["clustered_by"] == "district"
    assert by_district.att == pytest.approx(by_unit.att, abs=1e-12)  # same point estimate
    assert abs(by_district.att_se - by_unit.att_se) > 1e-6  # different clustering
    # unbalanced: drop 25 unit-periods; every remaining row is used (cohort and period effects need no balance)
    rng = np.random.default_rng(1)
    unb = df.drop(index=rng.choice(df.index, size=25, replace=False))
    res = etwfe(unb, outcome="y", time="t", unit="id", cohort="g", covariates=["x"])
    assert res.n_obs == len(unb) == len(df) - 25
    assert res.options["data_mode"] == "unbalanced"
    again = etwfe(unb, outcome="y", time="t", unit="id", cohort="g", covariates=["x"])
    num = ["level", "estimate", "std_error", "n_obs"]
    first, second = (r.aggregations[num].to_numpy(dtype=float).tobytes() for r in (res, again))
    assert first == second
    assert again.covariance.tobytes() == res.covariance.tobytes()
