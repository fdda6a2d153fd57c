"""Structural equations of the synthetic world, shared by the realised draws and the truth computations.

Every function is vectorised over students. ``launch`` is the launch year of the student's district under the
scenario considered (:data:`NEVER` when the district never launches); potential outcomes under two scenarios
therefore differ only through ``launch``, and realised outcomes reuse the same uniform and normal draws for every
scenario, so individual treatment effects are well defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from cteimpact.synth.calibration import Calibration

__all__ = ["NEVER", "Covariates", "Draws", "Potential", "draw_covariates", "expected_outcomes", "realised_outcomes"]

NEVER = 9999
"""Launch year of a district that never launches a pathway."""


@dataclass(frozen=True, slots=True)
class Covariates:
    """Student covariates and the random effects of their school, district and consortium (arrays of length n)."""

    cohort: np.ndarray
    female: np.ndarray
    race: np.ndarray
    low_income: np.ndarray
    english_learner: np.ndarray
    special_ed: np.ndarray
    prior: np.ndarray
    quality: np.ndarray
    """Consortium quality (drives the rubric score)."""
    district_dropout: np.ndarray
    school_dropout: np.ndarray
    district_earnings: np.ndarray
    cell_earnings: np.ndarray
    """District-by-cohort shock to log earnings at age 19."""


@dataclass(frozen=True, slots=True)
class Draws:
    """Uniform and normal draws shared by every scenario of the same students."""

    u_participation: np.ndarray
    u_dropout: np.ndarray
    u_graduation: np.ndarray
    u_attrition: np.ndarray
    u_employment: np.ndarray
    """Uniforms for employment, one column per age 19..26."""
    z_person: np.ndarray
    z_year: np.ndarray
    """Normal shocks to log earnings, one column per age 19..26."""

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, n_ages: int) -> Draws:
        return cls(rng.random(n), rng.random(n), rng.random(n), rng.random(n), rng.random((n, n_ages)),
                   rng.standard_normal(n), rng.standard_normal((n, n_ages)))


@dataclass(frozen=True, slots=True)
class Potential:
    """Realised outcomes of students under one scenario (one launch year per student)."""

    pathway: np.ndarray
    dropout: np.ndarray
    graduated: np.ndarray
    employed: np.ndarray
    """Employment by age 19..26 (n × 8)."""
    earnings: np.ndarray
    """Annual earnings in whole dollars by age 19..26 (n × 8)."""


def draw_covariates(
    rng: np.random.Generator,
    cal: Calibration,
    cohort: np.ndarray,
    school_low_income: np.ndarray,
    quality: np.ndarray,
    district_dropout: np.ndarray,
    school_dropout: np.ndarray,
    district_earnings: np.ndarray,
    cell_earnings: np.ndarray,
) -> Covariates:
    """Draw student demographics and prior achievement given their school's and district's effects."""
    n = cohort.shape[0]
    female = np.asarray(rng.random(n) < cal.p_female, dtype=np.int8)
    race = np.asarray(rng.choice(len(cal.race_categories), size=n, p=np.asarray(cal.race_shares)), dtype=np.int8)
    hisp, white, asian, black = (race == 0), (race == 1), (race == 2), (race == 3)
    li_logit = 0.25 + 0.8 * hisp + 0.5 * black - 0.7 * white - 0.4 * asian + school_low_income
    low_income = (rng.random(n) < expit(li_logit)).astype(np.int8)
    el_logit = -3.0 + 1.5 * hisp + 1.0 * asian + 0.5 * low_income
    english_learner = (rng.random(n) < expit(el_logit)).astype(np.int8)
    special_ed = (rng.random(n) < 0.10 + 0.04 * (1 - female)).astype(np.int8)
    prior = (0.25 - 0.35 * low_income - 0.5 * english_learner - 0.7 * special_ed + 0.2 * asian
             + 0.1 * female + 0.15 * quality + rng.normal(0.0, 0.85, n))
    return Covariates(cohort, female, race, low_income, english_learner, special_ed, prior, quality,
                      district_dropout, school_dropout, district_earnings, cell_earnings)


def _exposure(cal: Calibration, cohort: np.ndarray, launch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    available = cohort >= launch
    years = np.clip(cohort - launch, 0, cal.maturity_years)
    return available, years


def participation_probability(cal: Calibration, x: Covariates, launch: np.ndarray) -> np.ndarray:
    """Probability of pathway participation given the district's launch year."""
    available, years = _exposure(cal, x.cohort, launch)
    uptake = cal.uptake_at_launch + cal.uptake_growth * years
    modifier = 1.0 - 0.10 * x.female + 0.05 * x.low_income - 0.20 * x.special_ed
    p = np.where(available, cal.p_legacy_cte + uptake * modifier, cal.p_legacy_cte)
    return np.clip(p, 0.0, 0.95)


def dropout_probability(cal: Calibration, x: Covariates) -> np.ndarray:
    """Probability of dropping out without participation."""
    race = x.race
    logit = (cal.dropout_logit_2010 + cal.dropout_trend * (x.cohort - 2010)
             + 0.45 * x.low_income + 0.35 * x.english_learner + 0.55 * x.special_ed - 0.25 * x.female
             - 0.45 * x.prior + 0.30 * (race == 3) + 0.15 * (race == 0) - 0.50 * (race == 2)
             - 0.15 * x.quality + x.district_dropout + x.school_dropout)
    return expit(logit)


def dropout_risk_ratio(cal: Calibration, x: Covariates) -> np.ndarray:
    """Dropout risk ratio of participants relative to non-participants (lower = larger effect)."""
    return cal.dropout_rr_base + cal.dropout_rr_low_income * x.low_income + cal.dropout_rr_male * (1 - x.female)


def graduation_probability(cal: Calibration, x: Covariates, participated: np.ndarray) -> np.ndarray:
    """Probability of graduating within four years for a student who did not drop out."""
    return np.clip(cal.p_grad_if_stayed + cal.grad_participation_gain * participated
                   - cal.grad_sped_penalty * x.special_ed, 0.0, 1.0)


def attrition_probability(cal: Calibration, x: Covariates) -> np.ndarray:
    """Probability that the student leaves the state's records (outcomes missing)."""
    return cal.p_attrition + cal.p_attrition_el_extra * x.english_learner


def earnings_gain(cal: Calibration, x: Covariates, launch: np.ndarray) -> np.ndarray:
    """Proportional earnings gain of a participant: legacy CTE gains 3%; pathways gain more as they mature."""
    available, years = _exposure(cal, x.cohort, launch)
    base = np.full(launch.shape, cal.earnings_gain_by_launch[-1][1])
    for last, gain in reversed(cal.earnings_gain_by_launch):
        base = np.where(launch <= last, gain, base)
    pathway_gain = base * (1.0 + cal.earnings_gain_exposure * years) + cal.earnings_gain_male * (1 - x.female)
    return np.where(available, pathway_gain, 0.03)


def _employment_logit(cal: Calibration, x: Covariates, ages: np.ndarray, participated: np.ndarray,
                      dropped: np.ndarray) -> np.ndarray:
    base = (cal.employment_logit_19 - 0.7 * dropped - 0.35 * x.special_ed + 0.10 * x.prior
            + 0.10 * x.low_income + 2.0 * x.district_earnings + cal.employment_participation * participated)
    return base[:, None] + cal.employment_age_slope * (ages[None, :] - 19)


def _log_earnings_mean(cal: Calibration, x: Covariates, ages: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    years = x.cohort[:, None] + 5 + (ages[None, :] - 19)
    year_effect = cal.wage_growth * (years - 2015)
    for year, effect in cal.year_effects:
        year_effect = year_effect + effect * (years == year)
    base = (cal.log_earnings_19 + 0.15 * x.prior - 0.30 * dropped + 0.08 * (1 - x.female)
            + x.district_earnings)
    mean = base[:, None] + cal.log_earnings_age_slope * (ages[None, :] - 19) + year_effect
    # the district-by-cohort shock applies to every age of the cohort
    return mean + x.cell_earnings[:, None]


AGES = np.arange(19, 27)
"""Ages covered by wage records."""


def realised_outcomes(cal: Calibration, x: Covariates, d: Draws, launch: np.ndarray) -> Potential:
    """Outcomes of students if their districts launched in ``launch`` (same draws for every scenario)."""
    p_part = participation_probability(cal, x, launch)
    pathway = (d.u_participation < p_part).astype(np.int8)
    p0 = dropout_probability(cal, x)
    p_drop = p0 * np.where(pathway == 1, dropout_risk_ratio(cal, x), 1.0)
    dropout = (d.u_dropout < p_drop).astype(np.int8)
    p_grad = graduation_probability(cal, x, pathway)
    graduated = ((dropout == 0) & (d.u_graduation < p_grad)).astype(np.int8)
    emp_logit = _employment_logit(cal, x, AGES, pathway, dropout)
    employed = (d.u_employment < expit(emp_logit)).astype(np.int8)
    log_mean = _log_earnings_mean(cal, x, AGES, dropout)
    gain = 1.0 + earnings_gain(cal, x, launch) * pathway
    level = np.exp(log_mean + cal.earnings_person_sd * d.z_person[:, None] + cal.earnings_year_sd * d.z_year)
    earnings = np.round(employed * level * gain[:, None])
    return Potential(pathway, dropout, graduated, employed, earnings)


@dataclass(frozen=True, slots=True)
class Expected:
    """Expected outcomes of students under one scenario (integrating every student-level draw)."""

    pathway: np.ndarray
    dropout: np.ndarray
    graduated: np.ndarray
    employed_age19: np.ndarray
    earnings_age19: np.ndarray


def expected_outcomes(cal: Calibration, x: Covariates, launch: np.ndarray) -> Expected:
    """Expected outcomes given covariates and random effects, integrating participation, dropout, graduation,
    employment and earnings noise (the person and year shocks are lognormal, so their mean is analytic)."""
    p_part = participation_probability(cal, x, launch)
    p0 = dropout_probability(cal, x)
    rr = dropout_risk_ratio(cal, x)
    gain = earnings_gain(cal, x, launch)
    age19 = AGES[:1]
    lognormal_mean = np.exp(0.5 * (cal.earnings_person_sd**2 + cal.earnings_year_sd**2))
    e_drop = np.zeros_like(p0)
    e_grad = np.zeros_like(p0)
    e_emp = np.zeros_like(p0)
    e_earn = np.zeros_like(p0)
    for part in (0, 1):
        w_part = p_part if part else 1.0 - p_part
        part_arr = np.full(p0.shape, part, dtype=np.int8)
        p_drop = p0 * (rr if part else 1.0)
        p_grad = graduation_probability(cal, x, part_arr)
        e_drop += w_part * p_drop
        e_grad += w_part * (1.0 - p_drop) * p_grad
        for dropped in (0, 1):
            w = w_part * (p_drop if dropped else 1.0 - p_drop)
            drop_arr = np.full(p0.shape, dropped, dtype=np.int8)
            p_emp = expit(_employment_logit(cal, x, age19, part_arr, drop_arr))[:, 0]
            mean_level = np.exp(_log_earnings_mean(cal, x, age19, drop_arr))[:, 0] * lognormal_mean
            e_emp += w * p_emp
            e_earn += w * p_emp * mean_level * (1.0 + gain * part)
    return Expected(p_part, e_drop, e_grad, e_emp, e_earn)
