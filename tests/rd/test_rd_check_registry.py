"""The registry of RD diagnostic checks: a check is one class; registering it adds it to every diagnostics record
without touching other code, and removing it takes it out again. Plot functions take plain data, and importing or
fitting an RD design does not import matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import OptionError
from cteimpact.rd import DiagnosticOptions, RegressionDiscontinuity
from cteimpact.rd.checks import (
    Check,
    DesignContext,
    DiagnosticCheck,
    OutcomeContext,
    check_class,
    register_check,
    registered_checks,
    unregister_check,
)
from cteimpact.rd.diagnostics import ALL_CHECKS

ROOT = Path(__file__).resolve().parents[2]


def _share_above(x: np.ndarray, cutoff: float, h: tuple[float, float]) -> tuple[int, int]:
    """Observations within the bandwidth below / above the cutoff (top level: a worker process can run it)."""
    return int(np.sum((x < cutoff) & (x >= cutoff - h[0]))), int(np.sum((x >= cutoff) & (x <= cutoff + h[1])))


class ToyBalanceOfCounts(Check):
    """A toy check: flags an estimate whose bandwidth holds more than twice as many observations on one side."""

    name = "toy_counts"
    title = "Toy check: observations within the bandwidth on each side"

    def submit(self, ctx: OutcomeContext):
        return ctx.runner.submit(_share_above, ctx.sorted.x, ctx.cutoff, ctx.h)

    def collect(self, ctx: OutcomeContext, pending) -> DiagnosticCheck:
        left, right = pending.result()
        ratio = max(left, right) / max(min(left, right), 1)
        verdict = "flag" if ratio > 2 else "pass"
        return DiagnosticCheck(self.name, verdict, f"{left} below, {right} above ({ctx.outcome})",
                               ({"left": left, "right": right, "ratio": ratio},))


CALLS: list[str] = []


def _count_rows(x: np.ndarray) -> int:
    CALLS.append("design")
    return int(x.size)


class ToyDesignCheck(Check):
    """A toy check that does not depend on the outcome: submitted once per design, collected for each outcome."""

    name = "toy_design"
    title = "Toy check: rows of the design"
    depends_on_outcome = False

    def submit(self, ctx: DesignContext):
        return ctx.runner.submit(_count_rows, ctx.sample.x)

    def collect(self, ctx: OutcomeContext, pending) -> DiagnosticCheck:
        return DiagnosticCheck(self.name, "pass", f"{pending.result()} rows", ())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def design(simulate):
    d = simulate(1500, seed=5)
    d["y2"] = d["y"] * 2
    return d


def _fit(d: pd.DataFrame, outcomes=("y",), options: DiagnosticOptions | bool = True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(d, list(outcomes), "x", 0.0, baseline_covariates=["female"])
        return rd.fit(diagnostics=options, n_jobs=1)


def test_builtin_checks_are_registered_in_order():
    assert registered_checks()[:len(ALL_CHECKS)] == ALL_CHECKS
    assert ALL_CHECKS == ("density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity",
                          "polynomial_order", "donut", "attrition")
    assert check_class("donut").title == "Sensitivity to observations nearest the cutoff (donut)"
    assert not check_class("density_test").depends_on_outcome
    assert check_class("placebo_cutoffs").depends_on_outcome


def test_a_registered_check_appears_in_the_record_and_goes_when_removed(design):
    register_check(ToyBalanceOfCounts)
    try:
        assert registered_checks()[-1] == "toy_counts"
        res = _fit(design)  # default options: every registered check
        diag = res.diagnostics["y"]
        assert [c.name for c in diag.checks] == [*ALL_CHECKS, "toy_counts"]
        toy = diag.check("toy_counts")
        fit = res.primary_fit("y").fit
        assert (toy.rows[0]["left"], toy.rows[0]["right"]) == tuple(int(n) for n in fit.n_h)
        assert toy.title == ToyBalanceOfCounts.title
        record = res.to_dict()["details"]["diagnostics"]["y"]
        assert record["checks"]["toy_counts"]["evidence"].endswith("above (y)")
        assert record["options"]["checks"][-1] == "toy_counts"
        assert record["verdict_counts"]["total"] == len(ALL_CHECKS) + 1
        assert ToyBalanceOfCounts.title in res.summary()
        # only the toy check, and a default (estimates) figure for a check that defines none
        only = _fit(design, options=DiagnosticOptions(checks=("toy_counts",))).diagnostics["y"]
        assert [c.name for c in only.checks] == ["toy_counts"]
        assert toy.plot().axes[0].get_title() == f"{ToyBalanceOfCounts.title}: nothing estimated"
    finally:
        assert unregister_check("toy_counts") is ToyBalanceOfCounts
    assert "toy_counts" not in registered_checks()
    res = _fit(design, options=DiagnosticOptions(checks=("donut",)))
    assert [c.name for c in res.diagnostics["y"].checks] == ["donut"]
    assert DiagnosticOptions().checks == ALL_CHECKS
    with pytest.raises(OptionError, match=r"unknown diagnostic check\(s\) toy_counts; available: density_test"):
        DiagnosticOptions(checks=("toy_counts",))


def test_an_outcome_independent_check_is_submitted_once_per_design(design):
    register_check(ToyDesignCheck)
    CALLS.clear()
    try:
        res = _fit(design, outcomes=("y", "y2"), options=DiagnosticOptions(checks=("toy_design", "placebo_cutoffs")))
    finally:
        unregister_check("toy_design")
    assert CALLS == ["design"]
    for outcome in ("y", "y2"):
        checks = res.diagnostics[outcome].checks
        assert [c.name for c in checks] == ["placebo_cutoffs", "toy_design"]  # registry order, not the given order
        assert checks[1].evidence == f"{len(design)} rows"


def test_bad_registrations_are_refused():
    class NoTitle(Check):
        name = "no_title"

    class Duplicate(Check):
        name = "donut"
        title = "another donut"

    with pytest.raises(OptionError, match="NoTitle needs a name and a title"):
        register_check(NoTitle)
    with pytest.raises(OptionError, match=r"'donut' is already registered \(DonutCheck\)"):
        register_check(Duplicate)
    with pytest.raises(OptionError, match="must subclass Check"):
        register_check(dict)  # type: ignore[type-var]
    with pytest.raises(OptionError, match="no diagnostic check named 'nope' is registered; registered: density_test"):
        unregister_check("nope")
    assert registered_checks() == ALL_CHECKS


def test_importing_and_fitting_rd_does_not_import_matplotlib():
    code = textwrap.dedent("""
        import sys, warnings
        import numpy as np, pandas as pd
        warnings.simplefilter("ignore")
        from cteimpact.rd import RegressionDiscontinuity
        from cteimpact.rd.privacy import suppress_rd
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, 800)
        d = pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(size=800), "f": rng.integers(0, 2, 800)})
        res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["f"]).fit(diagnostics=True, n_jobs=1)
        res = suppress_rd(res, 10)
        res.summary(); res.to_dict()
        print("before", sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib")[:3])
        res.plot(); res.diagnostics["y"].check("donut").plot()
        print("after", "matplotlib" in sys.modules)
        import rdrobust  # its plotting module is loaded when first used, and the package keeps its function
        getattr(sys.modules["rdrobust.rdplot"], "np")
        print("rdplot", rdrobust.rdplot is sys.modules["rdrobust.rdplot"].rdplot, callable(rdrobust.rdplot))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "before []" in out.stdout
    assert "after True" in out.stdout  # the check above would see matplotlib if it were loaded
    assert "rdplot True True" in out.stdout


def test_plot_functions_take_plain_data():
    from cteimpact.rd.plots import plot_attrition, plot_balance, plot_density, plot_estimates, plot_rd

    table = pd.DataFrame({"multiplier": [0.5, 1.0, 1.5], "estimate_bc": [0.4, 0.5, 0.55],
                          "ci_robust_lower": [0.1, 0.3, 0.35], "ci_robust_upper": [0.7, 0.7, 0.75]})
    fig = plot_estimates(table, key="multiplier", xlabel="bandwidth", title="grid [pass]")
    ax = fig.axes[0]
    assert ax.get_title() == "grid [pass]" and ax.get_xlabel() == "bandwidth"
    assert len(ax.collections[0].get_segments()) == 3  # one interval per row
    empty = plot_estimates(table.iloc[:0], key="multiplier", xlabel="", title="", empty_title="nothing here")
    assert empty.axes[0].get_title() == "nothing here"

    hist = {"edges": [-1.0, -0.5, 0.0, 0.5, 1.0], "density": [0.4, 0.5, 0.6, 0.5]}
    test = {"density": [0.5, 0.6], "se": [0.05, 0.05], "h": [0.5, 0.5], "statistic": 1.2, "p_value": 0.23}
    dens = plot_density(hist, test, cutoff=0.0, unit="units of 'g'")
    assert len(dens.axes[0].patches) == 4
    assert dens.axes[0].get_xlabel() == "running variable (units of 'g')"

    bal = plot_balance(pd.DataFrame({"covariate": ["a", "b"], "effect_size": [0.01, 0.3], "p_robust": [0.9, 0.01]}),
                       title="balance")
    assert [t.get_text() for t in bal.axes[0].get_yticklabels()] == ["a (p=0.90)", "b (p=0.01)"]

    att = plot_attrition(0.1, 0.2, jump=0.1, p_value=0.04, title="attrition")
    assert att.axes[0].get_title() == "attrition\nRD jump 0.1 (robust p 0.04)"

    beta = (np.array([1.0, 0.5]), np.array([2.0, 0.5]))
    vcov = (np.eye(2) * 0.01, np.eye(2) * 0.01)
    rd = plot_rd(cutoff=0.0, p=1, beta=beta, vcov=vcov, h=(0.5, 0.5), estimate=1.0, ci=(0.8, 1.2), n_h=(40, 50),
                 bins={"x": [-0.4, -0.1, 0.1, 0.4], "mean": [0.8, 0.95, 2.05, 2.2], "se": [0.1] * 4,
                       "left": [True, True, False, False]}, title="t", xlabel="score", ylabel="y")
    lines = [line for line in rd.axes[0].get_lines() if len(line.get_xdata()) == 101]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata()[0], 2.0)  # the right polynomial at the cutoff
    assert "effective N = 40 / 50" in rd.axes[0].texts[0].get_text()
