"""Bad input to the surrogate index: each a typed error (a :class:`CteImpactError`, so exit 2 on the command line)
whose one-line message names the sample, the column or arm, and the counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from surrogate_dgp import experiment, observational

from cteimpact.errors import (
    AllMissingError,
    ColumnTypeError,
    CteImpactError,
    DataDroppedWarning,
    DesignError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
    RestrictionError,
)
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.surrogate import (
    CollinearColumnsError,
    EmptyArmError,
    SampleColumnError,
    SurrogateIndex,
    SurrogateModel,
    TooFewRowsError,
    from_surrogate_effects,
    surrogate_effect,
    validate_on_older_cohorts,
)

SURROGATES = ["credits", "credential"]


@pytest.fixture
def obs() -> pd.DataFrame:
    return observational(300, np.random.default_rng(1))


@pytest.fixture
def trial() -> pd.DataFrame:
    return experiment(300, np.random.default_rng(2))


@pytest.fixture
def model(obs: pd.DataFrame) -> SurrogateModel:
    return SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, covariates=["baseline_score"]).fit()


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    assert isinstance(exc.value, CteImpactError)
    message = str(exc.value)
    assert "\n" not in message
    return message


# -- the observational (training) sample -----------------------------------------------------------------------


def test_training_sample_without_the_long_run_outcome(obs: pd.DataFrame) -> None:
    spec = SurrogateIndex(obs.drop(columns="earnings_26"), outcome="earnings_26", surrogates=SURROGATES)
    with pytest.raises(SampleColumnError) as exc:
        spec.fit()
    msg = _one_line(exc)
    assert isinstance(exc.value, MissingColumnError)
    assert "observational sample" in msg
    assert "column 'earnings_26' (role 'long-run outcome') is not in the data" in msg
    assert "the data have 4 columns: baseline_score, credits, credential, school" in msg
    assert exc.value.column == "earnings_26"


def test_training_outcome_all_missing(obs: pd.DataFrame) -> None:
    frame = obs.assign(earnings_26=np.nan)
    with pytest.raises(AllMissingError) as exc:
        SurrogateIndex(frame, outcome="earnings_26", surrogates=SURROGATES).fit()
    msg = _one_line(exc)
    assert "long-run outcome 'earnings_26' of the observational sample" in msg
    assert "no non-missing value in 300 rows" in msg


def test_training_outcome_missing_in_some_rows_is_recorded_not_dropped_silently(obs: pd.DataFrame) -> None:
    frame = obs.copy()
    frame.loc[frame.index[:40], "earnings_26"] = np.nan
    frame.loc[frame.index[35:50], "credential"] = np.nan
    before = frame.copy()
    model = SurrogateIndex(frame, outcome="earnings_26", surrogates=SURROGATES).fit()
    pd.testing.assert_frame_equal(frame, before)  # the caller's data are not modified
    steps = {s.reason: s.excluded for s in model.flow.steps}
    assert steps["long-run outcome 'earnings_26' missing"] == 40
    assert steps["surrogate 'credential' missing"] == 10  # rows 40-49; 35-39 already excluded
    assert model.n == 250
    assert model.flow.rows_used == 250


def test_collinear_surrogates_are_named(obs: pd.DataFrame) -> None:
    frame = obs.assign(credits_and_credential=obs["credits"] + 2 * obs["credential"])
    with pytest.raises(CollinearColumnsError) as exc:
        SurrogateIndex(frame, outcome="earnings_26", surrogates=[*SURROGATES, "credits_and_credential"]).fit()
    msg = _one_line(exc)
    assert isinstance(exc.value, DesignError)
    assert ("surrogate 'credits_and_credential' is a linear combination of surrogate 'credits', surrogate "
            "'credential'") in msg
    assert "observational sample (300 rows used)" in msg
    assert exc.value.columns == ("credits_and_credential", "credits", "credential")


def test_constant_surrogate_is_named(obs: pd.DataFrame) -> None:
    with pytest.raises(CollinearColumnsError) as exc:
        SurrogateIndex(obs.assign(enrolled=1.0), outcome="earnings_26", surrogates=[*SURROGATES, "enrolled"]).fit()
    msg = _one_line(exc)
    assert "surrogate 'enrolled' is constant in the 300 rows used" in msg
    assert exc.value.columns == ("enrolled", "intercept")


def test_fewer_rows_than_parameters(obs: pd.DataFrame) -> None:
    frame = obs.copy()
    frame.loc[frame.index[4:], "earnings_26"] = np.nan
    with pytest.raises(TooFewRowsError) as exc:
        SurrogateIndex(frame, outcome="earnings_26", surrogates=SURROGATES, covariates=["baseline_score"]).fit()
    msg = _one_line(exc)
    assert "4 rows have 'earnings_26'" in msg
    assert "4 parameters (the intercept, 2 surrogates, 1 covariate)" in msg
    assert "300 rows read, 296 excluded" in msg
    assert (exc.value.rows, exc.value.needed) == (4, 5)


def test_single_cluster(obs: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"cluster 'one' has 1 cluster among the 300 rows"):
        SurrogateIndex(obs.assign(one=7), outcome="earnings_26", surrogates=SURROGATES, cluster="one").fit()


def test_non_numeric_surrogate(obs: pd.DataFrame) -> None:
    frame = obs.assign(credential=obs["credential"].map({0.0: "no", 1.0: "yes"}))
    with pytest.raises(ColumnTypeError) as exc:
        SurrogateIndex(frame, outcome="earnings_26", surrogates=SURROGATES).fit()
    msg = _one_line(exc)
    assert "surrogate 'credential' of the observational sample must be numeric" in msg
    assert "300 of 300" in msg


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"surrogates": []}, "at least one interim-outcome column"),
        ({"surrogates": "credits"}, "the single string 'credits'"),
        ({"surrogates": ["credits", "credits"]}, "surrogates repeat 'credits'"),
        ({"surrogates": SURROGATES, "covariates": ["credits"]}, "'credits' named both as surrogate and as covariate"),
        ({"surrogates": ["earnings_26", "credits"]}, "long-run outcome 'earnings_26' is also named"),
        ({"surrogates": SURROGATES, "weights": "credits"}, "weights column 'credits' is also a model column"),
        ({"surrogates": SURROGATES, "where": "credits > 0"}, "single string"),
    ],
)
def test_inconsistent_model_options(obs: pd.DataFrame, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(OptionError) as exc:
        SurrogateIndex(obs, outcome="earnings_26", **kwargs)  # type: ignore[arg-type]
    assert fragment in _one_line(exc)


def test_restriction_on_an_unknown_column(obs: pd.DataFrame) -> None:
    spec = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES, where=["cohort >= 2015"])
    with pytest.raises(RestrictionError, match="cohort"):
        spec.fit()


# -- the experimental sample -------------------------------------------------------------------------------------


def test_surrogate_missing_from_the_experimental_sample(model: SurrogateModel, trial: pd.DataFrame) -> None:
    with pytest.raises(SampleColumnError) as exc:
        surrogate_effect(model, trial.drop(columns="credential"), treatment="treat")
    msg = _one_line(exc)
    assert msg.startswith("experimental sample: column 'credential' (role 'surrogate') is not in the data")
    assert exc.value.sample == "experimental sample"


def test_interim_outcome_missing_for_one_arm(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.copy()
    treated = frame["treat"] == 1
    frame.loc[treated, "credential"] = np.nan
    frame.loc[frame.index[~treated][:10], "credential"] = np.nan
    with pytest.raises(EmptyArmError) as exc:
        surrogate_effect(model, frame, treatment="treat")
    msg = _one_line(exc)
    assert ("experimental sample: surrogate 'credential' is missing in all 150 rows of the treated arm (treat = 1)"
            in msg)
    assert "the comparison arm (treat = 0) has it in 140 of 150 rows" in msg
    assert exc.value.arm == "treated"
    assert exc.value.rows == 150
    assert exc.value.present == {"credits": 150, "credential": 0, "baseline_score": 150}


def test_arm_where_no_row_is_complete(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.copy()
    control = np.flatnonzero(frame["treat"].to_numpy() == 0)
    frame.iloc[control[:75], frame.columns.get_loc("credits")] = np.nan
    frame.iloc[control[75:], frame.columns.get_loc("credential")] = np.nan
    with pytest.raises(EmptyArmError) as exc:
        surrogate_effect(model, frame, treatment="treat")
    msg = _one_line(exc)
    assert "no row of the comparison arm (treat = 0) (150 rows) has every needed value present" in msg
    assert "surrogate 'credits' present in 75, surrogate 'credential' present in 75" in msg


def test_arm_left_with_one_row(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.copy()
    treated = np.flatnonzero(frame["treat"].to_numpy() == 1)
    frame.iloc[treated[1:], frame.columns.get_loc("credits")] = np.nan
    with pytest.raises(TooFewRowsError) as exc:
        surrogate_effect(model, frame, treatment="treat")
    msg = _one_line(exc)
    assert "the treated arm (treat = 1) keeps 1 of its 150 rows" in msg
    assert "the largest exclusion: surrogate 'credits' missing (149 rows)" in msg


def test_unequal_missingness_is_announced_and_recorded(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.copy()
    treated = np.flatnonzero(frame["treat"].to_numpy() == 1)
    frame.iloc[treated[:30], frame.columns.get_loc("credits")] = np.nan
    with pytest.warns(DataDroppedWarning, match=r"30 rows excluded .*treated arm 30 of 150, comparison arm 0 of 150") \
            as record:
        res = surrogate_effect(model, frame, treatment="treat")
    assert record[0].filename == __file__  # the warning points at the caller's line
    assert res.arm_counts == {"treated": 120, "comparison": 150}
    assert {s.reason: s.excluded for s in res.sample_flow.steps}["surrogate 'credits' missing"] == 30
    assert res.sample_flow.rows_used == 270


def test_one_arm_only(model: SurrogateModel, trial: pd.DataFrame) -> None:
    with pytest.raises(DesignError) as exc:
        surrogate_effect(model, trial.assign(treat=1.0), treatment="treat")
    msg = _one_line(exc)
    assert "no row in the comparison arm (treat = 0): all 300 rows with a treatment value are in the treated arm" in msg


def test_treatment_not_binary(model: SurrogateModel, trial: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError) as exc:
        surrogate_effect(model, trial.assign(treat=trial["treat"] * 2), treatment="treat")
    assert "treatment 'treat' of the experimental sample is binary" in _one_line(exc)


def test_collinear_adjustment_covariates(model: SurrogateModel, trial: pd.DataFrame) -> None:
    frame = trial.assign(score_twice=2 * trial["baseline_score"])
    with pytest.raises(CollinearColumnsError) as exc:
        surrogate_effect(model, frame, treatment="treat", adjust=["baseline_score", "score_twice"])
    msg = _one_line(exc)
    assert "adjustment covariate 'score_twice' is a linear combination of adjustment covariate 'baseline_score'" in msg


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"variance": "delta"}, "variance must be one of exact, first_order, got 'delta'"),
        ({"level": 1.5}, "level must be a number strictly between 0 and 1"),
        ({"n_boot": 1}, "n_boot must be 0 (no bootstrap) or a whole number of at least 2, got 1"),
        ({"seed": -1}, "seed must be a non-negative whole number"),
        ({"adjust": ["credits"]}, "adjust names the surrogate(s) 'credits'"),
        ({"treatment": "credits"}, "treatment column 'credits' is also a surrogate"),
    ],
)
def test_inconsistent_effect_options(model: SurrogateModel, trial: pd.DataFrame, kwargs: dict[str, object],
                                     fragment: str) -> None:
    args: dict[str, object] = {"treatment": "treat", **kwargs}
    with pytest.raises(OptionError) as exc:
        surrogate_effect(model, trial, **args)  # type: ignore[arg-type]
    assert fragment in _one_line(exc)


def test_model_must_be_fitted(obs: pd.DataFrame, trial: pd.DataFrame) -> None:
    spec = SurrogateIndex(obs, outcome="earnings_26", surrogates=SURROGATES)
    with pytest.raises(OptionError, match=r"fitted SurrogateModel .*, got SurrogateIndex"):
        surrogate_effect(spec, trial, treatment="treat")  # type: ignore[arg-type]


def test_index_of_a_sample_missing_a_covariate(model: SurrogateModel, trial: pd.DataFrame) -> None:
    with pytest.raises(SampleColumnError, match="column 'baseline_score' \\(role 'covariate'\\) is not in the data"):
        model.index(trial.drop(columns="baseline_score"))


def test_older_cohorts_without_the_outcome(model: SurrogateModel, trial: pd.DataFrame) -> None:
    with pytest.raises(SampleColumnError) as exc:
        validate_on_older_cohorts(model, trial, treatment="treat")
    msg = _one_line(exc)
    assert msg.startswith("older-cohort sample: column 'earnings_26' (role 'long-run outcome') is not in the data")


def test_older_cohorts_with_the_outcome_missing_in_one_arm(model: SurrogateModel) -> None:
    older = experiment(200, np.random.default_rng(3), with_outcome=True)
    older.loc[older["treat"] == 0, "earnings_26"] = np.nan
    with pytest.raises(EmptyArmError) as exc:
        validate_on_older_cohorts(model, older, treatment="treat")
    msg = _one_line(exc)
    assert "long-run outcome 'earnings_26' is missing in all 100 rows of the comparison arm (treat = 0)" in msg
    assert "has it in 100 of 100 rows" in msg


# -- effects supplied by a design ----------------------------------------------------------------------------------


def test_supplied_effects_missing_a_surrogate(model: SurrogateModel) -> None:
    with pytest.raises(OptionError) as exc:
        from_surrogate_effects(model, {"credits": 0.3, "dual_credits": 0.1}, np.eye(2) * 0.01)
    msg = _one_line(exc)
    assert "one effect for each of the model's 2 surrogates (credits, credential)" in msg
    assert "missing: credential" in msg
    assert "not surrogates of the model: dual_credits" in msg


def test_supplied_covariance_of_the_wrong_shape(model: SurrogateModel) -> None:
    with pytest.raises(OptionError, match=r"covariance must be 2×2 .* got shape \(3, 3\)"):
        from_surrogate_effects(model, {"credits": 0.3, "credential": 0.1}, np.eye(3))


def test_supplied_covariance_not_positive_semidefinite(model: SurrogateModel) -> None:
    with pytest.raises(OptionError, match="positive semi-definite"):
        from_surrogate_effects(model, {"credits": 0.3, "credential": 0.1}, np.array([[0.01, 0.05], [0.05, 0.01]]))


def test_supplied_covariance_required(model: SurrogateModel) -> None:
    with pytest.raises(OptionError, match="covariance of the supplied effects is required"):
        from_surrogate_effects(model, {"credits": 0.3, "credential": 0.1})


def test_sampling_distribution_without_a_surrogate_label(model: SurrogateModel) -> None:
    dist = SamplingDistribution(("credits", "other"), np.array([0.3, 0.1]), np.eye(2) * 0.01)
    with pytest.raises(OptionError) as exc:
        from_surrogate_effects(model, dist)
    msg = _one_line(exc)
    assert "no estimate for the surrogate(s) 'credential' (label 'credential'); it has credits, other" in msg
    mapped = from_surrogate_effects(model, dist, labels={"credential": "other"})
    assert mapped.regressor_effects.tolist() == [0.3, 0.1]
