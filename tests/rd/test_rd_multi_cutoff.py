"""Multi-cutoff and cumulative-cutoff RD designs through rdmulti.

rdmulti ships no example data in its Python package and its documentation prints no outputs to compare against, so
the adapter is compared element by element with direct calls on simulated data (the data-generating processes of
rdmulti's own docstring examples): with ``rdmulti.rdmc``/``rdmulti.rdms`` called with the same options, and,
independently of rdmulti, with ``rdrobust`` on each cutoff's sample and the weighted estimate recomputed from its
definition."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from rdmulti import rdmc, rdms
from rdrobust import rdrobust
from scipy.stats import norm
from study_helpers import run_cli

from cteimpact.errors import DataValidationError, DesignError, OptionError
from cteimpact.rd.multi_cutoff import multi_cutoff_rd

OURS = {"p": 1, "q": 2, "kernel": "triangular", "bwselect": "mserd", "vce": "nn", "nnmatch": 3, "level": 95.0,
        "masspoints": "adjust", "bwrestrict": True, "stdvars": True}


@pytest.fixture(scope="module")
def multi():
    """rdmc's docstring design: cutoffs 33 and 66, jumps 1 and 0.8."""
    rng = np.random.default_rng(11)
    n = 3000
    x = rng.uniform(0, 100, n)
    c = np.repeat([33.0, 66.0], n // 2)
    y = (1 + x + (x >= c)) * (c == 33) + (0.5 + 0.5 * x + 0.8 * (x >= c)) * (c == 66) + rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "c": c, "one": 33.0, "g": np.arange(n) % 150})


@pytest.fixture(scope="module")
def cumulative():
    """rdms's docstring design: every unit faces 33 and 66."""
    rng = np.random.default_rng(12)
    n = 3000
    x = rng.uniform(0, 100, n)
    y = ((1 + x) * (x < 33) + (0.8 + 0.8 * x) * ((x >= 33) & (x < 66)) + (1.2 + 1.2 * x) * (x >= 66)
         + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x})


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            return f(*a, **k)


def _rdrobust_row(y, x, **kw):
    r = _quiet(rdrobust, np.asarray(y, float), np.asarray(x, float), c=0.0, **{**OURS, **kw})
    coef, se, pv, ci = (np.asarray(getattr(r, k), float) for k in ("coef", "se", "pv", "ci"))
    return {"estimate": coef[0, 0], "estimate_bc": coef[1, 0], "se": se[0, 0], "se_robust": se[2, 0],
            "p_value": pv[0, 0], "p_robust": pv[2, 0], "ci": tuple(ci[0]), "ci_robust": tuple(ci[2]),
            "h": tuple(np.asarray(r.bws, float)[0]), "n_h": tuple(int(v) for v in r.N_h)}


def _assert_row(row, ref):
    for key in ("estimate", "estimate_bc", "se", "se_robust", "p_value", "p_robust"):
        assert getattr(row, key) == pytest.approx(ref[key], rel=1e-10, abs=1e-14), key
    np.testing.assert_allclose(row.ci, ref["ci"], rtol=1e-10)
    np.testing.assert_allclose(row.ci_robust, ref["ci_robust"], rtol=1e-10)
    np.testing.assert_allclose(row.h, ref["h"], rtol=1e-10)
    assert row.n_h == ref["n_h"]


def test_rows_match_rdrobust_per_cutoff_pooled_and_weighted_definition(multi):
    res = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c")
    kinds = [r.kind for r in res.rows]
    assert kinds == ["cutoff", "cutoff", "weighted", "pooled"]
    assert list(res.tidy()["label"]) == ["y[cutoff=33]", "y[cutoff=66]", "y[weighted]", "y[pooled]"]
    for row, c in zip(res.rows[:2], (33.0, 66.0), strict=True):
        m = multi["c"] == c
        _assert_row(row, _rdrobust_row(multi.loc[m, "y"], multi.loc[m, "x"] - c))
    _assert_row(res.rows[3], _rdrobust_row(multi["y"], multi["x"] - multi["c"]))
    nh = np.array([sum(r.n_h) for r in res.rows[:2]], float)
    w = nh / nh.sum()
    assert [r.weight for r in res.rows[:2]] == pytest.approx(list(w), rel=1e-12)
    weighted = res.rows[2]
    assert weighted.estimate == pytest.approx(float(w @ [r.estimate for r in res.rows[:2]]), rel=1e-12)
    se_rb = float(np.sqrt(w**2 @ [r.se_robust**2 for r in res.rows[:2]]))
    assert weighted.se_robust == pytest.approx(se_rb, rel=1e-12)
    z = norm.ppf(0.975)
    assert weighted.ci_robust == pytest.approx((weighted.estimate_bc - z * se_rb, weighted.estimate_bc + z * se_rb))
    assert weighted.h is None and weighted.n_h == tuple(sum(r.n_h[i] for r in res.rows[:2]) for i in (0, 1))


def test_matches_direct_rdmc_call(multi):
    res = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c", p=2, kernel="epanechnikov")
    two = np.array([1, 1])
    ref = _quiet(rdmc, multi["y"].to_numpy(), multi["x"].to_numpy(), multi["c"].to_numpy(), pvec=2 * two,
                 qvec=3 * two, kernelvec=np.array(["epa", "epa"]), stdvarsvec=np.array([True, True]),
                 pooled_opt="p=2,q=3,kernel='epa',stdvars=True")
    cols = ["1", "2", "weighted", "pooled"]
    np.testing.assert_allclose([r.estimate for r in res.rows], ref.Coefs[0][cols].to_numpy().ravel(), rtol=1e-10)
    np.testing.assert_allclose([r.estimate_bc for r in res.rows], ref.B[0][cols].to_numpy().ravel(), rtol=1e-10)
    np.testing.assert_allclose([r.se_robust**2 for r in res.rows], ref.V[0][cols].to_numpy().ravel(), rtol=1e-10)
    np.testing.assert_allclose([r.p_robust for r in res.rows], ref.Pv[0][cols].to_numpy().ravel(), rtol=1e-8)
    np.testing.assert_allclose(np.array([r.ci_robust for r in res.rows]).T, ref.CI[0][cols].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose([float(r.weight or 0.0) for r in res.rows[:2]], np.asarray(ref.W[0]).ravel(),
                               rtol=1e-12)
    assert res.fit.options["p"] == 2 and res.fit.options["kernel"] == "epanechnikov"


@pytest.mark.parametrize("opts", [{"bwcheck": 50}, {"scaleregul": 0.0}, {"kernel": "uniform", "bwselect": "msetwo"},
                                  {"masspoints": "off", "stdvars": False}])
def test_options_reach_each_cutoff_call(multi, opts):
    res = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c", **opts)
    direct = {**opts, **({"kernel": "uni"} if opts.get("kernel") == "uniform" else {})}
    m = multi["c"] == 66.0
    _assert_row(res.rows[1], _rdrobust_row(multi.loc[m, "y"], multi.loc[m, "x"] - 66.0, **direct))
    _assert_row(res.rows[3], _rdrobust_row(multi["y"], multi["x"] - multi["c"], **direct))


def test_clustered_multi_cutoff_uses_cr1(multi):
    res = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c", cluster="g")
    m = multi["c"] == 33.0
    g = multi["g"].to_numpy()
    _assert_row(res.rows[0], _rdrobust_row(multi.loc[m, "y"], multi.loc[m, "x"] - 33.0, cluster=g[m.to_numpy()],
                                           vce="cr1"))
    _assert_row(res.rows[3], _rdrobust_row(multi["y"], multi["x"] - multi["c"], cluster=g, vce="cr1"))


def test_cumulative_matches_rdms_and_rdrobust_between_neighbours(cumulative):
    res = multi_cutoff_rd(cumulative, outcome="y", score="x", cutoffs=[33, 66], cumulative=True)
    assert [r.kind for r in res.rows] == ["cutoff", "cutoff"] and res.fit.cumulative
    x, y = cumulative["x"].to_numpy(), cumulative["y"].to_numpy()
    m33 = x < 66
    m66 = x >= 33
    _assert_row(res.rows[0], _rdrobust_row(y[m33], x[m33] - 33))
    _assert_row(res.rows[1], _rdrobust_row(y[m66], x[m66] - 66))
    ref = _quiet(rdms, y, x, np.array([33.0, 66.0]), rangemat=np.array([[-np.inf, np.nextafter(66.0, 0)],
                                                                         [33.0, np.inf]]),
                 stdvarsvec=np.array([True, True]))
    np.testing.assert_allclose([r.estimate for r in res.rows], ref["Coefs"][["1", "2"]].to_numpy().ravel(),
                               rtol=1e-10)
    # the jumps of rdms's example: 0.8 + 0.8*33 - (1 + 33) = -6.8 and 1.2 + 1.2*66 - (0.8 + 0.8*66) = 26.8
    assert res.rows[0].ci_robust[0] < -6.8 < res.rows[0].ci_robust[1]
    assert res.rows[1].ci_robust[0] < 26.8 < res.rows[1].ci_robust[1]


def test_kinks_at_multiple_cutoffs(multi):
    res = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c", deriv=1)
    assert res.options.p == 2  # rdrobust's default order for a kink
    assert list(res.tidy()["label"])[:2] == ["y[kink, cutoff=33]", "y[kink, cutoff=66]"]
    m = multi["c"] == 33.0
    _assert_row(res.rows[0], _rdrobust_row(multi.loc[m, "y"], multi.loc[m, "x"] - 33.0, deriv=1, p=2, q=3))


def test_small_cells_hidden_and_weighted_row_with_them(multi):
    full = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c")
    smallest = min(min(r.n_h) for r in full.rows if r.kind == "cutoff")
    assert full.suppressed == ()
    res = full.with_min_cell(smallest + 1)
    tidy = res.tidy().set_index("label")
    hidden = [lab for lab in tidy.index if tidy.loc[lab, "suppressed"]]
    assert "y[weighted]" in hidden and any(lab.startswith("y[cutoff=") for lab in hidden)
    assert tidy.loc[hidden, "estimate"].isna().all()
    assert json.dumps(res.to_dict())  # JSON-ready with the hidden rows


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"cutoff_column": "one"}, DesignError, "cutoff column has 1 distinct value; a multi-cutoff design needs at "
                                            "least 2"),
    ({}, OptionError, "give exactly one of cutoff_column"),
    ({"cutoff_column": "c", "cutoffs": [33]}, OptionError, "give exactly one of cutoff_column"),
    ({"cutoffs": [33, 66]}, OptionError, "pass cumulative=True"),
    ({"cutoff_column": "c", "cumulative": True}, OptionError, "cumulative=True takes the list of cutoffs"),
    ({"cutoffs": [66, 33], "cumulative": True}, DesignError, "strictly increasing"),
    ({"cutoffs": [33, 150], "cumulative": True}, DesignError, "cutoffs ['150'] are not strictly inside the range"),
    ({"cutoff_column": "c", "h": 5.0}, OptionError, "option h cannot be used with multiple cutoffs"),
    ({"cutoff_column": "c", "deriv": 1, "p": 0}, OptionError, "p (polynomial order) must be at least 1 for a kink"),
    ({"cutoff_column": "c", "deriv": 2}, OptionError, "deriv must be 0 (jump) or 1 (kink), got 2"),
    ({"cutoff_column": "c", "bwcheck": 0}, OptionError, "bwcheck must be a positive whole number of distinct values"),
    ({"cutoff_column": "c", "scaleregul": -1.0}, OptionError, "scaleregul must be a non-negative number"),
    ({"cutoff_column": "c", "kernel": "gaussian"}, OptionError, "kernel must be one of"),
    ({"cutoff_column": "nope"}, DataValidationError, "column 'nope' (role 'cutoff') is not in the data"),
])
def test_bad_input_is_a_typed_error(multi, kwargs, error, message):
    with pytest.raises(error) as info:
        multi_cutoff_rd(multi, outcome="y", score="x", **kwargs)
    assert message in str(info.value)


def test_missing_cutoff_values_are_counted(multi):
    d = multi.copy()
    d.loc[:4, "c"] = np.nan
    with pytest.raises(DataValidationError, match="cutoff column 'c' has 5 missing"):
        multi_cutoff_rd(d, outcome="y", score="x", cutoff_column="c")


def test_cutoff_without_enough_data_names_it(multi):
    d = multi.copy()
    d.loc[d.index[:6], "c"] = 50.0  # six rows facing a third cutoff
    with pytest.raises(DesignError, match=r"could not estimate the effect at 1 of 3 cutoffs: 50 \(6 rows\)"):
        multi_cutoff_rd(d, outcome="y", score="x", cutoff_column="c")


def _run(capsys, *args):
    return run_cli(["rd-multi", *map(str, args)], capsys)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory, multi, cumulative):
    base = tmp_path_factory.mktemp("multi")
    multi.to_csv(base / "multi.csv", index=False)
    cumulative.to_csv(base / "cumulative.csv", index=False)
    return base


def test_cli_json_multiple_and_cumulative(capsys, csvs, multi):
    code, out, err = _run(capsys, csvs / "multi.csv", "--outcome", "y", "--running", "x", "--cutoff-column", "c",
                          "--json")
    assert code == 0, err
    obj = json.loads(out)
    api = multi_cutoff_rd(multi, outcome="y", score="x", cutoff_column="c")
    assert [e["label"] for e in obj["estimates"]] == ["y[cutoff=33]", "y[cutoff=66]", "y[weighted]", "y[pooled]"]
    assert [e["estimate"] for e in obj["estimates"]] == pytest.approx([r.estimate for r in api.rows], rel=1e-12)
    code, out, err = _run(capsys, csvs / "cumulative.csv", "--outcome", "y", "--running", "x", "--cutoffs", "33,66",
                          "--cumulative", "--deriv", "1", "--bwcheck", "40", "--scaleregul", "0", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["options"]["p"] == 2 and obj["options"]["bwcheck"] == 40 and obj["options"]["scaleregul"] == 0.0
    code, out, err = _run(capsys, csvs / "cumulative.csv", "--outcome", "y", "--running", "x", "--cutoffs", "33,66",
                          "--cumulative", "--deriv", "1")
    assert code == 0, err
    assert "Kink (change in slope) of 'y' with cumulative cutoffs" in out and "y[kink, cutoff=66]" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--cutoff-column", "one"), "cutoff column has 1 distinct value"),
    (("--cutoffs", "33,66"), "pass cumulative=True (--cumulative)"),
    (("--cutoffs", "33,x", "--cumulative"), "--cutoffs takes numbers separated by commas"),
    (("--cutoff-column", "c", "--deriv", "1", "--p", "0"), "must be at least 1 for a kink"),
    ((), "give exactly one of cutoff_column"),
])
def test_cli_errors_exit_2_one_line(capsys, csvs, tmp_path, args, message):
    target = tmp_path / "out.json"
    code, out, err = _run(capsys, csvs / "multi.csv", "--outcome", "y", "--running", "x", "--output", target, *args)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cteimpact: error") and message in lines[0]
    assert not target.exists()


def test_pooled_option_text_refuses_anything_but_names_numbers_and_quotes() -> None:
    """rdmc evaluates its pooled options text: the adapter's second guard refuses any other character, even if a
    value slipped past validation."""
    from cteimpact.errors import OptionError
    from cteimpact.rd.adapters import rdmulti

    opts = {"p": 1, "q": 2, "deriv": 0, "kernel": "triangular", "bwselect": "mserd", "vce": "nn", "nnmatch": 3,
            "level": 95.0, "masspoints": "adjust", "bwrestrict": True, "stdvars": True, "scaleregul": 1.0,
            "bwcheck": None}
    text = rdmulti._pooled_options(opts, clustered=True)
    assert text.startswith("p=1,q=2,deriv=0,kernel='tri'") and text.endswith(",cluster=cluster")
    with pytest.raises(OptionError, match="characters other than names"):
        rdmulti._pooled_options({**opts, "vce": "nn');__import__('os').system('id"}, clustered=False)
