"""Estimate once, aggregate many ways: ``res.aggregate(...)`` against fresh fits, without re-estimation."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cteimpact.did.estimator as estimator_module
import cteimpact.did.grouptime as grouptime_module
from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.did.results import DiDAggregate, DiDResults
from cteimpact.errors import OptionError


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df, _ = simulate_staggered(seed=11, n_clusters=30, n_never_clusters=6, units_per_cluster=5)
    return df


def _model(df: pd.DataFrame, **kw: Any) -> CallawaySantAnna:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort", **kw)


def _fit(model: CallawaySantAnna, **kw: Any) -> DiDResults:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


def _forbid_estimation(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise AssertionError("a group-time effect was estimated again")

    monkeypatch.setattr(estimator_module, "estimate_cells", boom)
    monkeypatch.setattr(grouptime_module, "estimate_cells", boom)
    monkeypatch.setattr(grouptime_module, "_panel_cell", boom)
    monkeypatch.setattr(grouptime_module, "_rcs_cell", boom)


def _same_family(a: DiDResults, b: DiDResults, family: str, tol: float = 1e-12) -> int:
    """Compare every row of ``family`` in both results (estimate, SE, interval, p-value); returns the count."""
    ta, tb = a.aggregation(family), b.aggregation(family)
    assert list(ta["label"]) == list(tb["label"])
    for col in ("att", "se", "ci_lower", "ci_upper", "p_value"):
        x, y = ta[col].to_numpy(dtype=float), tb[col].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), col
        ok = ~np.isnan(x)
        assert np.all(np.abs(x[ok] - y[ok]) <= tol * np.maximum(1.0, np.abs(y[ok]))), (col, x, y)
    assert list(ta["ci_type"]) == list(tb["ci_type"])
    return len(ta)


@pytest.mark.parametrize("max_e", [0, 2, 5])
def test_dynamic_aggregation_with_new_max_e_equals_fresh_fit_without_reestimation(
        panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, max_e: int) -> None:
    model = _model(panel, cluster="cluster")
    res = _fit(model)
    fresh = _fit(_model(panel, cluster="cluster"), max_e=max_e)
    _forbid_estimation(monkeypatch)
    with pytest.raises(AssertionError, match="estimated again"):  # the patch is live
        model.fit()
    agg = res.aggregate("dynamic", max_e=max_e)
    assert isinstance(agg, DiDAggregate) and agg.family == "dynamic"
    n = _same_family(agg, fresh, "dynamic")
    events = agg.aggregation("dynamic")["element"].dropna()
    assert n >= 3 and events.max() == max_e
    assert agg.options["max_e"] == max_e
    assert agg.overall.label == "y[event=overall]"
    assert abs(agg.overall.estimate - fresh.estimate("y[event=overall]").estimate) <= 1e-12


@pytest.mark.parametrize("family", ["simple", "group", "calendar", "dynamic"])
def test_every_family_equals_the_fit(panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, family: str) -> None:
    res = _fit(_model(panel, cluster="cluster"), min_e=-3, balance_e=1)
    _forbid_estimation(monkeypatch)
    kw: dict[str, Any] = {"min_e": -3, "balance_e": 1} if family == "dynamic" else {}
    agg = res.aggregate(family, **kw)  # type: ignore[arg-type]
    if family == "simple":
        a, b = agg.estimate("y"), res.estimate("y")
        assert a.estimate == b.estimate and abs(a.std_error - b.std_error) <= 1e-12
        assert list(agg.table()["label"]) == ["y"]
    else:
        assert _same_family(agg, res, family) >= 2
    assert agg.options["aggregations"] == [family]
    # every ATT(g,t) travels with the aggregate, unchanged
    pd.testing.assert_frame_equal(agg.group_time, res.group_time)


def test_bootstrap_aggregation_equals_fresh_fit(panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(panel, cluster="cluster")
    res = _fit(model, bootstrap=199, seed=5)
    fresh = _fit(_model(panel, cluster="cluster"), bootstrap=199, seed=5, min_e=-2, max_e=3)
    _forbid_estimation(monkeypatch)
    agg = res.aggregate("dynamic", min_e=-2, max_e=3)
    assert agg.bootstrap is not None and agg.bootstrap["n_draws"] == 199
    assert set(agg.aggregation("dynamic")["ci_type"]) == {"simultaneous", "pointwise"}
    _same_family(agg, fresh, "dynamic")
    # the ATT(g,t) rows and table are the fit's, exactly
    pd.testing.assert_frame_equal(agg.group_time, res.group_time, check_exact=True)
    cells = [lab for lab in res.labels if "[g=" in lab]
    assert [agg.estimate(lab) for lab in cells] == [res.estimate(lab) for lab in cells]
    assert agg.bootstrap["critical_values"]["dynamic"] == pytest.approx(
        fresh.bootstrap["critical_values"]["dynamic"], abs=1e-12)  # type: ignore[index]


def test_inference_options_can_change_and_unknown_ones_are_named(panel: pd.DataFrame) -> None:
    res = _fit(_model(panel, cluster="cluster"))
    wider = res.aggregate("group", level=0.99)
    base = res.aggregation("group").set_index("label")
    new = wider.aggregation("group").set_index("label")
    assert (new["ci_upper"] - new["ci_lower"] > base["ci_upper"] - base["ci_lower"]).all()
    assert np.allclose(new["se"], base["se"], rtol=1e-12, atol=0)
    with pytest.raises(OptionError, match=r"unknown option 'boostrap' for res.aggregate\(\); did you mean 'bootstrap'"):
        res.aggregate("group", boostrap=99)
    with pytest.raises(OptionError, match="aggregations must be among simple, group, dynamic, calendar, got 'event'"):
        res.aggregate("event")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="min_e <= max_e"):
        res.aggregate("dynamic", min_e=3, max_e=1)
    with pytest.raises(OptionError, match="no event time falls within min_e=40"):
        res.aggregate("dynamic", min_e=40)


def test_honest_power_and_wild_bootstrap_hang_off_an_aggregate(
        panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(panel, cluster="cluster", base_period="universal")
    res = _fit(model)
    fresh = _fit(_model(panel, cluster="cluster", base_period="universal"), max_e=3, wild_bootstrap=199, seed=2,
                 aggregations=("dynamic",))
    _forbid_estimation(monkeypatch)
    agg = res.aggregate("dynamic", max_e=3)
    honest = agg.honest_did(values=[0.5, 1.0]).to_dict()
    honest_fresh = fresh.honest_did(values=[0.5, 1.0]).to_dict()
    assert np.allclose(honest["original"], honest_fresh["original"], rtol=1e-10)  # type: ignore[arg-type]
    table, table_fresh = pd.DataFrame(honest["table"]), pd.DataFrame(honest_fresh["table"])
    pd.testing.assert_frame_equal(table, table_fresh, rtol=1e-8)
    assert len(table) == 2
    power, power_fresh = agg.pretrend_power(), fresh.pretrend_power()
    assert power.slope_wald > 0
    assert power.slope_wald == pytest.approx(power_fresh.slope_wald, rel=1e-9)
    wild = agg.wild_bootstrap(199, seed=2)
    assert set(wild.wild) == {lab for lab in wild.labels if "[g=" not in lab}
    for lab, w in wild.wild.items():
        assert w.p_value == fresh.wild[lab].p_value
        assert np.allclose([w.ci_lower, w.ci_upper], [fresh.wild[lab].ci_lower, fresh.wild[lab].ci_upper],
                           rtol=1e-12, atol=0, equal_nan=True)
    assert not agg.wild  # the wild bootstrap runs only when asked for
    group = res.aggregate("group")
    with pytest.raises(OptionError, match="use the event study; this is the 'group' aggregation"):
        group.honest_did()


def test_aggregate_of_published_results_keeps_the_small_cell_rule(panel: pd.DataFrame) -> None:
    res = _fit(_model(panel, cluster="cluster"))
    published = res.with_min_cell(50)
    agg = published.aggregate("calendar")
    assert agg.privacy is not None and agg.privacy["min_cell"] == 50
    direct = res.aggregate("calendar").with_min_cell(50)
    assert [e.suppressed for e in agg.estimates] == [e.suppressed for e in direct.estimates]
    assert any(e.suppressed for e in agg.estimates)


def test_results_without_group_time_effects_cannot_aggregate(panel: pd.DataFrame) -> None:
    from dataclasses import replace

    res = replace(_fit(_model(panel)), fit_state=None)
    with pytest.raises(OptionError, match="do not carry their group-time effects"):
        res.aggregate("dynamic")
    assert math.isfinite(res.estimate("y").estimate)
