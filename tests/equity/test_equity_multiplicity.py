"""Holm and Benjamini-Hochberg adjustments against statsmodels' multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from cteimpact.equity import adjust_pvalues, bh_adjust
from cteimpact.errors import OptionError


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bh_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 5), rng.uniform(0, 1, 20)])
    p[[3, 7]] = p[2]  # ties
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(bh_adjust(p), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)


def test_missing_pvalues_stay_missing_and_do_not_count() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = bh_adjust(p)
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1])
    assert np.isnan(bh_adjust([np.nan])).all()


def test_bh_by_hand() -> None:
    # m = 3: sorted 0.01, 0.02, 0.04 -> 0.03, 0.03, 0.04
    np.testing.assert_allclose(bh_adjust([0.04, 0.01, 0.02]), [0.04, 0.03, 0.03])


def test_unknown_method_is_refused() -> None:
    with pytest.raises(OptionError, match="multiplicity must be one of holm, bh, got 'bonferroni'"):
        adjust_pvalues([0.1], "bonferroni")  # type: ignore[arg-type]
