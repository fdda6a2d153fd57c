"""Callaway–Sant'Anna with covariates from engine-side aggregate queries equals the in-memory estimator.

Every row (estimate, standard error, test, interval, effective N), the covariance of all estimands (every ATT(g,t)
and the simple, group, dynamic and calendar aggregations), the group-time table and the Wald pre-tests, compared
element by element at ``|a − b| <= 1e-10 + 1e-10·|b|`` (:func:`tests.did.sufficient_helpers.compare_cs`) with
:class:`~cteimpact.did.estimator.CallawaySantAnna` on the same data, for the three 2×2 methods (``reg``, ``ipw``,
``dr``) × never / not-yet-treated comparisons × varying / universal base periods × unclustered / clustered:

* mpdta with the covariate ``lpop`` (R ``did``'s documented example, ``att_gt(yname = "lemp", tname = "year",
  idname = "countyreal", gname = "first.treat", xformla = ~lpop, data = mpdta)``);
* a generated panel with two covariates, one time-invariant and one time-varying (the in-memory path uses the
  earlier period's values; so does the engine), cohorts recoded and dropped, with and without anticipation.

The logit-based methods (``ipw``, ``dr``) are held to the same 1e-10: the engine's Newton steps follow
:func:`~cteimpact.did.twobytwo.logit_fit` (same start, same stopping rule), so both stop at the root of the same
score equations to rounding; the largest differences observed are ~1e-14 (relative) on both data sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.errors import UnsupportedDataError
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from cteimpact.errors import ColumnTypeError, DesignError, MissingColumnError, OptionError
from tests.did.sufficient_helpers import compare_cs, duckdb_table, mpdta_with_state, quietly

METHODS = ("reg", "ipw", "dr")
DESIGNS = [(control, base) for control in ("never", "notyet") for base in ("varying", "universal")]
MPDTA: dict[str, Any] = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}
GENERATED: dict[str, Any] = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat"}


def covariate_panel(seed: int = 5, n_units: int = 600) -> pd.DataFrame:
    """A balanced panel 2001–2008 with cohorts 2003, 2004, 2006 chosen by a multinomial logit in the covariates
    (plus never-treated units, cohort 2009 = after the last period, cohort 2001 = treated at the start), clusters
    constant within units, a time-invariant covariate ``x1`` that changes the trends and a time-varying ``x2``
    (unit level plus a trend plus noise) that shifts the outcome."""
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2009)
    x1 = rng.normal(0.0, 1.0, size=n_units)
    z = rng.normal(2.0, 0.5, size=n_units)
    cohorts = np.array([0, 2003, 2004, 2006, 2009, 2001])
    index = np.column_stack([np.zeros(n_units), 0.6 * x1, -0.4 * x1, 0.3 * z - 0.6, 0.2 * x1, np.full(n_units, -1.0)])
    prob = np.exp(index) / np.exp(index).sum(axis=1, keepdims=True)
    unit_cohort = np.array([rng.choice(cohorts, p=p) for p in prob])
    cluster = rng.integers(0, 25, size=n_units)
    alpha = rng.normal(1e3, 100.0, size=n_units)
    rows = []
    for i in range(n_units):
        g = unit_cohort[i]
        for t in years:
            x2 = z[i] + 0.15 * (t - 2001) + rng.normal(0, 0.2)
            eff = (1.0 + 0.5 * (t - g)) * 5 if (g > 0 and t >= g) else 0.0
            y = alpha[i] + (3.0 + 2.0 * x1[i]) * (t - 2001) + 4.0 * x2 + eff + rng.normal(0, 3)
            rows.append((i, int(t), float(g), f"c{cluster[i]:02d}", y, x1[i], x2))
    return pd.DataFrame(rows, columns=["unit", "year", "first_treat", "cl", "y", "x1", "x2"])


@pytest.fixture(scope="module")
def mpdta_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    return mpdta_with_state(tmp_path_factory.mktemp("mpdta_cov"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    df = covariate_panel()
    return df, duckdb_table(df, "covariate_panel", tmp_path_factory.mktemp("cov_panel"))


def _both(df: pd.DataFrame, table: Any, cols: dict[str, Any], covariates: list[str], **options: Any
          ) -> tuple[Any, Any]:
    """The engine's result and the in-memory one with the same options (``balance`` is the in-memory default)."""
    fit_options = {k: options.pop(k) for k in ("bootstrap", "seed") if k in options}
    sql = quietly(callaway_santanna_sufficient, table, covariates=covariates, **cols, **options, **fit_options)
    options.pop("balance", None)
    mem = quietly(lambda: CallawaySantAnna(df, covariates=covariates, **cols, **options).fit(**fit_options))
    return sql, mem


@pytest.mark.parametrize("cluster", [None, "state"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
@pytest.mark.parametrize("method", METHODS)
def test_mpdta_lpop_equals_in_memory(mpdta_table: tuple[pd.DataFrame, Any], method: str, control: str,
                                     base_period: str, cluster: str | None) -> None:
    df, table = mpdta_table
    sql, mem = _both(df, table, {**MPDTA, "cluster": cluster}, ["lpop"], method=method, control=control,
                     base_period=base_period)
    compare_cs(sql, mem)
    assert sql.options["covariates"] == mem.options["covariates"] == ["lpop"]
    assert sql.n_units == mem.n_units == 500 and sql.n_clusters == mem.n_clusters
    assert sql.fit.queries == (3 if method == "reg" else 3 + sql.fit.logit_iterations)
    # covariates change the estimates (the comparison is not the unconditional one)
    plain = quietly(callaway_santanna_sufficient, table, method=method, control=control, base_period=base_period,
                    cluster=cluster, **MPDTA)
    assert np.nanmax(np.abs(plain.group_time["att"] - sql.group_time["att"])) > 1e-4


def test_mpdta_lpop_equals_r_did(mpdta_table: tuple[pd.DataFrame, Any]) -> None:
    """R ``did`` 2.5.x's outcome regression with ``xformla = ~lpop`` (never-treated comparisons, analytic standard
    errors; the shared reference data, scenario ``mpdta_nev_reg_cov``): every ATT(g,t) and its standard error, and
    every aggregation element and overall parameter with their standard errors, to 1e-8 absolute (the tolerance of
    ``tests/did/test_did_reference_mpdta.py``)."""
    from tests.conftest import reference_data_dir

    ref = reference_data_dir()
    if ref is None or not (ref / "mpdta_r_did_attgt.csv").is_file():
        pytest.skip("reference data not found (mpdta_r_did_attgt.csv)")
    attgt = pd.read_csv(ref / "mpdta_r_did_attgt.csv").query("scenario == 'mpdta_nev_reg_cov'")
    aggte = pd.read_csv(ref / "mpdta_r_did_aggte.csv").query("scenario == 'mpdta_nev_reg_cov'")
    assert len(attgt) == 12 and len(aggte) > 10
    _, table = mpdta_table
    res = quietly(callaway_santanna_sufficient, table, covariates=["lpop"], method="reg", **MPDTA)
    assert "Covariates (reg 2×2 estimator, computed in the engine): lpop" in res.summary()
    gt = res.group_time.set_index(["group", "time"])
    for r in attgt.itertuples():
        row = gt.loc[(float(r.group), float(r.t))]
        assert abs(row["att"] - r.att) <= 1e-8 and abs(row["se"] - r.se) <= 1e-8, (r.group, r.t)
    compared = 0
    for family in ("simple", "group", "dynamic", "calendar"):
        agg = res.aggregation(family)
        rows = aggte[aggte["type"] == family]
        overall = agg[agg["element"].isna()].iloc[0]
        assert abs(overall["att"] - rows["overall_att"].iloc[0]) <= 1e-8, family
        assert abs(overall["se"] - rows["overall_se"].iloc[0]) <= 1e-8, family
        compared += 2
        for r in rows.dropna(subset=["egt"]).itertuples():
            el = agg[agg["element"] == float(r.egt)].iloc[0]
            assert abs(el["att"] - r.att_egt) <= 1e-8 and abs(el["se"] - r.se_egt) <= 1e-8, (family, r.egt)
            compared += 2
    assert compared == 2 * 4 + 2 * (3 + 7 + 4)


@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
@pytest.mark.parametrize("method", METHODS)
def test_two_covariates_equal_in_memory(generated: tuple[pd.DataFrame, Any], method: str, control: str,
                                        base_period: str, cluster: str | None) -> None:
    df, table = generated
    sql, mem = _both(df, table, {**GENERATED, "cluster": cluster}, ["x1", "x2"], method=method, control=control,
                     base_period=base_period)
    compare_cs(sql, mem)
    assert not sql.fit.failures


@pytest.mark.parametrize("method", METHODS)
def test_two_covariates_with_anticipation(generated: tuple[pd.DataFrame, Any], method: str) -> None:
    df, table = generated
    sql, mem = _both(df, table, GENERATED, ["x1", "x2"], method=method, control="notyet", anticipation=1)
    compare_cs(sql, mem)


@pytest.mark.parametrize("method", METHODS)
def test_without_never_treated(tmp_path: Path, method: str) -> None:
    """No never-treated unit and never-treated comparisons: R ``did``'s rule (the last cohort becomes the comparison
    group, its periods from its treatment on dropped), with a universal base period and anticipation, clustered."""
    df = covariate_panel(seed=3, n_units=400)
    df = df[~df["first_treat"].isin([0.0, 2009.0])]
    table = duckdb_table(df, "no_never", tmp_path)
    sql, mem = _both(df, table, {**GENERATED, "cluster": "cl"}, ["x1", "x2"], method=method, control="never",
                     base_period="universal", anticipation=1)
    compare_cs(sql, mem)


def test_trimming_equals_in_memory(generated: tuple[pd.DataFrame, Any]) -> None:
    """A low trim_level drops comparison units with high propensity scores from the IPW and DR weights, in both
    paths alike (some are trimmed: the estimates move)."""
    df, table = generated
    for method in ("ipw", "dr"):
        sql, mem = _both(df, table, GENERATED, ["x1", "x2"], method=method, trim_level=0.55)
        compare_cs(sql, mem)
        default = quietly(callaway_santanna_sufficient, table, covariates=["x1", "x2"], method=method, **GENERATED)
        assert np.nanmax(np.abs(default.group_time["att"] - sql.group_time["att"])) > 1e-6


def test_clustered_bootstrap_equals_in_memory(generated: tuple[pd.DataFrame, Any]) -> None:
    """The multiplier bootstrap by cluster draws from the cluster sums computed in the engine: the same standard
    errors and bands as the in-memory estimator's with the same seed."""
    df, table = generated
    sql, mem = _both(df, table, {**GENERATED, "cluster": "cl"}, ["x1", "x2"], method="dr", bootstrap=199, seed=7)
    compare_cs(sql, mem)


def test_missing_covariate_dropped_with_balance(tmp_path: Path) -> None:
    """balance=True: rows missing a covariate are dropped and then their units (incomplete), in the engine, as the
    in-memory preparation does; the same units and numbers."""
    df = covariate_panel(seed=8, n_units=300)
    df.loc[df.index[::97], "x2"] = np.nan
    table = duckdb_table(df, "holes", tmp_path)
    sql, mem = _both(df, table, GENERATED, ["x1", "x2"], method="dr", balance=True)
    compare_cs(sql, mem)
    assert sql.n_units == mem.n_units < 300


def test_no_row_pulled(generated: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every query is an aggregate: each returns at most (clusters ×) cohorts × periods rows, whatever the number of
    units, and pulling the table's rows would fail."""
    from cteimpact.backends.source import TableSource
    from cteimpact.did.sufficient import covariate_queries, queries

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    returned: list[int] = []
    fetch = queries._fetch

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = fetch(*args, **kwargs)
        returned.append(out.num_rows)
        return out

    monkeypatch.setattr(TableSource, "pull", refuse)
    monkeypatch.setattr(queries, "_fetch", counting)
    monkeypatch.setattr(covariate_queries, "_fetch", counting)
    df, table = generated
    res = quietly(callaway_santanna_sufficient, table, covariates=["x1", "x2"], cluster="cl", **GENERATED)
    n_cohorts, n_periods, n_clusters = 6, 8, 25
    assert res.fit.queries == 3 + res.fit.logit_iterations
    assert len(returned) == 2 + res.fit.queries  # the layout and panel checks, then the covariate queries
    assert max(returned) <= n_clusters * n_cohorts * n_periods
    assert all(r <= n_clusters * n_cohorts for r in returned[2:])
    assert res.rows_fetched == sum(returned)
    assert sum(returned[1:]) <= 1 + res.fit.queries * n_clusters * n_cohorts
    assert sum(returned[1:]) < len(df) / 4


def test_bad_inputs(generated: tuple[pd.DataFrame, Any], tmp_path: Path) -> None:
    df, _ = generated
    bad = df.assign(when=pd.Timestamp("2020-01-01"), const=1.5, x3=2 * df["x1"] + 1,
                    big=df["x1"] * 1e200, far=df["x1"] + 1e8, x2_missing=df["x2"])
    bad.loc[bad.index[[3, 50, 51]], "x2_missing"] = np.nan
    table = duckdb_table(bad, "bad", tmp_path)
    with pytest.raises(ColumnTypeError, match=r"covariate column 'when' has type timestamp\(6\) in the engine; the "
                                              "in-engine computation needs numeric covariates or text ones"):
        callaway_santanna_sufficient(table, covariates=["x1", "when"], **GENERATED)
    with pytest.raises(MissingColumnError, match="x9"):
        callaway_santanna_sufficient(table, covariates=["x9"], **GENERATED)
    with pytest.raises(UnsupportedDataError, match="covariate column 'x2_missing' is missing in 3 of 4,800 rows; "
                                                   "the sufficient-statistics path needs complete rows"):
        callaway_santanna_sufficient(table, covariates=["x2_missing"], **GENERATED)
    with pytest.raises(DesignError, match=r"covariate 'const' is constant \(all 1.5\)"):
        quietly(callaway_santanna_sufficient, table, covariates=["x1", "const"], **GENERATED)
    with pytest.raises(DesignError, match=r"covariates 'x1', 'x3' are collinear over the 4,456 unit-period values"):
        quietly(callaway_santanna_sufficient, table, covariates=["x1", "x3"], **GENERATED)
    with pytest.raises(DesignError, match="covariate 'big' has values up to"):
        quietly(callaway_santanna_sufficient, table, covariates=["big"], **GENERATED)
    with pytest.raises(DesignError, match=r"covariate 'far' \(mean 1e\+08, standard deviation 0.98\) is on a scale the "
                                          "2×2 regressions cannot use"):
        quietly(callaway_santanna_sufficient, table, covariates=["far"], **GENERATED)
    with pytest.raises(OptionError, match="covariates are repeated"):
        callaway_santanna_sufficient(table, covariates=["x1", "x1"], **GENERATED)
    with pytest.raises(OptionError, match="covariate 'y' also fills another role"):
        callaway_santanna_sufficient(table, covariates=["y"], **GENERATED)
    with pytest.raises(UnsupportedDataError, match=r"an unbalanced panel \(allow_unbalanced=True\) with covariates "
                                                   "needs the rows"):
        callaway_santanna_sufficient(table, covariates=["x1"], allow_unbalanced=True, **GENERATED)


def test_covariate_refusals_as_in_memory(generated: tuple[pd.DataFrame, Any]) -> None:
    """The in-memory estimator refuses a constant covariate and one on an unusable scale with the same messages."""
    df, _ = generated
    with pytest.raises(DesignError, match=r"covariate 'const' is constant \(all 1.5\)"):
        quietly(CallawaySantAnna, df.assign(const=1.5), covariates=["x1", "const"], **GENERATED)
    with pytest.raises(DesignError, match=r"covariate 'far' \(mean 1e\+08, standard deviation 0.98\) is on a scale the "
                                          "2×2 regressions cannot use"):
        quietly(CallawaySantAnna, df.assign(far=df["x1"] + 1e8), covariates=["far"], **GENERATED)


def test_byte_identical_runs(generated: tuple[pd.DataFrame, Any]) -> None:
    """DuckDB's aggregate queries run on one thread: two fits give the same bytes (estimates, covariance)."""
    _, table = generated
    runs = [quietly(callaway_santanna_sufficient, table, covariates=["x1", "x2"], cluster="cl", **GENERATED)
            for _ in range(2)]
    assert runs[0].covariance.tobytes() == runs[1].covariance.tobytes()
    assert runs[0].fit.moments.tobytes() == runs[1].fit.moments.tobytes()


def test_cell_failures_equal_in_memory(tmp_path: Path) -> None:
    """No never-treated units and two units in the last cohort (2006), the only comparison of the later cells (R
    ``did``'s rule with not-yet-treated comparisons): those cells fail with the in-memory reasons (``reg``: the
    regression on two units and three regressors is singular; ``ipw`` and ``dr``: propensity scores reach 0.999),
    the same notes, and the other cells and the aggregations agree."""
    df = covariate_panel(seed=11, n_units=300)
    df = df[~df["first_treat"].isin([0.0, 2009.0])]
    units = df.loc[df["first_treat"] == 2006.0, "unit"].unique()
    df = df[~df["unit"].isin(units[2:])]
    table = duckdb_table(df, "few", tmp_path, ibis.duckdb.connect())
    for method, reason in (("reg", "the covariate matrix of the outcome regression is singular"),
                           ("ipw", "overlap condition violated"), ("dr", "overlap condition violated")):
        sql, mem = _both(df, table, GENERATED, ["x1", "x2"], method=method, control="notyet")
        compare_cs(sql, mem)
        notes = list(sql.group_time["note"].fillna(""))
        assert notes == list(mem.group_time["note"].fillna(""))
        assert sum(n.startswith(reason) for n in notes) == 5
