"""The DiD results honour the shared results contract (labels, tidy, to_dict, sampling distribution, plots)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from cteimpact.did import CallawaySantAnna, DiDResults, FewClustersWarning, bacon_decomposition, simulate_staggered
from cteimpact.results import TIDY_COLUMNS, ImpactResults, ResultsRecord, SamplingDistribution, dumps_json


@pytest.fixture(scope="module")
def sim_result() -> DiDResults:
    df, _ = simulate_staggered(seed=4, n_clusters=40, n_never_clusters=8, units_per_cluster=6)
    df = df.rename(columns={"y": "earnings_age19"})
    return CallawaySantAnna(df, outcome="earnings_age19", unit="unit", time="time", cohort="cohort",
                            cluster="cluster").fit(bootstrap=299, seed=5, twfe=True)


def test_is_an_impact_result_with_the_documented_labels(sim_result: DiDResults) -> None:
    res = sim_result
    assert isinstance(res, ImpactResults)
    assert res.design == "did"
    labels = res.labels
    assert labels[0] == "earnings_age19"
    assert len(set(labels)) == len(labels)
    for lab in ("earnings_age19[group=2013]", "earnings_age19[event=2]", "earnings_age19[calendar=2016]",
                "earnings_age19[g=2013,t=2016]", "earnings_age19[group=overall]", "earnings_age19[event=overall]",
                "earnings_age19[calendar=overall]"):
        assert lab in labels, lab
    with pytest.raises(Exception, match="no estimate labelled"):
        res.estimate("earnings_age19[group=1999]")


def test_tidy_schema_and_interval_types(sim_result: DiDResults) -> None:
    tidy = sim_result.tidy()
    assert tuple(tidy.columns) == TIDY_COLUMNS
    types = dict(zip(tidy["label"], tidy["ci_type"], strict=True))
    assert types["earnings_age19"] == "pointwise"
    assert types["earnings_age19[event=2]"] == "simultaneous"
    assert types["earnings_age19[g=2013,t=2016]"] == "simultaneous"
    assert (tidy["n_effective"] > 0).all()
    assert (tidy["ci_lower"] <= tidy["estimate"]).all() and (tidy["estimate"] <= tidy["ci_upper"]).all()


def test_sampling_distribution_is_joint_and_matches_rows(sim_result: DiDResults) -> None:
    sd = sim_result.sampling_distribution()
    assert isinstance(sd, SamplingDistribution)
    assert sd.joint and sd.df is None
    assert sd.labels == sim_result.labels
    np.testing.assert_allclose(sd.mean, [e.estimate for e in sim_result.estimates])
    assert np.linalg.eigvalsh(sd.cov).min() > -1e-12 * np.abs(sd.cov).max()
    # the simple ATT is the pg-weighted mean of post cells: its covariance with the cells follows from the IFs
    c = sim_result.covariance_of(["earnings_age19", "earnings_age19[group=overall]"])
    assert c[0, 1] > 0
    draws = sd.draw(4000, np.random.default_rng(0))
    assert draws.shape == (4000, len(sd.labels))


@pytest.mark.filterwarnings("ignore::cteimpact.did.errors.PretestUnavailableWarning")
def test_small_sample_t_distribution() -> None:
    df, _ = simulate_staggered(seed=4, n_clusters=12, n_never_clusters=4, units_per_cluster=5)
    with pytest.warns(FewClustersWarning, match="only 12 clusters"):
        r = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort",
                             cluster="cluster").fit(small_sample=True)
    assert r.sampling_distribution().df == 11
    e = r.estimate("y")
    from scipy import stats

    assert (e.ci_upper - e.ci_lower) / 2 == pytest.approx(stats.t.ppf(0.975, 11) * e.std_error)


def test_to_dict_round_trips_and_is_deterministic(sim_result: DiDResults) -> None:
    d1 = sim_result.to_dict()
    text = dumps_json(d1)
    back = ResultsRecord.from_dict(json.loads(text))
    assert back.labels == sim_result.labels
    assert back.sampling_distribution().labels == sim_result.labels
    np.testing.assert_array_equal(back.sampling_distribution().cov, sim_result.sampling_distribution().cov)
    det = d1["details"]
    assert set(det["aggregates"]) == {"simple", "group", "dynamic", "calendar"}
    assert det["twfe"]["estimate"] == sim_result.twfe.estimate  # type: ignore[union-attr]
    assert det["influence_function_storage"]["bytes"] == sim_result.influence.nbytes
    assert "timestamp" not in text and "date" not in det


def test_summary_and_plots(sim_result: DiDResults) -> None:
    text = sim_result.summary()
    assert "Callaway & Sant'Anna (2021)" in text
    assert "simultaneous (sup-t)" in text
    assert "TWFE comparison" in text
    assert "Sample flow" in text
    for kind in ("event_study", "group_time", "estimates"):
        fig = sim_result.plot(kind)
        assert isinstance(fig, Figure)
    df, _ = simulate_staggered(seed=4, n_clusters=20, n_never_clusters=4, units_per_cluster=3)
    fig = bacon_decomposition(df, outcome="y", unit="unit", time="time", cohort="cohort").plot()
    assert isinstance(fig, Figure)


def test_event_study_table_and_pretrend_power(sim_result: DiDResults) -> None:
    es = sim_result.event_study()
    assert {"element", "att", "se", "ci_lower", "ci_upper", "ci_type"} <= set(es.columns)
    assert es["element"].isna().sum() == 1  # the overall row
    p = sim_result.pretrend_power()
    assert p.slope_any > 0 and p.slope_wald > 0
