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

Its :class:`BaconDecomposition` honours the results contract with one row, the TWFE coefficient without a standard
error, and no sampling distribution; its ``summary`` is at once the table by comparison type and the contract's
``summary()`` (see :mod:`cteimpact.did.comparison`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import nan
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.comparison import ComparisonResults, SummaryTable, no_flow, prepared_options
from cteimpact.did.panel import StaggeredData, prepare_staggered_data
from cteimpact.errors import DesignError, NoSamplingDistributionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_number
from cteimpact.threads import one_blas_thread

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BaconDecomposition", "bacon_decomposition", "bacon_from_prepared"]

TYPES = ("Earlier vs Later Treated", "Later vs Earlier Treated", "Treated vs Untreated")


@dataclass(frozen=True, eq=False)
class BaconDecomposition(ComparisonResults):
    """All 2×2 comparisons with their weights, a summary by comparison type, and the TWFE coefficient; it honours
    the results contract (:class:`~cteimpact.results.contract.ImpactResults`: ``estimates``, ``options``,
    ``sample_flow``, ``summary``, ``tidy``, ``to_dict``, ``plot``, ``params``, ``std_errors``, ``conf_int``), except
    that it has no sampling distribution.

    ``summary`` is both the table by type and the contract's ``summary()``: it is a
    :class:`~cteimpact.did.comparison.SummaryTable`, a ``pandas.DataFrame`` subclass, so
    ``res.summary.set_index("type")`` works on the table (and returns a plain DataFrame) while ``res.summary()``
    returns the text summary, which ``print(res)`` shows.

    Attributes
    ----------
    two_by_twos
        One row per comparison: ``treated`` (cohort in the treated role), ``control`` (cohort in the control role;
        0 = never treated), ``type``, ``estimate``, ``weight``.
    summary
        By type: total ``weight``, weight-averaged ``avg_estimate`` and ``n_comparisons``; called, the text summary.
    twfe
        The TWFE coefficient (OLS on two-way demeaned data).
    weighted_sum
        ``Σ weight × estimate`` (equals ``twfe`` up to rounding; ``discrepancy`` is the difference).
    estimates
        One row, ``<outcome>[twfe]``: the TWFE coefficient the decomposition decomposes, labelled as
        :class:`~cteimpact.did.twfe.TWFEResult` labels it (so the two line up in
        :func:`~cteimpact.results.compare.compare`). The decomposition is an identity, not an estimator with
        inference: the row's standard error, test and interval are missing (NaN).
    options
        The data options (:func:`~cteimpact.did.comparison.prepared_options`); the decomposition has no other.
    sample_flow
        The sample flow of the balanced panel decomposed.

    Notes
    -----
    :meth:`sampling_distribution` raises :class:`~cteimpact.errors.NoSamplingDistributionError` (there is no
    standard error to scale it), so the decomposition cannot be priced; :meth:`to_dict` records
    ``"sampling_distribution": null``. :meth:`record` is the legacy record (``twfe``, ``weighted_sum``,
    ``two_by_twos``, ``summary``) written under ``extra.bacon`` of a difference-in-differences results file;
    :meth:`plot` draws the 2×2 estimates against their weights.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Goodman-Bacon (2021) decomposition of the two-way fixed effects estimate"

    two_by_twos: pd.DataFrame
    # field(): without it the dataclass would take the inherited summary() method as the field's default
    summary: SummaryTable = field()
    twfe: float
    weighted_sum: float
    estimates: tuple[EffectEstimate, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow = field(default_factory=no_flow)

    def __post_init__(self) -> None:
        # the table by type (given as any DataFrame) answers summary() with this result's text
        text = self._default_summary(self._notes())
        object.__setattr__(self, "summary", SummaryTable.wrap(self.summary, text))

    @property
    def discrepancy(self) -> float:
        return float(self.weighted_sum - self.twfe)

    def record(self) -> dict[str, Any]:
        """The TWFE coefficient, the weighted sum and both tables, as written in a DiD results file."""
        return {"twfe": self.twfe, "weighted_sum": self.weighted_sum,
                "two_by_twos": self.two_by_twos.to_dict(orient="records"),
                "summary": self.summary.to_dict(orient="records")}

    def sampling_distribution(self) -> SamplingDistribution:
        """Refused: the decomposition has no standard error.

        Raises
        ------
        NoSamplingDistributionError
            Always; the message names the row and how to get a distribution for the TWFE coefficient.
        """
        raise NoSamplingDistributionError(
            f"the Goodman-Bacon decomposition has no sampling distribution: its estimate "
            f"'{', '.join(self.labels) or 'twfe'}' (the TWFE coefficient it decomposes into "
            f"{len(self.two_by_twos)} 2x2 comparisons) has no standard error; price or draw from the TWFE result "
            "(cteimpact.did.twfe), whose coefficient has a cluster-robust t(G - 1) distribution"
        )

    def _distribution_record(self) -> None:
        return None

    def _notes(self) -> list[str]:
        table = pd.DataFrame(self.summary)
        lines = ["Decomposition by comparison type (weights sum to 1):"]
        for r in table.to_dict(orient="records"):
            lines.append(f"  {r['type']!s:<26} weight {format_number(float(r['weight']))}   average estimate "
                         f"{format_number(float(r['avg_estimate']))}"
                         + ("" if r.get("n_comparisons") is None else f"   ({int(r['n_comparisons'])} comparisons)"))
        lines.append(f"TWFE coefficient {format_number(self.twfe, 6)} = weighted sum of the {len(self.two_by_twos)} "
                     f"2x2 estimates {format_number(self.weighted_sum, 6)} (difference {self.discrepancy:.2g}).")
        lines.append("The decomposition is an identity, not an estimator with inference: no standard error, test "
                     "or interval, and no sampling distribution.")
        return lines

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The 2×2 estimates against their weights, by comparison type, with the TWFE coefficient."""
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
    outcome = d.outcome
    row = EffectEstimate(f"{outcome}[twfe]", outcome, "TWFE coefficient decomposed (Goodman-Bacon: sum of weight x 2x2 "
                         "estimate; no standard error)", beta_twfe, nan, nan, nan, nan, nan, 0.95, "conventional")
    return BaconDecomposition(tab, pd.DataFrame(summ), beta_twfe, weighted, (row,),
                              prepared_options(d), d.flow)


def bacon_decomposition(data: pd.DataFrame | StudentData, *, outcome: str, unit: str, time: str,
                        cohort: str | None = None, treatment: str | None = None,
                        where: Sequence[str] = ()) -> BaconDecomposition:
    """Goodman-Bacon decomposition from a long balanced panel (``cohort``: first treated period, 0 = never; or a
    0/1 absorbing ``treatment`` indicator). Units not observed in every period are dropped (with a warning), as
    are units treated from the first period."""
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               where=where, control="notyet", last_cohort_as_comparison=False)
    return bacon_from_prepared(d)
