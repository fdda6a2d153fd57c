"""Categorical (factor) covariates (:mod:`cteimpact.did.factors`): a text or ``category`` covariate enters as
indicator columns of its levels but a reference level, with the same numbers as an explicit one-hot coding of the
same data (R's ``model.matrix`` treatment contrasts: the first level is the reference, which R ``did`` uses for
``xformla = ~ x + region``), the coding recorded in the options and notes, and bad input as typed errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from did_cli_helpers import MPDTA_ARGS
from study_helpers import run_cli as _run

from cteimpact.did import CallawaySantAnna, etwfe, imputation_did, sun_abraham, twfe
from cteimpact.did.factors import MAX_LEVELS, encode_factors, is_factor
from cteimpact.did.panel import prepare_staggered_data
from cteimpact.errors import DesignError, OptionError

KW = {"outcome": "lemp", "time": "year", "unit": "countyreal", "cohort": "first.treat"}
LEVELS = np.array(["North", "South", "West", "East"])


@pytest.fixture(scope="module")
def mpdta(reference_data: Path) -> pd.DataFrame:
    df = pd.read_csv(reference_data / "mpdta.csv")
    # a time-invariant region per county (R did uses covariates of the base period), four levels, 'East' first sorted
    units, code = np.unique(df["countyreal"].to_numpy(), return_inverse=True)
    df["region"] = LEVELS[np.random.default_rng(7).integers(0, 4, units.size)][code]
    return df


def _one_hot(df: pd.DataFrame, column: str, reference: str) -> tuple[pd.DataFrame, list[str]]:
    """An explicit one-hot coding, written out by hand: one 0/1 column per level but the reference."""
    out = df.copy()
    names = []
    for level in sorted(set(df[column].astype(str))):
        if level != reference:
            out[f"d_{level}"] = (df[column].astype(str) == level).astype(float)
            names.append(f"d_{level}")
    return out, names


def _fit(df: pd.DataFrame, covariates: list[str], **kw: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(df, **KW, covariates=covariates, **kw).fit()  # type: ignore[arg-type]


def _same_numbers(a: object, b: object, tol: float) -> None:
    ga, gb = a.group_time, b.group_time  # type: ignore[attr-defined]
    np.testing.assert_allclose(ga["att"], gb["att"], rtol=0, atol=tol)
    np.testing.assert_allclose(ga["se"], gb["se"], rtol=0, atol=tol)
    ea = [(e.label, e.estimate, e.std_error) for e in a.estimates]  # type: ignore[attr-defined]
    eb = [(e.label, e.estimate, e.std_error) for e in b.estimates]  # type: ignore[attr-defined]
    assert [x[0] for x in ea] == [x[0] for x in eb]
    np.testing.assert_allclose([x[1] for x in ea], [x[1] for x in eb], rtol=0, atol=tol)
    np.testing.assert_allclose([x[2] for x in ea], [x[2] for x in eb], rtol=0, atol=tol)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_cs_equals_explicit_one_hot_first_level_reference(mpdta: pd.DataFrame, method: str) -> None:
    res = _fit(mpdta, ["lpop", "region"], method=method)
    manual, names = _one_hot(mpdta, "region", "East")  # 'East' is the first level in sorted order (R's reference)
    ref = _fit(manual, ["lpop", *names], method=method)
    _same_numbers(res, ref, 1e-12)
    coding = res.options["covariate_coding"]  # type: ignore[attr-defined]
    assert coding == [{"column": "region", "reference": "East", "levels": ["East", "North", "South", "West"],
                       "indicators": ["region=North", "region=South", "region=West"], "reference_chosen": False}]
    assert res.options["covariates"] == ["lpop", "region=North", "region=South", "region=West"]  # type: ignore[attr-defined]
    assert any("covariate 'region' is categorical: reference level 'East' (first level); 3 indicator columns" in n
               for n in res.notes)  # type: ignore[attr-defined]
    # the covariate changes the estimates (it is used)
    base = _fit(mpdta, ["lpop"], method=method)
    assert abs(float(base.group_time["att"].iloc[0]) - float(res.group_time["att"].iloc[0])) > 1e-6  # type: ignore[attr-defined]


def test_chosen_reference_same_estimates(mpdta: pd.DataFrame) -> None:
    # the 2×2 regressions have an intercept: another reference reparametrises them, the ATTs do not change
    a = _fit(mpdta, ["lpop", "region"])
    b = _fit(mpdta, ["lpop", "region"], covariate_reference={"region": "West"})
    _same_numbers(a, b, 1e-10)
    manual, names = _one_hot(mpdta, "region", "West")
    _same_numbers(b, _fit(manual, ["lpop", *names]), 1e-12)
    coding = b.options["covariate_coding"][0]  # type: ignore[attr-defined]
    assert coding["reference"] == "West" and coding["reference_chosen"] is True
    assert coding["indicators"] == ["region=East", "region=North", "region=South"]
    assert any("reference level 'West' (chosen)" in n for n in b.notes)  # type: ignore[attr-defined]


def test_category_column_uses_its_category_order(mpdta: pd.DataFrame) -> None:
    df = mpdta.copy()
    df["region"] = pd.Categorical(df["region"], categories=["South", "West", "North", "East", "Unused"])
    res = _fit(df, ["lpop", "region"])
    coding = res.options["covariate_coding"][0]  # type: ignore[attr-defined]
    assert coding["reference"] == "South" and coding["levels"] == ["South", "West", "North", "East"]
    manual, names = _one_hot(mpdta, "region", "South")
    _same_numbers(res, _fit(manual, ["lpop", *names]), 1e-12)


def test_numeric_covariates_unchanged(mpdta: pd.DataFrame) -> None:
    # numeric columns, and text columns whose values all read as numbers, stay numeric
    df = mpdta.copy()
    df["lpop_text"] = df["lpop"].map(repr)
    assert not is_factor(df["lpop"]) and not is_factor(df["lpop_text"]) and is_factor(df["region"])
    assert not is_factor(pd.Series([True, False, True]))
    a = _fit(df, ["lpop"])
    b = _fit(df, ["lpop_text"])
    _same_numbers(a, b, 0.0)
    assert a.options["covariate_coding"] == []  # type: ignore[attr-defined]


def test_missing_level_rows_dropped_once(mpdta: pd.DataFrame) -> None:
    df = mpdta.copy()
    units = df["countyreal"].unique()[:3]
    df.loc[df["countyreal"].isin(units) & (df["year"] == 2004), "region"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = prepare_staggered_data(df, **KW, covariates=["lpop", "region"])
    steps = d.flow.to_dict()["steps"]
    assert not any("region=" in s["reason"] for s in steps)  # one step for the factor, none per indicator
    missing = [s for s in steps if s["reason"] == "covariate 'region' missing"]
    assert len(missing) == 1 and missing[0]["excluded"] == 3
    assert d.covariates == ("lpop", "region=North", "region=South", "region=West")


def test_bad_input_typed_errors(mpdta: pd.DataFrame) -> None:
    df = mpdta.copy()
    df["one"] = "only"
    with pytest.raises(DesignError, match=r"categorical covariate 'one' has a single level \('only' in all 2,500 rows"):
        _fit(df, ["lpop", "one"])
    with pytest.raises(OptionError, match=r"'Nowhere' is not a level of covariate 'region' \(its 4 levels: 'East', "
                                          r"'North', 'South', 'West'\)"):
        _fit(mpdta, ["region"], covariate_reference={"region": "Nowhere"})
    with pytest.raises(OptionError, match="names 'lpop', which is a numeric covariate"):
        _fit(mpdta, ["lpop", "region"], covariate_reference={"lpop": "1"})
    with pytest.raises(OptionError, match=r"names 'state', not among the covariates \(lpop, region\)"):
        _fit(mpdta, ["lpop", "region"], covariate_reference={"state": "x"})
    with pytest.raises(OptionError, match="covariate_reference must map"):
        _fit(mpdta, ["region"], covariate_reference="East")
    many = pd.DataFrame({"c": [f"id{i}" for i in range(MAX_LEVELS + 1)]})
    with pytest.raises(DesignError, match=rf"'c' has {MAX_LEVELS + 1} levels \(more than {MAX_LEVELS}\)"):
        encode_factors(many, ["c"])
    clash = pd.DataFrame({"r": ["a", "b"], "r=b": [1.0, 2.0]})
    with pytest.raises(OptionError, match="indicator column 'r=b'"):
        encode_factors(clash, ["r"])


def test_encode_factors_leaves_the_frame_alone() -> None:
    frame = pd.DataFrame({"r": ["b", "a", None, "c"], "x": [1.0, 2.0, 3.0, 4.0]})
    before = frame.copy()
    out, names, coding = encode_factors(frame, ["x", "r"])
    pd.testing.assert_frame_equal(frame, before)
    assert names == ("x", "r=b", "r=c")
    np.testing.assert_array_equal(out["r=b"].to_numpy(), [1.0, 0.0, np.nan, 0.0])
    np.testing.assert_array_equal(out["r=c"].to_numpy(), [0.0, 0.0, np.nan, 1.0])
    assert coding[0].reference == "a" and coding[0].levels == ("a", "b", "c")


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n, t = 60, 6
    unit = np.repeat(np.arange(n), t)
    time = np.tile(np.arange(1, t + 1), n)
    cohort = np.repeat(rng.choice([0, 3, 4, 5], size=n), t)
    region = np.array(["a", "b", "c"])[rng.integers(0, 3, n * t)]  # time-varying factor
    x = rng.normal(size=n * t)
    y = (0.1 * unit + 0.2 * time + 0.5 * x + np.where(region == "b", 0.7, 0.0) + (cohort > 0) * (time >= cohort)
         + rng.normal(size=n * t))
    return pd.DataFrame({"u": unit, "t": time, "g": cohort, "region": region, "x": x, "y": y})


@pytest.mark.parametrize("fit", [twfe, sun_abraham, etwfe, imputation_did])
def test_comparison_estimators_equal_one_hot(fit: object) -> None:
    df = _panel()
    kw = {"outcome": "y", "time": "t", "unit": "u", "cohort": "g"}
    manual, names = _one_hot(df, "region", "a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fit(df, **kw, covariates=["x", "region"])  # type: ignore[operator]
        b = fit(manual, **kw, covariates=["x", *names])  # type: ignore[operator]
        c = fit(df, **kw, covariates=["x"])  # type: ignore[operator]
    ea = np.array([e.estimate for e in a.estimates])
    np.testing.assert_allclose(ea, [e.estimate for e in b.estimates], rtol=0, atol=1e-12)
    np.testing.assert_allclose([e.std_error for e in a.estimates], [e.std_error for e in b.estimates], rtol=0,
                               atol=1e-12)
    assert abs(ea[0] - c.estimates[0].estimate) > 1e-6
    assert a.options["covariate_coding"][0]["reference"] == "a"


# ---- command line ----------------------------------------------------------------------------------------------

BASE = MPDTA_ARGS


def test_cli_categorical_covariate(mpdta: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.csv"
    mpdta.to_csv(path, index=False)
    code, out, err = _run(["did", str(path), *BASE, "--covariates", "lpop,region", "--covariate-reference",
                           "region=West", "--json", "--no-twfe"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    res = _fit(pd.read_csv(path), ["lpop", "region"], covariate_reference={"region": "West"})
    assert obj["options"]["covariate_coding"][0]["reference"] == "West"
    assert any("reference level 'West' (chosen); 3 indicator columns" in n for n in obj["notes"])
    for row, e in zip(obj["estimates"], res.estimates, strict=True):  # type: ignore[attr-defined]
        assert row["label"] == e.label
        if not row["suppressed"]:
            assert row["estimate"] == pytest.approx(e.estimate, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("args", "words"), [
    (["--covariates", "lpop,one"], ["categorical covariate 'one' has a single level", "2,500 rows"]),
    (["--covariates", "region", "--covariate-reference", "region"], ["--covariate-reference", "COLUMN=LEVEL"]),
    (["--covariates", "region", "--covariate-reference", "region=Nowhere"], ["'Nowhere'", "'region'", "4 levels"]),
    (["--covariates", "region", "--covariate-reference", "region=East", "--covariate-reference", "region=West"],
     ["twice"]),
    (["--covariates", "region", "--estimator", "twfe", "--covariate-reference", "region=East"],
     ["--covariate-reference", "--estimator twfe"]),
])
def test_cli_bad_categorical_exit_2(mpdta: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    args: list[str], words: list[str]) -> None:
    df = mpdta.copy()
    df["one"] = "only"
    path = tmp_path / "m.csv"
    df.to_csv(path, index=False)
    out_file = tmp_path / "out.json"
    code, out, err = _run(["did", str(path), *BASE, *args, "--output", str(out_file)], capsys)
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not out_file.exists()
