"""True values of every estimand cteimpact estimates on the synthetic data.

Regression discontinuity (superpopulation estimands at the cutoff)
    For each grant round, a large Monte Carlo population of hypothetical consortia whose rubric score equals the
    round's cutoff (quality drawn from its conditional distribution given the score) is built with the same
    structural model as the data, and expected outcomes are computed analytically for every student under both
    potential launch years (funded / not funded). The sharp intention-to-treat effect of the award, the first stage
    on pathway participation, the fuzzy (Wald) ratio, the control mean and subgroup effects follow. Estimands are
    over students whose outcomes are observed (attrition does not depend on the award). The pooled estimand on the
    normalised running variable weights the rounds by the density of students at each cutoff: applicants × density
    of the rubric score at the cutoff × students per consortium.

Difference-in-differences (finite-sample estimands)
    ATT(g, t) is the average, over the realised students of districts that launched in year g, of the difference
    between their outcome in cohort t and their outcome had their district never launched (same draws), so it is
    exactly what the data could reveal. On the district panel each district counts once (districts with every
    cohort observed); the student-level version weights by observed students. Aggregations follow Callaway &
    Sant'Anna (2021, section 3) with group shares P(G = g) among treated units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from cteimpact.synth.calibration import Calibration, GrantRound
from cteimpact.synth.model import NEVER, attrition_probability, draw_covariates, expected_outcomes
from cteimpact.synth.world import World, draw_launch_years

__all__ = ["RD_OUTCOMES", "cs_aggregate", "did_truth", "rd_truth"]

RD_OUTCOMES = ("dropout", "graduated", "earnings_age19", "employed_age19")
SUBGROUPS = (("female", 1), ("female", 0), ("low_income", 1), ("low_income", 0))


def _round_population(rng: np.random.Generator, cal: Calibration, rnd: GrantRound, cutoff: float,
                      n_consortia: int, per_cell: int) -> tuple[Any, ...]:
    """Hypothetical consortia scored exactly at ``cutoff`` and their students' expected outcomes."""
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
    x = draw_covariates(rng, cal, cohorts[c_pos], s_li[school], quality[d_cons[district]], d_dropout[district],
                        s_drop[school], d_earn[district], cell_shock[district, c_pos])
    weight = size[school] / per_cell * (1.0 - attrition_probability(cal, x))
    e1 = expected_outcomes(cal, x, funded[district])
    e0 = expected_outcomes(cal, x, unfunded[district])
    return x, weight, e1, e0, d_cons[district], n_consortia


def _pooled_ratio(parts: list[tuple[float, np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """Ratio of pooled sums with round weights ``kappa``, and its Monte Carlo standard error by consortium."""
    num = sum(k * n.sum() for k, n, _ in parts)
    den = sum(k * d.sum() for k, _, d in parts)
    ratio = num / den
    var = sum(k**2 * np.sum((n - ratio * d) ** 2) for k, n, d in parts)
    return float(ratio), float(np.sqrt(var) / den)


def rd_truth(
    world: World, cal: Calibration, seed: int, *, n_consortia: int = 3000, per_cell: int = 4
) -> dict[str, Any]:
    """True RD estimands at each round's cutoff and pooled (see the module docstring)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    per_round: dict[str, dict[str, Any]] = {}
    sums: dict[str, list[tuple[float, dict[str, np.ndarray]]]] = {}
    kappas = {}
    for rnd in cal.rounds:
        rows = world.consortia[world.consortia["grant_round"] == rnd.number]
        cutoff = float(rows["cutoff"].iloc[0])
        x, w, e1, e0, cons, m = _round_population(rng, cal, rnd, cutoff, n_consortia, per_cell)
        density = norm.pdf(cutoff, rnd.score_mean, np.hypot(rnd.score_quality_sd, rnd.score_noise_sd))
        kappa = rnd.applicants * density / m
        kappas[f"round{rnd.number}"] = {"cutoff": cutoff, "score_density_at_cutoff": float(density),
                                        "applicants": rnd.applicants}
        groups = {"all": np.ones(w.shape, bool)}
        groups.update({f"{var}={val}": getattr(x, var) == val for var, val in SUBGROUPS})
        block: dict[str, np.ndarray] = {}
        for gname, mask in groups.items():
            wm = np.where(mask, w, 0.0)
            block[f"w|{gname}"] = np.bincount(cons, weights=wm, minlength=m)
            for name in (*RD_OUTCOMES, "pathway"):
                y1, y0 = getattr(e1, name), getattr(e0, name)
                block[f"d|{name}|{gname}"] = np.bincount(cons, weights=wm * (y1 - y0), minlength=m)
                block[f"y0|{name}|{gname}"] = np.bincount(cons, weights=wm * y0, minlength=m)
        sums.setdefault("rounds", []).append((kappa, block))
        per_round[f"round{rnd.number}"] = _summarise([(1.0, block)])
    pooled = _summarise(sums["rounds"])
    out: dict[str, Any] = {}
    for name in (*RD_OUTCOMES, "pathway"):
        out[name] = {scope: vals[name] for scope, vals in (("pooled", pooled), *per_round.items())}
    return {"estimands": out, "rounds": kappas, "monte_carlo": {"consortia_per_round": n_consortia,
                                                                 "students_per_school_cohort": per_cell}}


def _summarise(parts: list[tuple[float, dict[str, np.ndarray]]]) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = {}
    groups = [k.split("|", 1)[1] for k in parts[0][1] if k.startswith("w|")]
    for name in (*RD_OUTCOMES, "pathway"):
        entry: dict[str, Any] = {}
        for g in groups:
            itt, itt_se = _pooled_ratio([(k, b[f"d|{name}|{g}"], b[f"w|{g}"]) for k, b in parts])
            y0, _ = _pooled_ratio([(k, b[f"y0|{name}|{g}"], b[f"w|{g}"]) for k, b in parts])
            fs, _ = _pooled_ratio([(k, b[f"d|pathway|{g}"], b[f"w|{g}"]) for k, b in parts])
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
    dyn = att.groupby("event").apply(lambda d: float((d["att"] * d["pg"]).sum() / d["pg"].sum()),
                                     include_groups=False)
    dynamic_overall = float(dyn[dyn.index >= 0].mean())
    cal = post.groupby("time").apply(lambda d: float((d["att"] * d["pg"]).sum() / d["pg"].sum()),
                                     include_groups=False)
    return {
        "simple": simple,
        "group": {"overall": group_overall, "by_group": {str(int(k)): float(v) for k, v in by_group.items()}},
        "dynamic": {"overall": dynamic_overall, "by_event": {str(int(k)): float(v) for k, v in dyn.items()}},
        "calendar": {"overall": float(cal.mean()), "by_time": {str(int(k)): float(v) for k, v in cal.items()}},
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
