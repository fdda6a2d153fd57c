"""The fixed structure of the synthetic world: grant rounds, consortia, districts, schools and pathway launches.

The world does not depend on ``scale`` (only student counts do), so every scale of the same seed has the same
consortia, scores, cutoffs, awards and launch years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from cteimpact.synth.calibration import Calibration, GrantRound
from cteimpact.synth.model import NEVER

__all__ = ["World", "build_world", "draw_launch_years", "draw_rubric_scores"]


@dataclass(frozen=True)
class World:
    """Consortia, districts and schools with their scores, awards, random effects and launch years."""

    consortia: pd.DataFrame
    """consortium_id, grant_round, award_year, quality, rubric_score, cutoff, award, n_districts, n_schools."""
    districts: pd.DataFrame
    """district_id, consortium index, dropout and earnings effects, launch_if_unfunded, launch_if_funded,
    first_treated (actual launch year, NEVER if none)."""
    schools: pd.DataFrame
    """school_id, district index, cohort size at scale 1, low-income and dropout effects."""
    cell_earnings: np.ndarray
    """District × cohort shocks to log earnings (rows follow ``districts``, columns the cohorts)."""
    cohorts: np.ndarray


def draw_rubric_scores(rng: np.random.Generator, rnd: GrantRound, quality: np.ndarray) -> np.ndarray:
    """Rubric scores on a 0–100 scale with two decimals, distinct within the round."""
    n = quality.shape[0]
    noise = rng.standard_normal(n)
    scores = np.clip(np.round(rnd.score_mean + rnd.score_quality_sd * quality + rnd.score_noise_sd * noise, 2),
                     0.0, 100.0)
    # break ties (rare) by nudging later duplicates by 0.01 until all scores are distinct
    while np.unique(scores).size < n:
        _, first = np.unique(scores, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        scores[dup] = np.round(scores[dup] + 0.01, 2)
    return scores


def draw_launch_years(
    rng: np.random.Generator, cal: Calibration, district_dropout: np.ndarray, award_year: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Launch years of districts if their consortium is not funded and if it is (both potential launch years).

    Without funding, districts with lower dropout (more capacity) tend to launch earlier with other funds; 30%
    never launch. With funding, a district launches in the award year (75%) or the year after, unless it would
    have launched earlier anyway.
    """
    n = district_dropout.shape[0]
    capacity = -district_dropout / 0.25
    latent = 0.5 * capacity + np.sqrt(1 - 0.25) * rng.standard_normal(n)
    u = norm.cdf(latent)
    first, last = cal.unfunded_launch_years
    span = last - first + 1
    p_never = cal.p_never_launch_unfunded
    idx = np.floor((u - p_never) / (1 - p_never) * span).clip(0, span - 1).astype(int)
    unfunded = np.where(u < p_never, NEVER, last - idx)
    delay = np.asarray(rng.random(n) >= cal.p_launch_in_award_year, dtype=int)
    funded_launch = np.minimum(award_year + delay, unfunded)
    return unfunded.astype(int), funded_launch.astype(int)


def build_world(seed: int, cal: Calibration) -> World:
    """Draw the world's structure from ``seed`` (its own random stream, independent of the students')."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    rows = []
    for rnd in cal.rounds:
        quality = rng.standard_normal(rnd.applicants)
        scores = draw_rubric_scores(rng, rnd, quality)
        cutoff = float(np.sort(scores)[::-1][rnd.funded - 1])
        rows.append(pd.DataFrame({
            "grant_round": rnd.number, "award_year": rnd.award_year, "quality": quality,
            "rubric_score": scores, "cutoff": cutoff, "award": (scores >= cutoff).astype(np.int8),
        }))
    consortia = pd.concat(rows, ignore_index=True)
    n_c = len(consortia)
    consortia.insert(0, "consortium_id", [f"C{i + 1:03d}" for i in range(n_c)])
    n_districts = np.minimum(1 + rng.poisson(cal.districts_extra_mean, n_c), cal.max_districts)
    consortia["n_districts"] = n_districts

    d_cons = np.repeat(np.arange(n_c), n_districts)
    n_d = d_cons.size
    d_dropout = rng.normal(0.0, 0.25, n_d)
    d_earn = rng.normal(0.0, cal.earnings_district_sd, n_d)
    unfunded, funded_launch = draw_launch_years(rng, cal, d_dropout, consortia["award_year"].to_numpy()[d_cons])
    first_treated = np.where(consortia["award"].to_numpy()[d_cons] == 1, funded_launch, unfunded)
    districts = pd.DataFrame({
        "district_id": [f"D{i + 1:04d}" for i in range(n_d)], "consortium": d_cons,
        "dropout_effect": d_dropout, "earnings_effect": d_earn, "launch_if_unfunded": unfunded,
        "launch_if_funded": funded_launch,
        "first_treated": first_treated,
    })
    n_schools = np.minimum(1 + rng.poisson(cal.schools_extra_mean, n_d), cal.max_schools)
    s_dist = np.repeat(np.arange(n_d), n_schools)
    n_s = s_dist.size
    schools = pd.DataFrame({
        "school_id": [f"H{i + 1:05d}" for i in range(n_s)], "district": s_dist,
        "size": np.exp(np.log(cal.school_cohort_size_median) + cal.school_cohort_size_logsd * rng.standard_normal(n_s)),
        "low_income_effect": rng.normal(0.0, 0.8, n_s), "dropout_effect": rng.normal(0.0, 0.15, n_s),
    })
    consortia["n_schools"] = np.bincount(d_cons[s_dist], minlength=n_c)
    cohorts = np.arange(cal.first_cohort, cal.last_cohort + 1)
    cell = rng.normal(0.0, cal.earnings_cell_sd, (n_d, cohorts.size))
    return World(consortia, districts, schools, cell, cohorts)
