"""Goodman-Bacon decomposition of the two-way fixed effects estimate (Goodman-Bacon 2021).

In a balanced panel with a binary, absorbing treatment and no covariates, the TWFE coefficient is a weighted
average of all 2×2 difference-in-differences comparisons between timing groups (Goodman-Bacon 2021, *Journal of
Econometrics* 225(2), 254–277, Theorem 1, eqs. 10a–10g):

* *treated vs untreated* ``β_kU``: cohort ``k`` against never-treated units over the whole panel;
* *earlier vs later treated* ``β^k_kl``: earlier cohort ``k`` against later cohort ``l`` before ``l`` is treated;
* *later vs earlier treated* ``β^l_kl``: later cohort ``l`` against the already-treated ``k`` after ``k`` is treated
  (the "forbidden" comparison that biases TWFE when effects grow with exposure).

Weights depend on group sizes ``n_k`` (sample shares) and treatment variance ``D̄_k (1 − D̄_k)`` (``D̄_k``: share of
periods treated):

    s_kU   ∝ (n_k + n_U)² n_kU (1 − n_kU) D̄_k (1 − D̄_k)
    s^k_kl ∝ ((n_k + n_l)(1 − D̄_l))² n_kl (1 − n_kl) · (D̄_k − D̄_l)/(1 − D̄_l) · (1 − D̄_k)/(1 − D̄_l)
    s^l_kl ∝ ((n_k + n_l) D̄_k)² n_kl (1 − n_kl) · D̄_l/D̄_k · (D̄_k − D̄_l)/D̄_k

normalised by the variance of the two-way demeaned treatment, so they sum to one and ``Σ s β`` equals the TWFE
coefficient exactly (the decomposition checks this and reports the difference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.data.student_data import StudentData
from cteimpact.did.panel import StaggeredData, prepare_staggered_data
from cteimpact.errors import DesignError
from cteimpact.threads import one_blas_thread

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BaconDecomposition", "bacon_decomposition", "bacon_from_prepared"]

TYPES = ("Earlier vs Later Treated", "Later vs Earlier Treated", "Treated vs Untreated")


@dataclass(frozen=True, eq=False)
class BaconDecomposition:
    """All 2×2 comparisons with their weights, a summary by comparison type, and the TWFE coefficient.

    Attributes
    ----------
    two_by_twos
        One row per comparison: ``treated`` (cohort in the treated role), ``control`` (cohort in the control role;
        0 = never treated), ``type``, ``estimate``, ``weight``.
    summary
        By type: total ``weight`` and weight-averaged ``avg_estimate``.
    twfe
        The TWFE coefficient (OLS on two-way demeaned data).
    weighted_sum
        ``Σ weight × estimate`` (equals ``twfe`` up to rounding; ``discrepancy`` is the difference).
    """

    two_by_twos: pd.DataFrame
    summary: pd.DataFrame
    twfe: float
    weighted_sum: float

    @property
    def discrepancy(self) -> float:
        return float(self.weighted_sum - self.twfe)

    def to_dict(self) -> dict[str, Any]:
        return {"twfe": self.twfe, "weighted_sum": self.weighted_sum,
                "two_by_twos": self.two_by_twos.to_dict(orient="records"),
                "summary": self.summary.to_dict(orient="records")}

    def plot(self, **kwargs: Any) -> Figure:
        from cteimpact.did.plots import plot_bacon

        return plot_bacon(self.two_by_twos, self.twfe, **kwargs)


def _twfe_balanced(y: np.ndarray, d: np.ndarray) -> float:
    def dm(a: np.ndarray) -> np.ndarray:
        return a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True) + a.mean()

    dt = dm(d)
    return float((dt * dm(y)).sum() / (dt * dt).sum())


@one_blas_thread()
def bacon_from_prepared(d: StaggeredData) -> BaconDecomposition:
    """Decompose the TWFE estimate on a balanced panel prepared by :func:`prepare_staggered_data`."""
    if d.mode != "panel" or d.y_wide is None:
        raise DesignError("the Goodman-Bacon decomposition needs a balanced panel (it is exact only there)")
    y = d.y_wide
    times = d.times
    cohorts = d.row_cohort
    treat = (cohorts[:, None] > 0) & (times[None, :] >= cohorts[:, None])
    beta_twfe = _twfe_balanced(y, treat.astype(float))
    groups = [float(g) for g in np.unique(cohorts) if g > 0]
    share = {g: float(np.mean(cohorts == g)) for g in [*groups, 0.0]}
    means = {g: y[cohorts == g].mean(axis=0) for g in share if share[g] > 0}
    dbar = {g: float(np.mean(times >= g)) for g in groups}
    dbar[0.0] = 0.0

    def did(treat: float, ctrl: float, pre: np.ndarray, post: np.ndarray) -> float:
        mt, mc = means[treat], means[ctrl]
        return float((mt[post].mean() - mt[pre].mean()) - (mc[post].mean() - mc[pre].mean()))

    rows = []
    if share[0.0] > 0:
        nu = share[0.0]
        for k in groups:
            nk = share[k]
            nku = nk / (nk + nu)
            pre, post = times < k, times >= k
            w = (nk + nu) ** 2 * nku * (1 - nku) * dbar[k] * (1 - dbar[k])
            rows.append({"treated": k, "control": 0.0, "type": TYPES[2], "estimate": did(k, 0.0, pre, post),
                         "weight": w})
    for i, k in enumerate(groups):
        for late in groups[i + 1:]:
            nk, nl = share[k], share[late]
            nkl = nk / (nk + nl)
            dk, dl = dbar[k], dbar[late]
            # earlier k treated, later cohort as control, before it is treated
            win = times < late
            pre, post = win & (times < k), win & (times >= k)
            if pre.any() and post.any():
                w = ((nk + nl) * (1 - dl)) ** 2 * nkl * (1 - nkl) * ((dk - dl) / (1 - dl)) * ((1 - dk) / (1 - dl))
                rows.append({"treated": k, "control": late, "type": TYPES[0],
                             "estimate": did(k, late, pre, post), "weight": w})
            # later cohort treated, earlier (already treated) k as control, after k is treated
            win = times >= k
            pre, post = win & (times < late), win & (times >= late)
            if pre.any() and post.any():
                w = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * ((dk - dl) / dk)
                rows.append({"treated": late, "control": k, "type": TYPES[1],
                             "estimate": did(late, k, pre, post), "weight": w})
    if not rows:
        raise DesignError("no 2×2 comparison: the panel needs at least one treated cohort and a comparison")
    tab = pd.DataFrame(rows)
    tab["weight"] = tab["weight"] / tab["weight"].sum()
    summ = []
    for typ in TYPES:
        sub = tab[tab["type"] == typ]
        if sub.empty:
            continue
        wsum = float(sub["weight"].sum())
        summ.append({"type": typ, "weight": wsum, "avg_estimate": float((sub["weight"] * sub["estimate"]).sum()
                                                                        / wsum) if wsum > 0 else float("nan"),
                     "n_comparisons": len(sub)})
    weighted = float((tab["weight"] * tab["estimate"]).sum())
    return BaconDecomposition(tab, pd.DataFrame(summ), beta_twfe, weighted)


def bacon_decomposition(data: pd.DataFrame | StudentData, *, outcome: str, unit: str, time: str,
                        cohort: str | None = None, treatment: str | None = None,
                        where: Sequence[str] = ()) -> BaconDecomposition:
    """Goodman-Bacon decomposition from a long balanced panel (``cohort``: first treated period, 0 = never; or a
    0/1 absorbing ``treatment`` indicator). Units not observed in every period are dropped (with a warning), as
    are units treated from the first period."""
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               where=where, control="notyet", last_cohort_as_comparison=False)
    return bacon_from_prepared(d)
