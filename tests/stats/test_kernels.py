"""The package's one home of the RD kernels (cteimpact.stats.kernels): rdrobust's triangular, Epanechnikov and
uniform kernels, their names, and the observation weights ``K((x − c)/h)/h`` every fixed-bandwidth fit, score and
control-side baseline uses."""

from __future__ import annotations

import numpy as np
import pytest
from rdrobust.funs import rdrobust_kweight

import cteimpact.rd.baseline as rd_baseline
from cteimpact.errors import CteImpactError, OptionError
from cteimpact.rd.fixed_bandwidth import fit_fixed_bandwidth
from cteimpact.stats.kernels import KERNELS, bandwidth_weights, kernel_name, kernel_weights


@pytest.mark.parametrize(("kernel", "u", "expected"), [
    # K(u) by hand: triangular 1 − |u|, Epanechnikov 0.75 (1 − u²), uniform 0.5, on |u| ≤ 1
    ("triangular", [-1.0, -0.5, 0.0, 0.25, 1.0, 1.5], [0.0, 0.5, 1.0, 0.75, 0.0, 0.0]),
    ("epanechnikov", [-1.0, -0.5, 0.0, 0.2, 1.0, 2.0], [0.0, 0.5625, 0.75, 0.72, 0.0, 0.0]),
    ("uniform", [-1.0, -0.5, 0.0, 0.999, 1.0, 1.001], [0.5, 0.5, 0.5, 0.5, 0.5, 0.0]),  # the boundary is inside
])
def test_kernels_by_hand(kernel: str, u: list[float], expected: list[float]) -> None:
    assert np.allclose(kernel_weights(np.array(u), kernel), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kernel", KERNELS)
def test_each_kernel_is_a_density_on_the_unit_interval(kernel: str) -> None:
    u = np.linspace(-1.0, 1.0, 200_001)
    k = kernel_weights(u, kernel)
    integral = float(np.sum((k[1:] + k[:-1]) / 2 * np.diff(u)))  # trapezoid rule
    assert integral == pytest.approx(1.0, abs=1e-8)
    assert np.all(k >= 0) and np.array_equal(k, kernel_weights(-u, kernel))  # non-negative and symmetric


@pytest.mark.parametrize("kernel", ["triangular", "tri", "epanechnikov", "epa", "uniform", "uni"])
def test_observation_weights_are_rdrobusts_bit_for_bit(kernel: str) -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=5000), [-1.0, 0.0, 1.0, 0.5]])  # some exactly at c ± h
    for c, h in ((0.0, 0.5), (0.3, 1.7), (-0.2, 0.05)):
        ours = bandwidth_weights(x, cutoff=c, bandwidth=h, kernel=kernel)
        theirs = np.asarray(rdrobust_kweight(x, c, h, kernel), dtype=float)
        assert ours.tobytes() == theirs.tobytes()


def test_unit_weights_multiply_the_kernel() -> None:
    x = np.array([-0.5, 0.0, 0.5, 2.0])
    fw = np.array([2.0, 1.0, 0.5, 3.0])
    w = bandwidth_weights(x, cutoff=0.0, bandwidth=1.0, kernel="triangular", weights=fw)
    assert w.tolist() == [1.0, 1.0, 0.25, 0.0]


def test_names_are_rdrobusts_in_any_case_and_nothing_else() -> None:
    assert [kernel_name(k) for k in ("TRI", "Triangular", "Epa", "EPANECHNIKOV", "uni", "Uniform")] == [
        "triangular", "triangular", "epanechnikov", "epanechnikov", "uniform", "uniform"]
    for bad in ("gaussian", "", "tria"):
        with pytest.raises(OptionError, match=f"kernel '{bad}' is not one of triangular, epanechnikov, uniform"):
            kernel_weights([0.0], bad)
    with pytest.raises(OptionError, match="kernel None is not one of") as info:
        kernel_name(None)  # type: ignore[arg-type]
    assert isinstance(info.value, CteImpactError)


@pytest.mark.parametrize("h", [0.0, -1.0, float("nan"), "1"])
def test_a_bandwidth_must_be_a_positive_number(h: object) -> None:
    with pytest.raises(OptionError, match="bandwidth must be a positive number"):
        bandwidth_weights([0.0], cutoff=0.0, bandwidth=h, kernel="tri")  # type: ignore[arg-type]


def test_the_former_copies_are_this_one() -> None:
    """rd/baseline.py re-exports the kernel; the expressions of the removed rd/fixed_bandwidth.py and rd/scores.py
    copies give the same bits, and rd/baseline.py's former ``np.where`` form the same values."""
    assert rd_baseline.kernel_weights is kernel_weights
    u = np.random.default_rng(1).uniform(-2.0, 2.0, size=10_000)
    a = np.abs(u)
    former = {"epanechnikov": 0.75 * (1 - u**2) * (a <= 1), "uniform": 0.5 * (a <= 1), "triangular": (1 - a) * (a <= 1)}
    where = {"epanechnikov": np.where(a <= 1, 0.75 * (1 - u * u), 0.0), "uniform": np.where(a <= 1, 0.5, 0.0),
             "triangular": np.where(a <= 1, 1 - a, 0.0)}
    for name in KERNELS:
        assert kernel_weights(u, name).tobytes() == former[name].tobytes()
        assert np.array_equal(kernel_weights(u, name), where[name])


def test_fixed_bandwidth_fits_take_the_kernel_by_any_of_its_names_and_refuse_others() -> None:
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(-1.0, 1.0, size=2000))
    y = 0.5 * x + 0.3 * (x >= 0) + rng.normal(scale=0.2, size=x.size)
    kw = {"cutoff": 0.0, "h": (0.5, 0.5), "b": (0.8, 0.8), "vce": "hc1"}
    full = fit_fixed_bandwidth([y], x, kernel="epanechnikov", **kw)[0]
    short = fit_fixed_bandwidth([y], x, kernel="EPA", **kw)[0]
    tri = fit_fixed_bandwidth([y], x, kernel="triangular", **kw)[0]
    assert short.kernel == full.kernel == "epanechnikov"
    assert (short.estimate, short.se_robust) == (full.estimate, full.se_robust)
    assert tri.estimate != full.estimate  # the kernel is used, not ignored
    with pytest.raises(OptionError, match="kernel 'gauss'"):  # once silently triangular
        fit_fixed_bandwidth([y], x, kernel="gauss", **kw)
