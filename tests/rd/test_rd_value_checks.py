"""Columns rdrobust cannot use are refused before it is called, with the real problem named (rdrobust itself reports
them as "not enough variability in the running variable"): a constant or exact-jump outcome, values too large to
square, a running variable on an extreme scale, covariates too large or too small, a lone cluster on a side; and
local-randomisation and power options are checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cteimpact.limits
from cteimpact.errors import DesignError, OptionError
from cteimpact.rd import LocalRandomizationOptions, RegressionDiscontinuity
from cteimpact.rd.adapters.rdpower import mde_calculation, power_calculation
from cteimpact.rd.adapters.rdrobust import fit_rdrobust, select_bandwidths


@pytest.fixture
def data(simulate) -> pd.DataFrame:
    return simulate(600, seed=3)


def test_constant_outcome(data: pd.DataFrame) -> None:
    rd = RegressionDiscontinuity(data.assign(y=1.0), "y", "x", 0.0)
    with pytest.raises(DesignError, match=r"^outcome 'y' is constant on both sides of the cutoff \(all 1 below and "
                                          r"above the cutoff\); nothing to estimate$"):
        rd.fit()


def test_exact_jump_outcome(data: pd.DataFrame) -> None:
    rd = RegressionDiscontinuity(data.assign(y=(data["x"] >= 0).astype(float)), "y", "x", 0.0)
    with pytest.raises(DesignError, match=r"outcome 'y' is constant on both sides of the cutoff \(all 0 below the "
                                          r"cutoff and all 1 above: an exact jump with no sampling variability\)"):
        rd.fit(h=0.5)


def test_outcome_constant_on_one_side_is_estimated(data: pd.DataFrame) -> None:
    y = np.where(data["x"] >= 0, 0.0, data["y"])
    res = RegressionDiscontinuity(data.assign(y=y), "y", "x", 0.0).fit()
    assert np.isfinite(res.estimate("y").estimate) and res.estimate("y").std_error > 0


def test_outcome_too_large_to_square(data: pd.DataFrame) -> None:
    rd = RegressionDiscontinuity(data.assign(y=data["y"] * 1e300), "y", "x", 0.0)
    with pytest.raises(DesignError, match=r"outcome 'y' has values up to \d\.\d+e\+300 in magnitude; rescale it"):
        rd.fit()


def test_large_but_safe_outcome_is_estimated(data: pd.DataFrame) -> None:
    a = RegressionDiscontinuity(data, "y", "x", 0.0).fit().estimate("y")
    b = RegressionDiscontinuity(data.assign(y=data["y"] * 1e90), "y", "x", 0.0).fit().estimate("y")
    assert b.estimate == pytest.approx(a.estimate * 1e90, rel=1e-8)


@pytest.mark.parametrize("scale", [1e300, 1e-20])
def test_running_variable_on_an_extreme_scale(data: pd.DataFrame, scale: float) -> None:
    with pytest.raises(DesignError, match=r"running variable 'x' reaches .* from the cutoff at most; rescale it so "
                                          r"that its distances from the cutoff lie between 1e-12 and 1e\+15"):
        RegressionDiscontinuity(data.assign(x=data["x"] * scale), "y", "x", 0.0)


def test_covariates_too_large_or_too_small(data: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"covariate 'prior' has values up to .*e\+300 in magnitude; rescale it"):
        RegressionDiscontinuity(data.assign(prior=data["prior"] * 1e300), "y", "x", 0.0, covariates=["prior"])
    with pytest.raises(DesignError, match=r"covariate 'prior' has values no larger than .*e-09 in magnitude: "
                                          r"rdrobust's collinearity check treats a covariate this small as zero"):
        RegressionDiscontinuity(data.assign(prior=data["prior"] * 1e-9), "y", "x", 0.0, covariates=["prior"])


def test_adapter_checks_name_the_context(data: pd.DataFrame) -> None:
    x = data["x"].to_numpy()
    with pytest.raises(DesignError, match=r"^rdrobust on subgroup A: the outcome is constant on both sides of the "
                                          r"cutoff \(all 0\)"):
        fit_rdrobust(np.zeros(x.size), x, context="rdrobust on subgroup A")
    with pytest.raises(DesignError, match=r"^rdbwselect: the outcome has values up to .*e\+300"):
        select_bandwidths(np.full(x.size, 1e300) * np.sign(x), x)
    with pytest.raises(DesignError, match=r"^rdrobust: the bandwidth b = 1e\+300 is more than 1e\+10 times the "
                                          r"farthest distance of the data from the cutoff"):
        fit_rdrobust(data["y"].to_numpy(), x, h=0.5, b=1e300)
    side = np.where(x >= 0, 7, 8)
    with pytest.raises(DesignError, match=r"1 cluster below the cutoff and 1 at or above; cluster-robust variances "
                                          r"need at least 2 clusters on each side"):
        fit_rdrobust(data["y"].to_numpy(), x, cluster=side, vce="cr1")


@pytest.mark.parametrize(("kw", "message"), [
    ({"seed": -1}, r"the local-randomisation seed must be a whole number of at least 0, got -1"),
    ({"reps": 10}, r"the local-randomisation reps must be a whole number of at least 100, got 10"),
    ({"reps": 1000.5}, r"reps must be a whole number of at least 100, got 1000\.5"),
    ({"window": -0.2}, r"window \(half-width\) must be a positive number, got -0\.2"),
    ({"window": float("nan")}, r"window \(half-width\) must be a positive number, got nan"),
    ({"window_alpha": 1.5}, r"window_alpha must be a number strictly between 0 and 1, got 1\.5"),
])
def test_local_randomization_options(kw: dict[str, float], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        LocalRandomizationOptions(**kw)  # type: ignore[arg-type]


def test_re_randomisations_beyond_memory(data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 24 * 10**9)
    rd = RegressionDiscontinuity(data, "y", "x", 0.0)
    with pytest.raises(OptionError, match=r"100,000,000,000 re-randomisations \(--reps, \[design\.local_randomization"
                                          r"\] reps\) for the local-randomisation analysis need about 6\.4 TB"):
        rd.fit(local_randomization=LocalRandomizationOptions(window=0.2, reps=10**11))


def test_power_and_mde_options(data: pd.DataFrame) -> None:
    y, x = data["y"].to_numpy(), data["x"].to_numpy()
    with pytest.raises(OptionError, match=r"tau \(the effect the power is computed against\) must be a finite number, "
                                          r"got nan"):
        power_calculation(y, x, tau=float("nan"))
    with pytest.raises(OptionError, match=r"alpha \(the test's level\) must be a number strictly between 0 and 1"):
        power_calculation(y, x, tau=0.5, alpha=0.0)
    with pytest.raises(OptionError, match=r"beta \(the power\) must be a number strictly between 0 and 1, got 1\.2"):
        mde_calculation(y, x, beta=1.2)
