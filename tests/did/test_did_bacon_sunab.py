"""Goodman-Bacon decomposition (castle doctrine), Sun–Abraham (fixest on mpdta) and TWFE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import (
    CallawaySantAnna,
    bacon_decomposition,
    simulate_staggered,
    sun_abraham,
    twfe,
    twfe_event_study,
)
from cteimpact.did.wild import demean_two_way
from cteimpact.errors import SmallSampleWarning

# R bacondecomp 0.1.1 vignette "bacon" (CRAN): bacon(l_homicide ~ post, data = bacondecomp::castle, id_var =
# "state", time_var = "year") prints the summary below (weights and average estimates to 5 decimals).
BACON_CASTLE = {
    "Earlier vs Later Treated": (0.05976, -0.00554),
    "Later vs Earlier Treated": (0.03190, 0.07032),
    "Treated vs Untreated": (0.90834, 0.08796),
}
# bacondecomp 0.1.0 index.ipynb: "Two-way FE estimate = 0.0818116169306475"
TWFE_CASTLE = 0.0818116169306475

# fixest 0.14.0: feols(lemp ~ sunab(first.treat, year) | countyreal + year, cluster = ~countyreal) on did::mpdta,
# as transcribed to 8 decimals in the StatsPAI project's fixest parity tests (the SEs for e = -3..3 also appear in
# the jwdid README's jwdid_event output). (estimate, clustered SE) by event time; overall ATT (agg = "att").
FIXEST_SUNAB = {
    -4: (0.00330636, 0.02455510),
    -3: (0.02502183, 0.01815434),
    -2: (0.02445874, 0.01426679),
    0: (-0.01993182, 0.01185754),
    1: (-0.05095737, 0.01687068),
    2: (-0.13725874, 0.03658948),
    3: (-0.10081136, 0.03450427),
}
FIXEST_SUNAB_ATT = (-0.0399512752, 0.0117962774)


@pytest.fixture(scope="module")
def castle_bacon(request: pytest.FixtureRequest):
    castle = request.getfixturevalue("castle")
    with pytest.warns(SmallSampleWarning, match="very few units"):  # small cohorts are announced
        return bacon_decomposition(castle, outcome="l_homicide", unit="state", time="year", treatment="post")


@pytest.fixture(scope="module")
def castle(reference_data):
    df = pd.read_csv(reference_data / "castle.csv")
    df["post"] = (df["cdl"] > 0).astype(int)
    return df


@pytest.mark.reference
@pytest.mark.parametrize("typ", list(BACON_CASTLE))
@pytest.mark.parametrize("what", ["weight", "avg_estimate"])
def test_bacon_castle_matches_published_decomposition(castle_bacon, typ: str, what: str) -> None:
    row = castle_bacon.summary.set_index("type").loc[typ]
    expected = BACON_CASTLE[typ][0 if what == "weight" else 1]
    assert abs(float(row[what]) - expected) <= 5e-6, f"{typ} {what}: {row[what]!r} vs {expected}"


@pytest.mark.reference
def test_bacon_castle_weighted_sum_is_twfe(castle_bacon, castle) -> None:
    bd = castle_bacon
    assert abs(bd.weighted_sum - bd.twfe) <= 1e-14
    # the shared castle.csv stores l_homicide to 8 significant digits (R's data: full precision), which moves the
    # coefficient in the 9th decimal: compare at 5e-8 relative
    assert abs(bd.twfe - TWFE_CASTLE) <= 5e-8 * TWFE_CASTLE
    assert abs(bd.two_by_twos["weight"].sum() - 1.0) <= 1e-14
    # and it is the coefficient of the linearmodels TWFE regression on the same panel
    with pytest.warns(SmallSampleWarning, match="very few units"):
        t = twfe(castle, outcome="l_homicide", unit="state", time="year", treatment="post")
    assert abs(t.estimate - bd.twfe) <= 1e-12
    # the single largest comparison is 2006 adopters vs never treated, with almost 60% of the weight (vignette)
    top = bd.two_by_twos.sort_values("weight").iloc[-1]
    assert (top["treated"], top["control"]) == (2006.0, 0.0)
    assert 0.58 < top["weight"] < 0.60


def test_bacon_decomposition_exact_on_simulated_panel() -> None:
    df, _ = simulate_staggered(seed=3, n_clusters=30, n_never_clusters=5, units_per_cluster=4)
    bd = bacon_decomposition(df, outcome="y", unit="unit", time="time", cohort="cohort")
    assert abs(bd.weighted_sum - bd.twfe) <= 1e-13 * max(1.0, abs(bd.twfe))
    assert set(bd.summary["type"]) == set(BACON_CASTLE)
    assert abs(bd.summary["weight"].sum() - 1) <= 1e-14


@pytest.mark.reference
@pytest.mark.parametrize("e", sorted(FIXEST_SUNAB))
def test_sunab_matches_fixest(mpdta: pd.DataFrame, e: int) -> None:
    sa = sun_abraham(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    row = sa.event_study.set_index("event_time").loc[float(e)]
    est, se = FIXEST_SUNAB[e]
    assert abs(row["estimate"] - est) <= 1e-8
    assert abs(row["std_error"] - se) <= 1e-8


@pytest.mark.reference
def test_sunab_overall_att_matches_fixest(mpdta: pd.DataFrame) -> None:
    sa = sun_abraham(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert abs(sa.att - FIXEST_SUNAB_ATT[0]) <= 1e-10
    assert abs(sa.att_se - FIXEST_SUNAB_ATT[1]) <= 1e-10
    assert set(sa.event_study["event_time"]) == {float(k) for k in FIXEST_SUNAB}


@pytest.mark.reference
def test_sunab_equals_callaway_santanna_universal_never(mpdta: pd.DataFrame) -> None:
    """Balanced panel, no covariates: δ_{g,e} = CS ATT(g, g+e) with never-treated comparisons and base g-1, and
    the IW event study equals the CS dynamic aggregation (Sun & Abraham 2021, section 4)."""
    sa = sun_abraham(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    cs = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                          base_period="universal").fit()
    gt = cs.group_time.assign(event_time=lambda x: x["time"] - x["group"]).rename(columns={"group": "cohort"})
    m = sa.cohort_effects.merge(gt, on=["cohort", "event_time"])
    assert len(m) == len(sa.cohort_effects) == 12
    np.testing.assert_allclose(m["estimate"], m["att"], rtol=0, atol=1e-12)
    dyn = cs.event_study().dropna(subset=["element"]).set_index("element")
    for r in sa.event_study.itertuples():
        assert abs(r.estimate - dyn.loc[r.event_time, "att"]) <= 1e-12


def test_twfe_coefficient_and_clustered_se_by_hand(mpdta: pd.DataFrame) -> None:
    """linearmodels coefficient = Frisch-Waugh-Lovell by hand; SE = CR0 × G/(G-1)·(n-1)/(n-K), K = 1 + 5 years
    (unit effects nested in unit clusters, fixest's rule)."""
    t = twfe(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    y = mpdta.pivot(index="countyreal", columns="year", values="lemp").to_numpy()
    g = mpdta.pivot(index="countyreal", columns="year", values="first.treat").to_numpy()
    years = np.array(sorted(mpdta["year"].unique()))
    d = ((g > 0) & (years[None, :] >= g)).astype(float)
    n_u, n_t = y.shape
    unit = np.repeat(np.arange(n_u), n_t)
    time = np.tile(np.arange(n_t), n_u)
    dt = demean_two_way(d.reshape(-1), unit, time)
    yt = demean_two_way(y.reshape(-1), unit, time)
    beta = (dt @ yt) / (dt @ dt)
    e = yt - dt * beta
    s = np.bincount(unit, weights=dt * e)
    n, k, gg = n_u * n_t, 1 + n_t, n_u
    se = np.sqrt(s @ s) / (dt @ dt) * np.sqrt(gg / (gg - 1) * (n - 1) / (n - k))
    assert abs(t.estimate - beta) <= 1e-13
    assert abs(t.std_error - se) <= 1e-13
    assert t.n_clusters == 500


def test_twfe_event_study_reference_period_and_shape(mpdta: pd.DataFrame) -> None:
    es, cov = twfe_event_study(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert -1.0 not in set(es["event_time"])
    assert list(es["event_time"]) == [-4.0, -3.0, -2.0, 0.0, 1.0, 2.0, 3.0]
    assert cov.shape == (7, 7)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), es["std_error"], rtol=1e-14)
