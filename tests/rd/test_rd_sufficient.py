"""Sharp RD from score cells (cteimpact.rd.sufficient) against ``rdrobust.rdrobust`` on the student rows.

The reference is rdrobust itself, called through our thin adapter (:func:`cteimpact.rd.adapters.rdrobust.fit_rdrobust`,
which passes the arrays to ``rdrobust.rdrobust`` and translates its output into the same ``LocalPolynomialFit``
fields). Sharp designs, and fuzzy ones (take-up ``t``; the first stage compared like the main jump). Data are
generated with a discrete score (40-150 distinct values), clusters (14-200), 5k-50k rows and an effect at the
cutoff, grouped by pandas into cells.

Tolerances (element by element, every float field of the fit):

* **Given bandwidths**: relative 1e-10. The only difference from rdrobust is the order of summation (by cell rather
  than by row); the largest relative difference measured is about 1e-11.
* The local polynomial coefficients (``beta_left``/``beta_right``) are compared relative to the larger of the
  coefficient and its standard error (a curvature estimated as nearly 0 is not determined beyond its noise), their
  variance matrices relative to ``sqrt(V_jj V_kk)`` (the scale of a covariance; off-diagonal terms can be near 0).
* Three outputs are computed by cancellation and are compared on the scale of their inputs instead: the bias of each
  side (``limit − limit_bc``, a difference of two nearly equal numbers) to 1e-10 of the larger limit; a confidence
  bound (``tau ± z·se``, which may lie near 0) to 1e-10 of ``|tau| + z·se``; a p-value ``2Φ(−|z|)`` to a relative
  1e-10·max(1, z²) (its relative sensitivity to ``z`` is about ``z²``).
* **Selected bandwidths**: relative 1e-8. The bandwidth selector's pilot fits (polynomials of order ``q + 1`` and
  ``q + 2`` over a whole side, in rdrobust's standardised score) are ill-conditioned: rdrobust's own bandwidths
  change by up to 3e-9 (relative) when the same rows are given in another order (measured on the ``level50`` data
  below), and every estimate moves with the bandwidth. To show that the bandwidth is the only source of the
  difference, rdrobust is also run at our selected bandwidths, and that fit must agree with ours to the 1e-10 rules.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rd_cells_helpers import RTOL_GIVEN, RTOL_SELECTED, assert_same, grouped, make_data, make_fuzzy, reference

from cteimpact.errors import DataValidationError, DesignError, MissingColumnError, OptionError, SmallSampleWarning
from cteimpact.rd.sufficient import ScoreCells, cells_from_frame, fit_cells


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return {
        "base": make_data(1),
        "few": make_data(2, n=5_000, n_values=40, n_clusters=14),
        "big": make_data(3, n=50_000, n_values=150, n_clusters=200, cutoff=10.0, step=0.5, binary=True),
        "asym": make_data(4, n=8_000, n_values=60, n_clusters=40, cutoff=-3.0, step=2.0, share_below=0.7),
        "level50": make_data(5, n=50_000, n_values=150, n_clusters=200, cutoff=10.0, step=0.5, level=50.0),
    }


VCES = ["nn", "hc0", "hc1", "hc2", "hc3", "cr1", "cr2", "cr3"]
KERNELS = ["triangular", "uniform", "epanechnikov"]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("vce", VCES)
def test_given_bandwidths(data: dict[str, pd.DataFrame], vce: str, kernel: str) -> None:
    df = data["base"]
    for options in ({"h": 8.0}, {"h": (7.0, 9.5), "b": (11.0, 12.5)}, {"h": 12.0, "b": 6.0}):
        opts: dict[str, Any] = {"vce": vce, "kernel": kernel, **options}
        if vce == "cr2" and options["h"] == 12.0:
            continue  # test_cr2_wider_main_bandwidth
        assert_same(grouped(df, **opts), reference(df, **opts), RTOL_GIVEN)


def test_rho(data: dict[str, pd.DataFrame]) -> None:
    """``b = h / rho``, with ``h`` given or selected."""
    df = data["base"]
    assert_same(grouped(df, vce="hc1", h=8.0, rho=0.5), reference(df, vce="hc1", h=8.0, rho=0.5), RTOL_GIVEN)
    ours = grouped(df, vce="cr1", rho=0.8)
    assert ours.b[0] == ours.h[0] / 0.8
    assert_same(ours, reference(df, vce="cr1", rho=0.8), RTOL_SELECTED)
    with pytest.raises(OptionError, match="either b or rho"):
        grouped(df, vce="hc1", h=8.0, b=9.0, rho=0.5)


def test_cr2_wider_main_bandwidth(data: dict[str, pd.DataFrame]) -> None:
    """CR2 with ``h > b``: the robust variance's leverage is the bias regression's, and 8 of the 56 clusters have
    fewer than ``q + 1 = 3`` distinct scores within ``b``, so their leverage matrix is singular. rdrobust keeps every
    direction whose singular value exceeds 1e-10 of the largest, and the null direction's singular value is rounding
    noise of about 1e-8 relative: kept, it adds a term of order one fixed by rounding (rdrobust's own robust SE moves
    by 9e-9 when the rows are permuted). The robust SE (and what follows from it) is compared to 1e-5 here; every
    other output, which does not use that leverage, to 1e-10."""
    df = data["base"]
    ours, ref = grouped(df, vce="cr2", h=12.0, b=6.0), reference(df, vce="cr2", h=12.0, b=6.0)
    assert abs(ours.se_robust - ref.se_robust) <= 1e-5 * ref.se_robust
    ours = replace(ours, se_robust=ref.se_robust, z=(ours.z[0], ours.z[1], ref.z[2]),
                   p_value=(ours.p_value[0], ours.p_value[1], ref.p_value[2]), ci=(ours.ci[0], ours.ci[1], ref.ci[2]))
    assert_same(ours, ref, RTOL_GIVEN)


@pytest.mark.parametrize("selector", ["mserd", "msetwo"])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("vce", VCES)
def test_selected_bandwidths(data: dict[str, pd.DataFrame], vce: str, kernel: str, selector: str) -> None:
    df = data["base"]
    opts: dict[str, Any] = {"vce": vce, "kernel": kernel, "bwselect": selector}
    ours = grouped(df, **opts)
    assert_same(ours, reference(df, **opts), RTOL_SELECTED)
    at_ours = reference(df, vce=vce, kernel=kernel, h=ours.h, b=ours.b)
    assert_same(ours, replace(at_ours, bwselect=selector), RTOL_GIVEN)


@pytest.mark.parametrize(("name", "vce", "kernel", "selector", "p"), [
    ("few", "cr1", "triangular", "mserd", 1),
    ("few", "cr3", "uniform", "msetwo", 1),
    ("few", "nn", "epanechnikov", "mserd", 2),
    ("big", "cr3", "triangular", "mserd", 1),
    ("big", "nn", "triangular", "msetwo", 1),
    ("big", "hc1", "epanechnikov", "mserd", 2),
    ("asym", "hc1", "triangular", "msetwo", 1),
    ("asym", "cr3", "epanechnikov", "mserd", 1),
    ("asym", "nn", "uniform", "msetwo", 2),
    ("level50", "hc1", "epanechnikov", "msetwo", 1),
    ("level50", "cr1", "epanechnikov", "msetwo", 1),
])
def test_other_designs(data: dict[str, pd.DataFrame], name: str, vce: str, kernel: str, selector: str,
                       p: int) -> None:
    """Few clusters (20), many rows and values (50k, 150, binary outcome), an asymmetric grid with a cutoff away
    from the middle, a large outcome level (mean 50), local quadratic fits."""
    df = data[name]
    cutoff = {"big": 10.0, "level50": 10.0, "asym": -3.0}.get(name, 0.0)
    opts: dict[str, Any] = {"vce": vce, "kernel": kernel, "bwselect": selector, "p": p, "cutoff": cutoff}
    ours = grouped(df, **opts)
    assert_same(ours, reference(df, **opts), RTOL_SELECTED)
    at_ours = reference(df, vce=vce, kernel=kernel, p=p, cutoff=cutoff, h=ours.h, b=ours.b)
    assert_same(ours, replace(at_ours, bwselect=selector), RTOL_GIVEN)


def test_level50_reference_moves_with_row_order(data: dict[str, pd.DataFrame]) -> None:
    """The reason for RTOL_SELECTED: rdrobust's own bandwidths differ by more than 1e-10 between two orders of the
    same rows on these data, and ours is no farther from rdrobust than that spread (times 3)."""
    df = data["level50"]
    opts: dict[str, Any] = {"vce": "hc1", "kernel": "epanechnikov", "bwselect": "msetwo", "cutoff": 10.0}
    first = reference(df, **opts)
    second = reference(df.sample(frac=1.0, random_state=3), **opts)
    spread = float(np.max(np.abs(np.asarray(first.b) - np.asarray(second.b)) / np.asarray(first.b)))
    assert spread > 1e-10
    ours = grouped(df, **opts)
    assert float(np.max(np.abs(np.asarray(ours.b) - np.asarray(first.b)) / np.asarray(first.b))) <= 3 * spread


def test_nearest_neighbour_windows_cross_values() -> None:
    """Most score values have at most three rows, so the nearest-neighbour windows reach into the next values,
    including values at equal distances on both sides (a regular grid)."""
    rng = np.random.default_rng(11)
    x = rng.integers(-150, 150, 700).astype(float) / 4
    y = 0.5 * (x >= 0) + 0.02 * x + rng.normal(0, 1, len(x))
    df = pd.DataFrame({"x": x, "y": y})
    for opts in ({"vce": "nn", "h": 12.0, "b": 20.0}, {"vce": "nn", "h": (9.0, 15.0)}):
        assert_same(grouped(df, **opts), reference(df, **opts), RTOL_GIVEN)
    assert_same(grouped(df, vce="nn"), reference(df, vce="nn"), RTOL_SELECTED)


def test_few_cluster_warning(data: dict[str, pd.DataFrame]) -> None:
    df = data["few"]
    cells = cells_from_frame(df, score="x", outcome="y", cluster="g")
    with pytest.warns(SmallSampleWarning, match=r"clusters below the cutoff and \d+ at or above"):
        ours = fit_cells(cells, vce="cr1", h=5.0)
    ref = reference(df, vce="cr1", h=5.0)
    assert len(ours.warnings) == len(ref.warnings) == 1
    assert_same(ours, ref, RTOL_GIVEN)


def test_synthetic_study(synth_data: Path) -> None:
    """analyses/ccpt-dropout-rd.toml on the shipped synthetic data: the sharp reduced form on dropout, running
    variable ``rubric_score - cutoff`` (cutoff 0), the study's sample restrictions, CR3 clustered by consortium (the
    study's vce), bandwidth selected (mserd) and given."""
    frame = pd.read_parquet(synth_data / "students.parquet")
    frame = frame[(frame["cohort"] >= frame["award_year"]) & (frame["cohort"] <= frame["award_year"] + 3)]
    frame = frame[frame["dropout"].notna()]
    df = pd.DataFrame({"x": (frame["rubric_score"] - frame["cutoff"]).to_numpy(),
                       "y": frame["dropout"].to_numpy(float),
                       "g": pd.factorize(frame["consortium_id"], sort=True)[0]})
    for vce in ("cr3", "cr1"):
        ours = grouped(df, vce=vce)
        assert_same(ours, reference(df, vce=vce), RTOL_SELECTED)
        assert_same(ours, replace(reference(df, vce=vce, h=ours.h, b=ours.b), bwselect="mserd"), RTOL_GIVEN)
    assert_same(grouped(df, vce="cr3", h=10.0), reference(df, vce="cr3", h=10.0), RTOL_GIVEN)


def test_too_few_values_on_a_side() -> None:
    """Two distinct scores below the cutoff cannot carry the quadratic bias fit: rdrobust refuses (translated by the
    adapter) and so do we, with the column and the counts."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.choice([-2.0, -1.0], 300), rng.integers(0, 20, 700).astype(float)])
    df = pd.DataFrame({"x": x, "y": rng.normal(0, 1, len(x))})
    with pytest.raises(DesignError):
        reference(df, vce="hc1")
    with pytest.raises(DesignError, match=r"2 distinct values of 'x' below the cutoff \(2 below, 20 at or above\)"):
        grouped(df, vce="hc1")


def test_too_few_values_within_the_bandwidth(data: dict[str, pd.DataFrame]) -> None:
    df = data["base"]
    with pytest.raises(DesignError):
        reference(df, vce="hc1", h=1.5)
    with pytest.raises(DesignError, match=r"distinct values of 'x' below the cutoff within h .* within b"):
        grouped(df, vce="hc1", h=1.5)


def test_options_and_cells_refused(data: dict[str, pd.DataFrame]) -> None:
    df = data["base"]
    plain = cells_from_frame(df, score="x", outcome="y")
    clustered = cells_from_frame(df, score="x", outcome="y", cluster="g")
    with pytest.raises(OptionError, match="needs cells grouped by a cluster"):
        fit_cells(plain, vce="cr3")
    with pytest.raises(OptionError, match="grouped by cluster 'g'"):
        fit_cells(clustered, vce="hc1")
    with pytest.raises(OptionError, match="kernel"):
        fit_cells(plain, kernel="gaussian")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="bwselect"):
        fit_cells(plain, bwselect="cerrd")  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="cutoff 100 is not inside"):
        fit_cells(plain, cutoff=100.0)
    with pytest.raises(MissingColumnError):
        cells_from_frame(df, score="score", outcome="y")
    with pytest.raises(DataValidationError, match="column 'y' has 1 missing"):
        cells_from_frame(df.assign(y=df["y"].where(df.index != 3)), score="x", outcome="y")


def test_cells_hold_counts_sums_and_centred_squares(data: dict[str, pd.DataFrame]) -> None:
    df = data["few"]
    cells = cells_from_frame(df, score="x", outcome="y", cluster="g")
    assert isinstance(cells, ScoreCells)
    assert cells.n_rows == len(df)
    groups = df.groupby(["x", "g"])["y"]
    assert cells.n_cells == groups.ngroups
    np.testing.assert_array_equal(cells.n, groups.size().to_numpy())
    np.testing.assert_allclose(cells.sum_y, groups.sum().to_numpy(), rtol=1e-14)
    np.testing.assert_allclose(cells.m2_y, groups.var(ddof=0).to_numpy() * groups.size().to_numpy(), rtol=1e-12,
                               atol=1e-12)


# -- fuzzy designs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov"])
@pytest.mark.parametrize("vce", VCES)
def test_fuzzy(data: dict[str, pd.DataFrame], vce: str, kernel: str) -> None:
    """The Wald ratio with its delta-method variance, the first stage (jump in take-up) and the bandwidths selected
    for the ratio (rdrobust's fuzzy selector): given bandwidths to 1e-10, selected to 1e-8 and rdrobust at our
    bandwidths to 1e-10."""
    df = make_fuzzy(data["base"], 1)
    for opts in ({"h": 8.0}, {"h": (7.0, 9.5), "b": (11.0, 12.5)}):
        assert_same(grouped(df, fuzzy=True, vce=vce, kernel=kernel, **opts),
                    reference(df, fuzzy=True, vce=vce, kernel=kernel, **opts), RTOL_GIVEN)
    ours = grouped(df, fuzzy=True, vce=vce, kernel=kernel)
    assert ours.first_stage is not None
    assert_same(ours, reference(df, fuzzy=True, vce=vce, kernel=kernel), RTOL_SELECTED)
    at_ours = reference(df, fuzzy=True, vce=vce, kernel=kernel, h=ours.h, b=ours.b)
    assert_same(ours, replace(at_ours, bwselect="mserd"), RTOL_GIVEN)


def test_fuzzy_one_sided_compliance(data: dict[str, pd.DataFrame]) -> None:
    """No take-up below the cutoff: rdrobust then selects the bandwidth as for a sharp design, and so do we."""
    df = make_fuzzy(data["asym"], 4, cutoff=-3.0)
    df = df.assign(t=np.where(df["x"] < -3.0, 0.0, df["t"]))
    for vce in ("hc1", "cr3"):
        opts: dict[str, Any] = {"vce": vce, "cutoff": -3.0, "bwselect": "msetwo"}
        assert_same(grouped(df, fuzzy=True, **opts), reference(df, fuzzy=True, **opts), RTOL_SELECTED)


def test_fuzzy_without_a_jump_refused(data: dict[str, pd.DataFrame]) -> None:
    df = data["base"].assign(t=1.0)
    with pytest.raises(DesignError):
        reference(df, fuzzy=True, vce="hc1")
    with pytest.raises(DesignError, match="take-up 't' is 1 on both sides of the cutoff"):
        grouped(df, fuzzy=True, vce="hc1")
