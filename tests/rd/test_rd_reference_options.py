"""Reference-package options exposed by issue 15: rdrobust's ``bwcheck`` and ``scaleregul``, ``vce='nn'`` with
clusters (cr1 with a warning, as R rdrobust does), and rddensity's ``bwselect``/``fitselect``/``vce`` in the
manipulation test. Each is checked to reach the reference call: our result equals a direct call with that option,
element by element, and differs from the default where the option matters."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from rddensity import rddensity
from rdrobust import rdrobust

from cteimpact.cli.app import main
from cteimpact.errors import OptionError
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.diagnostics import DiagnosticOptions
from cteimpact.rd.options import ClusterVarianceWarning, RDOptions

DEFAULTS = {"c": 0.0, "p": 1, "kernel": "triangular", "bwselect": "mserd", "vce": "nn", "nnmatch": 3, "level": 95.0,
            "masspoints": "adjust", "bwrestrict": True, "stdvars": True}


@pytest.fixture(scope="module")
def data(simulate):
    return simulate(1500, seed=4, clusters=120, cluster_sd=0.2)


def _direct(d, **kw):
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return rdrobust(d["y"].to_numpy(float), d["x"].to_numpy(float), **{**DEFAULTS, **kw})


def _same(fit, ref, rtol=1e-12):
    np.testing.assert_allclose([fit.estimate, fit.estimate_bc], np.asarray(ref.coef, float).reshape(-1)[:2],
                               rtol=rtol)
    np.testing.assert_allclose([fit.se, fit.se_robust], np.asarray(ref.se, float).reshape(-1)[[0, 2]], rtol=rtol)
    np.testing.assert_allclose(np.asarray(fit.ci), np.asarray(ref.ci, float), rtol=rtol)
    np.testing.assert_allclose(fit.h + fit.b, np.asarray(ref.bws, float).reshape(-1), rtol=rtol)
    assert fit.n_h == tuple(int(v) for v in ref.N_h)


def _fit(d, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RegressionDiscontinuity(d, "y", "x", 0.0).fit(**kw).primary_fit("y").fit


@pytest.mark.parametrize("kw", [{"scaleregul": 0.0}, {"scaleregul": 3.0}, {"bwcheck": 400},
                                {"bwcheck": 400, "scaleregul": 0.0, "bwselect": "msetwo"}])
def test_rdrobust_options_reach_the_call(data, kw):
    fit = _fit(data, **kw)
    _same(fit, _direct(data, **kw))
    assert fit.h != _fit(data).h  # the option changes the bandwidth here, so passing it is observable


def test_options_are_recorded_and_validated(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(data, "y", "x", 0.0).fit(bwcheck=50, scaleregul=0.5)
    assert res.options["bwcheck"] == 50 and res.options["scaleregul"] == 0.5
    for kw, message in (({"bwcheck": 0}, "bwcheck must be a positive whole number"),
                        ({"bwcheck": 2.5}, "bwcheck must be a positive whole number"),
                        ({"scaleregul": -1.0}, "scaleregul must be a non-negative number"),
                        ({"scaleregul": float("nan")}, "scaleregul must be a non-negative number")):
        with pytest.raises(OptionError, match=message):
            RDOptions(**kw)


def test_vce_nn_with_clusters_switches_to_cr1_with_a_warning(data):
    rd = RegressionDiscontinuity(data, "y", "x", 0.0, cluster="g")
    with pytest.warns(ClusterVarianceWarning, match="vce='nn' ignores clusters.*cr1"):
        fit = rd.fit(vce="nn").primary_fit("y").fit
    assert fit.vce == "cr1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = rd.fit().primary_fit("y").fit
    assert (fit.estimate, fit.se_robust, fit.h) == (default.estimate, default.se_robust, default.h)
    # cluster ids are recoded (factorised) before the call: sums in another order, equal to ~1e-12
    _same(fit, _direct(data, vce="cr1", cluster=data["g"].to_numpy()), rtol=1e-9)
    with pytest.raises(OptionError, match="vce='hc1' ignores the clusters"):
        rd.fit(vce="hc1")


def _density_check(d, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(
            diagnostics=DiagnosticOptions(checks=("density_test",), **kw))
    (check,) = [c for c in res.diagnostics["y"].checks if c.name == "density_test"]
    return check.rows[0]


@pytest.mark.parametrize(("kw", "differs"), [
    ({"density_bwselect": "each"}, True),
    ({"density_bwselect": "diff"}, False),  # comb = median(each, diff, sum) is diff's bandwidth on these data
    ({"density_vce": "plugin"}, True),
    ({"density_fitselect": "restricted", "density_bwselect": "sum"}, True),
    ({"density_fitselect": "restricted"}, True)])
def test_density_options_reach_rddensity(data, kw, differs):
    row = _density_check(data, **kw)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        ref = rddensity(data["x"].to_numpy(float), c=0.0, p=2, bwselect=kw.get("density_bwselect", "comb"),
                        fitselect=kw.get("density_fitselect", "unrestricted"), vce=kw.get("density_vce", "jackknife"))
    key = "t_asy" if kw.get("density_vce") == "plugin" else "t_jk"
    assert row["statistic"] == pytest.approx(float(ref.test[key]), rel=1e-12)
    if differs:
        assert row["statistic"] != pytest.approx(_density_check(data)["statistic"], rel=1e-9)


def test_density_option_errors():
    with pytest.raises(OptionError, match="density_bwselect='each' needs density_fitselect='unrestricted'"):
        DiagnosticOptions(density_bwselect="each", density_fitselect="restricted")
    with pytest.raises(OptionError, match="density_vce must be one of jackknife, plugin"):
        DiagnosticOptions(density_vce="bootstrap")  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "message"), [
    (("--bwcheck", "0"), "bwcheck must be a positive whole number"),
    (("--scaleregul", "-2"), "scaleregul must be a non-negative number"),
])
def test_cli_option_errors_exit_2_one_line(capsys, tmp_path, data, args, message):
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    code = main(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0", *args])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_cli_density_options_and_scaleregul(capsys, tmp_path, data):
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0", "--scaleregul", "0",
                     "--diagnostics", "--checks", "density_test", "--density-vce", "plugin", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    import json

    obj = json.loads(out.out)
    assert obj["h"][0] == pytest.approx(_fit(data, scaleregul=0.0).h[0], rel=1e-12)
    assert obj["density_test"]["statistic"] == pytest.approx(
        _density_check(data, density_vce="plugin")["statistic"], rel=1e-12)
