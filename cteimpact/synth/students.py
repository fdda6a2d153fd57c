"""Students of one consortium: covariates, realised records and the potential outcomes behind the DiD truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cteimpact.synth.calibration import Calibration
from cteimpact.synth.model import (
    AGES,
    NEVER,
    Covariates,
    Draws,
    InterimDraws,
    Potential,
    attrition_probability,
    draw_covariates,
    draw_grade_at_entry,
    realised_outcomes,
)
from cteimpact.synth.world import World

__all__ = ["CELL_OUTCOMES", "EARNINGS_BY_AGE", "INTERIM_OUTCOMES", "STUDENT_OUTCOMES", "ConsortiumSample",
           "simulate_consortium"]

CELL_OUTCOMES = ("earnings_age19", "employed_age19", "dropout", "graduated")
"""Outcomes aggregated to district × cohort cells (the DiD panel) with their true effects."""
INTERIM_OUTCOMES = ("concentrator", "completer", "credential", "dual_credits", "postsecondary")
"""Interim outcomes of students (observed unless the student left the state's records)."""
EARNINGS_BY_AGE = tuple(f"earnings_age{int(a)}" for a in AGES)
"""Earnings at each age of the wage records (observed through ``Calibration.last_wage_year``)."""
STUDENT_OUTCOMES = (*INTERIM_OUTCOMES, *EARNINGS_BY_AGE[1:])
"""Outcomes with student-level DiD truths only (sums by cell, no district-panel column)."""


@dataclass(frozen=True)
class ConsortiumSample:
    """Records of one consortium's students and the sums that build the district panel and its truth."""

    students: pd.DataFrame
    enrollment: pd.DataFrame
    wages: pd.DataFrame
    cells: pd.DataFrame
    """One row per (district, cohort) with counts, sums of realised outcomes, their within-cell sums of squared
    deviations and sums of individual effects."""


def _student_rng(seed: int, consortium: int) -> np.random.Generator:
    # one independent stream per consortium: the output does not depend on how consortia are chunked
    return np.random.default_rng(np.random.SeedSequence([seed, 1, consortium]))


def _interim_rng(seed: int, consortium: int) -> np.random.Generator:
    # the interim outcomes and grade at entry have their own stream: the draws above are unchanged by them
    return np.random.default_rng(np.random.SeedSequence([seed, 3, consortium]))


def simulate_consortium(world: World, cal: Calibration, consortium: int, seed: int, scale: float) -> ConsortiumSample:
    """Draw every student of consortium number ``consortium`` (0-based) at ``scale``."""
    rng = _student_rng(seed, consortium)
    rng_interim = _interim_rng(seed, consortium)
    cons = world.consortia.iloc[consortium]
    districts = world.districts
    d_idx = np.flatnonzero(districts["consortium"].to_numpy() == consortium)
    schools = world.schools
    s_idx = np.flatnonzero(np.isin(schools["district"].to_numpy(), d_idx))
    cohorts = world.cohorts
    counts = rng.poisson(np.outer(schools["size"].to_numpy()[s_idx] * scale, np.ones(cohorts.size)))
    n = int(counts.sum())
    school = np.repeat(np.repeat(s_idx, cohorts.size), counts.ravel())
    cohort = np.repeat(np.tile(cohorts, s_idx.size), counts.ravel())
    district = schools["district"].to_numpy()[school]
    cohort_pos = cohort - cohorts[0]
    grade_at_entry = draw_grade_at_entry(rng_interim, cal, n)
    interim = InterimDraws.draw(rng_interim, n)
    x: Covariates = draw_covariates(
        rng, cal, cohort,
        school_low_income=schools["low_income_effect"].to_numpy()[school],
        quality=np.full(n, float(cons["quality"])),
        district_dropout=districts["dropout_effect"].to_numpy()[district],
        school_dropout=schools["dropout_effect"].to_numpy()[school],
        district_earnings=districts["earnings_effect"].to_numpy()[district],
        cell_earnings=world.cell_earnings[district, cohort_pos],
        grade_at_entry=grade_at_entry,
    )
    draws = Draws.draw(rng, n, AGES.size)
    launch = districts["first_treated"].to_numpy()[district]
    actual = realised_outcomes(cal, x, draws, launch, interim)
    never = realised_outcomes(cal, x, draws, np.full(n, NEVER), interim)
    attrited = draws.u_attrition < attrition_probability(cal, x)

    # records: the last high-school grade reached (not before the grade of entry) and whether each outcome is seen
    dropout_grade = rng.choice(np.arange(9, 13), size=n, p=[0.15, 0.20, 0.30, 0.35])
    leave_grade = rng.integers(9, 13, size=n)
    stayed_on = (actual.dropout == 0) & (actual.graduated == 0)
    last_grade = np.where(actual.dropout == 1, dropout_grade, np.where(stayed_on, 13, 12))
    last_grade = np.where(attrited, np.minimum(leave_grade, last_grade), last_grade)
    last_grade = np.maximum(last_grade, grade_at_entry)
    wage_years = cohort[:, None] + 5 + (AGES[None, :] - 19)
    wage_seen = (~attrited)[:, None] & (wage_years <= cal.last_wage_year)
    earn19_seen = wage_seen[:, 0]

    race_codes = np.asarray(cal.race_categories, dtype=object)[x.race]
    race_missing = rng.random(n) < cal.p_race_missing
    prior_missing = rng.random(n) < cal.p_prior_missing + cal.p_prior_missing_el_extra * x.english_learner
    student_id = np.char.add(f"S{consortium + 1:03d}", np.char.zfill(np.arange(n).astype(str), 6))
    nan = np.nan
    students = pd.DataFrame({
        "student_id": student_id,
        "school_id": schools["school_id"].to_numpy()[school],
        "district_id": districts["district_id"].to_numpy()[district],
        "consortium_id": cons["consortium_id"],
        "cohort": cohort.astype(np.int16),
        "female": x.female,
        "race_ethnicity": np.where(race_missing, None, race_codes),
        "low_income": x.low_income,
        "english_learner": x.english_learner,
        "special_ed": x.special_ed,
        "prior_achievement": np.where(prior_missing, nan, np.round(x.prior, 3)),
        "grade_at_entry": grade_at_entry,
        "pathway": actual.pathway,
        "concentrator": np.where(attrited, nan, actual.concentrator),
        "dropout": np.where(attrited, nan, actual.dropout),
        "graduated": np.where(attrited, nan, actual.graduated),
        "completer": np.where(attrited, nan, actual.completer),
        "credential": np.where(attrited, nan, actual.credential),
        "dual_credits": np.where(attrited, nan, actual.dual_credits),
        "postsecondary": np.where(attrited, nan, actual.postsecondary),
        "earnings_age19": np.where(earn19_seen, actual.earnings[:, 0], nan),
        "employed_age19": np.where(earn19_seen, actual.employed[:, 0], nan),
        **{name: np.where(wage_seen[:, k + 1], actual.earnings[:, k + 1], nan)
           for k, name in enumerate(EARNINGS_BY_AGE[1:])},
        "grant_round": np.int8(cons["grant_round"]),
        "rubric_score": float(cons["rubric_score"]),
        "cutoff": float(cons["cutoff"]),
        "score_centered": round(float(cons["rubric_score"]) - float(cons["cutoff"]), 2),
        "award": np.int8(cons["award"]),
        "award_year": np.int16(cons["award_year"]),
        "first_treated": np.where(launch == NEVER, 0, launch).astype(np.int16),
    })

    n_years = last_grade - grade_at_entry + 1
    rows = np.repeat(np.arange(n), n_years)
    k = np.arange(rows.size) - np.repeat(np.cumsum(n_years) - n_years, n_years) + (grade_at_entry[rows] - 9)
    enrollment = pd.DataFrame({
        "student_id": student_id[rows],
        "year": (cohort[rows] + k).astype(np.int16),
        "grade": np.minimum(9 + k, 12).astype(np.int8),
        "school_id": students["school_id"].to_numpy()[rows],
    })
    w_rows, w_age = np.nonzero(wage_seen)
    wages = pd.DataFrame({
        "student_id": student_id[w_rows],
        "year": wage_years[w_rows, w_age].astype(np.int16),
        "age": AGES[w_age].astype(np.int8),
        "earnings": actual.earnings[w_rows, w_age],
        "employed": actual.employed[w_rows, w_age],
    })
    cells = _cell_sums(world, district, cohort_pos, x, attrited, wage_seen, actual, never)
    return ConsortiumSample(students, enrollment, wages, cells)


def _cell_sums(world: World, district: np.ndarray, cohort_pos: np.ndarray, x: Covariates, attrited: np.ndarray,
               wage_seen: np.ndarray, actual: Potential, never: Potential) -> pd.DataFrame:
    """Sums by (district, cohort) for the district panel: realised outcomes, their within-cell sums of squared
    deviations (``ss_*``, for student-level standard deviations) and individual effects; for the interim outcomes
    and earnings at 20..26 (student-level truths only) the counts, sums and sums of individual effects."""
    earn19_seen = wage_seen[:, 0]
    n_t = world.cohorts.size
    cell = district * n_t + cohort_pos
    uniq, inv = np.unique(cell, return_inverse=True)

    def total(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        w = values.astype(float) if mask is None else np.where(mask, values, 0.0)
        return np.bincount(inv, weights=w, minlength=uniq.size)

    seen_hs = ~attrited
    prior_seen = ~np.isnan(x.prior)
    out = {
        "district": uniq // n_t,
        "cohort": world.cohorts[uniq % n_t],
        "n_students": np.bincount(inv, minlength=uniq.size),
        "n_observed": total(seen_hs.astype(float)),
        "n_observed_age19": total(earn19_seen.astype(float)),
        "sum_low_income": total(x.low_income),
        "sum_prior": total(np.where(prior_seen, x.prior, 0.0)),
        "n_prior": total(prior_seen.astype(float)),
    }
    pairs = {
        "earnings_age19": (actual.earnings[:, 0], never.earnings[:, 0], earn19_seen),
        "employed_age19": (actual.employed[:, 0], never.employed[:, 0], earn19_seen),
        "dropout": (actual.dropout, never.dropout, seen_hs),
        "graduated": (actual.graduated, never.graduated, seen_hs),
    }
    n_seen = {"earnings_age19": out["n_observed_age19"], "employed_age19": out["n_observed_age19"],
              "dropout": out["n_observed"], "graduated": out["n_observed"]}
    for name, (y1, y0, seen) in pairs.items():
        out[f"sum_{name}"] = total(y1, seen)
        out[f"sum_effect_{name}"] = total(y1.astype(float) - y0, seen)
        # within-cell sum of squared deviations (two passes: exact, no cancellation), for student-level SDs
        with np.errstate(invalid="ignore", divide="ignore"):
            cell_mean = out[f"sum_{name}"] / n_seen[name]
        deviation = np.where(seen, y1.astype(float) - cell_mean[inv], 0.0)
        out[f"ss_{name}"] = total(deviation * deviation, seen)
    for name in INTERIM_OUTCOMES:
        y1, y0 = getattr(actual, name), getattr(never, name)
        out[f"sum_{name}"] = total(y1, seen_hs)
        out[f"sum_effect_{name}"] = total(y1.astype(float) - y0, seen_hs)
    for k, name in enumerate(EARNINGS_BY_AGE[1:], start=1):
        seen = wage_seen[:, k]
        out[f"n_observed_age{int(AGES[k])}"] = total(seen.astype(float))
        out[f"sum_{name}"] = total(actual.earnings[:, k], seen)
        out[f"sum_effect_{name}"] = total(actual.earnings[:, k] - never.earnings[:, k], seen)
    return pd.DataFrame(out)
