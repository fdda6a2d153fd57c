"""Every requested donut appears in the donut check, with the reason when it could not be estimated (issue 11,
item 8: the 1% donut of the demo was missing without a word)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.diagnostics import DiagnosticOptions

SHARES = (0.01, 0.025, 0.05)


def _donut(d, shares=SHARES):
    res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(
        diagnostics=DiagnosticOptions(checks=("donut",), donut_shares=shares))
    return res, res.diagnostics["y"].check("donut")


def test_donuts_with_a_mass_point_at_the_cutoff_are_listed_with_the_reason(simulate):
    d = simulate(4000, seed=4)
    d.loc[d.index[:120], "x"] = 0.0  # 3% of the students exactly at the cutoff
    res, check = _donut(d)
    rows = {r["share_excluded"]: r for r in check.rows}
    assert list(rows) == [0.0, *SHARES]
    for share in (0.01, 0.025):
        r = rows[share]
        assert r["estimated"] is False and r["radius"] == 0.0 and math.isnan(r["estimate"])
        assert r["n_effective"] is None
        assert "3.00% of the observations have a score exactly at the cutoff" in r["note"]
        assert f"the {share * 100:g}% donut's radius is 0 and it would remove nothing" in r["note"]
    r5 = rows[0.05]
    assert r5["estimated"] is True and math.isfinite(r5["estimate"]) and r5["radius"] > 0
    # the 5% donut removes the students at the cutoff and those nearest it, which the row states
    x = d["x"].to_numpy()
    assert r5["share_excluded_actual"] == pytest.approx(np.mean(np.abs(x) < r5["radius"]), rel=1e-12)
    assert r5["share_excluded_actual"] >= 0.03
    assert check.details["requested_shares"] == list(SHARES)
    assert [item["share_excluded"] for item in check.details["not_estimated"]] == [0.01, 0.025]
    assert "the 1% donut is not estimated" in check.evidence and "the 2.5% donut is not estimated" in check.evidence
    assert check.verdict in ("pass", "flag")
    # published: the rows stay (the reason is no number of students) and reach the table and results.json
    shown = res.with_min_cell(10).diagnostics["y"].check("donut")
    table = shown.table
    assert table["share_excluded"].tolist() == [0.0, *SHARES]
    assert table.loc[table["share_excluded"] == 0.01, "note"].item().startswith("3.00% of the observations")
    record = res.with_min_cell(10).to_dict()["details"]["diagnostics"]["y"]["checks"]["donut"]
    assert [r["share_excluded"] for r in record["table"]] == [0.0, *SHARES]
    assert record["table"][1]["estimate"] is None and record["table"][1]["estimated"] is False


def test_every_donut_estimated_without_a_mass_point(simulate):
    d = simulate(4000, seed=4)
    _, check = _donut(d)
    rows = check.rows
    assert [r["share_excluded"] for r in rows] == [0.0, *SHARES]
    assert all(r["estimated"] for r in rows) and check.details["not_estimated"] == []
    for r in rows[1:]:
        assert r["share_excluded_actual"] == pytest.approx(r["share_excluded"], abs=0.002)
    assert "not estimated" not in check.evidence


def test_no_donut_estimable_is_not_run_but_lists_every_row(simulate):
    d = simulate(4000, seed=4)
    d.loc[d.index[:400], "x"] = 0.0  # 10% at the cutoff: every donut share falls on it
    _, check = _donut(d)
    assert check.verdict == "not_run" and check.evidence.startswith("no donut could be estimated: the 1% donut")
    assert [r["share_excluded"] for r in check.rows] == [0.0, *SHARES]
    assert [r["estimated"] for r in check.rows] == [True, False, False, False]
