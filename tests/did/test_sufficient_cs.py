"""Callaway–Sant'Anna from engine-side sufficient statistics equals the in-memory estimator.

Every row (estimate, standard error, test, interval, effective N), the covariance of all estimands (every ATT(g,t)
and the simple, group, dynamic and calendar aggregations, with the estimated-weights term), the group-time table and
the Wald pre-tests, compared element by element at ``|a − b| <= 1e-10 + 1e-10·|b|`` with
:class:`~cteimpact.did.estimator.CallawaySantAnna` on the same data: mpdta, the synthetic district panel, a district
panel aggregated in the engine from the synthetic student records, and a generated panel with clusters (never and
not-yet-treated comparisons, varying and universal base periods, anticipation, R ``did``'s rule without
never-treated units, cohorts recoded or dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from tests.did.sufficient_helpers import clustered_panel, compare_cs, duckdb_table, mpdta_with_state, quietly

DESIGNS = [(control, base) for control in ("never", "notyet") for base in ("varying", "universal")]


@pytest.fixture(scope="module")
def mpdta_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    return mpdta_with_state(tmp_path_factory.mktemp("mpdta"))


@pytest.mark.parametrize("cluster", [None, "state"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
def test_mpdta_equals_in_memory(mpdta_table: tuple[pd.DataFrame, Any], cluster: str | None, control: str,
                                base_period: str) -> None:
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat", "cluster": cluster}
    sql = callaway_santanna_sufficient(table, control=control, base_period=base_period, **cols)  # type: ignore[arg-type]
    mem = CallawaySantAnna(df, control=control, base_period=base_period, **cols).fit()
    compare_cs(sql, mem)
    assert sql.n_units == mem.n_units == 500
    assert sql.n_clusters == mem.n_clusters


def test_mpdta_event_window_and_small_sample(mpdta_table: tuple[pd.DataFrame, Any]) -> None:
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat", "cluster": "state"}
    sql = callaway_santanna_sufficient(table, aggregations=("dynamic", "group"), min_e=-2, max_e=2, balance_e=1,
                                       small_sample=True, level=0.9, **cols)  # type: ignore[arg-type]
    mem = CallawaySantAnna(df, **cols).fit(aggregations=("dynamic", "group"), min_e=-2, max_e=2, balance_e=1,
                                           small_sample=True, level=0.9)
    compare_cs(sql, mem)
    assert sql.df == mem.df == sql.n_clusters - 1


def test_aggregate_again_without_a_query(mpdta_table: tuple[pd.DataFrame, Any]) -> None:
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}
    sql = callaway_santanna_sufficient(table, **cols).aggregate("calendar")  # type: ignore[arg-type]
    mem = CallawaySantAnna(df, **cols).fit(aggregations=("calendar",))
    compare_cs(sql, mem)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pd.DataFrame, Any]]:
    folder = tmp_path_factory.mktemp("generated")
    con = ibis.duckdb.connect()
    out = {}
    for name, never in (("with_never", True), ("without_never", False)):
        df = clustered_panel(never=never)
        out[name] = (df, duckdb_table(df, name, folder, con))
    return out


@pytest.mark.parametrize("data", ["with_never", "without_never"])
@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
@pytest.mark.parametrize("anticipation", [0, 1])
def test_generated_panel_equals_in_memory(generated: dict[str, tuple[pd.DataFrame, Any]], data: str,
                                          cluster: str | None, control: str, base_period: str,
                                          anticipation: int) -> None:
    df, table = generated[data]
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": cluster}
    opts = {"control": control, "base_period": base_period, "anticipation": anticipation}
    sql = quietly(callaway_santanna_sufficient, table, **cols, **opts)
    mem = quietly(lambda: CallawaySantAnna(df, **cols, **opts).fit())
    compare_cs(sql, mem)
    # the rows that came to the client: the layout ((clusters ×) cohorts × periods) and the moments (one row per
    # cohort) or, with clusters, one row of panel checks
    n_cohorts = df["first_treat"].nunique()
    bound = 25 * n_cohorts * 8 + 1 if cluster else n_cohorts * 8 + n_cohorts
    assert sql.rows_fetched <= bound


def test_trimming_failure_matches_in_memory(tmp_path: Path) -> None:
    """A cell whose treated share reaches the trimming level is not estimated, as in memory (doubly robust), and is
    estimated with the regression estimator."""
    df = clustered_panel(n_units=300)
    df = df[df["first_treat"] != 2009]  # (recoded as never treated)
    # five never-treated units: cohorts 2003 and 2004 (about 50 units each) against them have a treated share
    # above 0.9, cohort 2006 (cut to 20 units) does not
    keep_never = df.loc[df["first_treat"] == 0, "unit"].unique()[:5]
    keep_2006 = df.loc[df["first_treat"] == 2006, "unit"].unique()[:20]
    df = df[((df["first_treat"] != 0) | df["unit"].isin(keep_never))
            & ((df["first_treat"] != 2006) | df["unit"].isin(keep_2006))]
    table = duckdb_table(df, "trim", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat"}
    for method, trim in (("dr", 0.9), ("reg", 0.9)):
        sql = quietly(callaway_santanna_sufficient, table, method=method, trim_level=trim, **cols)
        mem = quietly(lambda m=method, tr=trim: CallawaySantAnna(df, method=m, trim_level=tr, **cols).fit())
        compare_cs(sql, mem)
    failed = quietly(callaway_santanna_sufficient, table, method="dr", trim_level=0.9, **cols)
    notes = failed.group_time["note"].fillna("")
    assert notes.str.contains("overlap").sum() == 2 * 7  # every cell of cohorts 2003 and 2004
    assert np.isfinite(failed.estimate("y").estimate)


@pytest.fixture(scope="module")
def synth_data() -> Any:
    from cteimpact.synth import simulate

    return simulate(seed=7, scale=0.05)


def test_synthetic_district_panel_equals_in_memory(synth_data: Any, tmp_path: Path) -> None:
    """The district panel is unbalanced and has missing outcomes: the in-memory estimator drops those rows and
    units itself; the same exclusions written as an engine-side filter give the same numbers."""
    panel = synth_data.district_panel
    table = duckdb_table(panel, "district_panel", tmp_path)
    y, unit, time = "earnings_age19", "district_id", "cohort"
    n_periods = panel[time].nunique()
    rows = table.filter(table[y].notnull())  # noqa: PD004 (an Ibis column)
    complete = rows.group_by(unit).aggregate(cte_k=rows.count()).filter(lambda t: t.cte_k == n_periods)
    balanced = rows.semi_join(complete, unit)
    cols = {"outcome": y, "unit": unit, "time": time, "cohort": "first_treated", "cluster": "consortium_id"}
    for control in ("never", "notyet"):
        sql = quietly(callaway_santanna_sufficient, balanced, control=control, **cols)
        mem = quietly(lambda c=control: CallawaySantAnna(panel, control=c, **cols).fit())
        compare_cs(sql, mem)


def test_unbalanced_district_panel_balanced_in_the_engine(synth_data: Any, tmp_path: Path) -> None:
    """``balance=True`` drops the rows with missing outcomes and then the incomplete units in the engine, as the
    in-memory estimator does by default: the same numbers on the raw district panel."""
    from cteimpact.errors import DataDroppedWarning

    panel = synth_data.district_panel
    table = duckdb_table(panel, "district_panel_raw", tmp_path)
    cols = {"outcome": "earnings_age19", "unit": "district_id", "time": "cohort", "cohort": "first_treated"}
    for cluster in (None, "consortium_id"):
        with pytest.warns(DataDroppedWarning, match="dropped to balance the panel"):
            sql = callaway_santanna_sufficient(table, cluster=cluster, balance=True, **cols)
        mem = quietly(lambda c=cluster: CallawaySantAnna(panel, cluster=c, **cols).fit())
        compare_cs(sql, mem)
        assert sql.n_units == mem.n_units < panel["district_id"].nunique()


def test_student_records_aggregated_in_the_engine(synth_data: Any, tmp_path: Path) -> None:
    """District × cohort means computed by the engine from the student records (no student row leaves it) equal the
    in-memory estimator on the same means computed by pandas; the queries return few rows."""
    students = synth_data.students
    table = duckdb_table(students, "students", tmp_path)
    y = "earnings_age19"
    obs = table.filter(table[y].notnull())  # noqa: PD004 (an Ibis column)
    cells = obs.group_by(["district_id", "cohort"]).aggregate(y_mean=obs[y].mean(), first=obs.first_treated.min(),
                                                            consortium=obs.consortium_id.min())
    n_periods = int(students.loc[students[y].notna(), "cohort"].nunique())
    complete = cells.group_by("district_id").aggregate(k=cells.count()).filter(lambda t: t.k == n_periods)
    panel_expr = cells.semi_join(complete, "district_id")
    cols = {"outcome": "y_mean", "unit": "district_id", "time": "cohort", "cohort": "first", "cluster": "consortium"}
    sql = quietly(callaway_santanna_sufficient, panel_expr, **cols)

    s = students[students[y].notna()]
    frame = s.groupby(["district_id", "cohort"], as_index=False).agg(y_mean=(y, "mean"), first=("first_treated", "min"),
                                                                   consortium=("consortium_id", "min"))
    mem = quietly(lambda: CallawaySantAnna(frame, **cols).fit())
    compare_cs(sql, mem)
    n_cohorts = frame["first"].nunique()
    assert sql.rows_fetched <= sql.n_clusters * n_cohorts * n_periods + 1
    assert sql.rows_fetched < len(frame) < len(students)


def test_moments_queries_return_few_rows(generated: dict[str, tuple[pd.DataFrame, Any]]) -> None:
    """The queries return at most (cohorts × periods) rows and one row per cohort, or with clusters (clusters × cohorts
    × periods) rows and one row."""
    from cteimpact.did.sufficient.queries import PanelColumns, panel_moments

    df, table = generated["with_never"]
    n_periods = df["year"].nunique()
    n_cohorts = df["first_treat"].nunique()
    for cluster in (None, "cl"):
        stats = quietly(panel_moments, table, PanelColumns("y", "unit", "year", "first_treat", cluster))
        layout_rows = stats.layout.rows_fetched
        n_clusters = df["cl"].nunique() if cluster else 1
        assert layout_rows <= n_clusters * n_cohorts * n_periods
        moment_rows = stats.rows_fetched - layout_rows
        assert 0 < moment_rows <= (1 if cluster else n_cohorts)
        assert stats.n_units == df["unit"].nunique() - int((df.groupby("unit")["first_treat"].first() == 2001).sum())
    assert np.all(stats.count > 0)


@pytest.mark.parametrize(("multiplier", "bands", "integer_clusters"),
                         [("mammen", True, False), ("rademacher", False, False), ("mammen", True, True)])
def test_clustered_multiplier_bootstrap_equals_in_memory(generated: dict[str, tuple[pd.DataFrame, Any]],
                                                         tmp_path: Path, multiplier: str, bands: bool,
                                                         integer_clusters: bool) -> None:
    """With clusters the bootstrap needs only the cluster sums: the same draws, standard errors, sup-t critical
    values, simultaneous bands and p-values as in memory (same seed; clusters in the same sorted order, text or
    integer labels)."""
    df, table = generated["with_never"]
    if integer_clusters:  # integer labels whose text order differs from their numeric order
        df = df.assign(cl=df["cl"].str[1:].astype(int) * 7 % 23 + 1)
        table = duckdb_table(df, "int_clusters", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": "cl"}
    boot = {"bootstrap": 499, "multiplier": multiplier, "bands": bands, "seed": 11}
    sql = quietly(callaway_santanna_sufficient, table, **cols, **boot)
    mem = quietly(lambda: CallawaySantAnna(df, **cols).fit(**boot))
    compare_cs(sql, mem)
    assert sql.bootstrap is not None and mem.bootstrap is not None
    assert sql.bootstrap["critical_values"].keys() == mem.bootstrap["critical_values"].keys()
    for key, value in mem.bootstrap["critical_values"].items():
        assert abs(sql.bootstrap["critical_values"][key] - value) <= 1e-10 * max(1.0, abs(value))
    assert (sql.tidy()["ci_type"] == "simultaneous").any() == bands


def test_bootstrap_without_clusters_is_refused(generated: dict[str, tuple[pd.DataFrame, Any]]) -> None:
    from cteimpact.errors import OptionError

    _, table = generated["with_never"]
    with pytest.raises(OptionError, match="multiplier bootstrap from sufficient statistics needs a cluster variable"):
        callaway_santanna_sufficient(table, outcome="y", unit="unit", time="year", cohort="first_treat",
                                     bootstrap=99)


def test_uneven_periods(tmp_path: Path) -> None:
    """Periods two years apart stored as floats, integer unit codes."""
    df = clustered_panel(seed=8, n_units=400)
    df["year"] = 2000.0 + 2.0 * (df["year"] - 2000)
    df["first_treat"] = np.where(df["first_treat"] == 0, 0.0, 2000.0 + 2.0 * (df["first_treat"] - 2000))
    df["unit"] = df["unit"].str[1:].astype(np.int64)
    table = duckdb_table(df, "uneven", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": "cl"}
    for control, base in DESIGNS:
        sql = quietly(callaway_santanna_sufficient, table, control=control, base_period=base, **cols)
        mem = quietly(lambda c=control, b=base: CallawaySantAnna(df, control=c, base_period=b, **cols).fit())
        compare_cs(sql, mem)
    assert sql.group_time["time"].min() == 2002.0


@pytest.mark.parametrize("never", [True, False])
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_generated_panel_balanced_in_the_engine(tmp_path: Path, never: bool, control: str) -> None:
    """Missing outcomes and missing unit-periods (some of the last period): ``balance=True`` gives the in-memory
    estimator's numbers, with the cohorts recoded and dropped before balancing as in memory."""
    df = clustered_panel(seed=12, never=never)
    rng = np.random.default_rng(0)
    df.loc[rng.choice(len(df), size=25, replace=False), "y"] = np.nan
    df = df.drop(index=rng.choice(len(df), size=40, replace=False)).reset_index(drop=True)
    table = duckdb_table(df, "holes", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat"}
    for cluster in (None, "cl"):
        sql = quietly(callaway_santanna_sufficient, table, cluster=cluster, control=control, balance=True, **cols)
        mem = quietly(lambda c=cluster: CallawaySantAnna(df, cluster=c, control=control, **cols).fit())
        compare_cs(sql, mem)
        assert sql.n_units == mem.n_units


def test_results_contract_matches_in_memory(mpdta_table: tuple[pd.DataFrame, Any]) -> None:
    """What pricing and reporting read: the sampling distribution (labels, centre, covariance, degrees of freedom),
    the JSON record's estimates, the event-study table, and a figure."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat", "cluster": "state"}
    sql = quietly(callaway_santanna_sufficient, table, small_sample=True, **cols)
    mem = quietly(lambda: CallawaySantAnna(df, **cols).fit(small_sample=True))
    a, b = sql.sampling_distribution(), mem.sampling_distribution()
    assert a.labels == b.labels
    assert a.df == b.df
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-10, atol=1e-10)
    record = json.loads(json.dumps(sql.to_dict()))
    assert [e["label"] for e in record["estimates"]] == list(mem.labels)
    np.testing.assert_allclose([e["std_error"] for e in record["estimates"]], mem.tidy()["std_error"],
                               rtol=1e-10, atol=1e-10)
    es_a, es_b = sql.event_study(), mem.event_study()
    for col in ("element", "att", "se", "ci_lower", "ci_upper", "p_value", "n_cells"):
        np.testing.assert_allclose(es_a[col].to_numpy(float), es_b[col].to_numpy(float), rtol=1e-10, atol=1e-10)
    assert list(es_a["phase"]) == list(es_b["phase"])
    fig = sql.plot("event_study")
    assert len(fig.axes) >= 1
    assert "Rows brought from the engine" in sql.summary()


def test_reserved_column_names_are_refused(tmp_path: Path) -> None:
    from cteimpact.errors import OptionError

    df = clustered_panel(n_units=50).rename(columns={"y": "cte_y"})
    table = duckdb_table(df, "reserved", tmp_path)
    with pytest.raises(OptionError, match=r"reserved .*: 'cte_y'"):
        callaway_santanna_sufficient(table, outcome="cte_y", unit="unit", time="year", cohort="first_treat")


def test_event_study_diagnostics_match_in_memory(mpdta_table: tuple[pd.DataFrame, Any]) -> None:
    """HonestDiD sensitivity and pre-trend power need only the event-study estimates and their covariance: the same
    numbers as the in-memory results' (universal base period, clustered)."""
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat", "cluster": "state"}
    sql = quietly(callaway_santanna_sufficient, table, base_period="universal", **cols)
    mem = quietly(lambda: CallawaySantAnna(df, base_period="universal", **cols).fit())
    for kwargs in ({}, {"restriction": "smoothness", "target": "average", "values": [0.0, 0.01]}):
        a, b = sql.honest_did(**kwargs), mem.honest_did(**kwargs)
        assert (a.restriction, a.method, a.n_pre, a.n_post) == (b.restriction, b.method, b.n_pre, b.n_post)
        np.testing.assert_allclose(a.original, b.original, rtol=1e-10, atol=1e-10)
        pd.testing.assert_frame_equal(a.table, b.table, rtol=1e-8, atol=1e-10)
    pa_, pb = sql.pretrend_power(hypothesised_slope=0.01), mem.pretrend_power(hypothesised_slope=0.01)
    assert pa_.event_times == pb.event_times
    np.testing.assert_allclose([pa_.slope_any, pa_.slope_wald, pa_.power_any or 0.0, pa_.power_wald or 0.0],
                               [pb.slope_any, pb.slope_wald, pb.power_any or 0.0, pb.power_wald or 0.0],
                               rtol=1e-8, atol=1e-10)


def _same_records(a: Any, b: Any, path: str = "") -> None:
    """Two JSON-like records equal: numbers within the tolerance, everything else exactly."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))}"
        for k in b:
            _same_records(a[k], b[k], f"{path}.{k}")
    elif isinstance(b, list | tuple):
        assert isinstance(a, list | tuple) and len(a) == len(b), path
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_records(x, y, f"{path}[{j}]")
    elif isinstance(b, float) and not isinstance(b, bool):
        assert isinstance(a, int | float), path
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, equal_nan=True, err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("boot", [{}, {"bootstrap": 199, "seed": 3}, {"bootstrap": 199, "bands": False},
                                  {"small_sample": True}])
def test_cli_record_of_the_aggregations_matches_in_memory(generated: dict[str, tuple[pd.DataFrame, Any]],
                                                          boot: dict[str, Any]) -> None:
    """``aggregates_dict()`` (the command line's record) and every row's inference record, as in memory."""
    df, table = generated["with_never"]
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": "cl"}
    sql = quietly(callaway_santanna_sufficient, table, **cols, **boot)
    mem = quietly(lambda: CallawaySantAnna(df, **cols).fit(**boot))
    _same_records(sql.aggregates_dict(), mem.aggregates_dict())
    assert set(sql.inference) == set(mem.inference)
    for label, how in mem.inference.items():
        _same_records(sql.inference[label], dict(how), label)
    for fam in ("group", "dynamic", "calendar"):
        pd.testing.assert_frame_equal(sql.aggregation(fam), mem.aggregation(fam), rtol=1e-10, atol=1e-10)
