"""Holm's step-down adjustment comes from statsmodels, with missing p-values kept missing and not counted."""

from __future__ import annotations

import numpy as np

from cteimpact.stats import holm_adjust


def test_holm_matches_the_step_down_formula_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    # sorted: 0.005 (x5), 0.01 (x4), 0.03 (x3), 0.04 (x2), 0.2 (x1), then running maxima
    assert np.array_equal(holm_adjust(p), np.array([0.04, 0.09, 0.09, 0.2, 0.025]))


def test_missing_p_values_stay_missing_and_do_not_count() -> None:
    out = holm_adjust([0.01, float("nan"), 0.04])
    assert np.isnan(out[1])
    assert np.allclose(out[[0, 2]], [0.02, 0.04], rtol=0, atol=1e-15)  # two tests, not three
    assert np.isnan(holm_adjust([float("nan")])).all()


def test_adjusted_values_are_capped_at_one() -> None:
    assert holm_adjust([0.6, 0.7]).tolist() == [1.0, 1.0]


def test_holm_is_bit_for_bit_statsmodels_multipletests() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(5)
    for m in (1, 2, 7, 40, 333):
        p = rng.uniform(0, 0.3, m) ** rng.uniform(0.5, 3)
        p[rng.integers(0, m, m // 4)] = p[0]  # ties
        assert holm_adjust(p).tobytes() == multipletests(p, method="holm")[1].tobytes()
