"""Monte Carlo studies of the surrogate index on the synthetic world's structural model.

:func:`draw_surrogate_study` draws, from the same structural equations as the synthetic data
(:mod:`cteimpact.synth.model`), the three samples of a surrogate-index study of one cohort:

``observational``
    Older cohorts of districts of which half launched a pathway (two years before the cohort entered high school;
    which ones is not recorded): covariates, interim outcomes and realised earnings at 26 (the sample the index is
    fitted on; the launches give the surrogates the variation the index needs).
``older_trial``
    Older cohorts whose districts' launches were randomised (half launched two years before the cohort entered
    high school): treatment, interim outcomes and realised earnings at 26 (the older-cohort validation check).
``trial``
    A randomised sample in the same design without the long-run outcome (the sample the index is applied to).

Students are independent (each has its own school, district and consortium effects), so plain (HC1) standard
errors are right. Every sample is of the same cohort, so comparability holds by construction; surrogacy holds
exactly when ``longrun_direct_gain`` is 0 (participation then reaches earnings only through the surrogates:
pathway completion, the credential, postsecondary enrollment, dual credits, dropout and graduation). With a
positive gain, participants in a launched pathway earn that proportion more at ages 22 and over, through no
interim outcome: the index picks up only the part of it that the surrogates happen to predict in the
observational sample (completers are all participants), so it understates the long-run effect.

The true long-run effect is the superpopulation mean of E[earnings_age26 | launched] − E[earnings_age26 | never]
(analytic expectations given covariates, :func:`cteimpact.synth.model.expected_outcomes`) over a fixed large
population of the same design (computed once per ``longrun_direct_gain``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.synth.calibration import Calibration
from cteimpact.synth.model import (
    AGES,
    NEVER,
    Covariates,
    Draws,
    InterimDraws,
    draw_covariates,
    draw_grade_at_entry,
    expected_outcomes_many,
    realised_outcomes,
)

__all__ = ["STUDY_COHORT", "SURROGATE_COVARIATES", "SURROGATE_SET", "SurrogateStudy", "draw_surrogate_study",
           "true_long_run_effect"]

STUDY_COHORT = 2012
"""Cohort of every sample (earnings at 26 in 2024, within the wage records)."""
LAUNCH_LEAD = 2
"""A treated student's district launched its pathway this many years before the cohort entered high school."""
SURROGATE_SET = ("completer", "credential", "postsecondary", "dual_credits", "dropout", "graduated")
SURROGATE_COVARIATES = ("female", "low_income", "english_learner", "special_ed", "prior_achievement")
LONG_RUN = "earnings_age26"
_TRUTH_POPULATION = 200_000
_MAX_STUDENTS = 5_000_000


@dataclass(frozen=True)
class SurrogateStudy:
    """The samples of one simulated surrogate-index study and the true long-run effect (see the module docstring)."""

    observational: pd.DataFrame
    older_trial: pd.DataFrame
    trial: pd.DataFrame
    true_effect: float
    surrogacy_holds: bool
    surrogates: tuple[str, ...] = SURROGATE_SET
    covariates: tuple[str, ...] = SURROGATE_COVARIATES
    outcome: str = LONG_RUN
    treatment: str = "treat"


def _covariates(rng: np.random.Generator, cal: Calibration, n: int) -> Covariates:
    return draw_covariates(
        rng, cal, np.full(n, STUDY_COHORT),
        school_low_income=rng.normal(0.0, 0.8, n), quality=rng.standard_normal(n),
        district_dropout=rng.normal(0.0, 0.25, n), school_dropout=rng.normal(0.0, 0.15, n),
        district_earnings=rng.normal(0.0, cal.earnings_district_sd, n),
        cell_earnings=rng.normal(0.0, cal.earnings_cell_sd, n),
        grade_at_entry=draw_grade_at_entry(rng, cal, n),
    )


def _launch(treat: np.ndarray) -> np.ndarray:
    return np.where(treat == 1, STUDY_COHORT - LAUNCH_LEAD, NEVER)


def _sample(rng: np.random.Generator, cal: Calibration, n: int, treat: np.ndarray, *,
            with_outcome: bool) -> pd.DataFrame:
    x = _covariates(rng, cal, n)
    draws = Draws.draw(rng, n, AGES.size)
    interim = InterimDraws.draw(rng, n)
    out = realised_outcomes(cal, x, draws, _launch(treat), interim)
    frame = pd.DataFrame({
        "treat": treat.astype(np.int8),
        "female": x.female, "low_income": x.low_income, "english_learner": x.english_learner,
        "special_ed": x.special_ed, "prior_achievement": x.prior, "grade_at_entry": x.grade_at_entry,
        "pathway": out.pathway, "concentrator": out.concentrator,
        **{name: getattr(out, name).astype(float) for name in SURROGATE_SET},
    })
    if with_outcome:
        frame[LONG_RUN] = out.earnings[:, -1]
    return frame


def _randomised(rng: np.random.Generator, n: int) -> np.ndarray:
    treat = np.zeros(n, dtype=np.int8)
    treat[rng.permutation(n)[: n // 2]] = 1
    return treat


@lru_cache(maxsize=8)
def true_long_run_effect(longrun_direct_gain: float = 0.0) -> float:
    """Superpopulation effect of a launch (two years before entry) on expected earnings at 26 in the study design."""
    cal = replace(Calibration(), longrun_direct_gain=float(longrun_direct_gain))
    rng = np.random.default_rng(np.random.SeedSequence([20260, 26]))
    x = _covariates(rng, cal, _TRUTH_POPULATION)
    treated, control = expected_outcomes_many(cal, x, [_launch(np.ones(_TRUTH_POPULATION, dtype=np.int8)),
                                                       _launch(np.zeros(_TRUTH_POPULATION, dtype=np.int8))])
    return float(np.mean(treated.earnings[:, -1] - control.earnings[:, -1]))


def draw_surrogate_study(seed: int, n_students: int, *, longrun_direct_gain: float = 0.0,
                         n_observational: int | None = None, n_older: int | None = None) -> SurrogateStudy:
    """Draw the samples of one surrogate-index study from the synthetic world's structural model.

    Parameters
    ----------
    seed
        Seed of this draw (non-negative).
    n_students
        Students in the randomised sample.
    longrun_direct_gain
        Proportional earnings gain at ages >= 22 of participants in a launched pathway that runs through no interim
        outcome (0: surrogacy holds).
    n_observational
        Students in the observational sample (default ``n_students``).
    n_older
        Students in the older-cohort randomised sample of the validation check (default ``n_students``).

    Returns
    -------
    SurrogateStudy
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    n_obs = n_students if n_observational is None else n_observational
    n_old = n_students if n_older is None else n_older
    for name, value in (("n_students", n_students), ("n_observational", n_obs), ("n_older", n_old)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 20 <= value <= _MAX_STUDENTS:
            raise OptionError(f"{name} must be a whole number from 20 to {_MAX_STUDENTS}, got {value!r}")
    if not (np.isfinite(longrun_direct_gain) and 0.0 <= longrun_direct_gain <= 1.0):
        raise OptionError(f"longrun_direct_gain must be in [0, 1], got {longrun_direct_gain!r}")
    cal = replace(Calibration(), longrun_direct_gain=float(longrun_direct_gain))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 26]))
    observational = _sample(rng, cal, n_obs, _randomised(rng, n_obs), with_outcome=True)
    older = _sample(rng, cal, n_old, _randomised(rng, n_old), with_outcome=True)
    trial = _sample(rng, cal, n_students, _randomised(rng, n_students), with_outcome=False)
    return SurrogateStudy(observational.drop(columns="treat"), older, trial,
                          true_long_run_effect(float(longrun_direct_gain)), longrun_direct_gain == 0.0)
