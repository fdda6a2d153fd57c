"""The projection of a design's effect onto the surrogate index (cteimpact.surrogate.projection): the algebra
against the hand combination and against the difference-in-means path, the joined sampling distribution, refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from surrogate_dgp import experiment, observational

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.surrogate import SurrogateIndex, SurrogateModel, surrogate_effect
from cteimpact.surrogate.effect import compare_arms
from cteimpact.surrogate.projection import (
    ProjectedResults,
    SurrogateProjection,
    joined_distribution,
    project_effect,
)

SURROGATES = ["credits", "credential"]


@pytest.fixture(scope="module")
def model() -> SurrogateModel:
    return SurrogateIndex(observational(800, np.random.default_rng(41)), outcome="earnings_26",
                          surrogates=SURROGATES).fit()


def _rows(dist: SamplingDistribution, *, estimate_shift: float = 0.0) -> dict[str, EffectEstimate]:
    return {lab: EffectEstimate.from_normal(lab, lab, "design effect", float(dist.mean[i]) + estimate_shift,
                                            math.sqrt(dist.cov[i, i]), ci_type="robust_bias_corrected",
                                            centre=float(dist.mean[i]), n_effective=500.0)
            for i, lab in enumerate(dist.labels)}


def test_hand_combination(model: SurrogateModel) -> None:
    dist = SamplingDistribution(("h", "credits", "credential", "other"), np.array([1.7, 0.31, 0.12, 5.0]),
                                np.array([[0.09, 0.01, 0.002, 0.0], [0.01, 0.004, 0.0005, 0.0],
                                          [0.002, 0.0005, 0.003, 0.0], [0.0, 0.0, 0.0, 1.0]]), joint=True)
    rows = _rows(dist, estimate_shift=0.05)
    p = project_effect(model, dist, rows, index_label="h", surrogate_labels={s: s for s in SURROGATES},
                       label="earnings_26[surrogate]", outcome="earnings_26")
    tau = np.array([0.31, 0.12])
    cov_ss = model.cov[1:3, 1:3]
    assert p.centre == 1.7
    assert p.estimate == pytest.approx(1.75, abs=1e-15)  # the design's point estimate (conventional)
    assert p.design_variance == 0.09
    assert p.model_variance == pytest.approx(float(tau @ cov_ss @ tau), rel=1e-10)
    assert p.variance == pytest.approx(0.09 + float(tau @ cov_ss @ tau), rel=1e-10)
    row = p.row
    assert row.label == "earnings_26[surrogate]" and row.outcome == "earnings_26"
    assert row.ci_type == "robust_bias_corrected" and row.n_effective == 500.0
    assert row.std_error == pytest.approx(p.std_error, rel=1e-15)
    assert (row.ci_lower + row.ci_upper) / 2 == pytest.approx(1.7, abs=1e-12)  # interval around the centre
    assert row.ci_upper - row.ci_lower == pytest.approx(2 * 1.959963984540054 * p.std_error, rel=1e-10)
    assert p.linear_combination(model) == pytest.approx(float(model.params[1:3] @ tau), rel=1e-12)
    rec = p.to_dict()
    assert rec["variance"] == {"design": p.design_variance, "model": p.model_variance, "total": p.variance}
    assert rec["surrogate_effects"] == {"credits": 0.31, "credential": 0.12}


def test_difference_in_means_design_gives_the_first_order_surrogate_effect(model: SurrogateModel) -> None:
    """With a linear design (difference in means) and no covariates, the design's effect on the index is β'd and its
    variance β'Σ_d β: the projection is then the difference-in-means estimator with first-order variance."""
    trial = experiment(700, np.random.default_rng(42))
    comp = compare_arms(model, trial, treatment="treat")
    beta = model.params
    h_effect = float(comp.effects @ beta)
    h_var = float(beta @ comp.cov @ beta)
    cross = comp.cov @ beta
    mean = np.array([h_effect, *comp.effects[1:]])
    cov = np.zeros((3, 3))
    cov[0, 0] = h_var
    cov[0, 1:] = cov[1:, 0] = cross[1:]
    cov[1:, 1:] = comp.cov[1:, 1:]
    dist = SamplingDistribution(("h", *SURROGATES), mean, cov, joint=True)
    p = project_effect(model, dist, _rows(dist), index_label="h", surrogate_labels={s: s for s in SURROGATES},
                       label="y[surrogate]", outcome="earnings_26")
    ref = surrogate_effect(model, trial, treatment="treat", variance="first_order")
    assert p.centre == pytest.approx(ref.effect, rel=1e-10)
    assert p.variance == pytest.approx(ref.variance.total, rel=1e-10)
    assert p.model_variance == pytest.approx(ref.variance.model, rel=1e-10)
    assert p.design_variance == pytest.approx(ref.variance.experimental, rel=1e-10)


def test_refusals(model: SurrogateModel) -> None:
    dist = SamplingDistribution(("h", "credits"), np.array([1.0, 0.2]), np.diag([0.1, 0.01]))
    rows = _rows(dist)
    with pytest.raises(OptionError, match=r"no design estimate is named for the surrogate\(s\) credential"):
        project_effect(model, dist, rows, index_label="h", surrogate_labels={"credits": "credits"}, label="x",
                       outcome="y")
    with pytest.raises(OptionError, match=r"no estimate 'credential\[reduced_form\]' to project"):
        project_effect(model, dist, rows, index_label="h",
                       surrogate_labels={"credits": "credits", "credential": "credential[reduced_form]"},
                       label="x", outcome="y")
    with pytest.raises(OptionError, match="earnings_26 appear in the design's results and the surrogate"):
        joined_distribution([SamplingDistribution(("earnings_26",), np.zeros(1), np.eye(1)),
                             SamplingDistribution(("earnings_26",), np.zeros(1), np.eye(1))])


def test_projection_results_and_joined_distribution(model: SurrogateModel) -> None:
    dist = SamplingDistribution(("h", "credits", "credential", "h[reduced_form]", "credits[reduced_form]",
                                 "credential[reduced_form]"), np.array([2.0, 0.3, 0.1, 1.0, 0.15, 0.05]),
                                np.diag([0.2, 0.01, 0.004, 0.05, 0.003, 0.001]))
    rows = _rows(dist)
    parts = [project_effect(model, dist, rows, index_label=f"h{k}",
                            surrogate_labels={s: f"{s}{k}" for s in SURROGATES}, label=f"y[surrogate]{k}",
                            outcome="earnings_26") for k in ("", "[reduced_form]")]
    proj = SurrogateProjection(tuple(parts), tuple(p.row for p in parts), {"outcome": "earnings_26"},
                               SampleFlow("study sample", 500), ("an assumption",))
    pd_ = proj.sampling_distribution()
    assert pd_.labels == ("y[surrogate]", "y[surrogate][reduced_form]")
    assert pd_.mean.tolist() == [2.0, 1.0]
    assert np.diag(pd_.cov).tolist() == pytest.approx([parts[0].variance, parts[1].variance], rel=1e-15)
    assert pd_.cov[0, 1] == 0.0 and pd_.joint is False
    design = SamplingDistribution(("dropout",), np.array([-0.02]), np.array([[1e-4]]), df=30.0)

    class _Design:
        estimates = (EffectEstimate.from_normal("dropout", "dropout", "rd", -0.02, 0.01),)

        def sampling_distribution(self) -> SamplingDistribution:
            return design

    joined = ProjectedResults(_Design(), proj)  # type: ignore[arg-type]
    jd = joined.sampling_distribution()
    assert jd.labels == ("dropout", "y[surrogate]", "y[surrogate][reduced_form]")
    assert jd.mean.tolist() == [-0.02, 2.0, 1.0]
    assert jd.cov[0, 0] == 1e-4 and jd.cov[1, 1] == pd_.cov[0, 0] and jd.cov[0, 1] == 0.0
    assert jd.df == 30.0  # the heaviest tails among the parts
    assert joined.labels == ("dropout", "y[surrogate]", "y[surrogate][reduced_form]")
    assert "an assumption" in proj.summary()
    frame = proj.tidy()
    assert isinstance(frame, pd.DataFrame)
    assert frame["label"].tolist() == ["y[surrogate]", "y[surrogate][reduced_form]"]
