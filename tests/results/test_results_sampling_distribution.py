"""SamplingDistribution: validation, draws (checked against the stated distribution within Monte Carlo error),
subsets and its plain-data form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from cteimpact.errors import OptionError
from cteimpact.results import SamplingDistribution, dumps_json

LABELS = ("dropout", "graduation", "earnings_age19")
MEAN = np.array([-0.023, 0.031, 812.0])
# a valid covariance: correlations -0.6, 0.3, -0.2
SD = np.array([0.008, 0.011, 240.0])
CORR = np.array([[1.0, -0.6, 0.3], [-0.6, 1.0, -0.2], [0.3, -0.2, 1.0]])
COV = CORR * np.outer(SD, SD)

N_DRAWS = 200_000
Z = 5.0  # tolerance in Monte Carlo standard errors (a two-sided 5-SE miss has probability 6e-7 per element)


@pytest.fixture
def dist() -> SamplingDistribution:
    return SamplingDistribution(LABELS, MEAN, COV, centre="bias-corrected estimate", scale="robust standard error")


# -- validation ------------------------------------------------------------------------------------------------------


def test_non_symmetric_covariance():
    cov = COV.copy()
    cov[0, 1] += 1e-5
    with pytest.raises(OptionError, match=r"^sampling distribution covariance must be symmetric$"):
        SamplingDistribution(LABELS, MEAN, cov)


def test_covariance_not_positive_semi_definite():
    cov = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with pytest.raises(OptionError, match=r"^sampling distribution covariance must be positive semi-definite$"):
        SamplingDistribution(("a", "b"), [0.0, 0.0], cov)
    with pytest.raises(OptionError, match="positive semi-definite"):
        SamplingDistribution(("a",), [0.0], [[-1e-3]])


@pytest.mark.parametrize(
    ("mean", "cov", "shapes"),
    [
        ([0.0, 1.0], np.eye(3), "(2,) and (3, 3)"),
        ([0.0, 1.0, 2.0], np.eye(2), "(3,) and (2, 2)"),
        ([0.0, 1.0, 2.0], np.ones((3, 2)), "(3,) and (3, 2)"),
    ],
)
def test_wrong_shapes(mean, cov, shapes):
    with pytest.raises(OptionError) as info:
        SamplingDistribution(LABELS, mean, cov)
    assert str(info.value) == (
        f"sampling distribution with 3 labels needs a mean of length 3 and a 3×3 covariance, got {shapes}"
    )


def test_duplicate_labels():
    with pytest.raises(OptionError, match=r"^sampling distribution labels must be unique, got \['a', 'b', 'a'\]$"):
        SamplingDistribution(("a", "b", "a"), [0.0, 0.0, 0.0], np.eye(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values(bad):
    with pytest.raises(OptionError, match="must be finite"):
        SamplingDistribution(("a",), [bad], [[1.0]])
    with pytest.raises(OptionError, match="must be finite"):
        SamplingDistribution(("a",), [0.0], [[bad]])


@pytest.mark.parametrize("df", [0, -1, math.inf, math.nan])
def test_bad_degrees_of_freedom(df):
    with pytest.raises(OptionError, match="degrees of freedom must be positive"):
        SamplingDistribution(("a",), [0.0], [[1.0]], df=df)


def test_arrays_are_copied_and_read_only(dist):
    mean = MEAN.copy()
    d = SamplingDistribution(LABELS, mean, COV)
    mean[0] = 99.0
    assert d.mean[0] == MEAN[0]
    with pytest.raises(ValueError, match="read-only"):
        d.mean[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        d.cov[0, 0] = 1.0


# -- draws -----------------------------------------------------------------------------------------------------------


def test_draws_match_mean_and_covariance_within_monte_carlo_error(dist):
    x = dist.draw(N_DRAWS, np.random.default_rng(20240611))
    assert x.shape == (N_DRAWS, 3)
    # sample mean: SE = sqrt(Sigma_ii / n)
    se_mean = np.sqrt(np.diag(COV) / N_DRAWS)
    assert np.all(np.abs(x.mean(axis=0) - MEAN) < Z * se_mean)
    # sample covariance of normal draws: Var(S_ij) = (Sigma_ii Sigma_jj + Sigma_ij^2) / n
    s = np.cov(x, rowvar=False)
    se_cov = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV**2) / N_DRAWS)
    assert np.all(np.abs(s - COV) < Z * se_cov)
    # and the tolerance is tight: 5 SE of a variance is 1.6% of it
    assert np.all(Z * np.diag(se_cov) / np.diag(COV) < 0.016)


def test_marginals_are_normal(dist):
    x = dist.draw(N_DRAWS, np.random.default_rng(7))
    for i in range(3):
        z = (x[:, i] - MEAN[i]) / SD[i]
        # Kolmogorov-Smirnov against N(0, 1): the 1e-4 critical value of sqrt(n) D is about 2.2
        assert stats.kstest(z, "norm").pvalue > 1e-4


def test_same_seed_gives_identical_draws(dist):
    a = dist.draw(1000, np.random.default_rng(123))
    b = dist.draw(1000, np.random.default_rng(123))
    c = dist.draw(1000, np.random.default_rng(124))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_singular_covariance_of_perfectly_correlated_estimates():
    # y = 2 x exactly: rank-1 covariance
    d = SamplingDistribution(("x", "y"), [1.0, 2.0], [[1.0, 2.0], [2.0, 4.0]])
    x = d.draw(10_000, np.random.default_rng(1))
    np.testing.assert_allclose(x[:, 1] - 2.0, 2.0 * (x[:, 0] - 1.0), rtol=0, atol=1e-12)
    assert abs(np.std(x[:, 0]) - 1.0) < Z / math.sqrt(2 * 10_000)  # SE of an SD ~ sigma / sqrt(2n)
    # a zero variance gives a constant
    d0 = SamplingDistribution(("a", "b"), [3.0, 0.0], [[0.0, 0.0], [0.0, 1.0]])
    assert np.all(d0.draw(100, np.random.default_rng(2))[:, 0] == 3.0)


def test_t_family_has_heavier_tails_and_the_t_scale():
    df = 5.0
    d = SamplingDistribution(("a", "b"), [0.0, 10.0], [[1.0, 0.5], [0.5, 4.0]], df=df)
    assert d.family == "t"
    assert d.df == 5.0
    x = d.draw(N_DRAWS, np.random.default_rng(99))
    normal = SamplingDistribution(("a", "b"), [0.0, 10.0], [[1.0, 0.5], [0.5, 4.0]]).draw(
        N_DRAWS, np.random.default_rng(99))
    z = x[:, 0]
    # tail probability P(|T_5| > 3) against the t distribution (0.030), normal gives 0.0027
    p_t = 2 * stats.t.sf(3.0, df)
    p_n = 2 * stats.norm.sf(3.0)
    se = math.sqrt(p_t * (1 - p_t) / N_DRAWS)
    tail = float(np.mean(np.abs(z) > 3.0))
    assert abs(tail - p_t) < Z * se
    assert tail > 5 * p_n
    assert float(np.mean(np.abs(normal[:, 0]) > 3.0)) < 2 * p_n
    # each standardised component is t(df): KS test
    assert stats.kstest((x[:, 1] - 10.0) / 2.0, stats.t(df).cdf).pvalue > 1e-4
    # covariance of a multivariate t is cov * df / (df - 2)
    s = np.cov(x, rowvar=False)
    np.testing.assert_allclose(s, d.cov * df / (df - 2), rtol=0.05)


def test_zero_draws_and_negative_count(dist):
    assert dist.draw(0, np.random.default_rng(0)).shape == (0, 3)
    with pytest.raises(OptionError, match="number of draws must be non-negative, got -1"):
        dist.draw(-1, np.random.default_rng(0))


# -- subsets, marginals, plain data -------------------------------------------------------------------------------


def test_marginal_and_std_errors(dist):
    assert dist.marginal("graduation") == (0.031, pytest.approx(0.011, rel=1e-15))
    np.testing.assert_allclose(dist.std_errors, SD, rtol=1e-15)
    with pytest.raises(OptionError) as info:
        dist.marginal("employment")
    assert str(info.value) == "no estimate labelled 'employment'; available: dropout, graduation, earnings_age19"


def test_subset_reorders_and_keeps_the_covariance(dist):
    sub = dist.subset(["earnings_age19", "dropout"])
    assert sub.labels == ("earnings_age19", "dropout")
    np.testing.assert_array_equal(sub.mean, [812.0, -0.023])
    np.testing.assert_array_equal(sub.cov, [[COV[2, 2], COV[2, 0]], [COV[0, 2], COV[0, 0]]])
    assert (sub.centre, sub.scale, sub.joint, sub.df) == (dist.centre, dist.scale, dist.joint, dist.df)
    with pytest.raises(OptionError, match="labels must be unique"):
        dist.subset(["dropout", "dropout"])
    with pytest.raises(OptionError, match="no estimate labelled 'x'"):
        dist.subset(["x"])


def test_independent():
    d = SamplingDistribution.independent(["a", "b"], [1.0, 2.0], [0.5, 3.0], df=10)
    np.testing.assert_array_equal(d.cov, np.diag([0.25, 9.0]))
    assert d.joint is False
    assert d.df == 10.0
    assert SamplingDistribution.independent(["a"], [1.0], [0.5]).joint is True


@pytest.mark.parametrize("df", [None, 12, 7.5])
def test_to_dict_from_dict_round_trip_is_exact(dist, df):
    d = SamplingDistribution(LABELS, MEAN, COV, joint=False, df=df, centre="c", scale="s")
    record = d.to_dict()
    assert record["family"] == ("normal" if df is None else "t")
    back = SamplingDistribution.from_dict(json.loads(dumps_json(record)))
    assert back.labels == d.labels
    assert back.mean.tobytes() == d.mean.tobytes()
    assert back.cov.tobytes() == d.cov.tobytes()
    # regression: an integer df used to come back as a float, changing the JSON text
    assert dumps_json(back.to_dict()) == dumps_json(record)


def test_from_dict_errors():
    with pytest.raises(OptionError, match=r"^sampling distribution record lacks the key 'cov'$"):
        SamplingDistribution.from_dict({"labels": ["a"], "mean": [0.0]})
    with pytest.raises(OptionError, match="'labels' must be a list of labels, not a string"):
        SamplingDistribution.from_dict({"labels": "ab", "mean": [0.0, 0.0], "cov": [[1, 0], [0, 1]]})
