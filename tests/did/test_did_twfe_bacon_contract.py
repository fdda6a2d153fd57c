"""TWFE and Goodman-Bacon results honour the results contract (estimates, options, sample flow, summary, tidy,
to_dict, plot, sampling distribution, print/repr/HTML, params, std_errors, conf_int, compare) while their legacy
attributes keep working: ``TWFEResult.estimate`` is the coefficient and the contract's ``estimate(label)``;
``BaconDecomposition.summary`` is the table by type and the contract's ``summary()``."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cteimpact import compare
from cteimpact.did import (
    BaconDecomposition,
    CallawaySantAnna,
    TWFEResult,
    bacon_decomposition,
    simulate_staggered,
    sun_abraham,
    twfe,
)
from cteimpact.did.comparison import Coefficient, ComparisonResults, SummaryTable
from cteimpact.did.wild import demean_two_way
from cteimpact.errors import NoSamplingDistributionError, OptionError
from cteimpact.pricing.engine import combine_estimates
from cteimpact.results import TIDY_COLUMNS, EffectEstimate, ImpactResults, ResultsRecord, dumps_json
from cteimpact.results.intervals import IntervalLevelError

# the keys of the records written in a DiD results file before these results honoured the contract
TWFE_RECORD_KEYS = ["estimate", "se", "ci_lower", "ci_upper", "n_obs", "n_entities", "n_clusters", "description"]
BACON_RECORD_KEYS = ["twfe", "weighted_sum", "two_by_twos", "summary"]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df, _ = simulate_staggered(seed=6, n_clusters=24, n_never_clusters=6, units_per_cluster=4)
    return df


@pytest.fixture(scope="module")
def tw(panel: pd.DataFrame) -> TWFEResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return twfe(panel, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster",
                    event_study=True, level=0.9)


@pytest.fixture(scope="module")
def tw_wild(panel: pd.DataFrame) -> TWFEResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return twfe(panel, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster",
                    wild_bootstrap=199, seed=3)


@pytest.fixture(scope="module")
def bd(panel: pd.DataFrame) -> BaconDecomposition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bacon_decomposition(panel, outcome="y", unit="unit", time="time", cohort="cohort")


def _json(obj: Any) -> Any:
    return json.loads(dumps_json(obj))


# -- the TWFE coefficient is a number and the contract's estimate(label) ---------------------------------------------
def test_coefficient_is_a_float_and_calls_the_contract_lookup() -> None:
    head = EffectEstimate.from_normal("y[twfe]", "y", "TWFE coefficient", 0.25, 0.1)
    ev = EffectEstimate.from_normal("y[twfe,event=0]", "y", "event 0", 0.5, 0.2)
    b = Coefficient(0.25, (head, ev))
    assert isinstance(b, float) and b == 0.25 and f"{b:.3f}" == "0.250" and repr(b) == "0.25"
    assert type(b + 1) is float and b + 1 == 1.25 and type(-b) is float and float(b) == 0.25
    assert b() is head and b("y[twfe,event=0]") is ev
    with pytest.raises(OptionError, match=r"no estimate labelled 'y\[event=9\]'; available: y\[twfe\], "
                                          r"y\[twfe,event=0\]"):
        b("y[event=9]")
    with pytest.raises(OptionError, match="carries no estimate rows"):
        Coefficient(0.25)()
    with pytest.raises(AttributeError, match="immutable"):
        b._rows = ()
    back = pickle.loads(pickle.dumps(b))
    assert type(back) is Coefficient and back == b and back() == head
    assert json.dumps(b) == "0.25"


def test_twfe_estimate_is_the_coefficient_and_the_contract_call(tw: TWFEResult, panel: pd.DataFrame) -> None:
    assert isinstance(tw, ImpactResults) and isinstance(tw, ComparisonResults)
    assert isinstance(tw.estimate, Coefficient) and isinstance(tw.estimate, float)
    # legacy use: the number
    assert tw.estimate - tw.estimates[0].estimate == 0.0
    assert f"{tw.estimate:.6f}" == f"{tw.estimates[0].estimate:.6f}"
    # contract use: the row
    assert tw.estimate() is tw.estimates[0] and tw.estimate().label == "y[twfe]"
    assert tw.estimate("y[twfe,event=0]") is tw.estimates[tw.labels.index("y[twfe,event=0]")]
    with pytest.raises(OptionError, match=r"no estimate labelled 'y'; available: y\[twfe\], y\[twfe,event="):
        tw.estimate("y")
    # the coefficient is OLS on the two-way demeaned panel (Frisch-Waugh-Lovell), as before
    yw = panel.pivot(index="unit", columns="time", values="y").to_numpy()
    g = panel.groupby("unit")["cohort"].first().to_numpy()
    times = np.sort(panel["time"].unique())
    d = ((g[:, None] > 0) & (times[None, :] >= g[:, None])).astype(float)
    n_u, n_t = yw.shape
    unit, time = np.repeat(np.arange(n_u), n_t), np.tile(np.arange(n_t), n_u)
    dt, yt = demean_two_way(d.reshape(-1), unit, time), demean_two_way(yw.reshape(-1), unit, time)
    assert abs(tw.estimate - (dt @ yt) / (dt @ dt)) <= 1e-12


# -- TWFE estimate rows equal the legacy numbers -----------------------------------------------------------------------
def test_twfe_rows_carry_the_legacy_numbers(tw: TWFEResult) -> None:
    assert tw.event_study is not None
    assert tw.labels == ("y[twfe]", *(f"y[twfe,event={e:g}]" for e in tw.event_study["event_time"]))
    head = tw.estimate()
    g = tw.n_clusters
    assert (head.estimate, head.std_error, head.ci_lower, head.ci_upper) == (float(tw.estimate), tw.std_error,
                                                                             tw.ci_lower, tw.ci_upper)
    assert head.ci_level == pytest.approx(0.9) and head.ci_type == "conventional" and head.outcome == "y"
    assert head.statistic == tw.estimate / tw.std_error
    assert head.p_value == pytest.approx(2 * stats.t.sf(abs(head.statistic), g - 1), rel=1e-12)
    tcrit = stats.t.ppf(0.95, g - 1)
    for r in tw.event_study.to_dict(orient="records"):
        row = tw.estimate(f"y[twfe,event={r['event_time']:g}]")
        assert row.estimate == r["estimate"] and row.std_error == r["std_error"] and row.ci_type == "conventional"
        assert row.ci_lower == pytest.approx(r["estimate"] - tcrit * r["std_error"], rel=1e-12)
        assert row.ci_upper == pytest.approx(r["estimate"] + tcrit * r["std_error"], rel=1e-12)
    assert tw.df == g - 1


def test_twfe_params_std_errors_and_conf_int(tw: TWFEResult) -> None:
    assert tw.params["y[twfe]"] == tw.estimate and tw.std_errors["y[twfe]"] == tw.std_error
    assert list(tw.params.index) == list(tw.labels)
    own = tw.conf_int(0.9)
    assert (own.loc["y[twfe]", "lower"], own.loc["y[twfe]", "upper"]) == (tw.ci_lower, tw.ci_upper)
    ci95 = tw.conf_int(0.95, labels=["y[twfe]"])
    c = stats.t.ppf(0.975, tw.n_clusters - 1)  # rebuilt with the t(G - 1) critical value
    assert ci95.loc["y[twfe]", "lower"] == pytest.approx(tw.estimate - c * tw.std_error, rel=1e-12)
    assert ci95.loc["y[twfe]", "upper"] == pytest.approx(tw.estimate + c * tw.std_error, rel=1e-12)
    with pytest.raises(OptionError, match="level must be a number strictly between 0 and 1"):
        tw.conf_int(95)


def test_twfe_wild_bootstrap_row_shows_the_bootstrap_interval(tw_wild: TWFEResult) -> None:
    w = tw_wild.wild
    assert w is not None
    head = tw_wild.estimate()
    assert tw_wild.labels == ("y[twfe]",)
    assert head.ci_type == "wild_cluster_bootstrap"
    assert (head.p_value, head.ci_lower, head.ci_upper, head.ci_level) == (w.p_value, w.ci_lower, w.ci_upper,
                                                                           w.ci_level)
    # the standard error beside it is the cluster-robust one; the legacy t interval is still an attribute
    assert head.std_error == tw_wild.std_error and head.estimate == tw_wild.estimate
    assert (tw_wild.ci_lower, tw_wild.ci_upper) != (head.ci_lower, head.ci_upper)
    assert tw_wild.conf_int(0.95).loc["y[twfe]", "lower"] == w.ci_lower
    with pytest.raises(IntervalLevelError, match=r"'y\[twfe\]'.*wild cluster bootstrap"):
        tw_wild.conf_int(0.9)
    assert tw_wild.options["wild_bootstrap"] == 199 and tw_wild.options["seed"] == 3
    assert "Restricted wild cluster bootstrap" in tw_wild.summary()


# -- options, sample flow, sampling distribution ------------------------------------------------------------------
def test_twfe_options_sample_flow_and_sampling_distribution(tw: TWFEResult, panel: pd.DataFrame) -> None:
    o = tw.options
    assert (o["outcome"], o["unit"], o["time"], o["cohort"], o["cluster"], o["data_mode"]) == (
        "y", "unit", "time", "cohort", "cluster", "panel")
    assert o["event_study"] is True and o["level"] == 0.9 and o["wild_bootstrap"] is None
    assert o["wild_weights"] == "webb" and o["anticipation"] == 0
    flow = tw.sample_flow
    assert flow.rows_read == len(panel) and flow.current_unit == "units"
    assert flow.rows_used == tw.n_entities == panel["unit"].nunique()
    dist = tw.sampling_distribution()
    assert dist.labels == ("y[twfe]",) and dist.family == "t" and dist.df == tw.n_clusters - 1
    assert dist.mean[0] == tw.estimate and dist.cov[0, 0] == pytest.approx(tw.std_error ** 2, rel=1e-15)
    assert "TWFE coefficient" in dist.centre and f"{tw.n_clusters} clusters" in dist.scale
    rows = combine_estimates(tw)[1]  # pricing accepts it
    assert list(rows) == list(tw.labels)


# -- summary, print, repr, HTML, tidy, to_dict, plot ----------------------------------------------------------------
def test_twfe_summary_repr_html_and_tidy(tw: TWFEResult) -> None:
    text = tw.summary()
    assert str(tw) == text
    assert text.startswith("Two-way fixed effects (TWFE) regression")
    assert "y[twfe]" in text and "y[twfe,event=0]" in text and "Sample flow" in text
    assert tw.description in text and f"t({tw.n_clusters - 1}) critical values" in text
    r = repr(tw)
    assert r.startswith("<TWFEResult design=did outcome=y y[twfe]=") and "\n" not in r and len(r) < 200
    assert f"N={tw.n_entities:,} units" in r
    html = tw._repr_html_()
    assert "<table" in html and "y[twfe,event=0]" in html and "Two-way fixed effects" in html
    tidy = tw.tidy()
    assert list(tidy.columns) == list(TIDY_COLUMNS) and list(tidy["label"]) == list(tw.labels)
    assert tidy.loc[0, "estimate"] == tw.estimate and tidy.loc[0, "ci_lower"] == tw.ci_lower


def test_twfe_to_dict_is_the_contract_record_with_the_legacy_record_in_details(tw: TWFEResult) -> None:
    rec = _json(tw.to_dict())
    assert rec["schema"] == "cteimpact.results/1" and rec["design"] == "did"
    assert rec["estimator"] == TWFEResult.estimator
    assert [e["label"] for e in rec["estimates"]] == list(tw.labels)
    assert rec["options"]["event_study"] is True and rec["sample_flow"]["rows_read"] == tw.sample_flow.rows_read
    assert rec["sampling_distribution"]["df"] == tw.n_clusters - 1
    legacy = tw.record()
    assert list(legacy)[:8] == TWFE_RECORD_KEYS and list(legacy)[8:] == ["event_study"]
    assert type(legacy["estimate"]) is float and legacy["estimate"] == tw.estimate
    assert rec["details"] == _json(legacy)
    back = ResultsRecord.from_dict(rec)
    assert back.to_dict() == rec and back.labels == tw.labels
    assert back.sampling_distribution().df == tw.n_clusters - 1


def test_twfe_plot_draws_the_estimates(tw: TWFEResult) -> None:
    fig = tw.plot(title="TWFE")
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == len(tw.estimates) and labels[0].startswith("y[twfe] (conventional 90%")
        assert ax.get_title() == "TWFE"
    finally:
        plt.close(fig)


def test_twfe_pickles_and_is_immutable(tw: TWFEResult) -> None:
    back = pickle.loads(pickle.dumps(tw))
    assert dumps_json(back.to_dict()) == dumps_json(tw.to_dict())
    assert isinstance(back.estimate, Coefficient) and back.estimate() == tw.estimate()
    assert copy.deepcopy(tw).estimate("y[twfe,event=0]") == tw.estimate("y[twfe,event=0]")
    with pytest.raises(dataclasses.FrozenInstanceError):
        tw.std_error = 1.0  # type: ignore[misc]


def test_twfe_built_from_a_plain_number_gets_a_coefficient() -> None:
    t = TWFEResult(0.5, 0.1, 0.3, 0.7, 100, 10, 10, "unit and period fixed effects")  # type: ignore[arg-type]
    assert isinstance(t.estimate, Coefficient) and t.estimate == 0.5 and t.estimates == ()
    with pytest.raises(OptionError, match="carries no estimate rows"):
        t.estimate()
    row = EffectEstimate.from_normal("z[twfe]", "z", "TWFE coefficient", 0.5, 0.1)
    t2 = dataclasses.replace(t, estimates=(row,))
    assert t2.estimate() is row and t2.estimate == 0.5


# -- the DiD results file keeps the legacy TWFE record ---------------------------------------------------------------
def test_callaway_santanna_fit_records_the_legacy_twfe_record(panel: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(panel, outcome="y", unit="unit", time="time", cohort="cohort",
                               cluster="cluster").fit(twfe=True)
    t = res.twfe
    assert isinstance(t, TWFEResult)
    details = _json(res.to_dict())["details"]["twfe"]
    assert list(details) == TWFE_RECORD_KEYS and details == _json(t.record())
    assert f"TWFE comparison ({t.description}): {t.estimate:.4f} (SE {t.std_error:.4f})" in res.summary()
    assert t.sample_flow is res.sample_flow and t.estimate().label == "y[twfe]"


# -- Goodman-Bacon: summary is the table and the text -----------------------------------------------------------------
def test_bacon_summary_is_the_table_and_the_text(bd: BaconDecomposition) -> None:
    assert isinstance(bd, ImpactResults) and isinstance(bd, ComparisonResults)
    table = bd.summary
    assert isinstance(table, SummaryTable) and isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["type", "weight", "avg_estimate", "n_comparisons"]
    assert abs(table["weight"].sum() - 1) <= 1e-14
    by_type = table.set_index("type")
    assert type(by_type) is pd.DataFrame and by_type.loc["Treated vs Untreated", "n_comparisons"] >= 1
    text = bd.summary()
    assert isinstance(text, str) and str(bd) == text
    assert text.startswith("Goodman-Bacon (2021) decomposition")
    for typ, w in zip(table["type"], table["weight"], strict=True):
        assert typ in text and f"{w:,.4f}" in text
    assert "no standard error" in text and "Sample flow" in text and "y[twfe]" in text
    assert f"{len(bd.two_by_twos)} 2x2 estimates" in text


def test_pandas_operations_on_the_summary_table_return_plain_frames(bd: BaconDecomposition) -> None:
    t = bd.summary
    for out in (t.copy(), t[["type", "weight"]], t.sort_values("weight"), t.assign(w2=t["weight"] * 2),
                t.reset_index(drop=True), t.head(2), t.iloc[:1], t.loc[t["weight"] > 0], pd.concat([t, t])):
        assert type(out) is pd.DataFrame
        assert not hasattr(out, "_summary_text")
    assert type(t["weight"]) is pd.Series
    pd.testing.assert_frame_equal(t, pd.DataFrame(bd.record()["summary"]), check_frame_type=False)
    with pytest.raises(TypeError):
        t.copy()()  # a plain DataFrame is not callable


def test_bacon_rows_options_flow_and_no_sampling_distribution(bd: BaconDecomposition, panel: pd.DataFrame) -> None:
    assert bd.labels == ("y[twfe]",)
    row = bd.estimate("y[twfe]")
    assert row.estimate == bd.twfe and row.outcome == "y"
    for v in (row.std_error, row.statistic, row.p_value, row.ci_lower, row.ci_upper):
        assert math.isnan(v)
    assert bd.params["y[twfe]"] == bd.twfe and math.isnan(bd.std_errors["y[twfe]"])
    assert bd.conf_int(0.9).isna().all().all()
    assert (bd.options["outcome"], bd.options["unit"], bd.options["time"], bd.options["cohort"]) == (
        "y", "unit", "time", "cohort")
    assert bd.options["data_mode"] == "panel"
    assert bd.sample_flow.rows_read == len(panel) and bd.sample_flow.current_unit == "units"
    with pytest.raises(NoSamplingDistributionError,
                       match=r"Goodman-Bacon decomposition has no sampling distribution: its estimate 'y\[twfe\]' "
                             rf"\(the TWFE coefficient it decomposes into {len(bd.two_by_twos)} 2x2 comparisons\) "
                             "has no standard error"):
        bd.sampling_distribution()
    with pytest.raises(NoSamplingDistributionError, match="no standard error"):
        combine_estimates(bd)  # pricing refuses it with the typed error


def test_bacon_to_dict_round_trips_without_a_sampling_distribution(bd: BaconDecomposition) -> None:
    rec = _json(bd.to_dict())
    assert rec["sampling_distribution"] is None and rec["estimator"] == BaconDecomposition.estimator
    assert rec["estimates"][0]["label"] == "y[twfe]" and rec["estimates"][0]["std_error"] is None
    legacy = bd.record()
    assert list(legacy) == BACON_RECORD_KEYS and rec["details"] == _json(legacy)
    assert legacy["summary"] == bd.summary.to_dict(orient="records")
    back = ResultsRecord.from_dict(rec)
    assert back.to_dict() == rec and back.distribution is None
    with pytest.raises(NoSamplingDistributionError, match=r"has no sampling distribution \(its estimates y\[twfe\]"):
        back.sampling_distribution()
    assert back.conf_int(0.95).isna().all().all()


def test_bacon_repr_html_tidy_and_plot(bd: BaconDecomposition) -> None:
    r = repr(bd)
    assert r.startswith("<BaconDecomposition design=did outcome=y y[twfe]=") and "\n" not in r and len(r) < 200
    assert "(no SE)" in r and "nan" not in r  # the identity has no standard error: said, not printed as nan
    assert "y[twfe]" in bd._repr_html_()
    tidy = bd.tidy()
    assert list(tidy.columns) == list(TIDY_COLUMNS) and len(tidy) == 1 and tidy.loc[0, "estimate"] == bd.twfe
    fig = bd.plot()
    try:
        legend = fig.axes[0].get_legend()
        assert legend is not None
        assert any(f"TWFE = {bd.twfe:.4f}" == t.get_text() for t in legend.get_texts())
    finally:
        plt.close(fig)


def test_bacon_pickles_copies_and_is_immutable(bd: BaconDecomposition) -> None:
    for back in (pickle.loads(pickle.dumps(bd)), copy.deepcopy(bd), copy.copy(bd)):
        assert isinstance(back.summary, SummaryTable) and back.summary() == bd.summary()
        assert dumps_json(back.to_dict()) == dumps_json(bd.to_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        bd.summary = pd.DataFrame()  # type: ignore[misc]
    # replacing a table (as the small-cell rule does) rebuilds the text from the new result
    hidden = bd.two_by_twos.assign(estimate=np.nan)
    shown = dataclasses.replace(bd, two_by_twos=hidden)
    assert isinstance(shown.summary, SummaryTable) and shown.summary() == bd.summary()
    assert shown.two_by_twos["estimate"].isna().all() and shown.estimates == bd.estimates
    plain = BaconDecomposition(bd.two_by_twos, pd.DataFrame(bd.record()["summary"]), bd.twfe,
                               bd.weighted_sum)
    assert isinstance(plain.summary, SummaryTable) and "Treated vs Untreated" in plain.summary()


# -- contract and legacy side by side, and compare() ------------------------------------------------------------------
def test_contract_and_legacy_uses_side_by_side(panel: pd.DataFrame, tw: TWFEResult, bd: BaconDecomposition) -> None:
    # legacy: numbers and tables
    assert abs(tw.estimate - bd.twfe) <= 1e-12
    assert bd.summary.set_index("type")["weight"].sum() == pytest.approx(1.0, abs=1e-14)
    # contract: the same numbers as rows
    assert abs(tw.estimate().estimate - bd.estimate("y[twfe]").estimate) <= 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sa = sun_abraham(panel, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster")
    table = compare([tw, bd, sa], names=["TWFE", "Bacon", "Sun-Abraham"])
    assert list(table.frame.columns) == ["TWFE", "Bacon", "Sun-Abraham"]
    assert list(table.frame.index[:4]) == ["y[twfe]", "y[twfe] (SE)", "y[sun_abraham]", "y[sun_abraham] (SE)"]
    assert table.frame.loc["y[twfe]", "TWFE"] == table.frame.loc["y[twfe]", "Bacon"] == f"{tw.estimate:,.4f}"
    assert table.frame.loc["y[twfe] (SE)", "Bacon"] == "(NA)" and table.frame.loc["y[twfe]", "Sun-Abraham"] == ""
    assert "option: cluster" in table.frame.index  # the decomposition is not clustered
    nums = table.numbers.set_index(["model", "label"])
    assert nums.loc[("TWFE", "y[twfe]"), "ci_lower"] == tw.ci_lower
    assert math.isnan(nums.loc[("Bacon", "y[twfe]"), "std_error"])
    every = compare([tw, bd], labels="all")
    assert tw.event_study is not None
    assert f"y[twfe,event={tw.event_study['event_time'].iloc[0]:g}]" in every.frame.index
