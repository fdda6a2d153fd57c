"""True values of every estimand cteimpact estimates on the synthetic data.

Regression discontinuity (superpopulation estimands at the cutoff)
    For each grant round, a large Monte Carlo population of hypothetical consortia whose rubric score equals the
    round's cutoff (quality drawn from its conditional distribution given the score) is built with the same
    structural model as the data, and expected outcomes are computed analytically for every student under both
    potential launch years (funded / not funded). The sharp intention-to-treat effect of the award, the first stage
    on pathway participation, the fuzzy (Wald) ratio, the control mean and subgroup effects follow. Estimands are
    over students whose outcomes are observed (attrition does not depend on the award). The pooled estimand on the
    normalised running variable weights the rounds by the density of students at each cutoff: applicants × density
    of the rubric score at the cutoff × students per consortium. Subgroup effects are given for every protected
    characteristic (female, low_income, english_learner, special_ed, grade_at_entry, race_ethnicity). Earnings at
    an age are observed only for cohorts that reached it by the last wage year: their estimands use those cohorts;
    where no RD cohort is observed (earnings at 26) the estimand is over every RD cohort (``observed: false``), the
    target of a surrogate-index projection.

Surrogate index (``surrogate``)
    The true long-run effect at the cutoff (pooled ITT on earnings at 26), whether surrogacy holds in the
    calibration, and the population best-linear surrogate index with its misspecification bias.

Difference-in-differences (finite-sample estimands)
    ATT(g, t) is the average, over the realised students of districts that launched in year g, of the difference
    between their outcome in cohort t and their outcome had their district never launched (same draws), so it is
    exactly what the data could reveal. On the district panel each district counts once (districts with every
    cohort observed); the student-level version weights by observed students. Aggregations follow Callaway &
    Sant'Anna (2021, section 3) with group shares P(G = g) among treated units. Interim outcomes and earnings at
    each age have student-level truths over every cohort with the outcome observed (:func:`did_student_truth`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from cteimpact.synth.calibration import Calibration, GrantRound
from cteimpact.synth.model import (
    AGES,
    NEVER,
    Covariates,
    Expected,
    InterimDraws,
    attrition_probability,
    draw_covariates,
    draw_grade_at_entry,
    expected_earnings_given,
    expected_outcomes_many,
    realised_interim,
)
from cteimpact.synth.world import World, draw_launch_years

__all__ = ["INDEX_COVARIATES", "LONG_RUN_OUTCOME", "RD_OUTCOMES", "SUBGROUP_VARIABLES", "SURROGATES", "cs_aggregate",
           "did_student_truth", "did_truth", "rd_truth", "subgroup_masks"]

EARNINGS_AGES = tuple(f"earnings_age{int(a)}" for a in AGES)
RD_OUTCOMES = ("dropout", "graduated", "earnings_age19", "employed_age19", "concentrator", "completer", "credential",
               "dual_credits", "postsecondary", *EARNINGS_AGES[1:])
SUBGROUP_VARIABLES = ("female", "low_income", "english_learner", "special_ed", "grade_at_entry", "race_ethnicity")
"""Protected characteristics with subgroup truths (``<variable>=<value>``; race by category name)."""
LONG_RUN_OUTCOME = "earnings_age26"
SURROGATES = ("completer", "credential", "postsecondary", "dual_credits", "dropout", "graduated")
"""The measured interim and high-school outcomes through which participation reaches long-run earnings."""
INDEX_COVARIATES = ("female", "low_income", "english_learner", "special_ed", "prior_achievement", "cohort")
"""Pre-treatment covariates of the population best-linear surrogate index in ``truth.json`` (cohort as indicators:
earnings levels grow with calendar time, and pathways reach later cohorts more often)."""


def subgroup_masks(cal: Calibration, x: Covariates) -> dict[str, np.ndarray]:
    """Boolean masks of every protected subgroup, named as in ``truth.json``."""
    groups: dict[str, np.ndarray] = {}
    for var, attr in (("female", "female"), ("low_income", "low_income"), ("english_learner", "english_learner"),
                      ("special_ed", "special_ed")):
        values = getattr(x, attr)
        groups[f"{var}=1"] = values == 1
        groups[f"{var}=0"] = values == 0
    for grade in range(9, 13):
        groups[f"grade_at_entry={grade}"] = x.grade_at_entry == grade
    for code, name in enumerate(cal.race_categories):
        groups[f"race_ethnicity={name}"] = x.race == code
    return groups


def _observed_age(name: str) -> int | None:
    return int(name.removeprefix("earnings_age")) if name.startswith("earnings_age") else None


def _round_population(rng: np.random.Generator, cal: Calibration, rnd: GrantRound, cutoff: float,
                      n_consortia: int, per_cell: int, extra: np.random.Generator) -> tuple[Any, ...]:
    """Hypothetical consortia scored exactly at ``cutoff`` and their students' expected outcomes (``extra``: the
    stream of the grade at entry and the interim-outcome draws)."""
    sd_total = np.hypot(rnd.score_quality_sd, rnd.score_noise_sd)
    q_mean = rnd.score_quality_sd * (cutoff - rnd.score_mean) / sd_total**2
    q_sd = rnd.score_noise_sd / sd_total
    quality = q_mean + q_sd * rng.standard_normal(n_consortia)
    n_dist = np.minimum(1 + rng.poisson(cal.districts_extra_mean, n_consortia), cal.max_districts)
    d_cons = np.repeat(np.arange(n_consortia), n_dist)
    n_d = d_cons.size
    d_dropout = rng.normal(0.0, 0.25, n_d)
    d_earn = rng.normal(0.0, cal.earnings_district_sd, n_d)
    unfunded, funded = draw_launch_years(rng, cal, d_dropout, np.full(n_d, rnd.award_year))
    n_sch = np.minimum(1 + rng.poisson(cal.schools_extra_mean, n_d), cal.max_schools)
    s_dist = np.repeat(np.arange(n_d), n_sch)
    n_s = s_dist.size
    size = np.exp(np.log(cal.school_cohort_size_median) + cal.school_cohort_size_logsd * rng.standard_normal(n_s))
    s_li = rng.normal(0.0, 0.8, n_s)
    s_drop = rng.normal(0.0, 0.15, n_s)
    cohorts = np.arange(rnd.award_year, rnd.award_year + cal.rd_cohorts_after_award)
    cell_shock = rng.normal(0.0, cal.earnings_cell_sd, (n_d, cohorts.size))
    school = np.repeat(np.arange(n_s), cohorts.size * per_cell)
    c_pos = np.tile(np.repeat(np.arange(cohorts.size), per_cell), n_s)
    district = s_dist[school]
    n = school.size
    x = draw_covariates(rng, cal, cohorts[c_pos], s_li[school], quality[d_cons[district]], d_dropout[district],
                        s_drop[school], d_earn[district], cell_shock[district, c_pos],
                        grade_at_entry=draw_grade_at_entry(extra, cal, n))
    weight = size[school] / per_cell * (1.0 - attrition_probability(cal, x))
    launch1, launch0 = funded[district], unfunded[district]
    e1, e0 = expected_outcomes_many(cal, x, [launch1, launch0])
    u = (extra.random(n), extra.random(n), extra.random(n))
    interim = InterimDraws.draw(extra, n)
    realised = {arm: realised_interim(cal, x, *u, interim, launch) for arm, launch in (("1", launch1), ("0", launch0))}
    return x, weight, e1, e0, d_cons[district], n_consortia, realised


def _pooled_ratio(parts: list[tuple[float, np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """Ratio of pooled sums with round weights ``kappa``, and its Monte Carlo standard error by consortium."""
    num = sum(k * n.sum() for k, n, _ in parts)
    den = sum(k * d.sum() for k, _, d in parts)
    ratio = num / den
    var = sum(k**2 * np.sum((n - ratio * d) ** 2) for k, n, d in parts)
    return float(ratio), float(np.sqrt(var) / den)


def _observed_cohorts(cal: Calibration, name: str, cohorts: np.ndarray) -> np.ndarray:
    """Which of ``cohorts`` have outcome ``name`` observed (earnings at an age: through the last wage year)."""
    age = _observed_age(name)
    if age is None:
        return np.ones(cohorts.shape, bool)
    return cohorts + 5 + (age - 19) <= cal.last_wage_year


def rd_truth(
    world: World, cal: Calibration, seed: int, *, n_consortia: int = 3000, per_cell: int = 4
) -> dict[str, Any]:
    """True RD estimands at each round's cutoff and pooled (see the module docstring), and the population
    surrogate index at the cutoff (``surrogate``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    per_round: dict[str, dict[str, Any]] = {}
    blocks: list[tuple[float, dict[str, np.ndarray]]] = []
    observed: dict[str, list[bool]] = {name: [] for name in RD_OUTCOMES}
    kappas = {}
    populations = []
    for rnd in cal.rounds:
        extra = np.random.default_rng(np.random.SeedSequence([seed, 2, 1, rnd.number]))
        rows = world.consortia[world.consortia["grant_round"] == rnd.number]
        cutoff = float(rows["cutoff"].iloc[0])
        x, w, e1, e0, cons, m, realised = _round_population(rng, cal, rnd, cutoff, n_consortia, per_cell, extra)
        density = norm.pdf(cutoff, rnd.score_mean, np.hypot(rnd.score_quality_sd, rnd.score_noise_sd))
        kappa = rnd.applicants * density / m
        cohorts = np.arange(rnd.award_year, rnd.award_year + cal.rd_cohorts_after_award)
        kappas[f"round{rnd.number}"] = {"cutoff": cutoff, "score_density_at_cutoff": float(density),
                                        "applicants": rnd.applicants}
        names = (*RD_OUTCOMES, "pathway")
        first_stage = e1.pathway - e0.pathway
        block: dict[str, np.ndarray] = {}
        chunk = 4  # outcomes per sparse product (bounded memory)
        for start in range(0, len(names), chunk):
            part = names[start:start + chunk]
            # columns per outcome: weight, weight × effect, weight × control outcome, weight × first stage
            quantities = np.empty((w.size, 4 * len(part)))
            for j, name in enumerate(part):
                seen_cohorts = _observed_cohorts(cal, name, cohorts)
                observed.setdefault(name, []).append(bool(seen_cohorts.any()))
                # outcomes seen in no cohort of the round: the estimand over every cohort (a hypothetical one)
                ws = np.where(np.isin(x.cohort, cohorts[seen_cohorts]), w, 0.0) if seen_cohorts.any() else w
                y1, y0 = _expected(e1, name), _expected(e0, name)
                quantities[:, 4 * j:4 * j + 4] = np.column_stack([ws, ws * (y1 - y0), ws * y0, ws * first_stage])
            block.update(_group_sums(cal, x, cons, m, part, quantities))
        blocks.append((kappa, block))
        per_round[f"round{rnd.number}"] = _summarise([(1.0, block)])
        for name in RD_OUTCOMES:
            per_round[f"round{rnd.number}"][name]["observed"] = observed[name][-1]
            per_round[f"round{rnd.number}"][name]["cohorts"] = [int(c) for c in cohorts[
                _observed_cohorts(cal, name, cohorts)]]
        populations.append((kappa, x, w, realised))
        del e1, e0
    out: dict[str, Any] = {}
    for name in (*RD_OUTCOMES, "pathway"):
        seen_rounds = observed[name]
        use = [b for b, ok in zip(blocks, seen_rounds, strict=True) if ok] or blocks
        pooled = _summarise(use, names=(name,))[name]
        if name != "pathway":
            pooled["observed"] = any(seen_rounds)
        out[name] = {"pooled": pooled, **{scope: vals[name] for scope, vals in per_round.items()}}
    return {
        "estimands": out, "rounds": kappas,
        "monte_carlo": {"consortia_per_round": n_consortia, "students_per_school_cohort": per_cell},
        "observed_note": ("earnings at an age are observed for cohorts whose year at that age is at most "
                          "Calibration.last_wage_year; estimands use those cohorts (rounds without one are left out "
                          "of the pooled value); an outcome observed in no RD cohort (observed: false) has the "
                          "estimand over every RD cohort, as if it were observed (for projections such as the "
                          "surrogate index)"),
        "surrogate": _surrogate_block(cal, populations, out),
    }


def _group_sums(cal: Calibration, x: Covariates, cons: np.ndarray, m: int, names: tuple[str, ...],
                quantities: np.ndarray) -> dict[str, np.ndarray]:
    """Sums of the ``quantities`` columns by consortium within every subgroup (one sparse product per variable)."""
    variables: list[tuple[np.ndarray, list[str]]] = [(np.zeros(cons.size, dtype=np.int64), ["all"])]
    for var in ("female", "low_income", "english_learner", "special_ed"):
        variables.append((getattr(x, var).astype(np.int64), [f"{var}=0", f"{var}=1"]))
    variables.append((x.grade_at_entry.astype(np.int64) - 9, [f"grade_at_entry={g}" for g in range(9, 13)]))
    variables.append((x.race.astype(np.int64), [f"race_ethnicity={r}" for r in cal.race_categories]))
    block: dict[str, np.ndarray] = {}
    prefixes = ("w", "d", "y0", "fs")
    for level, labels in variables:
        key = level * m + cons
        indicator = sparse.csr_matrix((np.ones(cons.size), (key, np.arange(cons.size))), shape=(len(labels) * m,
                                                                                                cons.size))
        sums = np.asarray(indicator @ quantities)
        for li, label in enumerate(labels):
            rows = sums[li * m:(li + 1) * m]
            for j, name in enumerate(names):
                for q, prefix in enumerate(prefixes):
                    block[f"{prefix}|{name}|{label}"] = rows[:, 4 * j + q]
    return block


def _expected(e: Expected, name: str) -> np.ndarray:
    return e.outcome(name)


def _summarise(parts: list[tuple[float, dict[str, np.ndarray]]],
               names: tuple[str, ...] = (*RD_OUTCOMES, "pathway")) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = {}
    for name in names:
        groups = [k.split("|", 2)[2] for k in parts[0][1] if k.startswith(f"w|{name}|")]
        entry: dict[str, Any] = {}
        for g in groups:
            if sum(k * b[f"w|{name}|{g}"].sum() for k, b in parts) <= 0:
                continue  # no student of the subgroup in the population (not expected at the default sizes)
            itt, itt_se = _pooled_ratio([(k, b[f"d|{name}|{g}"], b[f"w|{name}|{g}"]) for k, b in parts])
            y0, _ = _pooled_ratio([(k, b[f"y0|{name}|{g}"], b[f"w|{name}|{g}"]) for k, b in parts])
            fs, _ = _pooled_ratio([(k, b[f"fs|{name}|{g}"], b[f"w|{name}|{g}"]) for k, b in parts])
            item = {"itt": itt, "itt_monte_carlo_se": itt_se, "control_mean": y0,
                    "relative_itt": itt / y0 if y0 else None}
            if name == "pathway":
                item = {"first_stage": itt, "first_stage_monte_carlo_se": itt_se, "control_mean": y0}
            else:
                item["late"] = itt / fs
            if g == "all":
                entry.update(item)
            else:
                entry.setdefault("subgroups", {})[g] = item
        res[name] = entry
    return res


def _index_columns(x: Covariates, s: Any, cohorts: np.ndarray) -> np.ndarray:
    cols = [np.ones(x.cohort.shape)]
    cols += [getattr(s, name).astype(float) for name in SURROGATES]
    cols += [x.female, x.low_income, x.english_learner, x.special_ed, x.prior]
    cols += [x.cohort == c for c in cohorts[1:]]
    return np.column_stack([np.asarray(c, dtype=float) for c in cols])


def _surrogate_block(cal: Calibration, populations: list[tuple[Any, ...]], rd: dict[str, Any]) -> dict[str, Any]:
    """The long-run effect at the cutoff and how well a linear surrogate index recovers it in the population.

    The population best-linear index is the weighted least-squares projection of E[earnings_age26 | surrogates,
    covariates, random effects] on the surrogates and :data:`INDEX_COVARIATES` among students of unfunded
    consortia at the cutoff (the arm without the award plays the observational sample); applied to both arms with
    the same draws, it gives the index estimand, compared with the true effect on the same draws.
    """
    age = np.asarray([int(LONG_RUN_OUTCOME.removeprefix("earnings_age"))])
    xtx = 0.0
    xty = 0.0
    fitted = []
    cohorts = np.unique(np.concatenate([p[1].cohort for p in populations]))
    for kappa, x, w, realised in populations:
        means = {}
        for arm, s in realised.items():
            _, m = expected_earnings_given(cal, x, age, dropped=s.dropout, completer=s.completer,
                                           credential=s.credential, postsecondary=s.postsecondary,
                                           dual_credits=s.dual_credits, direct=s.direct.astype(float))
            means[arm] = m[:, 0]
        z0 = _index_columns(x, realised["0"], cohorts)
        wk = kappa * w
        xtx = xtx + z0.T @ (z0 * wk[:, None])
        xty = xty + z0.T @ (wk * means["0"])
        fitted.append((wk, x, realised, means))
    beta = np.linalg.solve(xtx, xty)
    num_index = num_true = den = 0.0
    for wk, x, realised, means in fitted:
        diff = _index_columns(x, realised["1"], cohorts) - _index_columns(x, realised["0"], cohorts)
        num_index += float(wk @ (diff @ beta))
        num_true += float(wk @ (means["1"] - means["0"]))
        den += float(wk.sum())
    index_effect, same_draws = num_index / den, num_true / den
    true_effect = rd[LONG_RUN_OUTCOME]["pooled"]["itt"]
    bias = index_effect - same_draws
    return {
        "long_run_outcome": LONG_RUN_OUTCOME,
        "surrogates": list(SURROGATES),
        "index_covariates": list(INDEX_COVARIATES),
        "true_effect": true_effect,
        "true_effect_path": f"rd.estimands.{LONG_RUN_OUTCOME}.pooled.itt",
        "surrogacy_holds": cal.longrun_direct_gain == 0.0,
        "longrun_direct_gain": cal.longrun_direct_gain,
        "population_index": {
            "description": (
                "weighted least-squares projection of E[earnings_age26 | surrogates, covariates] on the surrogates "
                "and index_covariates among students of unfunded consortia at the cutoff, applied to both arms on "
                "the same draws"),
            "coefficients": dict(zip(["intercept", *SURROGATES, *INDEX_COVARIATES[:-1],
                                      *(f"cohort={int(c)}" for c in cohorts[1:])], map(float, beta), strict=True)),
            "index_effect": index_effect,
            "true_effect_same_draws": same_draws,
            "misspecification_bias": bias,
            "relative_misspecification_bias": bias / same_draws if same_draws else None,
        },
    }


def cs_aggregate(att: pd.DataFrame, group_share: pd.Series) -> dict[str, Any]:
    """Callaway–Sant'Anna aggregations of ATT(g, t) with group shares (weights) ``group_share``.

    ``att`` has columns group, time, att (every group-time cell, pre-periods included).
    """
    att = att.assign(event=att["time"] - att["group"], pg=att["group"].map(group_share).astype(float))
    post = att[att["time"] >= att["group"]]
    simple = float((post["att"] * post["pg"]).sum() / post["pg"].sum())
    by_group = post.groupby("group")["att"].mean()
    pg = group_share.reindex(by_group.index).astype(float)
    group_overall = float((by_group * pg).sum() / pg.sum())
    att = att.assign(weighted=att["att"] * att["pg"])
    by_event = att.groupby("event")[["weighted", "pg"]].sum()
    dyn = by_event["weighted"] / by_event["pg"]
    dynamic_overall = float(dyn[dyn.index >= 0].mean())
    by_time = post.assign(weighted=post["att"] * post["pg"]).groupby("time")[["weighted", "pg"]].sum()
    cal = by_time["weighted"] / by_time["pg"]
    return {
        "simple": simple,
        "group": {"overall": group_overall, "by_group": {str(int(k)): float(v) for k, v in by_group.items()}},
        "dynamic": {"overall": dynamic_overall, "by_event": {str(int(k)): float(v) for k, v in dyn.items()}},
        "calendar": {"overall": float(cal.mean()), "by_time": {str(int(k)): float(v) for k, v in cal.items()}},
    }


def did_student_truth(cells: pd.DataFrame, first_treated: np.ndarray, outcome: str, n_col: str) -> dict[str, Any]:
    """Student-level ATT(g, t) of ``outcome`` over every (district, cohort) cell where it is observed (``n_col``
    students), and its aggregations (None when no treated cohort is observed)."""
    c = cells[cells[n_col] > 0]
    group = first_treated[c["district"].to_numpy()]
    c_t = c[group != NEVER].assign(group=group[group != NEVER])
    sums = c_t.groupby(["group", "cohort"])[[f"sum_effect_{outcome}", n_col]].sum()
    att = (sums[f"sum_effect_{outcome}"] / sums[n_col]).rename("att").reset_index().rename(
        columns={"cohort": "time"})
    pg = c_t.groupby("group")[n_col].sum()
    has_post = bool((att["time"] >= att["group"]).any())
    return {
        "cohorts": [int(c["cohort"].min()), int(c["cohort"].max())] if len(c) else None,
        "att_gt": _att_records(att),
        "aggregates": cs_aggregate(att, pg) if has_post else None,
    }


def did_truth(cells: pd.DataFrame, first_treated: np.ndarray, panel_cohorts: np.ndarray,
              outcomes: tuple[str, ...]) -> dict[str, Any]:
    """True ATT(g, t) and aggregations on the district panel and at student level (see the module docstring)."""
    cells = cells[cells["cohort"].isin(panel_cohorts)].copy()
    cells["group"] = first_treated[cells["district"].to_numpy()]
    out: dict[str, Any] = {}
    for y in outcomes:
        n_col = "n_observed_age19" if y.endswith("age19") else "n_observed"
        c = cells[cells[n_col] > 0].copy()
        c["effect"] = c[f"sum_effect_{y}"] / c[n_col]
        complete = c.groupby("district")["cohort"].transform("size") == panel_cohorts.size
        balanced = c[complete]
        treated = balanced[balanced["group"] != NEVER]
        district_att = (treated.groupby(["group", "cohort"])["effect"].mean().rename("att").reset_index()
                        .rename(columns={"cohort": "time"}))
        pg_district = treated.groupby("group")["district"].nunique()
        c_t = c[c["group"] != NEVER]
        sums = c_t.groupby(["group", "cohort"])[[f"sum_effect_{y}", n_col]].sum()
        student_att = (sums[f"sum_effect_{y}"] / sums[n_col]).rename("att").reset_index().rename(
            columns={"cohort": "time"})
        pg_student = c_t.groupby("group")[n_col].sum()
        out[y] = {
            "district_panel": {
                "n_districts": int(balanced["district"].nunique()),
                "n_districts_by_group": {str(int(g)) if g != NEVER else "0": int(v) for g, v in
                                         balanced.groupby("group")["district"].nunique().items()},
                "att_gt": _att_records(district_att),
                "aggregates": cs_aggregate(district_att, pg_district),
            },
            "student": {
                "att_gt": _att_records(student_att),
                "aggregates": cs_aggregate(student_att, pg_student),
            },
        }
    return out


def _att_records(att: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"group": int(r.group), "time": int(r.time), "att": float(r.att)} for r in att.itertuples()]
