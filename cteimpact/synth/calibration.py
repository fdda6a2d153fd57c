"""Parameters of the synthetic California Career Pathways Trust (CCPT) world, each with its source or assumption.

The generator is a structural model: consortia apply for grants and are scored on a rubric; funded consortia's
districts launch CTE pathways; students in launched districts may participate; participation lowers dropout and
raises early-career earnings. Everything an estimator could target is computed from this model and written to
``truth.json``.

Sources
-------
* CCPT Round One (2014): 123 consortium applications, 39 funded, $250M (California Department of Education, CCPT
  Round One announcement, May 2014). Round Two (2015): 40 consortia funded with $250M; the number of Round Two
  applicants used here (79) is an ASSUMPTION.
* California four-year adjusted cohort outcomes (CDE DataQuest): dropout about 11.5% for the class of 2014 falling
  to about 9% by the class of 2019; graduation about 81% rising to about 85%. The generator's baseline trend is
  calibrated to this range.
* Award effect on dropout: the published RD evaluation of CCPT Round One found about 23% fewer dropouts in funded
  consortia; the participation effects below are set so that the award's effect at the cutoff is close to a 23%
  relative reduction (the exact true value is computed and written to truth.json).
* Demographics: California public high-school enrolment shares (CDE DataQuest, 2015–2019): Hispanic/Latino about
  55%, White 22%, Asian 9%, Black 5%, Filipino 2–3%, two or more races 3–4%; socio-economically disadvantaged about
  60%; English learners about 12% in high school; students with disabilities about 12%; girls 49%.
* Early-career earnings from UI wage records: many zeros (about 45% with no covered earnings at age 19) and median
  annual earnings of workers rising from about $12,000 at 19 toward $35,000 by 26 (ASSUMPTION calibrated to
  published California and national youth earnings profiles; exact values are not taken from a single table).
* Pathway quality grows with program maturity and differs by launch cohort (ASSUMPTION designed so that two-way
  fixed effects is biased: see the staggered-adoption literature, Goodman-Bacon 2021): completion and credential
  rates of participants, hence the earnings effects that run through them, grow with the years since launch.
* Interim outcomes. A Perkins V CTE *concentrator* is a secondary student who completed at least two courses in a
  single CTE program of study (Strengthening Career and Technical Education for the 21st Century Act, 2018,
  section 3(12)). Completion of the pathway sequence among participants is set to about 50–60%, in line with the
  share of CTE participants who become concentrators and complete the sequence in state Perkins reports (CDE
  Perkins V core-indicator reports; ASSUMPTION for the exact value). Industry-recognised credentials: about 20–30%
  of pathway participants versus about 3–5% of other students by the end of high school (ASSUMPTION within the
  range of state credential-attainment reports, e.g. Florida CAPE and Kentucky/Tennessee early-postsecondary
  reporting). Dual-enrollment credits: about one in five California high-school graduates take a dual-enrollment
  course (Public Policy Institute of California, 2020/2023), typically three semester units each; pathway
  participants take more (CCPT pathways were built with community-college partners). Postsecondary enrollment
  within a year of expected graduation: California college-going rate about 60–65% of graduates (CDE College-Going
  Rate, 2017–2019), about 55–60% of a four-year cohort including dropouts.
* Later entrants (students who transfer into the district's high school in grades 10–12; about 15% of a cohort,
  ASSUMPTION) have less time to take a course sequence, so their chance of concentrating and completing, and the
  effects that run through those, are smaller.
* Earnings by age. Participation reaches earnings ONLY through measured interim outcomes (surrogacy holds by
  construction) unless ``longrun_direct_gain`` > 0: a credential and pathway completion raise employment and add
  a dollar premium that grows with age; postsecondary enrollment lowers earnings at 19–21 (time in college) and
  adds a growing premium from 22; dual-enrollment credits add a small premium per credit. The premiums are
  additive in dollars so that a linear surrogate index is nearly correctly specified (the remaining
  misspecification is computed and written to truth.json). The Massachusetts regional vocational-technical
  school RD (Dougherty 2018) and the Connecticut technical high school RD (Brunner, Dougherty & Ross 2023: male
  earnings about +31%) motivate larger gains for men, here through higher credential attainment of male
  completers (trades credentials). Credential returns of roughly 15–25% of early-career earnings of workers
  (with the employment effect) are in the range of the certificate and certification literature (e.g. Xu &
  Trimble 2016; Bettinger & Soliz 2016; ASSUMPTION for the exact dollar paths, see
  :func:`cteimpact.synth.model.earnings_premiums`).

Everything marked ASSUMPTION is a modelling choice for a realistic test bed, not an empirical claim.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Calibration", "GrantRound"]


@dataclass(frozen=True, slots=True)
class GrantRound:
    """One grant competition: applicants scored on a rubric, the top ``funded`` funded."""

    number: int
    award_year: int
    applicants: int
    funded: int
    score_mean: float
    score_quality_sd: float
    score_noise_sd: float


@dataclass(frozen=True)
class Calibration:
    """All parameters of the synthetic world (see the module docstring for sources)."""

    rounds: tuple[GrantRound, ...] = (
        GrantRound(1, 2014, 123, 39, 71.0, 9.0, 5.0),
        GrantRound(2, 2015, 79, 40, 74.0, 8.0, 5.0),
    )
    first_cohort: int = 2010
    last_cohort: int = 2021
    last_wage_year: int = 2025
    """Wage records are complete through this calendar year."""
    rd_cohorts_after_award: int = 4
    """Cohorts entering 9th grade in the award year and the three years after make the RD analysis sample."""

    # structure --------------------------------------------------------------------------------------------
    districts_extra_mean: float = 1.4
    """Districts per consortium = 1 + Poisson(this), at most ``max_districts``."""
    max_districts: int = 8
    schools_extra_mean: float = 0.7
    """High schools per district = 1 + Poisson(this), at most ``max_schools``."""
    max_schools: int = 5
    school_cohort_size_median: float = 55.0
    """Median students per school and cohort at scale 1 (lognormal across schools)."""
    school_cohort_size_logsd: float = 0.5

    # demographics -------------------------------------------------------------------------------------------
    p_female: float = 0.49
    race_categories: tuple[str, ...] = (
        "Hispanic or Latino", "White", "Asian", "Black or African American", "Filipino", "Two or more races",
        "Other or not reported",
    )
    race_shares: tuple[float, ...] = (0.55, 0.22, 0.09, 0.05, 0.03, 0.03, 0.03)
    p_race_missing: float = 0.01
    p_prior_missing: float = 0.02
    p_prior_missing_el_extra: float = 0.05

    # pathway launches ---------------------------------------------------------------------------------------
    p_launch_in_award_year: float = 0.75
    """In funded consortia, a district launches in the award year with this probability, else a year later."""
    p_never_launch_unfunded: float = 0.30
    unfunded_launch_years: tuple[int, int] = (2016, 2020)

    # participation ------------------------------------------------------------------------------------------
    p_legacy_cte: float = 0.06
    """Participation in legacy CTE programs where no pathway has launched."""
    uptake_at_launch: float = 0.40
    uptake_growth: float = 0.08
    """Uptake grows by this much per year of program maturity, for up to ``maturity_years`` years."""
    maturity_years: int = 4

    # dropout ------------------------------------------------------------------------------------------------
    dropout_logit_2010: float = -2.6
    dropout_trend: float = -0.045
    dropout_rr_base: float = 0.55
    """Dropout risk ratio of participants (female, not low-income); lower = larger effect."""
    dropout_rr_low_income: float = -0.10
    dropout_rr_male: float = -0.05
    p_attrition: float = 0.04
    p_attrition_el_extra: float = 0.02

    # graduation ---------------------------------------------------------------------------------------------
    p_grad_if_stayed: float = 0.925
    grad_participation_gain: float = 0.02
    grad_sped_penalty: float = 0.06

    # earnings -----------------------------------------------------------------------------------------------
    employment_logit_19: float = 0.20
    employment_age_slope: float = 0.22
    employment_credential: float = 0.55
    """Employment logit shift of a credential holder (every age)."""
    employment_completer: float = 0.40
    """Employment logit shift of a pathway completer (every age)."""
    log_earnings_19: float = 9.30
    log_earnings_age_slope: float = 0.12
    earnings_person_sd: float = 0.35
    earnings_year_sd: float = 0.55
    earnings_district_sd: float = 0.10
    earnings_cell_sd: float = 0.05
    """District-by-cohort shocks to log earnings (noise that DiD must average over)."""
    year_effects: tuple[tuple[int, float], ...] = ((2020, -0.15), (2021, -0.05))
    wage_growth: float = 0.02

    # pathway quality and interim outcomes ---------------------------------------------------------------
    pathway_quality_by_launch: tuple[tuple[int, float], ...] = ((2015, 1.0), (2017, 0.7), (2020, 0.45))
    """Quality of a newly launched pathway, by launch year (launch year ≤ first element → second)."""
    pathway_quality_exposure: float = 0.25
    """Quality grows by this fraction per year of program maturity (up to ``maturity_years``)."""
    legacy_quality: float = 0.3
    """Quality of legacy CTE programs (where no pathway has launched)."""
    p_grade_at_entry: tuple[float, float, float, float] = (0.85, 0.07, 0.05, 0.03)
    """Shares of a cohort entering the district's high school in grades 9, 10, 11, 12 (ASSUMPTION)."""
    entry_exposure: tuple[float, float, float, float] = (1.0, 0.8, 0.5, 0.2)
    """Chance of concentrating relative to a 9th-grade entrant, by grade at entry."""
    entry_completion: tuple[float, float, float, float] = (1.0, 0.9, 0.7, 0.5)
    """Chance of completing (given concentrating) relative to a 9th-grade entrant, by grade at entry."""
    concentrator_base: float = 0.65
    concentrator_quality: float = 0.10
    completion_base: float = 0.55
    completion_quality: float = 0.18
    credential_other: float = 0.035
    """Credential chance of a student who is not a pathway concentrator (about 3–5% with the modifiers)."""
    credential_concentrator: float = 0.10
    credential_completer: float = 0.20
    credential_quality: float = 0.14
    """Credential chance of a completer rises by this much per unit of pathway quality."""
    credential_male: float = 0.08
    """Extra credential chance of a male completer (trades credentials)."""
    dual_courses_base: float = 0.30
    """Mean dual-enrollment courses (3 credits each) of a non-participant with average prior achievement."""
    dual_courses_concentrator: float = 0.35
    dual_courses_completer: float = 0.60
    postsecondary_logit: float = 0.55
    postsecondary_completer: float = 0.30
    postsecondary_credential: float = 0.10
    postsecondary_completer_low_income: float = 0.20
    """Extra postsecondary effect of completion for low-income students (pathways as a bridge to college)."""
    longrun_direct_gain: float = 0.0
    """Proportional earnings gain at ages >= 22 of participants in a launched pathway that runs through NO
    interim outcome (0: surrogacy holds by construction; > 0: surrogacy violated)."""

    notes: dict[str, str] = field(default_factory=lambda: {
        "rounds": "Round One 123 applicants / 39 funded (CDE 2014); Round Two applicants = 79 is an assumption",
        "dropout": "baseline calibrated to CDE four-year cohort dropout ~11.5% (2014) to ~9% (2019)",
        "award_effect": "participation effects set so the award lowers dropout ~23% at the cutoff (published RD)",
        "earnings": "profiles and effect sizes are assumptions for a realistic test bed",
        "concentrator": "Perkins V (2018) section 3(12): at least two courses in a single CTE program of study",
        "interim": ("completion ~50-60% of participants, credentials ~20-30% of participants vs ~3-5% of others, "
                    "postsecondary ~55-65%: ranges from state Perkins, credential and college-going reports; "
                    "exact values are assumptions"),
        "surrogacy": ("earnings depend on participation only through completer, credential, postsecondary, "
                      "dual_credits, dropout and graduated unless longrun_direct_gain > 0"),
    })

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (written to truth.json)."""
        return asdict(self)

    def launch_quality(self, launch_year: int) -> float:
        """Quality of a newly launched pathway in a district that launched in ``launch_year``."""
        for last, quality in self.pathway_quality_by_launch:
            if launch_year <= last:
                return quality
        return self.pathway_quality_by_launch[-1][1]
