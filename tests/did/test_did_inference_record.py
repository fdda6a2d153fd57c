"""Which standard error, interval and p-value each DiD row shows (issue 11, item 8: "$243 vs $232"; simultaneous
bands beside pointwise p-values).

Before: the headline row showed the multiplier-bootstrap standard error ($243) beside the wild-bootstrap interval,
while the wild-bootstrap table and the pricing distribution used the analytic one ($232). Now a row shows the
standard error its test and interval use, and ``details.inference`` names it and keeps the other one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from cteimpact.did import CallawaySantAnna, simulate_staggered


@pytest.fixture(scope="module")
def data():
    df, _ = simulate_staggered(seed=21, n_clusters=36, n_never_clusters=8, units_per_cluster=6)
    return df


def _cs(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster")


@pytest.fixture(scope="module")
def both(data):
    """The pipeline's inference: multiplier bootstrap (bands) and the wild bootstrap on the headline."""
    return _cs(data).fit(bootstrap=999, seed=4, wild_bootstrap=199, wild_labels=["y"])


def test_headline_row_shows_the_standard_error_its_interval_uses(both, data) -> None:
    row = both.estimate("y")
    wild = both.wild["y"]
    dist = both.sampling_distribution()
    sd_pricing = math.sqrt(dist.cov[dist.labels.index("y"), dist.labels.index("y")])
    assert row.ci_type == "wild_cluster_bootstrap" and (row.ci_lower, row.ci_upper) == (wild.ci_lower, wild.ci_upper)
    assert row.std_error == pytest.approx(wild.std_error, rel=1e-12)
    assert row.std_error == pytest.approx(sd_pricing, rel=1e-12)
    assert row.statistic == pytest.approx(wild.statistic, rel=1e-12)
    assert both.aggregates_dict()["simple"]["se"] == row.std_error
    # the multiplier-bootstrap standard error is kept under its name: the one a bootstrap-only fit shows
    boot_only = _cs(data).fit(bootstrap=999, seed=4).estimate("y").std_error
    assert boot_only != pytest.approx(row.std_error, rel=1e-6)
    rec = both.inference_record()
    head = rec["headline"]
    assert head["std_error_type"] == "influence_function" and head["std_error"] == row.std_error
    assert "cluster-robust" in head["std_error_name"] and head["other_std_errors"] == {
        "multiplier_bootstrap": boot_only}
    assert rec["rows"]["y"]["std_error_multiplier_bootstrap"] == boot_only
    assert rec["std_error_used_by"]["sampling_distribution"].startswith("influence_function")


def test_every_row_says_whether_its_interval_and_p_value_are_pointwise_or_simultaneous(both) -> None:
    rec = both.inference_record()
    rows = rec["rows"]
    assert set(rows) == {e.label for e in both.estimates}
    crit = both.bootstrap["critical_values"]
    n_simultaneous = 0
    for e in both.estimates:
        r = rows[e.label]
        assert r["p_value_type"] == "pointwise"
        assert r["interval"] == ("simultaneous" if e.ci_type == "simultaneous" else "pointwise")
        if r["interval"] != "simultaneous":
            continue
        n_simultaneous += 1
        family = "attgt" if "[g=" in e.label else {"group": "group", "event": "dynamic",
                                                   "calendar": "calendar"}[e.label.split("[")[1].split("=")[0]]
        assert r["critical_value"] == crit[family]
        assert r["std_error_type"] == "multiplier_bootstrap" and r["interval_method"] == "sup_t_multiplier_bootstrap"
        # the sup-t adjusted p-value agrees with the band; the pointwise one need not
        assert r["p_value_simultaneous"] >= e.p_value
        assert r["significant_simultaneous"] is r["ci_excludes_zero"]
    assert n_simultaneous > 50
    disagree = [lab for lab, r in rows.items() if r["interval"] == "simultaneous"
                and r["significant"] != r["ci_excludes_zero"]]
    assert disagree  # what the report showed unlabelled: pointwise p < 0.05 inside a simultaneous band
    group = both.aggregates_dict()["group"]["elements"][0]
    assert (group["interval"], group["p_value_type"], group["std_error_type"]) == (
        "simultaneous", "pointwise", "multiplier_bootstrap")
    # the event-study table (tables/event_study.csv) carries the labels and both p-values
    es = both.event_study()
    shown = es[es["element"].notna()]
    assert (shown["interval"] == "simultaneous").all() and (shown["p_value_type"] == "pointwise").all()
    assert shown["p_value_simultaneous"].tolist() == [rows[lab]["p_value_simultaneous"] for lab in shown["label"]]
    assert set(shown["phase"]) == {"pre", "post"}
    overall = es[es["element"].isna()].iloc[0]
    assert (overall["interval"], overall["std_error_type"]) == ("pointwise", "multiplier_bootstrap")


def test_analytic_and_small_sample_rows(data) -> None:
    plain = _cs(data).fit()
    rows = plain.inference_record()["rows"]
    z = stats.norm.ppf(0.975)
    assert all(r["interval"] == "pointwise" and r["interval_method"] == "normal" and r["critical_value"] == z
               and r["std_error_type"] == "influence_function" and r["std_error_multiplier_bootstrap"] is None
               for r in rows.values())
    small = _cs(data).fit(small_sample=True)
    r = small.inference_record()["rows"]["y"]
    g = small.n_clusters
    assert r["interval_method"] == r["p_value_method"] == "t"
    assert r["critical_value"] == pytest.approx(stats.t.ppf(0.975, g - 1), rel=1e-14)


def test_hidden_rows_show_no_number_in_the_inference_record(both) -> None:
    hidden = both.with_min_cell(10**6)
    rows = hidden.inference_record()["rows"]
    assert rows and all(r["std_error"] is None and r["std_error_influence_function"] is None
                        and r["std_error_multiplier_bootstrap"] is None and r["p_value_simultaneous"] is None
                        and r["significant"] is None for r in rows.values())
    assert all(np.isnan(v) for v in [hidden.estimate("y").std_error])
