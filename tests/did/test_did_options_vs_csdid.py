"""Options not covered by the R reference files, against the peer ``csdid`` (Python port of R ``did``).

``csdid`` 0.4.3 reproduces R ``did``'s group-time effects and analytic standard errors; these tests compare every
ATT(g,t) and SE to 1e-8 for: universal base period with anticipation and not-yet-treated controls; sampling
weights with DR and IPW and a covariate; repeated cross-sections (DR, and OR/DR with a covariate and not-yet-treated
controls); unbalanced panels; cluster-robust analytic SEs; and every aggregation (overall and elements) with a
universal base period and anticipation, with weights, with balance_e and with an event window. Skipped when
csdid is not installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna

csdid_att = pytest.importorskip("csdid.att_gt")

TOL = 1e-8


def _mpdta_extra(mpdta: pd.DataFrame) -> pd.DataFrame:
    df = mpdta.copy()
    rng = np.random.default_rng(0)
    w = pd.Series(rng.uniform(0.5, 2, df["countyreal"].nunique()), index=df["countyreal"].unique())
    df["w"] = df["countyreal"].map(w)
    df["cl"] = df["countyreal"] // 1000
    return df


CASES = {
    "universal_anticipation_notyet_dr_cov": (
        {"control_group": "notyettreated", "xformla": "lemp~lpop", "anticipation": 1},
        {"est_method": "dr", "base_period": "universal"},
        {"control": "notyet", "covariates": ["lpop"], "anticipation": 1, "base_period": "universal"}, None),
    "weights_ipw_cov": ({"control_group": "nevertreated", "xformla": "lemp~lpop", "weights_name": "w"},
                        {"est_method": "ipw"}, {"covariates": ["lpop"], "weights": "w", "method": "ipw"}, None),
    "weights_dr_cov": ({"control_group": "nevertreated", "xformla": "lemp~lpop", "weights_name": "w"},
                       {"est_method": "dr"}, {"covariates": ["lpop"], "weights": "w", "method": "dr"}, None),
    "rcs_dr": ({"control_group": "nevertreated", "panel": False, "idname": None}, {"est_method": "dr"},
               {"panel": False}, None),
    "rcs_notyet_reg_cov": ({"control_group": "notyettreated", "panel": False, "idname": None,
                            "xformla": "lemp~lpop"}, {"est_method": "reg"},
                           {"panel": False, "control": "notyet", "covariates": ["lpop"], "method": "reg"}, None),
    "rcs_notyet_dr_cov": ({"control_group": "notyettreated", "panel": False, "idname": None,
                           "xformla": "lemp~lpop"}, {"est_method": "dr"},
                          {"panel": False, "control": "notyet", "covariates": ["lpop"], "method": "dr"}, None),
    "cluster_dr": ({"control_group": "nevertreated", "clustervar": "cl"}, {"est_method": "dr"}, {"cluster": "cl"},
                   None),
    "unbalanced_dr": ({"control_group": "nevertreated", "allow_unbalanced_panel": True}, {"est_method": "dr"},
                      {"allow_unbalanced": True}, "unbalanced"),
    "unbalanced_notyet_ipw_cov": ({"control_group": "notyettreated", "allow_unbalanced_panel": True,
                                   "xformla": "lemp~lpop"}, {"est_method": "ipw"},
                                  {"allow_unbalanced": True, "control": "notyet", "covariates": ["lpop"],
                                   "method": "ipw"}, "unbalanced"),
}


@pytest.mark.reference
@pytest.mark.parametrize("case", list(CASES))
def test_group_time_effects_match_csdid(mpdta: pd.DataFrame, case: str) -> None:
    peer_kw, peer_fit, ours, variant = CASES[case]
    df = _mpdta_extra(mpdta)
    if variant == "unbalanced":
        df = df.sample(frac=0.9, random_state=1).sort_index()
    kw = {"idname": "countyreal", **peer_kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = csdid_att.ATTgt(yname="lemp", gname="first.treat", tname="year", data=df, **kw).fit(
            bstrap=False, **peer_fit)
        res = CallawaySantAnna(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                               **ours).fit()  # type: ignore[arg-type]
    r = peer.results
    p = pd.DataFrame({"group": r["group"], "time": r["year"], "att_p": r["att"], "se_p": r["se"]})
    m = p.merge(res.group_time, on=["group", "time"], how="outer", indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"]
    assert np.nanmax(np.abs(m["att"] - m["att_p"])) <= TOL
    both = m["se"].notna() & m["se_p"].notna()
    assert (m["se"].isna() == m["se_p"].isna()).all()
    assert np.max(np.abs(m.loc[both, "se"] - m.loc[both, "se_p"])) <= TOL


AGG_CASES = {
    "universal_anticipation_notyet_cov": (
        {"control_group": "notyettreated", "anticipation": 1, "xformla": "lemp~lpop"}, {"base_period": "universal"},
        {"control": "notyet", "anticipation": 1, "base_period": "universal", "covariates": ["lpop"]}, {}),
    "weights_balance_e": ({"control_group": "nevertreated", "weights_name": "w"}, {}, {"weights": "w"},
                          {"balance_e": 1}),
    "weights_event_window": ({"control_group": "nevertreated", "weights_name": "w"}, {}, {"weights": "w"},
                             {"min_e": -2, "max_e": 2}),
}


@pytest.mark.reference
@pytest.mark.parametrize("case", list(AGG_CASES))
@pytest.mark.parametrize("family", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_csdid(mpdta: pd.DataFrame, case: str, family: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    peer_kw, peer_fit, ours, agg = AGG_CASES[case]
    df = _mpdta_extra(mpdta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = csdid_att.ATTgt(yname="lemp", gname="first.treat", idname="countyreal", tname="year", data=df,
                               **peer_kw).fit(bstrap=False, est_method="dr", **peer_fit)
        at = peer.aggte(typec=family, bstrap=False, cband=False, **(agg if family == "dynamic" else {})).atte
        res = CallawaySantAnna(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                               **ours).fit(**agg)  # type: ignore[arg-type]
    capsys.readouterr()
    if family == "simple":
        e = res.estimate("lemp")
        assert abs(e.estimate - at["overall_att"]) <= TOL and abs(e.std_error - at["overall_se"]) <= TOL
        return
    tab = res.aggregation(family)
    overall = tab[tab["element"].isna()].iloc[0]
    assert abs(overall["att"] - at["overall_att"]) <= TOL
    assert abs(overall["se"] - at["overall_se"]) <= TOL
    peer_el = pd.DataFrame({"element": np.asarray(at["egt"], float), "att_p": np.asarray(at["att_egt"], float),
                            "se_p": np.asarray(at["se_egt"], float)})
    m = peer_el.merge(tab[tab["element"].notna()], on="element", how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    assert np.max(np.abs(m["att"] - m["att_p"])) <= TOL
    assert (m["se"].isna() == m["se_p"].isna()).all()
    ok = m["se"].notna()
    assert np.max(np.abs(m.loc[ok, "se"] - m.loc[ok, "se_p"])) <= TOL
