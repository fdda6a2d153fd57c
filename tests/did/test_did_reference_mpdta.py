"""Callaway–Sant'Anna on ``did::mpdta`` against R ``did`` 2.5.x, element by element.

Reference: ``../shared/reference-data/mpdta_r_did_{attgt,aggte,pretest}.csv`` (R ``did`` 2.5.x, analytic standard
errors: ``att_gt(..., bstrap = FALSE, cband = FALSE)`` and ``aggte(type = ..., bstrap = FALSE)``), four
scenarios: never-treated DR (R's defaults), not-yet-treated DR, never-treated IPW, never-treated outcome regression
with covariate ``lpop``.

Tolerance: 1e-8 absolute on every ATT(g,t), standard error, aggregation element and overall parameter; the Wald
statistic to 1e-8 relative. R rounds the pre-test p-value to 5 decimals (``round(1 - pchisq(W, q), 5)`` in
``att_gt``), so the p-value is compared after the same rounding (tolerance 5e-6 + 1e-12).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna

pytestmark = pytest.mark.reference

TOL = 1e-8

SCENARIOS: dict[str, dict[str, object]] = {
    "mpdta_nev_dr": {"control": "never", "method": "dr"},
    "mpdta_nyt_dr": {"control": "notyet", "method": "dr"},
    "mpdta_nev_ipw": {"control": "never", "method": "ipw"},
    "mpdta_nev_reg_cov": {"control": "never", "method": "reg", "covariates": ["lpop"]},
}

_CACHE: dict[str, object] = {}


def _fit(mpdta: pd.DataFrame, scenario: str):
    if scenario not in _CACHE:
        _CACHE[scenario] = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year",
                                            cohort="first.treat", **SCENARIOS[scenario]).fit()  # type: ignore[arg-type]
    return _CACHE[scenario]


# The parametrisation must know the rows before the fixture exists; read them from the shared folder when present.
def _ref_dir() -> Path | None:
    import os

    env = os.environ.get("CTEIMPACT_REFERENCE_DATA")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[3] / "shared" / "reference-data")
    for c in cands:
        if c.is_dir():
            return c
    return None


def _load(name: str) -> pd.DataFrame | None:
    d = _ref_dir()
    if d is None or not (d / name).is_file():
        return None
    return pd.read_csv(d / name)


_ATTGT = _load("mpdta_r_did_attgt.csv")
_AGGTE = _load("mpdta_r_did_aggte.csv")
_PRE = _load("mpdta_r_did_pretest.csv")

ATTGT_CASES = ([] if _ATTGT is None else
               [pytest.param(r.scenario, float(r.group), float(r.t), stat, float(getattr(r, stat)),
                             id=f"{r.scenario}-g{r.group}-t{r.t}-{stat}")
                for r in _ATTGT.itertuples() for stat in ("att", "se")])


def _agg_cases() -> list[object]:
    if _AGGTE is None:
        return []
    out: list[object] = []
    seen: set[tuple[str, str]] = set()
    for r in _AGGTE.itertuples():
        if not (isinstance(r.egt, float) and math.isnan(r.egt)):
            for stat, col in (("att", "att_egt"), ("se", "se_egt")):
                out.append(pytest.param(r.scenario, r.type, float(r.egt), stat, float(getattr(r, col)),
                                        id=f"{r.scenario}-{r.type}-{r.egt:g}-{stat}"))
        if (r.scenario, r.type) not in seen:
            seen.add((r.scenario, r.type))
            for stat, col in (("att", "overall_att"), ("se", "overall_se")):
                out.append(pytest.param(r.scenario, r.type, None, stat, float(getattr(r, col)),
                                        id=f"{r.scenario}-{r.type}-overall-{stat}"))
    return out


AGG_CASES = _agg_cases()
PRE_CASES = [] if _PRE is None else [pytest.param(r.scenario, float(r.W), float(r.Wpval), id=r.scenario)
                                     for r in _PRE.itertuples()]


@pytest.mark.parametrize(("scenario", "group", "time", "stat", "expected"), ATTGT_CASES)
def test_att_gt_matches_r_did(mpdta: pd.DataFrame, scenario: str, group: float, time: float, stat: str,
                              expected: float) -> None:
    res = _fit(mpdta, scenario)
    gt = res.group_time  # type: ignore[attr-defined]
    row = gt[(gt["group"] == group) & (gt["time"] == time)]
    assert len(row) == 1
    got = float(row[stat].iloc[0])
    assert abs(got - expected) <= TOL, f"{scenario} ATT({group:g},{time:g}) {stat}: {got!r} vs R {expected!r}"


@pytest.mark.parametrize(("scenario", "family", "element", "stat", "expected"), AGG_CASES)
def test_aggregations_match_r_did(mpdta: pd.DataFrame, scenario: str, family: str, element: float | None,
                                  stat: str, expected: float) -> None:
    res = _fit(mpdta, scenario)
    tab = res.aggregation(family) if family != "simple" else None  # type: ignore[attr-defined]
    if family == "simple":
        e = res.estimate("lemp")  # type: ignore[attr-defined]
        got = e.estimate if stat == "att" else e.std_error
    else:
        assert tab is not None
        row = tab[tab["element"].isna()] if element is None else tab[tab["element"] == element]
        assert len(row) == 1, f"{family} element {element} missing: {tab['element'].tolist()}"
        got = float(row["att" if stat == "att" else "se"].iloc[0])
    assert abs(got - expected) <= TOL, f"{scenario} {family} {element} {stat}: {got!r} vs R {expected!r}"


@pytest.mark.parametrize(("scenario", "w_ref", "p_ref"), PRE_CASES)
def test_pretest_matches_r_did(mpdta: pd.DataFrame, scenario: str, w_ref: float, p_ref: float) -> None:
    res = _fit(mpdta, scenario)
    pre = res.pretest  # type: ignore[attr-defined]
    assert pre is not None
    assert abs(pre.statistic - w_ref) <= TOL * max(1.0, abs(w_ref))
    assert abs(round(pre.p_value, 5) - p_ref) <= 5e-6 + 1e-12, f"p {pre.p_value!r} vs R (5 dp) {p_ref!r}"


def test_reference_files_present_and_complete(reference_file: Callable[[str], Path]) -> None:
    """Guard against a silently empty parametrisation: the files hold 48 cells, 60 aggregation rows, 4 tests."""
    assert len(pd.read_csv(reference_file("mpdta_r_did_attgt.csv"))) == 48
    assert len(pd.read_csv(reference_file("mpdta_r_did_aggte.csv"))) == 60
    assert len(pd.read_csv(reference_file("mpdta_r_did_pretest.csv"))) == 4
    assert len(ATTGT_CASES) == 96
    assert len(AGG_CASES) == 2 * (60 - 4) + 2 * 16


def test_callers_frame_not_modified(mpdta: pd.DataFrame) -> None:
    before = mpdta.copy(deep=True)
    cols = list(mpdta.columns)
    CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                     covariates=["lpop"], where=["year >= 2003"]).fit(bootstrap=99, seed=1, twfe=True)
    assert list(mpdta.columns) == cols
    pd.testing.assert_frame_equal(mpdta, before, check_exact=True)


def test_influence_function_storage_is_compact_and_exact(mpdta: pd.DataFrame) -> None:
    """Blocks hold exactly the units each cell compares; dense reconstruction reproduces the R standard errors."""
    res = _fit(mpdta, "mpdta_nev_dr")
    infl = res.influence  # type: ignore[attr-defined]
    dense = infl.dense()
    nnz_expected = sum(int(r.n_treated + r.n_comparison) for r in res.group_time.itertuples())  # type: ignore[attr-defined]
    assert infl.nbytes == 8 * nnz_expected
    assert np.count_nonzero(dense) <= nnz_expected
    se = np.sqrt((dense ** 2).sum(axis=0)) / infl.n
    ref = _ATTGT[_ATTGT["scenario"] == "mpdta_nev_dr"] if _ATTGT is not None else None
    if ref is not None:
        np.testing.assert_allclose(se, ref["se"].to_numpy(), rtol=0, atol=TOL)
