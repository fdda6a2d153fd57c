"""One propensity-score logit per 2×2 sample shared by the group-time cells that use it (balanced panels with
covariates), checked against a logit fitted in every cell.

R ``did`` fits the propensity score of each ATT(g,t) on its own 2×2 sample. With time-invariant covariates (and
weights) the samples of a cohort against the never-treated units are the same units with the same values in every
period, so :class:`cteimpact.did.grouptime._Samples` fits it once per cohort; with not-yet-treated comparisons only
cells with the same comparison cohorts share it, and with time-varying covariates only cells with the same earlier
period. The shared fit must give every number of the per-cell fit (here: exactly, and to 1e-12 at most).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna, grouptime, twobytwo
from cteimpact.did.twobytwo import did_panel


def _fit_cells(df: pd.DataFrame, **kw: Any) -> Any:
    model = CallawaySantAnna(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", **kw)
    return model.estimate_group_time()


def _per_cell(monkeypatch: pytest.MonkeyPatch, df: pd.DataFrame, **kw: Any) -> Any:
    """The fit with the propensity score estimated inside every cell (the per-cell route of ``did_panel``)."""
    with monkeypatch.context() as m:
        m.setattr(grouptime._Samples, "propensity", lambda self, segs, wt: None)
        m.setattr(grouptime._Samples, "shared", lambda self, segs, wt: None)
        return _fit_cells(df, **kw)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the propensity-score fits (every route goes through ``twobytwo._ps_parts``)."""
    calls: list[int] = []
    original = twobytwo._ps_parts

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(twobytwo, "_ps_parts", counted)
    return calls


def _assert_same(shared: Any, per_cell: Any) -> None:
    a, b = shared.estimates, per_cell.estimates
    assert np.isnan(a.att).sum() == 0
    np.testing.assert_allclose(a.att, b.att, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.att, b.att)
    ia, ib = a.influence.dense(), b.influence.dense()
    assert np.max(np.abs(ia - ib)) <= 1e-12
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(shared.moments, per_cell.moments)


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_never_treated_time_invariant_covariate_one_logit_per_cohort(mpdta: pd.DataFrame, method: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    per_cell = _per_cell(monkeypatch, mpdta, covariates=["lpop"], method=method)
    assert len(calls) == 12  # the per-cell route fits every cell's logit
    calls.clear()
    shared = _fit_cells(mpdta, covariates=["lpop"], method=method)
    n_cohorts = int(shared.data.groups.size)
    assert n_cohorts == 3 and len(shared.cells) == 12
    assert len(calls) == n_cohorts  # one logit per cohort instead of one per cell
    _assert_same(shared, per_cell)


def test_not_yet_treated_shares_only_equal_comparison_sets(mpdta: pd.DataFrame,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    per_cell = _per_cell(monkeypatch, mpdta, covariates=["lpop"], control="notyet")
    calls = _counting(monkeypatch)
    shared = _fit_cells(mpdta, covariates=["lpop"], control="notyet")
    comparison_sets = {(c.group, c.controls) for c in shared.cells}
    assert len(calls) == len(comparison_sets)
    assert len(comparison_sets) < len(shared.cells)
    _assert_same(shared, per_cell)


def test_time_varying_covariate_shares_only_the_same_earlier_period(mpdta: pd.DataFrame,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    df = mpdta.copy()
    rng = np.random.default_rng(3)
    df["lpop_t"] = df["lpop"] + 0.1 * rng.normal(size=len(df))
    per_cell = _per_cell(monkeypatch, df, covariates=["lpop_t"])
    calls = _counting(monkeypatch)
    shared = _fit_cells(df, covariates=["lpop_t"])
    samples = {(c.group, min(c.t_idx, c.b_idx)) for c in shared.cells}
    assert len(calls) == len(samples)
    _assert_same(shared, per_cell)


def test_shared_cell_equals_direct_two_by_two(mpdta: pd.DataFrame) -> None:
    """A cell of the shared fit against ``did_panel`` called on the cell's own 2×2 data, built from the frame."""
    fit = _fit_cells(mpdta, covariates=["lpop"])
    k = next(i for i, c in enumerate(fit.cells) if c.group == 2006 and c.time == 2007)
    cell = fit.cells[k]
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    info = mpdta.groupby("countyreal")[["first.treat", "lpop"]].first()
    use = info["first.treat"].isin([2006, 0])
    dy = (wide[cell.time] - wide[cell.base])[use].to_numpy()
    d = (info["first.treat"][use] == 2006).to_numpy(dtype=float)
    x = np.column_stack([np.ones(d.size), info["lpop"][use].to_numpy()])
    att, _ = did_panel(dy, d, x, np.ones(d.size), "dr")
    assert abs(fit.estimates.att[k] - att) <= 1e-12


def test_panel_sample_shared_by_outcomes_equals_fresh_fit() -> None:
    """``did_panel`` with a :class:`PanelSample` used for several outcomes gives the numbers of fresh fits."""
    rng = np.random.default_rng(8)
    n = 400
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x[:, 1]))).astype(float)
    w = rng.uniform(0.5, 2.0, size=n)
    shared = twobytwo.PanelSample(x, d, w)
    for _ in range(3):
        dy = x @ rng.normal(size=3) + 0.3 * d + rng.normal(size=n)
        att_a, inf_a = did_panel(dy, d, x, w, "dr", sample=shared)
        att_b, inf_b = did_panel(dy, d, x, w, "dr")
        assert att_a == att_b
        np.testing.assert_array_equal(inf_a, inf_b)
