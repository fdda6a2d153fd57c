"""Bias-aware RD intervals (cteimpact.rd.adapters.rdhonest) against R RDHonest's own test values.

Source of every reference number: the R package RDHonest, github.com/kolesarm/RDHonest, commit
2625133b416f4b5f24f6ed067bf36d0d24d2a98f (2024-12-18, DESCRIPTION Version 1.0.1.9000):

* lee08, uniform kernel, M=0.1, h=10 -- tests/testthat/test_rd.R, "Vignette replication Version: 0.1.2"
  (lower one-sided limits 0.3162933187 under the Taylor class and 2.3747626508 under the Hölder class);
* cghs, BME, h=6, order 1 (Kolesár & Rothe 2018, Table 2) -- tests/testthat/test_rd.R, "BME CIs match paper";
* rcp (first 1000 rows), fuzzy RD, triangular kernel, rule-of-thumb M, h=6, T0=0 -- tests/testthat/test_frd.R,
  "FRD interface" (conf.high 0.89111296346, maximum.bias 0.46476927944, M.fs 0.0094308598731,
  M.rf 0.016404318226).

The data are read at test time from the installed ``rdhonest`` package (its ``data/*.csv``: lee08, cghs, rcp); they
are not copied into this repository. The package's loaders fall back to synthetic data when a file is missing, so
the files are read directly and the tests skip if one is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import DesignError, OptionError

rdhonest = pytest.importorskip("rdhonest")
from cteimpact.rd.adapters.rdhonest import fit_honest, rule_of_thumb_m  # noqa: E402

DATA = Path(rdhonest.__file__).parent / "data"
TOL = 1e-4


def _data(name: str) -> pd.DataFrame:
    path = DATA / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"rdhonest's data set {name}.csv is not installed at {DATA}")
    return pd.read_csv(path)


def test_lee08_holder_and_taylor_match_r_rdhonest() -> None:
    lee = _data("lee08")
    r = fit_honest(lee["voteshare"], lee["margin"], cutoff=0.0, m=0.1, kernel="uniform", bandwidth=10.0,
                   m_multipliers=())
    # the one-sided lower limit R reports is estimate - (bias + z_{0.95} se)
    lower_one_sided = r.estimate - r.max_bias - 1.6448536269514722 * r.se
    assert abs(lower_one_sided - 2.3747626508) < TOL
    assert r.method == "holder" and r.kernel == "uniform" and r.bandwidth == 10.0 and r.m == 0.1
    assert r.ci_low < lower_one_sided < r.estimate < r.ci_high
    assert r.m_source == "user" and not r.few_mass_points


def test_lee08_rule_of_thumb_m_matches_package_mrot() -> None:
    lee = _data("lee08")
    from rdhonest.npr import mrot
    from rdhonest.utils import create_rd_data

    expected = mrot(create_rd_data(Y=lee["voteshare"].to_numpy(), X=lee["margin"].to_numpy()))
    got = rule_of_thumb_m(lee["voteshare"].to_numpy(float), lee["margin"].to_numpy(float))
    assert abs(got - expected) < 1e-9
    r = fit_honest(lee["voteshare"], lee["margin"], cutoff=0.0)
    assert r.m_source.startswith("rule of thumb") and abs(r.m - expected) < 1e-9
    # sensitivity table: 0.5, 1, 2, 4 times the chosen M; a larger M never gives a smaller worst-case bias at the
    # same bandwidth, and the row at 1 x M is the headline interval
    assert [s.multiple for s in r.sensitivity] == [0.5, 1.0, 2.0, 4.0]
    assert [round(s.m / r.m, 12) for s in r.sensitivity] == [0.5, 1.0, 2.0, 4.0]
    assert (r.sensitivity[1].ci_low, r.sensitivity[1].ci_high) == (r.ci_low, r.ci_high)
    assert r.sensitivity[3].ci_high - r.sensitivity[3].ci_low > r.ci_high - r.ci_low


def test_cghs_bme_matches_kolesar_rothe_table2() -> None:
    cghs = _data("cghs")
    r = fit_honest(np.log(cghs["earnings"]), cghs["yearat14"], cutoff=1947.0, method="bme", bandwidth=6.0)
    assert abs(r.estimate - 0.0212923111) < TOL
    assert abs(r.se - 0.03272404599) < TOL
    assert abs(r.ci_low - (-0.13218978736)) < TOL
    assert abs(r.ci_high - 0.17499392431) < TOL
    assert r.eff_obs == 20883
    # the discrete score: birth cohorts, few mass points on each side
    assert r.few_mass_points and r.mass_points_left < 30 and r.mass_points_right < 30
    assert "Kolesár–Rothe" in r.label


def test_cghs_holder_class_runs_on_discrete_score() -> None:
    cghs = _data("cghs")
    r = fit_honest(np.log(cghs["earnings"]), cghs["yearat14"], cutoff=1947.0, m=0.04, kernel="uniform",
                   m_multipliers=(1.0,), m_values=(0.02, 0.08))
    assert r.few_mass_points
    assert r.ci_low < r.estimate < r.ci_high and r.max_bias > 0
    assert [s.m for s in r.sensitivity] == [0.04, 0.02, 0.08]


def test_rcp_fuzzy_matches_r_rdhonest() -> None:
    rcp = _data("rcp").iloc[:1000]
    r = fit_honest(np.log(rcp["cn"]), rcp["elig_year"], treatment=rcp["retired"], cutoff=0.0, bandwidth=6.0,
                   m_multipliers=())
    assert r.design == "fuzzy"
    assert abs(r.m_first_stage - 0.0094308598731) < 1e-9
    assert abs(r.m_outcome - 0.016404318226) < 1e-9
    assert abs(r.ci_high - 0.89111296346) < TOL
    assert abs(r.max_bias - 0.46476927944) < TOL
    assert math.isfinite(r.first_stage) and r.first_stage > 0


def test_fuzzy_needs_a_bandwidth_and_two_bounds() -> None:
    rcp = _data("rcp").iloc[:1000]
    with pytest.raises(OptionError, match="honest_bandwidth is required for a fuzzy design"):
        fit_honest(np.log(rcp["cn"]), rcp["elig_year"], treatment=rcp["retired"], cutoff=0.0)
    with pytest.raises(OptionError, match="two bounds"):
        fit_honest(np.log(rcp["cn"]), rcp["elig_year"], treatment=rcp["retired"], cutoff=0.0, m=0.1,
                   bandwidth=6.0)


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan"), float("inf")])
def test_m_must_be_positive(bad: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-10, 11, 400).astype(float)
    with pytest.raises(OptionError, match="honest_m must be a positive number"):
        fit_honest(rng.normal(size=400), x, cutoff=0.0, m=bad)


def test_single_value_on_one_side_is_one_clear_error() -> None:
    rng = np.random.default_rng(2)
    x = np.r_[np.full(50, -1.0), rng.integers(0, 10, 150)].astype(float)
    with pytest.raises(DesignError) as err:
        fit_honest(rng.normal(size=200), x, cutoff=0.0, m=1.0, score_name="rubric_score", name="dropout")
    msg = str(err.value)
    assert "'rubric_score'" in msg and "1 distinct value(s) below the cutoff (50 rows)" in msg
    assert "150 rows" in msg and "'dropout'" in msg


def test_rule_of_thumb_needs_five_scores_per_side() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 10, 500).astype(float)  # 3 distinct scores below the cutoff
    with pytest.raises(DesignError, match=r"needs at least 5 distinct scores there; .* has 3 below"):
        fit_honest(rng.normal(size=500), x, cutoff=0.0)


def test_clustered_sharp_design_uses_cluster_robust_variance() -> None:
    lee = _data("lee08")
    cl = np.arange(len(lee)) % 50
    r = fit_honest(lee["voteshare"], lee["margin"], cutoff=0.0, m=0.14, bandwidth=7.0, cluster=cl,
                   m_multipliers=())
    r0 = fit_honest(lee["voteshare"], lee["margin"], cutoff=0.0, m=0.14, bandwidth=7.0, m_multipliers=())
    assert r.variance == "cluster-robust EHW" and r.clusters == 50 and "50 clusters" in r.assumption
    assert r.estimate == pytest.approx(r0.estimate, abs=1e-12) and r.se != r0.se
    rcp = _data("rcp").iloc[:1000]
    f = fit_honest(np.log(rcp["cn"]), rcp["elig_year"], treatment=rcp["retired"], cutoff=0.0, bandwidth=6.0,
                   cluster=np.arange(1000) % 20, m_multipliers=())
    assert f.clusters is None and "NOT accounted for" in f.assumption


def test_record_round_trip_is_plain_data() -> None:
    lee = _data("lee08")
    r = fit_honest(lee["voteshare"], lee["margin"], cutoff=0.0, m=0.1, bandwidth=8.0, m_multipliers=(1.0, 2.0))
    d = r.to_dict()
    assert d["label"] == "Bias-aware interval (Armstrong–Kolesár, M=0.1)"
    assert [row["m"] for row in d["sensitivity"]] == [0.1, 0.2]
    assert len(r.tidy()) == 3 and "M=0.1" in r.summary()
