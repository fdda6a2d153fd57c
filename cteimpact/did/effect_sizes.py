"""Education effect sizes for difference-in-differences results, following the What Works Clearinghouse (WWC).

* Hedges' g (continuous outcomes): ``g = ω · ATT / S_pooled``, with ``S_pooled`` the pooled within-group standard
  deviation of the outcome of the treated and comparison units and the small-sample correction
  ``ω = 1 − 3 / (4N − 9)`` (WWC *Procedures Handbook*, Version 4.1, 2020, section VI.A and Appendix E, "effect
  size for continuous outcomes"; the same formula is in Version 5.0, 2022).
* Cox index (binary outcomes): ``d_Cox = ω · [logit(p_t) − logit(p_c)] / 1.65`` (WWC *Procedures Handbook*,
  Version 4.1, Appendix E, "effect size for dichotomous outcomes"), where for a DiD effect ``p_t`` is the treated
  units' post-treatment mean and ``p_c = p_t − ATT`` their counterfactual mean. ``correction=False`` drops ``ω``
  (some tools, e.g. R ``baselinr``, report the uncorrected index).
* Baseline equivalence (WWC *Standards Handbook*, Version 4.1/5.0, "baseline equivalence" of group designs): the
  standardized difference between each cohort and its comparison units in the outcome at the cohort's base
  (pre-treatment) period; ``|ES| <= 0.05``: satisfied; ``0.05 < |ES| <= 0.25``: satisfied only with statistical
  adjustment for the baseline measure; ``|ES| > 0.25``: not satisfied.

Standard errors of the standardized effects treat the standardiser as fixed (delta method on the ATT's standard
error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.did.panel import present
from cteimpact.errors import DesignError, OptionError

if TYPE_CHECKING:
    from cteimpact.did.panel import StaggeredData
    from cteimpact.did.results import DiDResults

__all__ = ["EffectSize", "baseline_equivalence", "cox_index", "effect_size", "hedges_g", "hedges_omega",
           "pooled_sd", "wwc_category"]

COX_SCALE = 1.65
WWCCategory = Literal["satisfied", "satisfied with adjustment", "not satisfied"]


def hedges_omega(n_total: float) -> float:
    """WWC small-sample correction ``ω = 1 − 3 / (4N − 9)``."""
    if n_total <= 2.25:
        raise OptionError(f"the small-sample correction needs N > 2.25, got {n_total}")
    return 1.0 - 3.0 / (4.0 * n_total - 9.0)


def pooled_sd(sd_t: float, sd_c: float, n_t: float, n_c: float) -> float:
    """``sqrt(((n_t − 1) s_t² + (n_c − 1) s_c²) / (n_t + n_c − 2))``."""
    if n_t + n_c <= 2:
        raise OptionError(f"the pooled standard deviation needs more than 2 observations, got {n_t + n_c}")
    return math.sqrt(((n_t - 1) * sd_t ** 2 + (n_c - 1) * sd_c ** 2) / (n_t + n_c - 2))


def hedges_g(difference: float, sd_t: float, sd_c: float, n_t: float, n_c: float, *,
             correction: bool = True) -> float:
    """Hedges' g of a mean difference (WWC)."""
    s = pooled_sd(sd_t, sd_c, n_t, n_c)
    if not s > 0:
        raise DesignError("the pooled standard deviation is zero: Hedges' g is undefined")
    omega = hedges_omega(n_t + n_c) if correction else 1.0
    return omega * difference / s


def cox_index(p_t: float, p_c: float, n_t: float, n_c: float, *, correction: bool = True) -> float:
    """WWC Cox index ``ω [logit(p_t) − logit(p_c)] / 1.65``."""
    for name, p in (("treated", p_t), ("comparison", p_c)):
        if not 0.0 < p < 1.0:
            raise DesignError(f"the Cox index is undefined: the {name} proportion is {p:g} (must be in (0, 1))")
    omega = hedges_omega(n_t + n_c) if correction else 1.0
    return omega * (math.log(p_t / (1 - p_t)) - math.log(p_c / (1 - p_c))) / COX_SCALE


def wwc_category(es: float) -> WWCCategory:
    """WWC baseline-equivalence category of a standardized baseline difference."""
    a = abs(es)
    if a <= 0.05:
        return "satisfied"
    if a <= 0.25:
        return "satisfied with adjustment"
    return "not satisfied"


@dataclass(frozen=True)
class EffectSize:
    """A standardized effect with its interval."""

    label: str
    kind: Literal["hedges_g", "cox_index"]
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    att: float
    n_treated: int
    n_comparison: int
    omega: float
    standardiser: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _post_samples(d: StaggeredData, cells: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes of treated units in the given (group, time) cells and of never-treated units in those periods."""
    times = d.times
    treated_vals, comp_vals = [], []
    if d.mode == "panel":
        yw = present(d.y_wide, "panel outcomes")
        for g, t in cells:
            ti = int(np.searchsorted(times, t))
            treated_vals.append(yw[d.row_cohort == g, ti])
        for t in sorted({t for _, t in cells}):
            ti = int(np.searchsorted(times, t))
            comp_vals.append(yw[d.row_cohort == 0, ti])
    else:
        oy, ot = present(d.obs_y, "outcomes"), present(d.obs_t, "periods")
        coh = d.row_cohort[present(d.obs_row, "rows")]
        for g, t in cells:
            ti = int(np.searchsorted(times, t))
            treated_vals.append(oy[(coh == g) & (ot == ti)])
        for t in sorted({t for _, t in cells}):
            ti = int(np.searchsorted(times, t))
            comp_vals.append(oy[(coh == 0) & (ot == ti)])
    return np.concatenate(treated_vals), np.concatenate(comp_vals) if comp_vals else np.array([])


def effect_size(results: DiDResults, label: str | None = None, *, binary: bool | None = None,
                correction: bool = True, ci_level: float = 0.95) -> EffectSize:
    """Standardized effect (Hedges' g or Cox index) of an aggregated ATT (default: the simple ATT).

    The treated sample is every treated unit-period in the cells the estimate averages; the comparison sample the
    never-treated units in the same periods. ``binary`` defaults to "the outcome takes only the values 0 and 1".
    """
    d = results.data
    if d is None:
        raise OptionError("these results do not carry their data; effect sizes need the outcome values")
    label = label or results.outcome
    est_idx = results.estimand_labels.index(label) if label in results.estimand_labels else None
    if est_idx is None:
        raise OptionError(f"no estimate labelled '{label}'")
    e = results.estimands[est_idx]
    cells = [(results.estimands[k].cell or (math.nan, math.nan)) for k in e.cells]
    yt, yc = _post_samples(d, cells)
    if yt.size < 2 or yc.size < 2:
        raise DesignError("effect sizes need at least two treated and two comparison (never-treated) observations")
    if binary is None:
        allv = np.concatenate([yt, yc])
        binary = bool(np.all((allv == 0) | (allv == 1)))
    att = float(e.estimate)
    se = float(results.estimand_se[est_idx])
    n_t, n_c = int(yt.size), int(yc.size)
    omega = hedges_omega(n_t + n_c) if correction else 1.0
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    if not binary:
        s = pooled_sd(float(yt.std(ddof=1)), float(yc.std(ddof=1)), n_t, n_c)
        g = omega * att / s
        sg = omega * se / s
        return EffectSize(label, "hedges_g", g, sg, g - z * sg, g + z * sg, att, n_t, n_c, omega, s)
    p_t = float(yt.mean())
    p_c = p_t - att
    dcox = cox_index(p_t, p_c, n_t, n_c, correction=correction)
    sd = omega * se / (COX_SCALE * p_c * (1 - p_c))
    return EffectSize(label, "cox_index", dcox, sd, dcox - z * sd, dcox + z * sd, att, n_t, n_c, omega, p_c)


def baseline_equivalence(results: DiDResults, *, binary: bool | None = None,
                         correction: bool = True) -> pd.DataFrame:
    """WWC-style baseline equivalence of each treated cohort on the pre-period outcome.

    For cohort ``g`` the baseline is its base period (the last period before ``g − anticipation``); the
    comparison units are the never-treated units (or, with ``control="notyet"``, every unit not yet treated by
    then). Returns one row per cohort: means, standard deviations, sizes, the standardized difference
    (Hedges' g, or the Cox index for binary outcomes) and the WWC category.
    """
    d = results.data
    if d is None:
        raise OptionError("these results do not carry their data; baseline equivalence needs the outcome values")
    notyet = results.options.get("control") == "notyet"
    rows = []
    for g in d.groups:
        pre = np.flatnonzero(d.times + d.anticipation < g)
        if pre.size == 0:
            continue
        bi = int(pre[-1])
        limit = float(d.times[bi] + d.anticipation)

        def comparison(c: np.ndarray, limit: float = limit) -> np.ndarray:
            return (c == 0) | (c > limit) if notyet else c == 0

        if d.mode == "panel":
            yw = present(d.y_wide, "panel outcomes")
            xt = yw[d.row_cohort == g, bi]
            xc = yw[comparison(d.row_cohort) & (d.row_cohort != g), bi]
        else:
            oy, ot = present(d.obs_y, "outcomes"), present(d.obs_t, "periods")
            coh = d.row_cohort[present(d.obs_row, "rows")]
            at = ot == bi
            xt = oy[at & (coh == g)]
            xc = oy[at & comparison(coh) & (coh != g)]
        if xt.size < 2 or xc.size < 2:
            continue
        is_bin = binary if binary is not None else bool(
            np.all(np.isin(np.concatenate([xt, xc]), (0.0, 1.0))))
        if is_bin:
            es = cox_index(float(xt.mean()), float(xc.mean()), xt.size, xc.size, correction=correction)
            kind = "cox_index"
        else:
            es = hedges_g(float(xt.mean() - xc.mean()), float(xt.std(ddof=1)), float(xc.std(ddof=1)), xt.size,
                          xc.size, correction=correction)
            kind = "hedges_g"
        rows.append({"cohort": float(g), "baseline_period": float(d.times[bi]), "n_treated": int(xt.size),
                     "n_comparison": int(xc.size), "mean_treated": float(xt.mean()),
                     "mean_comparison": float(xc.mean()), "sd_treated": float(xt.std(ddof=1)),
                     "sd_comparison": float(xc.std(ddof=1)), "effect_size": es, "kind": kind,
                     "wwc_category": wwc_category(es)})
    return pd.DataFrame(rows)
