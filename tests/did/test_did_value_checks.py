"""Values the estimators cannot use are refused up front, naming the column and the numbers: an outcome that is
constant or too large to square, covariates the 2×2 regressions cannot use, bootstrap draws that do not fit in
memory, a negative seed, a reversed event-time window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cteimpact.limits
from cteimpact.did import CallawaySantAnna
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.multiplier import multiplier_draws
from cteimpact.did.wild import wild_weights
from cteimpact.errors import DesignError, OptionError

GB = 10**9


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    units = np.arange(60)
    cohorts = np.where(units < 20, 0, np.where(units < 40, 2004, 2006))
    z = rng.normal(size=units.size)
    rows = [(u, t, c, rng.normal() + (0.1 if c and t >= c else 0.0), u % 6, z[u])
            for u, c in zip(units, cohorts, strict=True) for t in range(2002, 2008)]
    return pd.DataFrame(rows, columns=["id", "year", "g", "y", "cl", "z"])


def _cs(df: pd.DataFrame, **kw: object) -> CallawaySantAnna:
    base: dict[str, object] = {"outcome": "y", "unit": "id", "time": "year", "cohort": "g"}
    base.update(kw)
    return CallawaySantAnna(df, **base)  # type: ignore[arg-type]


@pytest.fixture
def memory_24_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 24 * GB)


@pytest.mark.parametrize("scale", [1e300, 1e101])
def test_outcome_too_large_to_square(scale: float) -> None:
    df = _panel().assign(y=lambda d: d["y"] * scale)
    with pytest.raises(DesignError, match=r"outcome 'y' has values up to \d\.\d+e\+(300|101) in magnitude; rescale "
                                          r"it"):
        _cs(df)


def test_large_but_safe_outcome_is_estimated() -> None:
    df = _panel()
    small = _cs(df).fit().estimate("y")
    big = _cs(df.assign(y=df["y"] * 1e90)).fit().estimate("y")
    assert big.estimate == pytest.approx(small.estimate * 1e90, rel=1e-9)
    assert big.std_error == pytest.approx(small.std_error * 1e90, rel=1e-9)


def test_constant_outcome() -> None:
    with pytest.raises(DesignError, match=r"outcome 'y' is constant \(all 2\.5\) in the 360 observations used; "
                                          r"nothing to estimate"):
        _cs(_panel().assign(y=2.5))


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
@pytest.mark.parametrize("scale", [1e9, 1e-9])
def test_covariate_on_an_unusable_scale(method: str, scale: float) -> None:
    df = _panel().assign(z=lambda d: d["z"] * scale)
    with pytest.raises(DesignError, match=r"covariate 'z' \(mean .*, standard deviation .*\) is on a scale the 2×2 "
                                          r"regressions cannot use.*rescale it"):
        _cs(df, covariates=["z"], method=method)


def test_rescaled_covariate_within_the_limits_gives_the_same_effect() -> None:
    df = _panel()
    a = _cs(df, covariates=["z"]).fit().estimate("y").estimate
    b = _cs(df.assign(z=df["z"] * 1e5), covariates=["z"]).fit().estimate("y").estimate
    assert b == pytest.approx(a, rel=1e-8)


def test_constant_covariate() -> None:
    with pytest.raises(DesignError, match=r"covariate 'k' is constant \(all 4\): it is collinear with the intercept"):
        _cs(_panel().assign(k=4.0), covariates=["k"])


def test_negative_seed_and_reversed_window() -> None:
    cs = _cs(_panel())
    with pytest.raises(OptionError, match=r"seed must be a non-negative whole number, got -1"):
        cs.fit(bootstrap=99, seed=-1)
    with pytest.raises(OptionError, match=r"min_e <= max_e .* got min_e = 3, max_e = -3"):
        cs.fit(min_e=3, max_e=-3)
    with pytest.raises(OptionError, match=r"min_e = nan"):
        cs.fit(min_e=float("nan"))


def test_bootstrap_draws_beyond_memory(memory_24_gb: None) -> None:
    cs = _cs(_panel(), cluster="cl")
    with pytest.raises(OptionError) as info:
        cs.fit(bootstrap=10**9)
    msg = str(info.value)
    assert msg.startswith("1,000,000,000 draws (--bootstrap, [design.inference] bootstrap) for the multiplier "
                          "bootstrap (")
    assert "this machine has 24 GB available; use at most " in msg
    with pytest.raises(OptionError, match=r"1,000,000,000 draws \(--wild-bootstrap, \[design\.inference\] "
                                          r"wild_bootstrap\) for the wild cluster bootstrap \(6 clusters"):
        cs.fit(wild_bootstrap=10**9)
    # the advised number fits
    most = int(msg.rsplit("use at most ", 1)[1].split()[0].replace(",", ""))
    assert most > 10_000


def test_library_functions_check_their_own_memory(memory_24_gb: None) -> None:
    with pytest.raises(OptionError, match=r"wild cluster bootstrap \(12 clusters\).*use at most"):
        wild_weights(12, 10**10, "webb", 1)
    cs = _cs(_panel())
    res = cs.fit()
    infl: InfluenceFunctions = res.influence
    with pytest.raises(OptionError, match=r"multiplier bootstrap \(\d+ influence-function columns\).*use at most"):
        multiplier_draws(infl, n_draws=10**10, seed=1)
