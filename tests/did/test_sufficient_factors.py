"""Categorical (text) covariates of Callaway–Sant'Anna computed in the engine equal the in-memory estimator.

A text covariate enters as indicator columns of its levels but a reference level (:mod:`cteimpact.did.factors`
in memory, :mod:`cteimpact.did.sufficient.factors` in the engine: one query finds the levels, the indicators are
engine expressions). Compared element by element at ``|a − b| <= 1e-10 + 1e-10·|b|``
(:func:`tests.did.sufficient_helpers.compare_cs`: every row, the covariance of all estimands, the group-time table,
the pre-tests) for ``reg``, ``ipw`` and ``dr``, with the default reference level and with ``covariate_reference``:

* mpdta with ``size``, a three-level text column cut from ``lpop`` (time-invariant), beside ``lpop`` itself;
* the generated panel of :mod:`tests.did.test_sufficient_covariates` with ``region`` (four levels, time-invariant)
  and ``band`` (three levels cut from the time-varying ``x2``: the earlier period's indicators, as in memory),
  clustered.

A factor with a single level, or more than 100, is refused with the in-memory message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from cteimpact.errors import DesignError, OptionError
from tests.did.sufficient_helpers import compare_cs, duckdb_table, mpdta_frame, quietly
from tests.did.test_sufficient_covariates import GENERATED, METHODS, MPDTA, covariate_panel

REFERENCES: list[dict[str, str] | None] = [None, {"size": "medium"}]


def _both(df: pd.DataFrame, table: Any, cols: dict[str, Any], covariates: list[str], **options: Any
          ) -> tuple[Any, Any]:
    sql = quietly(callaway_santanna_sufficient, table, covariates=covariates, **cols, **options)
    mem = quietly(lambda: CallawaySantAnna(df, covariates=covariates, **cols, **options).fit())
    return sql, mem


@pytest.fixture(scope="module")
def mpdta_size(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    df = mpdta_frame()
    df["size"] = np.select([df["lpop"] < 2.5, df["lpop"] < 4.0], ["small", "medium"], "large")
    df["state"] = "s" + (df["countyreal"] // 1000).astype(str)
    return df, duckdb_table(df, "mpdta_size", tmp_path_factory.mktemp("mpdta_size"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    df = covariate_panel(seed=6, n_units=600)
    first = df.groupby("unit")["x1"].transform("first")
    df["region"] = np.select([first < -0.6, first < 0.0, first < 0.6], ["West", "North", "East"], "South")
    df["band"] = np.select([df["x2"] < 1.9, df["x2"] < 2.5], ["low", "mid"], "high")
    return df, duckdb_table(df, "factor_panel", tmp_path_factory.mktemp("factor_panel"))


@pytest.mark.parametrize("reference", REFERENCES, ids=["first-level", "chosen"])
@pytest.mark.parametrize("cluster", [None, "state"])
@pytest.mark.parametrize("method", METHODS)
def test_mpdta_text_covariate_equals_in_memory(mpdta_size: tuple[pd.DataFrame, Any], method: str,
                                               cluster: str | None, reference: dict[str, str] | None) -> None:
    df, table = mpdta_size
    sql, mem = _both(df, table, {**MPDTA, "cluster": cluster}, ["lpop", "size"], method=method,
                     covariate_reference=reference)
    compare_cs(sql, mem)
    ref = "medium" if reference else "large"
    assert sql.options["covariates"] == mem.options["covariates"] == ["lpop", *(f"size={v}" for v in
                                                                               sorted({"large", "medium", "small"})
                                                                               if v != ref)]
    assert sql.options["covariate_coding"] == mem.options["covariate_coding"]
    assert sql.options["covariate_coding"][0]["reference"] == ref
    assert list(sql.notes) == list(mem.notes)
    plain = quietly(callaway_santanna_sufficient, table, covariates=["lpop"], method=method, cluster=cluster,
                    **MPDTA)
    assert np.nanmax(np.abs(plain.group_time["att"] - sql.group_time["att"])) > 1e-5


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("method", METHODS)
def test_generated_text_covariates_equal_in_memory(generated: tuple[pd.DataFrame, Any], method: str,
                                                   control: str) -> None:
    df, table = generated
    for reference in (None, {"region": "South", "band": "mid"}):
        sql, mem = _both(df, table, {**GENERATED, "cluster": "cl"}, ["region", "x1", "band"], method=method,
                         control=control, base_period="universal", covariate_reference=reference)
        compare_cs(sql, mem)
        assert sql.options["covariates"] == mem.options["covariates"]
        assert len(sql.options["covariates"]) == 3 + 1 + 2
        assert sql.options["covariate_coding"] == mem.options["covariate_coding"]
        assert not sql.fit.failures


def test_levels_found_in_one_query(generated: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """One query per text covariate, returning one row per level; no row pulled."""
    from cteimpact.backends.source import TableSource
    from cteimpact.did.sufficient import factors

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    returned: list[tuple[str, int]] = []
    fetch = factors._fetch

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = fetch(*args, **kwargs)
        returned.append((kwargs["what"], out.num_rows))
        return out

    monkeypatch.setattr(TableSource, "pull", refuse)
    monkeypatch.setattr(factors, "_fetch", counting)
    _, table = generated
    plain = quietly(callaway_santanna_sufficient, table, covariates=["x1"], method="reg", **GENERATED)
    res = quietly(callaway_santanna_sufficient, table, covariates=["region", "x1", "band"], method="reg",
                  **GENERATED)
    assert returned == [("levels of covariate 'region'", 4), ("levels of covariate 'band'", 3)]
    assert res.fit.queries == plain.fit.queries == 3
    assert res.rows_fetched - 7 > plain.rows_fetched - 7


def test_refusals_in_one_line(generated: tuple[pd.DataFrame, Any], tmp_path: Path) -> None:
    df, _ = generated
    bad = df.assign(one="same", many="id" + (df["unit"] % 150).astype(str), num=(df["x1"] > 0).astype(int).astype(str))
    table = duckdb_table(bad, "bad_factors", tmp_path)
    for frame_or_table, fit in ((table, lambda t, **k: callaway_santanna_sufficient(t, **k)),
                                (bad, lambda t, **k: CallawaySantAnna(t, **k))):
        with pytest.raises(DesignError) as err:
            quietly(fit, frame_or_table, covariates=["x1", "one"], **GENERATED)
        assert str(err.value) == ("categorical covariate 'one' has a single level ('same' in all 4,800 rows with a "
                                  "value): it is collinear with the intercept; remove it")
        with pytest.raises(DesignError) as err:
            quietly(fit, frame_or_table, covariates=["many"], **GENERATED)
        assert str(err.value) == ("categorical covariate 'many' has 150 levels (more than 100) in 4,800 rows: is it "
                                  "an identifier? Group its levels or remove it")
        with pytest.raises(OptionError, match=r"covariate_reference: 'Nowhere' is not a level of covariate 'region' "
                                              r"\(its 4 levels: 'East', 'North', 'South', 'West'\)"):
            quietly(fit, frame_or_table, covariates=["region"], covariate_reference={"region": "Nowhere"},
                    **GENERATED)
        with pytest.raises(OptionError, match="covariate_reference names 'x1', which is a numeric covariate"):
            quietly(fit, frame_or_table, covariates=["x1"], covariate_reference={"x1": "a"}, **GENERATED)
        with pytest.raises(OptionError, match=r"covariate_reference names 'band', not among the covariates \(x1\)"):
            quietly(fit, frame_or_table, covariates=["x1"], covariate_reference={"band": "low"}, **GENERATED)
    assert "\n" not in str(err.value)
    # a text column of numbers is numeric in both paths
    sql, mem = _both(bad, table, GENERATED, ["x1", "num"], method="dr")
    compare_cs(sql, mem)
    assert sql.options["covariate_coding"] == mem.options["covariate_coding"] == []
