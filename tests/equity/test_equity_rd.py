"""Equity analysis of the RD design: subgroup effects are the RD estimator's own (equal to a fit on the subset),
differences and the omnibus test by hand, suppression of small groups, bad input, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cteimpact.equity import EquityResults, UnknownGroupError, rd_equity
from cteimpact.errors import MissingColumnError
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.results.estimate import TIDY_COLUMNS

DESIGN = {"outcomes": ["dropout"], "running": "rubric_score", "cutoff_column": "cutoff", "cluster": "consortium_id"}


@pytest.fixture(scope="module")
def rd_frame(rd_students: pd.DataFrame) -> pd.DataFrame:
    df = rd_students.copy()
    rng = np.random.default_rng(3)
    # a grade-at-entry column (the synthetic data gain one in parallel): any categorical column works
    df["grade_at_entry"] = rng.choice([9, 10, 11, 12], size=len(df), p=[0.7, 0.1, 0.1, 0.1]).astype("int8")
    # a column with a group of five students, one mid-sized group and the rest
    tiny = np.full(len(df), "rest", dtype=object)
    tiny[rng.choice(len(df), 5, replace=False)] = "five"
    idx = np.flatnonzero(tiny == "rest")
    tiny[rng.choice(idx, 400, replace=False)] = "mid"
    df["tiny"] = tiny
    return df


@pytest.fixture(scope="module")
def rd_result(rd_frame: pd.DataFrame) -> EquityResults:
    return rd_equity(rd_frame, **DESIGN, subgroups=["female", "race_ethnicity", "grade_at_entry", "tiny"],
                     reference={"race_ethnicity": "White", "tiny": "rest"}, min_cell=10)


def test_subgroup_effect_equals_rd_on_the_subset(rd_frame: pd.DataFrame, rd_result: EquityResults) -> None:
    for col, value, level in (("female", 1, "1"), ("race_ethnicity", "White", "White")):
        sub = rd_frame[rd_frame[col] == value]
        alone = RegressionDiscontinuity(sub, "dropout", "rubric_score", cutoff_column="cutoff",
                                        cluster="consortium_id").fit(by_cutoff=False).estimate("dropout")
        row = rd_result.estimate(f"dropout[{col}={level}]")
        for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_effective"):
            assert getattr(row, name) == pytest.approx(getattr(alone, name), rel=1e-10, abs=1e-12), name
        assert row.ci_type == "robust_bias_corrected"


def test_differences_and_omnibus_by_hand(rd_frame: pd.DataFrame, rd_result: EquityResults) -> None:
    # the RD estimator's own comparison of female=1 with female=0 (its reference is the first level)
    rd = RegressionDiscontinuity(rd_frame, **DESIGN, subgroups=["female", "grade_at_entry"]).fit(by_cutoff=False)
    own = next(c for c in rd.subgroup_comparisons if c.column == "female")
    diff = rd_result.estimate("dropout[female=1 vs female=0]")
    assert diff.estimate == pytest.approx(own.difference, abs=1e-12)
    assert diff.std_error == pytest.approx(own.se, rel=1e-10)
    assert diff.p_value == pytest.approx(own.p_value, rel=1e-8)
    # omnibus test of grade_at_entry's four levels from the RD fit's estimates and cluster-score covariances
    labels = [f"dropout[grade_at_entry={g}]" for g in (9, 10, 11, 12)]
    theta = np.array([rd.centres[lab] for lab in labels])
    v = np.diag([rd.estimate(lab).std_error ** 2 for lab in labels])
    for a, b, c in rd.subgroup_covariances:
        if a in labels and b in labels:
            v[labels.index(a), labels.index(b)] = v[labels.index(b), labels.index(a)] = c
    c = np.array([[-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]], dtype=float)
    d = c @ theta
    w = float(d @ np.linalg.inv(c @ v @ c.T) @ d)
    test = next(t for t in rd_result.tests if t.label == "dropout[grade_at_entry: all levels equal]")
    assert test.kind == "omnibus" and test.df == 3
    assert test.statistic == pytest.approx(w, rel=1e-9)
    assert test.p_value == pytest.approx(stats.chi2.sf(w, 3), rel=1e-9)
    # a level against a reference that is not the first: se^2 = var_a + var_ref - 2 cov
    a, r = "dropout[grade_at_entry=10]", "dropout[grade_at_entry=9]"
    dd = rd_result.estimate("dropout[grade_at_entry=10 vs grade_at_entry=9]")
    assert dd.std_error == pytest.approx(math.sqrt(v[1, 1] + v[0, 0] - 2 * v[0, 1]), rel=1e-10)
    assert dd.estimate == pytest.approx(rd.estimate(a).estimate - rd.estimate(r).estimate, abs=1e-12)
    # binary columns get no omnibus test (it would be the difference test squared)
    assert not any(t.kind == "omnibus" and t.column == "female" for t in rd_result.tests)


def test_multiplicity_family_is_every_shown_test(rd_result: EquityResults) -> None:
    from statsmodels.stats.multitest import multipletests

    shown = [t for t in rd_result.tests if not t.suppressed]
    expected = multipletests([t.p_value for t in shown], method="holm")[1]
    np.testing.assert_allclose([t.p_adjusted for t in shown], expected, rtol=1e-12)
    record = rd_result.multiplicity_record()
    assert record["method"] == "holm" and record["families"]["effects"]["tests"] == len(shown)
    assert all(math.isnan(t.p_adjusted) for t in rd_result.tests if t.suppressed)


def test_small_group_suppressed_and_said_so(rd_result: EquityResults) -> None:
    five = rd_result.estimate("dropout[tiny=five]")
    assert five.suppressed and math.isnan(five.estimate) and math.isnan(five.std_error)
    assert (five.suppression or "").startswith("fewer than 10 students in tiny=five: too few for an estimate")
    assert "5 " not in (five.suppression or "")
    # complementary: with 'rest' shown and 'five' hidden, the next smallest level is hidden too
    mid = rd_result.estimate("dropout[tiny=mid]")
    assert mid.suppressed and "complementary" in (mid.suppression or "")
    assert not rd_result.estimate("dropout[tiny=rest]").suppressed
    for lev in ("five", "mid"):
        d = rd_result.estimate(f"dropout[tiny={lev} vs tiny=rest]")
        assert d.suppressed and "compares a suppressed subgroup estimate" in (d.suppression or "")
    omni = next(t for t in rd_result.tests if t.label == "dropout[tiny: all levels equal]")
    assert omni.suppressed and "fewer than two levels" in (omni.suppression or "")
    # nothing of the hidden levels anywhere in the published record
    text = json.dumps(rd_result.to_dict())
    eff = next(e for e in rd_result.to_dict()["details"]["effects"] if e["column"] == "tiny")
    assert eff["n_students"][eff["levels"].index("five")] is None
    assert "tiny=five" in text
    tidy = rd_result.tidy()
    assert list(tidy.columns) == list(TIDY_COLUMNS)
    assert tidy.set_index("label").loc["dropout[tiny=five]", "suppressed"]


def test_unknown_group_is_a_typed_error_with_counts(rd_frame: pd.DataFrame) -> None:
    with pytest.raises(UnknownGroupError) as info:
        rd_equity(rd_frame, **DESIGN, subgroups=["tiny"], reference={"tiny": "Martian"})
    msg = str(info.value)
    n_rest = int((rd_frame["tiny"] == "rest").sum())
    assert "group tiny=Martian is not in the data" in msg and "column 'tiny' has 3 level(s)" in msg
    assert f"rest ({n_rest:,} students)" in msg and "mid (400 students)" in msg
    assert "five (fewer than 10 students)" in msg
    assert info.value.column == "tiny" and info.value.group == "Martian"


def test_column_not_in_data(rd_frame: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="column 'grade_at_entri' \\(role 'equity subgroup'\\) is not in the "
                                                 "data; did you mean 'grade_at_entry'"):
        rd_equity(rd_frame, **DESIGN, subgroups=["grade_at_entri"])


def test_results_contract(rd_result: EquityResults) -> None:
    from matplotlib.figure import Figure

    d = rd_result.to_dict()
    assert d["design"] == "equity" and d["options"]["design"] == "rd"
    assert d["options"]["references"]["race_ethnicity"] == {"level": "White", "rule": "given"}
    assert d["options"]["references"]["female"] == {"level": "0", "rule": "0 of a binary column"}
    assert d["options"]["multiplicity"] == "holm" and d["options"]["min_cell"] == 10
    row = next(e for e in d["estimates"] if e["label"] == "dropout[female=1]")
    assert row["estimate"] == rd_result.estimate("dropout[female=1]").estimate  # full precision
    json.dumps(d, allow_nan=False)
    dist = rd_result.sampling_distribution()
    assert "dropout[tiny=five]" not in dist.labels and "dropout[female=1 vs female=0]" in dist.labels
    i, j, k = (dist.index(x) for x in ("dropout[female=1]", "dropout[female=0]", "dropout[female=1 vs female=0]"))
    assert dist.cov[k, k] == pytest.approx(dist.cov[i, i] + dist.cov[j, j] - 2 * dist.cov[i, j], rel=1e-12)
    assert math.sqrt(dist.cov[k, k]) == pytest.approx(rd_result.estimate("dropout[female=1 vs female=0]").std_error)
    fig = rd_result.plot()
    assert isinstance(fig, Figure)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "  White (reference)" in ticks and any(t.startswith("  five") and "‡" in t for t in ticks)
    text = rd_result.summary()
    assert "Holm (1979)" in text and "dropout[tiny=five]" in text and "‡" in text
    with pytest.raises(Exception):  # noqa: B017, PT011 - frozen dataclass
        rd_result.min_cell = 5  # type: ignore[misc]


def test_deterministic_and_input_untouched(rd_frame: pd.DataFrame) -> None:
    before = rd_frame.copy()
    a = rd_equity(rd_frame, **DESIGN, subgroups=["low_income"], multiplicity="bh")
    b = rd_equity(rd_frame, **DESIGN, subgroups=["low_income"], multiplicity="bh")
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    pd.testing.assert_frame_equal(rd_frame, before)
    assert a.multiplicity_record()["method"] == "bh"
