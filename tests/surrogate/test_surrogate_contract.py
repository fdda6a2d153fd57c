"""The surrogate-index results honour the results contract, state their assumptions, record every exclusion and
are reproducible."""

from __future__ import annotations

import json
import pickle

import matplotlib
import numpy as np
import pandas as pd
import pytest
from surrogate_dgp import Design, experiment, observational

from cteimpact.data.columns import ColumnMap
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.results.contract import ImpactResults, ResultsRecord
from cteimpact.results.estimate import TIDY_COLUMNS
from cteimpact.surrogate import (
    SurrogateEffect,
    SurrogateIndex,
    SurrogateModel,
    SurrogateValidation,
    from_surrogate_effects,
    surrogate_effect,
    validate_on_older_cohorts,
)

matplotlib.use("Agg")

SURROGATES = ["credits", "credential"]


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    return observational(600, np.random.default_rng(31))


@pytest.fixture(scope="module")
def model(obs: pd.DataFrame) -> SurrogateModel:
    return SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=["baseline_score"],
                          cluster="school").fit()


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    return experiment(600, np.random.default_rng(32), schools=24)


@pytest.fixture(scope="module")
def effect(model: SurrogateModel, trial: pd.DataFrame) -> SurrogateEffect:
    return surrogate_effect(model, trial, treatment="treat", adjust=["baseline_score"], cluster="school",
                            n_boot=199, seed=3)


@pytest.fixture(scope="module")
def check(model: SurrogateModel) -> SurrogateValidation:
    older = experiment(600, np.random.default_rng(33), Design(direct=0.5), with_outcome=True)
    return validate_on_older_cohorts(model, older, treatment="treat")


def test_effect_rows_and_tidy(effect: SurrogateEffect, trial: pd.DataFrame) -> None:
    assert isinstance(effect, ImpactResults)
    assert effect.labels == ("earnings_26", "earnings_26[bootstrap]", "credits", "credential")
    tidy = effect.tidy()
    assert tuple(tidy.columns) == TIDY_COLUMNS
    assert tidy["n_effective"].tolist() == [600.0] * 4
    assert effect.params["earnings_26"] == effect.effect
    assert effect.std_errors["earnings_26"] == effect.std_error
    ci = effect.conf_int(0.9)
    assert ci.loc["earnings_26", "lower"] < effect.effect < ci.loc["earnings_26", "upper"]
    assert effect.options["adjust"] == ["baseline_score"]
    assert effect.options["model"]["cluster"] == "school"
    n_treated = int(trial["treat"].sum())
    assert effect.arm_counts == {"treated": n_treated, "comparison": 600 - n_treated}
    assert effect.bootstrap is not None
    assert effect.bootstrap.scheme == "observational sample: clusters; experimental sample: clusters within each arm"
    assert repr(effect).startswith("<SurrogateEffect design=surrogate outcomes=earnings_26,credits,credential ")


def test_effect_sampling_distribution(effect: SurrogateEffect) -> None:
    dist = effect.sampling_distribution()
    assert dist.labels == ("earnings_26", *SURROGATES)
    assert dist.mean[0] == effect.effect
    assert dist.cov[0, 0] == pytest.approx(effect.std_error**2)
    assert np.linalg.eigvalsh(dist.cov).min() > 0
    assert dist.cov[1, 1] == pytest.approx(effect.estimate("credits").std_error ** 2)
    # the covariance of the long-run effect with the effect on a surrogate is (Σ_d β) for that surrogate
    expected = (effect.regressor_cov @ effect.model.params)[1]
    assert dist.cov[0, 1] == pytest.approx(expected, rel=1e-12)


def test_summary_states_the_assumptions_and_both_samples(effect: SurrogateEffect) -> None:
    text = effect.summary()
    assert "Surrogacy: the program changes 'earnings_26' only through 'credits' and 'credential'" in text
    assert "Comparability: the relation between 'credits' and 'credential' (with 'baseline_score')" in text
    assert "Design: random assignment of 'treat' in the experimental sample" in text
    assert "surrogate model (coefficients)" in text
    assert "Two-sample bootstrap" in text
    assert "Sample flow (observational sample)" in text
    assert "rows read from experimental sample" in text
    assert str(effect) == text
    details = effect.to_dict()["details"]
    assert [a.split(":")[0] for a in details["assumptions"]] == ["Surrogacy", "Comparability", "Design"]


def test_to_dict_is_json_and_reads_back(effect: SurrogateEffect, check: SurrogateValidation) -> None:
    for res in (effect, check):
        record = res.to_dict()
        text = json.dumps(record, allow_nan=False)
        back = ResultsRecord.from_dict(json.loads(text))
        assert back.to_dict() == record
        assert back.labels == res.labels
        assert record["design"] == "surrogate"
    model_record = effect.to_dict()["details"]["model"]
    assert set(model_record) == {"outcome", "surrogates", "covariates", "terms", "params", "cov", "n", "n_clusters",
                                 "r_squared", "cov_type", "outcome_mean", "outcome_sd", "options", "sample_flow"}


def test_results_are_reproducible_and_pickle(model: SurrogateModel, trial: pd.DataFrame,
                                             effect: SurrogateEffect) -> None:
    again = surrogate_effect(model, trial, treatment="treat", adjust=["baseline_score"], cluster="school",
                             n_boot=199, seed=3)
    assert json.dumps(again.to_dict()) == json.dumps(effect.to_dict())
    restored = pickle.loads(pickle.dumps(effect))
    assert restored.to_dict() == effect.to_dict()


def test_plot(effect: SurrogateEffect, check: SurrogateValidation) -> None:
    import matplotlib.pyplot as plt

    for res in (effect, check):
        fig = res.plot()
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(labels) == len(res.estimates)
        plt.close(fig)


def test_check_rows_and_verdict(check: SurrogateValidation) -> None:
    assert check.labels == ("earnings_26", "earnings_26[surrogate_index]", "earnings_26[index_minus_realised]")
    assert check.flagged
    assert check.estimate("earnings_26[index_minus_realised]").estimate == check.difference
    dist = check.sampling_distribution()
    assert dist.cov[2, 2] == pytest.approx(check.difference_se**2, rel=1e-10)
    assert dist.cov[0, 0] == pytest.approx(check.realised_se**2, rel=1e-10)
    text = check.summary()
    assert "Surrogacy check: FLAGGED at the 5% level" in text
    assert "Share of the realised effect the index reproduces" in text
    assert check.to_dict()["details"]["flagged"] is True


def test_check_accepts_a_specification(obs: pd.DataFrame) -> None:
    spec = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES)
    older = experiment(400, np.random.default_rng(34), with_outcome=True)
    check = validate_on_older_cohorts(spec, older, treatment="treat", alpha=0.01)
    assert check.model.surrogates == tuple(SURROGATES)
    assert check.alpha == 0.01
    assert check.estimate("earnings_26").ci_level == pytest.approx(0.99)


def test_supplied_effects_result(model: SurrogateModel) -> None:
    cov = pd.DataFrame([[0.004, 0.001], [0.001, 0.002]], index=["credential", "credits"],
                       columns=["credential", "credits"])
    res = from_surrogate_effects(model, pd.Series({"credential": 0.1, "credits": 0.3}), cov, n_effective=800,
                                 design="the RD at the award cutoff")
    beta = model.coef[SURROGATES].to_numpy()
    assert res.effect == pytest.approx(beta @ np.array([0.3, 0.1]), rel=1e-12)
    np.testing.assert_array_equal(res.regressor_cov, [[0.002, 0.001], [0.001, 0.004]])
    assert res.labels == ("earnings_26", "credits", "credential")
    assert res.sample_flow.rows_used == 0
    assert "Design: the RD at the award cutoff identifies" in res.summary()
    assert res.estimate("credits").n_effective == 800


def test_student_data_flow_is_continued(obs: pd.DataFrame) -> None:
    frame = obs.copy()
    frame.loc[frame.index[:5], "credits"] = np.nan
    flow = SampleFlow("students.csv", len(frame) + 7).exclude(7, "missing school (column 'school')")
    data = StudentData(frame, ColumnMap({"school": "school"}), flow)
    model = SurrogateIndex(data, outcome="earnings_26", surrogates=SURROGATES, where=["school >= 10"]).fit()
    reasons = [s.reason for s in model.flow.steps]
    assert reasons[0] == "missing school (column 'school')"
    assert reasons[1] == "restriction: school >= 10"
    assert model.flow.source == "students.csv"
    assert model.flow.rows_read == len(frame) + 7
    assert model.flow.rows_used == model.n


def test_index_values_and_flow(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.copy()
    frame.loc[frame.index[[3, 8]], "credential"] = np.nan
    frame.loc[frame.index[[8, 11, 12]], "baseline_score"] = np.nan
    out = model.index(frame)
    steps = {s.reason: s.excluded for s in out.flow.steps}
    assert steps == {"surrogate 'credits' missing": 0, "surrogate 'credential' missing": 2,
                     "covariate 'baseline_score' missing": 2}
    assert out.values.name == "earnings_26_index"
    kept = frame.drop(index=frame.index[[3, 8, 11, 12]])
    assert out.values.index.equals(kept.index)
    z = np.column_stack([np.ones(len(kept)), kept[[*SURROGATES, "baseline_score"]].to_numpy()])
    np.testing.assert_allclose(out.values.to_numpy(), z @ model.params, rtol=1e-13)


def test_model_summary_and_coefficients(model: SurrogateModel) -> None:
    table = model.coefficients()
    assert table["term"].tolist() == ["intercept", "credits", "credential", "baseline_score"]
    text = model.summary()
    assert "linear projection on 2 surrogates and 1 covariate" in text
    assert "CR1 standard errors" in text
    assert f"{model.n_clusters} clusters" in text
    with pytest.raises(ValueError, match="read-only"):
        model.params[0] = 0.0


def test_bootstrap_counts_replicates_it_cannot_use() -> None:
    """A rare binary surrogate is absent from some resamples of a small observational sample: those replicates
    are left out, counted and reported, never silently."""
    rng = np.random.default_rng(35)
    small = observational(40, rng)
    small["rare"] = 0.0
    small.loc[small.index[:2], "rare"] = 1.0
    model = SurrogateIndex(small, outcome="earnings_26", surrogates=["credits", "rare"]).fit()
    trial = experiment(200, rng).assign(rare=lambda f: (f["credits"] > 2).astype(float))
    res = surrogate_effect(model, trial, treatment="treat", n_boot=200, seed=1)
    assert res.bootstrap is not None
    assert 0 < res.bootstrap.n_failed < 200
    assert res.bootstrap.draws.size == 200 - res.bootstrap.n_failed
    assert res.to_dict()["details"]["bootstrap"]["n_failed"] == res.bootstrap.n_failed
    assert f"{200 - res.bootstrap.n_failed} of 200 replicates used" in res.summary()
