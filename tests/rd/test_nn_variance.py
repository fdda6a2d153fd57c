"""Our O(n log n) nearest-neighbour variance equals rdhonest's quadratic ``sigma_nn`` (the port of RDHonest's
``sigmaNN``) element by element, on continuous scores, discrete scores with many ties, rounded scores and scores
whose differences round, for one and two outcome columns and J = 1, 3, 5. Tolerance 1e-12 (relative to 1 + |value|):
the two differ only in the order of summation."""

from __future__ import annotations

import numpy as np
import pytest

from cteimpact.errors import DesignError
from cteimpact.rd.nn_variance import nearest_neighbour_variance

variance = pytest.importorskip("rdhonest.variance", reason="rdhonest (the reference) is not installed")

TOL = 1e-12
KINDS = ["continuous", "few values", "rounded", "rounding"]


def _scores(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "continuous":
        x = rng.normal(size=n)
    elif kind == "few values":
        x = rng.integers(0, 6, size=n).astype(float)
    elif kind == "rounded":
        x = np.round(rng.normal(size=n), 1)
    else:  # large level, small spacing: |x_i - x_k| rounds
        x = 1e6 + rng.integers(0, 4, size=n) * 1e-3
    return np.sort(x)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("j", [1, 3, 5])
def test_equals_reference(kind: str, j: int) -> None:
    rng = np.random.default_rng([KINDS.index(kind), j])
    worst = 0.0
    for n in (2, 3, 7, 40, 151):
        x = _scores(kind, n, rng)
        y2 = np.column_stack([rng.normal(size=n), rng.integers(0, 2, size=n)])
        ref2 = np.asarray(variance.sigma_nn(x, y2, j, np.ones(n))).reshape(n, 4)
        ours2 = nearest_neighbour_variance(x, y2, j)
        assert ours2.shape == (n, 4)
        worst = max(worst, float(np.max(np.abs(ours2 - ref2) / (1 + np.abs(ref2)))))
        y1 = rng.normal(size=n) * 3 + 1
        ref1 = np.atleast_1d(variance.sigma_nn(x, y1, j, np.ones(n)))
        ours1 = nearest_neighbour_variance(x, y1, j)
        assert ours1.shape == (n,)
        worst = max(worst, float(np.max(np.abs(ours1 - ref1) / (1 + np.abs(ref1)))))
    assert worst < TOL, f"largest difference from sigma_nn: {worst:.3g}"


def test_tie_group_shares_neighbours() -> None:
    # x = 0, 0, 0, 0, 1: with J = 3 the first four see only each other (distance 0); the last sees all four
    x = np.array([0.0, 0, 0, 0, 1])
    y = np.array([1.0, 2, 3, 4, 10])
    out = nearest_neighbour_variance(x, y, 3)
    expected_first = 3 / 4 * (1 - (2 + 3 + 4) / 3) ** 2
    expected_last = 4 / 5 * (10 - 2.5) ** 2
    assert out[0] == pytest.approx(expected_first, rel=1e-15)
    assert out[4] == pytest.approx(expected_last, rel=1e-15)


def test_unsorted_and_bad_input_raise() -> None:
    with pytest.raises(DesignError, match="sorted"):
        nearest_neighbour_variance(np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    with pytest.raises(DesignError, match="3 outcome rows for 2"):
        nearest_neighbour_variance(np.array([0.0, 1.0]), np.zeros(3))
    with pytest.raises(DesignError, match="J must be at least 1"):
        nearest_neighbour_variance(np.array([0.0, 1.0]), np.zeros(2), 0)
