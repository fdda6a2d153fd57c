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

__all__ = [
    "AGES", "NEVER", "Covariates", "Draws", "Expected", "Interim", "InterimDraws", "Potential", "college_cost",
    "direct_gain", "draw_covariates", "draw_grade_at_entry", "earnings_premiums", "expected_earnings_given",
    "expected_outcomes", "expected_outcomes_many", "pathway_quality", "realised_interim", "realised_outcomes",
]

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
    grade_at_entry: np.ndarray
    """Grade (9..12) in which the student entered the district's high school."""


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
class InterimDraws:
    """Uniform draws of the interim outcomes, shared by every scenario (drawn from their own random stream, so the
    draws of :class:`Draws` are the same as before the interim outcomes existed)."""

    u_concentrator: np.ndarray
    u_completer: np.ndarray
    u_credential: np.ndarray
    u_dual: np.ndarray
    u_postsecondary: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> InterimDraws:
        return cls(*(rng.random(n) for _ in range(5)))


@dataclass(frozen=True, slots=True)
class Potential:
    """Realised outcomes of students under one scenario (one launch year per student)."""

    pathway: np.ndarray
    dropout: np.ndarray
    graduated: np.ndarray
    concentrator: np.ndarray
    completer: np.ndarray
    credential: np.ndarray
    dual_credits: np.ndarray
    postsecondary: np.ndarray
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
    grade_at_entry: np.ndarray,
) -> Covariates:
    """Draw student demographics and prior achievement given their school's and district's effects
    (``grade_at_entry`` is drawn separately, from the interim outcomes' stream: :func:`draw_grade_at_entry`)."""
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
                      district_dropout, school_dropout, district_earnings, cell_earnings,
                      np.asarray(grade_at_entry, dtype=np.int8))


def draw_grade_at_entry(rng: np.random.Generator, cal: Calibration, n: int) -> np.ndarray:
    """Grade (9..12) in which each of ``n`` students entered the district's high school."""
    return np.asarray(9 + rng.choice(4, size=n, p=np.asarray(cal.p_grade_at_entry)), dtype=np.int8)


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


def pathway_quality(cal: Calibration, cohort: np.ndarray, launch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether a launched pathway is available to the cohort, and the quality of the program a participant takes:
    a launched pathway's quality depends on its launch year and grows with maturity; legacy CTE has a low quality."""
    available, years = _exposure(cal, cohort, launch)
    base = np.full(launch.shape, cal.pathway_quality_by_launch[-1][1])
    for last, value in reversed(cal.pathway_quality_by_launch):
        base = np.where(launch <= last, value, base)
    quality = np.where(available, base * (1.0 + cal.pathway_quality_exposure * years), cal.legacy_quality)
    return available, quality


def _entry_factor(table: tuple[float, ...], grade_at_entry: np.ndarray) -> np.ndarray:
    return np.asarray(table)[np.clip(grade_at_entry.astype(int) - 9, 0, 3)]


def concentrator_probability(cal: Calibration, x: Covariates, quality: np.ndarray) -> np.ndarray:
    """Probability that a participant becomes a Perkins V concentrator (two or more courses in the pathway)."""
    p = (_entry_factor(cal.entry_exposure, x.grade_at_entry) * (cal.concentrator_base + cal.concentrator_quality
                                                                * quality)
         - 0.10 * x.special_ed - 0.05 * x.english_learner)
    return np.clip(p, 0.01, 0.97)


def completion_probability(cal: Calibration, x: Covariates, quality: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """Probability that a concentrator completes the pathway sequence (dropouts rarely do)."""
    p = (_entry_factor(cal.entry_completion, x.grade_at_entry) * (cal.completion_base + cal.completion_quality
                                                                  * quality)
         - 0.08 * x.special_ed - 0.05 * x.english_learner - 0.03 * x.low_income)
    return np.clip(p * np.where(dropped == 1, 0.25, 1.0), 0.01, 0.97)


def credential_probability(cal: Calibration, x: Covariates, quality: np.ndarray, concentrator: np.ndarray,
                           completer: np.ndarray) -> np.ndarray:
    """Probability of an industry-recognised credential by the end of high school."""
    male = 1 - x.female
    other = cal.credential_other + 0.01 * male
    conc = cal.credential_concentrator + 0.03 * quality
    race = x.race
    comp = (cal.credential_completer + cal.credential_quality * quality + cal.credential_male * male
            - 0.06 * x.english_learner - 0.07 * x.special_ed - 0.03 * x.low_income
            - 0.05 * (race == 3) - 0.02 * (race == 0) + 0.02 * (race == 1))
    p = np.where(completer == 1, comp, np.where(concentrator == 1, conc, other))
    return np.clip(p, 0.005, 0.97)


DUAL_CREDITS_PER_COURSE = 3.0
MAX_DUAL_COURSES = 16


def dual_courses_mean(cal: Calibration, x: Covariates, concentrator: np.ndarray, completer: np.ndarray,
                      dropped: np.ndarray) -> np.ndarray:
    """Mean number of dual-enrollment courses (Poisson; each worth :data:`DUAL_CREDITS_PER_COURSE` credits)."""
    base = cal.dual_courses_base + cal.dual_courses_concentrator * concentrator + cal.dual_courses_completer * completer
    return base * np.exp(0.35 * x.prior) * (1.0 - 0.6 * dropped) * (1.0 - 0.3 * x.english_learner)


def _poisson_quantile(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Inverse Poisson CDF at ``u`` (monotone coupling of scenarios through the same uniform), capped."""
    p = np.exp(-mean)
    cdf = p.copy()
    count = np.zeros(u.shape)
    for k in range(MAX_DUAL_COURSES):
        count += u > cdf
        p = p * mean / (k + 1)
        cdf = cdf + p
    return count


def postsecondary_probability(cal: Calibration, x: Covariates, graduated: np.ndarray, completer: np.ndarray,
                              credential: np.ndarray, any_dual: np.ndarray) -> np.ndarray:
    """Probability of enrolling in postsecondary education within a year of expected graduation."""
    logit = (_postsecondary_logit_base(cal, x) - 2.2 * (1 - graduated)
             + (cal.postsecondary_completer + cal.postsecondary_completer_low_income * x.low_income) * completer
             + cal.postsecondary_credential * credential + 0.45 * any_dual)
    return expit(logit)


def _postsecondary_logit_base(cal: Calibration, x: Covariates) -> np.ndarray:
    race = x.race
    return (cal.postsecondary_logit + 0.55 * x.prior - 0.35 * x.low_income + 0.25 * x.female
            - 0.30 * x.english_learner - 0.40 * x.special_ed + 0.35 * (race == 2) - 0.10 * (race == 3))


def _employment_logit(cal: Calibration, x: Covariates, ages: np.ndarray, dropped: np.ndarray,
                      completer: np.ndarray, credential: np.ndarray) -> np.ndarray:
    base = (cal.employment_logit_19 - 0.7 * dropped - 0.35 * x.special_ed + 0.10 * x.prior
            + 0.10 * x.low_income + 2.0 * x.district_earnings
            + cal.employment_completer * completer + cal.employment_credential * credential)
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


def earnings_premiums(ages: np.ndarray) -> dict[str, np.ndarray]:
    """The explicit effect path over ages: annual dollar premium of an employed person, by interim outcome.

    * ``credential``: $5,000 at 19, growing by $300 a year to $7,100 at 26;
    * ``completer``: $3,200 at 19, growing by $200 a year to $4,600 at 26;
    * ``postsecondary``: 0 through 21 (in college), then $1,500 per year after 21 ($7,500 at 26);
    * ``per_credit``: $60 per dual-enrollment credit at 19, growing by $25 a year to $235 at 26.

    Credentials and completion also raise employment (``Calibration.employment_credential``,
    ``employment_completer``); postsecondary enrollment lowers earnings at 19–21 (:func:`college_cost`).
    """
    a = np.asarray(ages, dtype=float) - 19.0
    return {
        "credential": 5000.0 + 300.0 * a,
        "completer": 3200.0 + 200.0 * a,
        "postsecondary": 1500.0 * np.maximum(a - 2.0, 0.0),
        "per_credit": 60.0 + 25.0 * a,
    }


def college_cost(ages: np.ndarray) -> np.ndarray:
    """Proportional loss of earnings of a postsecondary enrollee while in college: 25% at 19, 15% at 20, 5% at 21."""
    table = {19: 0.25, 20: 0.15, 21: 0.05}
    return np.asarray([table.get(int(a), 0.0) for a in np.asarray(ages)])


def direct_gain(cal: Calibration, ages: np.ndarray) -> np.ndarray:
    """Proportional gain at each age of a participant in a launched pathway that runs through no interim outcome
    (``Calibration.longrun_direct_gain`` at ages >= 22, else 0)."""
    return np.where(np.asarray(ages) >= 22, cal.longrun_direct_gain, 0.0)


def _earnings_terms(cal: Calibration, ages: np.ndarray, direct: np.ndarray, post: np.ndarray | float,
                    credits: np.ndarray | float, completer: np.ndarray | float,
                    credential: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier of the earnings level, additive premium) of employed people, each n × len(ages)."""
    prem = earnings_premiums(ages)
    post_a, credits_a = np.asarray(post, dtype=float), np.asarray(credits, dtype=float)
    comp_a, cred_a = np.asarray(completer, dtype=float), np.asarray(credential, dtype=float)
    factor = (1.0 - college_cost(ages)[None, :] * post_a[:, None]) * (1.0 + direct_gain(cal, ages)[None, :]
                                                                      * direct[:, None])
    premium = (prem["credential"][None, :] * cred_a[:, None] + prem["completer"][None, :] * comp_a[:, None]
               + prem["postsecondary"][None, :] * post_a[:, None] + prem["per_credit"][None, :] * credits_a[:, None])
    return factor, premium


@dataclass(frozen=True, slots=True)
class Interim:
    """Realised participation, high-school and interim outcomes under one scenario (no earnings)."""

    pathway: np.ndarray
    dropout: np.ndarray
    graduated: np.ndarray
    concentrator: np.ndarray
    completer: np.ndarray
    credential: np.ndarray
    dual_credits: np.ndarray
    postsecondary: np.ndarray
    direct: np.ndarray
    """1 where the student participates in a launched pathway (where ``longrun_direct_gain`` applies)."""


def realised_interim(cal: Calibration, x: Covariates, u_participation: np.ndarray, u_dropout: np.ndarray,
                     u_graduation: np.ndarray, interim: InterimDraws, launch: np.ndarray) -> Interim:
    """Participation, dropout, graduation and the interim outcomes given the uniform draws (same for every
    scenario)."""
    p_part = participation_probability(cal, x, launch)
    pathway = (u_participation < p_part).astype(np.int8)
    p0 = dropout_probability(cal, x)
    p_drop = p0 * np.where(pathway == 1, dropout_risk_ratio(cal, x), 1.0)
    dropout = (u_dropout < p_drop).astype(np.int8)
    p_grad = graduation_probability(cal, x, pathway)
    graduated = ((dropout == 0) & (u_graduation < p_grad)).astype(np.int8)
    available, quality = pathway_quality(cal, x.cohort, launch)
    concentrator = ((pathway == 1) & (interim.u_concentrator < concentrator_probability(cal, x, quality))).astype(
        np.int8)
    completer = ((concentrator == 1)
                 & (interim.u_completer < completion_probability(cal, x, quality, dropout))).astype(np.int8)
    credential = (interim.u_credential < credential_probability(cal, x, quality, concentrator, completer)).astype(
        np.int8)
    courses = _poisson_quantile(interim.u_dual, dual_courses_mean(cal, x, concentrator, completer, dropout))
    postsecondary = (interim.u_postsecondary < postsecondary_probability(
        cal, x, graduated, completer, credential, (courses > 0).astype(np.int8))).astype(np.int8)
    direct = ((pathway == 1) & available).astype(np.int8)
    return Interim(pathway, dropout, graduated, concentrator, completer, credential, DUAL_CREDITS_PER_COURSE * courses,
                   postsecondary, direct)


def realised_outcomes(cal: Calibration, x: Covariates, d: Draws, launch: np.ndarray,
                      interim: InterimDraws) -> Potential:
    """Outcomes of students if their districts launched in ``launch`` (same draws for every scenario)."""
    s = realised_interim(cal, x, d.u_participation, d.u_dropout, d.u_graduation, interim, launch)
    emp_logit = _employment_logit(cal, x, AGES, s.dropout, s.completer, s.credential)
    employed = (d.u_employment < expit(emp_logit)).astype(np.int8)
    log_mean = _log_earnings_mean(cal, x, AGES, s.dropout)
    level = np.exp(log_mean + cal.earnings_person_sd * d.z_person[:, None] + cal.earnings_year_sd * d.z_year)
    factor, premium = _earnings_terms(cal, AGES, s.direct, s.postsecondary, s.dual_credits, s.completer,
                                      s.credential)
    earnings = np.round(employed * (level * factor + premium))
    return Potential(s.pathway, s.dropout, s.graduated, s.concentrator, s.completer, s.credential, s.dual_credits,
                     s.postsecondary, employed, earnings)


@dataclass(frozen=True, slots=True)
class Expected:
    """Expected outcomes of students under one scenario (integrating every student-level draw)."""

    pathway: np.ndarray
    dropout: np.ndarray
    graduated: np.ndarray
    concentrator: np.ndarray
    completer: np.ndarray
    credential: np.ndarray
    dual_credits: np.ndarray
    postsecondary: np.ndarray
    employed: np.ndarray
    """Employment by age 19..26 (n × 8)."""
    earnings: np.ndarray
    """Earnings by age 19..26 (n × 8)."""

    @property
    def employed_age19(self) -> np.ndarray:
        return self.employed[:, 0]

    @property
    def earnings_age19(self) -> np.ndarray:
        return self.earnings[:, 0]

    def outcome(self, name: str) -> np.ndarray:
        """Expected value of outcome ``name`` (``earnings_age<a>``, ``employed_age<a>`` or a field)."""
        for prefix, table in (("earnings_age", self.earnings), ("employed_age", self.employed)):
            if name.startswith(prefix):
                return table[:, int(name.removeprefix(prefix)) - int(AGES[0])]
        value: np.ndarray = getattr(self, name)
        return value


def expected_earnings_given(cal: Calibration, x: Covariates, ages: np.ndarray, *, dropped: np.ndarray,
                            completer: np.ndarray, credential: np.ndarray, postsecondary: np.ndarray | float,
                            dual_credits: np.ndarray | float, direct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected employment and earnings (n × len(ages)) given the interim outcomes, integrating employment and the
    person and year shocks (lognormal, so their mean is analytic). ``postsecondary`` and ``dual_credits`` may be
    conditional expectations: earnings are linear in them given the rest."""
    lognormal_mean = np.exp(0.5 * (cal.earnings_person_sd**2 + cal.earnings_year_sd**2))
    p_emp = expit(_employment_logit(cal, x, ages, dropped, completer, credential))
    level = np.exp(_log_earnings_mean(cal, x, ages, dropped)) * lognormal_mean
    factor, premium = _earnings_terms(cal, ages, direct, postsecondary, dual_credits, completer, credential)
    return p_emp, p_emp * (level * factor + premium)


def _expit_inplace(z: np.ndarray) -> None:
    """The logistic function, in place (cheaper than a new array for the n × ages blocks)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)


def _interim_expectations(cal: Calibration, x: Covariates, launch: np.ndarray,
                          post_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]]) -> tuple[
        np.ndarray, dict[str, np.ndarray], dict[tuple[int, int, int], list[np.ndarray]]]:
    """Participation probability, expected high-school and interim outcomes, and the earnings groups."""
    p_part = participation_probability(cal, x, launch)
    p0 = dropout_probability(cal, x)
    rr = dropout_risk_ratio(cal, x)
    available, quality = pathway_quality(cal, x.cohort, launch)
    direct = available.astype(float)
    n = p0.shape[0]
    zeros, ones = np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)
    p_conc = concentrator_probability(cal, x, quality)
    post_base = _postsecondary_logit_base(cal, x)
    post_comp = cal.postsecondary_completer + cal.postsecondary_completer_low_income * x.low_income
    tot = {k: np.zeros(n) for k in ("dropout", "graduated", "concentrator", "completer", "credential",
                                    "dual_credits", "postsecondary")}
    # earnings groups: (dropped, completer, credential) -> weight, weight × E[post], weight × E[credits], and the
    # weight and weight × E[post] of participants in a launched pathway (for the direct gain)
    groups: dict[tuple[int, int, int], list[np.ndarray]] = {}
    for part in (0, 1):
        w_part = p_part if part else 1.0 - p_part
        p_drop = p0 * (rr if part else 1.0)
        p_grad = graduation_probability(cal, x, ones if part else zeros)
        tot["dropout"] += w_part * p_drop
        for dropped in (0, 1):
            drop_arr = ones if dropped else zeros
            w_drop = w_part * (p_drop if dropped else 1.0 - p_drop)
            p_comp = completion_probability(cal, x, quality, drop_arr)
            for conc in ((0, 1) if part else (0,)):
                w_conc = w_drop * ((p_conc if conc else 1.0 - p_conc) if part else 1.0)
                tot["concentrator"] += w_conc * conc
                for comp in ((0, 1) if conc else (0,)):
                    w_comp = w_conc * ((p_comp if comp else 1.0 - p_comp) if conc else 1.0)
                    tot["completer"] += w_comp * comp
                    conc_arr, comp_arr = (ones if conc else zeros), (ones if comp else zeros)
                    p_cred = credential_probability(cal, x, quality, conc_arr, comp_arr)
                    mu = dual_courses_mean(cal, x, conc_arr, comp_arr, drop_arr)
                    p_any = 1.0 - np.exp(-mu)
                    e_credits = DUAL_CREDITS_PER_COURSE * mu
                    for cred in (0, 1):
                        w = w_comp * (p_cred if cred else 1.0 - p_cred)
                        tot["credential"] += w * cred
                        tot["dual_credits"] += w * e_credits
                        # graduation (not after dropping out) and any dual credit, integrated
                        e_post = np.zeros(n)
                        for grad in ((0, 1) if not dropped else (0,)):
                            w_g = (p_grad if grad else 1.0 - p_grad) if not dropped else 1.0
                            if (comp, cred, grad) not in post_cache:  # depends on the students only
                                logit = (post_base + post_comp * comp + cal.postsecondary_credential * cred
                                         - 2.2 * (1 - grad))
                                post_cache[(comp, cred, grad)] = (expit(logit), expit(logit + 0.45))
                            p_none, p_some = post_cache[(comp, cred, grad)]
                            e_post += w_g * (p_none + p_any * (p_some - p_none))
                        tot["postsecondary"] += w * e_post
                        acc = groups.setdefault((dropped, comp, cred), [np.zeros(n) for _ in range(5)])
                        acc[0] += w
                        acc[1] += w * e_post
                        acc[2] += w * e_credits
                        if part:  # participants in a launched pathway: the direct gain (if any) applies
                            acc[3] += w * direct
                            acc[4] += w * e_post * direct
        tot["graduated"] += w_part * (1.0 - p_drop) * p_grad
    return p_part, tot, groups


def expected_outcomes(cal: Calibration, x: Covariates, launch: np.ndarray) -> Expected:
    """Expected outcomes given covariates and random effects, integrating participation, dropout, graduation, the
    interim outcomes, employment and earnings noise, by enumerating the discrete states (earnings are linear in
    postsecondary enrollment and dual credits given participation, dropout, completion and the credential)."""
    return expected_outcomes_many(cal, x, [launch])[0]


def expected_outcomes_many(cal: Calibration, x: Covariates, launches: list[np.ndarray]) -> list[Expected]:
    """:func:`expected_outcomes` under several scenarios of the same students (the parts that depend on the
    students only, such as employment given the interim outcomes, are computed once)."""
    post_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
    parts = [_interim_expectations(cal, x, launch, post_cache) for launch in launches]
    n = x.cohort.shape[0]
    zeros, ones = np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)
    lognormal_mean = np.exp(0.5 * (cal.earnings_person_sd**2 + cal.earnings_year_sd**2))
    level = {d: np.exp(_log_earnings_mean(cal, x, AGES, ones if d else zeros)) * lognormal_mean for d in (0, 1)}
    emp_base = {d: _employment_logit(cal, x, AGES, ones if d else zeros, zeros, zeros) for d in (0, 1)}
    prem = earnings_premiums(AGES)
    cost, gain = college_cost(AGES), direct_gain(cal, AGES)
    in_college = np.flatnonzero(cost > 0)
    e_emp = [np.zeros((n, AGES.size)) for _ in parts]
    e_earn = [np.zeros((n, AGES.size)) for _ in parts]
    keys = sorted({key for _, _, groups in parts for key in groups})
    for dropped, comp, cred in keys:
        p_emp = emp_base[dropped] + (cal.employment_completer * comp + cal.employment_credential * cred)
        _expit_inplace(p_emp)
        lvl = level[dropped]
        for k, (_, _, groups) in enumerate(parts):
            if (dropped, comp, cred) not in groups:
                continue
            w, w_post, w_credits, w_direct, w_direct_post = groups[(dropped, comp, cred)]
            # weights × conditional expectations: earnings are linear in postsecondary and credits within the group
            earn = lvl * w[:, None]
            earn[:, in_college] -= lvl[:, in_college] * np.multiply.outer(w_post, cost[in_college])
            if cal.longrun_direct_gain:
                earn += lvl * (w_direct[:, None] - np.multiply.outer(w_direct_post, cost)) * gain
            earn += w_post[:, None] * prem["postsecondary"]
            earn += w_credits[:, None] * prem["per_credit"]
            earn += w[:, None] * (prem["credential"] * cred + prem["completer"] * comp)
            earn *= p_emp
            e_earn[k] += earn
            e_emp[k] += p_emp * w[:, None]
    return [Expected(p_part, tot["dropout"], tot["graduated"], tot["concentrator"], tot["completer"],
                     tot["credential"], tot["dual_credits"], tot["postsecondary"], emp, earn)
            for (p_part, tot, _), emp, earn in zip(parts, e_emp, e_earn, strict=True)]
