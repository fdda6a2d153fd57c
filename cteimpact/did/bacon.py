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

With time-varying covariates ``X`` (``covariates=``) the TWFE coefficient ``β^{DD|X}`` of
``y_it = α_i + λ_t + β D_it + X_it γ + ε_it`` decomposes as in Goodman-Bacon (2021, section 5; the working-paper
equations 23–27 that R ``bacondecomp`` implements). Let ``d_it`` be the treatment residualised on the covariates and
the two sets of fixed effects (Frisch–Waugh–Lovell), so ``β^{DD|X} = Σ d y / Σ d²``, and split it into its
timing-group × period means ``d_b`` and the deviations from them ``d_w = d − d_b`` (orthogonal, so
``Σ d² = Σ d_w² + Σ d_b²``). Then, exactly,

    β^{DD|X} = Ω β_w + (1 − Ω) β_b,   Ω = Σ d_w² / Σ d²,   β_w = Σ d_w y / Σ d_w²,   β_b = Σ d_b y / Σ d_b²:

``β_w`` is the *within* component (variation of the covariates within timing groups), ``β_b`` the *between*
component. The between component is split over timing-group pairs ``k < l`` (the never treated last), one
covariate-adjusted 2×2 each (no earlier/later split): on the pair's units, with ``D̃`` the two-way demeaned treatment,
``X̄`` the group × period means of the covariates and ``p̄`` those of the treatment predicted by the covariates and
fixed effects (``p = D − d``), both two-way demeaned on the pair, ``R²`` the share of ``D̃`` explained by ``X̄``,
``β^{D}`` the coefficient of ``D`` in the pair's regression on ``D``, ``X̄`` and the fixed effects, and
``β^{p}`` that of ``δ = fitted(D̃ | X̄) − p̄`` in the regression of ``y`` on it and the fixed effects,

    s_kl ∝ N_kl² ((1 − R²) V_D + V_δ),   β_kl = ((1 − R²) V_D β^{D} + V_δ β^{p}) / ((1 − R²) V_D + V_δ)

(``N_kl`` the pair's unit-periods, ``V`` population variances). The pair weights are scaled to sum to ``1 − Ω``
and the within component carries ``Ω``: the weighted sum of all components is reported beside the TWFE
coefficient with their difference. ``Ω β_w + (1 − Ω) β_b = β^{DD|X}`` is an identity, and so is
``Σ s_kl β_kl = β_b`` (the paper's eq. 26; both hold to rounding, see the tests).

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
CONTROLLED_TYPES = ("Both Treated", "Treated vs Untreated")
WITHIN = "Within timing groups"


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
        With covariates the types are ``Both Treated`` and ``Treated vs Untreated`` (the pair weights sum to
        ``1 − omega``) and ``Within timing groups`` (weight ``omega``, estimate ``beta_within``).
    covariates
        The time-varying covariates controlled for (empty: the decomposition of Theorem 1).
    omega, beta_within, beta_between
        With covariates: the weight of the within-timing-group component, its estimate, and the between component
        (``Σ`` of the pair estimates with weights rescaled to one); NaN without.
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
    covariates: tuple[str, ...] = ()
    omega: float = nan
    beta_within: float = nan
    beta_between: float = nan

    def __post_init__(self) -> None:
        # the table by type (given as any DataFrame) answers summary() with this result's text
        text = self._default_summary(self._notes())
        object.__setattr__(self, "summary", SummaryTable.wrap(self.summary, text))

    @property
    def discrepancy(self) -> float:
        return float(self.weighted_sum - self.twfe)

    def record(self) -> dict[str, Any]:
        """The TWFE coefficient, the weighted sum and both tables, as written in a DiD results file (with covariates
        also ``covariates``, ``omega``, ``beta_within`` and ``beta_between``)."""
        out = {"twfe": self.twfe, "weighted_sum": self.weighted_sum,
               "two_by_twos": self.two_by_twos.to_dict(orient="records"),
               "summary": [{k: _plain(k, v) for k, v in r.items()} for r in self.summary.to_dict(orient="records")]}
        if self.covariates:
            out |= {"covariates": list(self.covariates), "omega": self.omega, "beta_within": self.beta_within,
                    "beta_between": self.beta_between}
        return out

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
            n = r.get("n_comparisons")
            lines.append(f"  {r['type']!s:<26} weight {format_number(float(r['weight']))}   average estimate "
                         f"{format_number(float(r['avg_estimate']))}"
                         + ("" if n is None or n != n else f"   ({int(n)} comparisons)"))
        parts = f"the {len(self.two_by_twos)} 2x2 estimates"
        if self.covariates:
            parts = (f"the within-timing-group estimate and {parts} (controlling for {', '.join(self.covariates)}; "
                     f"Goodman-Bacon 2021 section 5)")
        lines.append(f"TWFE coefficient {format_number(self.twfe, 6)} = weighted sum of {parts} "
                     f"{format_number(self.weighted_sum, 6)} (difference {self.discrepancy:.2g}).")
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


def _plain(key: str, value: Any) -> Any:
    """A summary value for the record: NaN as ``None``, counts as integers."""
    if isinstance(value, float) and np.isnan(value):
        return None
    return int(value) if key == "n_comparisons" else value


def _demean(a: np.ndarray) -> np.ndarray:
    """Two-way demeaned (balanced panel): ``a`` is units × periods (× columns)."""
    return a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True) + a.mean(axis=(0, 1), keepdims=True)


def _cell_means(a: np.ndarray, code: np.ndarray, n_groups: int) -> np.ndarray:
    """Timing-group × period means of ``a`` (units × periods (× columns)), given back to each unit."""
    out = np.empty_like(a)
    for g in range(n_groups):
        on = code == g
        out[on] = a[on].mean(axis=0)
    return out


def _pair(y: np.ndarray, treat: np.ndarray, gx: np.ndarray, gp: np.ndarray) -> tuple[float, float]:
    """Weight (before scaling) and estimate of one timing-group pair's covariate-adjusted 2×2 (module docstring)."""
    n_obs = y.size
    dt = _demean(treat).reshape(-1)
    xg = _demean(gx).reshape(n_obs, -1)
    coef = np.linalg.lstsq(xg, dt, rcond=None)[0]
    fitted = xg @ coef
    r_d = dt - fitted
    ss_r = float(r_d @ r_d)  # (1 − R²) V_D, times n_obs
    delta = fitted - _demean(gp).reshape(-1)
    delta = delta - delta.mean()
    ss_delta = float(delta @ delta)  # V_δ, times n_obs
    yt = _demean(y).reshape(-1)
    b_d = float(r_d @ yt) / ss_r if ss_r > 0 else 0.0
    b_p = float(delta @ yt) / ss_delta if ss_delta > 0 else 0.0
    total = ss_r + ss_delta
    if total <= 0:
        return 0.0, nan
    return float(n_obs) ** 2 * total / n_obs, (ss_r * b_d + ss_delta * b_p) / total


def _controlled(d: StaggeredData, y: np.ndarray, treat: np.ndarray) -> tuple[pd.DataFrame, float, float, float, float]:
    """The decomposition with covariates (module docstring): the pairs' table (weights summing to ``1 − Ω``), the
    TWFE coefficient, ``Ω``, ``β_w`` and ``β_b``."""
    if d.x_wide is None:
        raise DesignError("the controlled Goodman-Bacon decomposition needs a balanced panel with covariates")
    x = d.x_wide.transpose(1, 0, 2)  # units × periods × covariates
    n, t_n, k = x.shape
    cohorts = d.row_cohort
    # timing groups: treated cohorts in order, the never treated last
    order = [float(g) for g in np.unique(cohorts) if g > 0] + ([0.0] if np.any(cohorts == 0) else [])
    position = {g: i for i, g in enumerate(order)}
    code = np.fromiter((position[float(g)] for g in cohorts), dtype=np.int64, count=n)
    dt = _demean(treat)
    xt = _demean(x).reshape(n * t_n, k)
    gamma, _, rank, _ = np.linalg.lstsq(xt, dt.reshape(-1), rcond=None)
    if rank < k:
        absorbed = [nm for j, nm in enumerate(d.covariates) if float(np.linalg.norm(xt[:, j])) <= 1e-10 * max(
            float(np.linalg.norm(x[..., j])), 1e-300)]
        what = (f"covariate(s) {', '.join(repr(a) for a in absorbed)} do not vary within units over time"
                if absorbed else "the covariates are collinear with each other given the fixed effects")
        raise DesignError(f"controlled Goodman-Bacon decomposition: {what} ({n} units × {t_n} periods); drop them")
    resid = dt - (xt @ gamma).reshape(n, t_n)
    ss = float(np.sum(resid * resid))
    if ss <= 1e-12 * float(np.sum(dt * dt)):
        raise DesignError("controlled Goodman-Bacon decomposition: the covariates and fixed effects explain the "
                          "treatment; nothing is left to decompose")
    yt = _demean(y)
    beta = float(np.sum(resid * yt)) / ss
    # between (timing-group × period means) and within parts of the residualised treatment, orthogonal
    m_kt = _cell_means(resid, code, len(order))
    m_k = _cell_means(resid.mean(axis=1, keepdims=True), code, len(order))
    d_b = (m_kt - m_k) - (resid.mean(axis=0, keepdims=True) - resid.mean())
    d_w = resid - resid.mean(axis=1, keepdims=True) - (m_kt - m_k)
    ss_w, ss_b = float(np.sum(d_w * d_w)), float(np.sum(d_b * d_b))
    omega = ss_w / (ss_w + ss_b)
    beta_w = float(np.sum(d_w * yt)) / ss_w if ss_w > 0 else nan
    beta_b = float(np.sum(d_b * yt)) / ss_b
    gx = _cell_means(x, code, len(order))
    gp = _cell_means(treat - resid, code, len(order))  # the treatment predicted by the covariates and effects
    rows = []
    for i, k_g in enumerate(order):
        if k_g == 0.0:
            continue
        for j in range(i + 1, len(order)):
            on = (code == i) | (code == j)
            w, est = _pair(y[on], treat[on], gx[on], gp[on])
            rows.append({"treated": k_g, "control": order[j],
                         "type": CONTROLLED_TYPES[1] if order[j] == 0.0 else CONTROLLED_TYPES[0],
                         "estimate": est, "weight": w})
    tab = pd.DataFrame(rows, columns=["treated", "control", "type", "estimate", "weight"])
    tab["weight"] = (1.0 - omega) * tab["weight"] / tab["weight"].sum()
    return tab, beta, omega, beta_w, beta_b


@one_blas_thread()
def bacon_from_prepared(d: StaggeredData, *, with_covariates: bool = False) -> BaconDecomposition:
    """Decompose the TWFE estimate on a balanced panel prepared by :func:`prepare_staggered_data` (controlling for
    its covariates with ``with_covariates``)."""
    if d.mode != "panel" or d.y_wide is None:
        raise DesignError("the Goodman-Bacon decomposition needs a balanced panel (it is exact only there)")
    y = np.ascontiguousarray(d.y_wide)  # row-major, as the decomposition's sums were written for
    times = d.times
    cohorts = d.row_cohort
    treat = (cohorts[:, None] > 0) & (times[None, :] >= cohorts[:, None])
    if with_covariates and d.covariates:
        return _controlled_result(d, y, treat.astype(float))
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


def _controlled_result(d: StaggeredData, y: np.ndarray, treat: np.ndarray) -> BaconDecomposition:
    tab, beta, omega, beta_w, beta_b = _controlled(d, y, treat)
    summ = []
    for typ in CONTROLLED_TYPES:
        sub = tab[tab["type"] == typ]
        if sub.empty:
            continue
        wsum = float(sub["weight"].sum())
        summ.append({"type": typ, "weight": wsum, "avg_estimate": float((sub["weight"] * sub["estimate"]).sum()
                                                                        / wsum) if wsum > 0 else nan,
                     "n_comparisons": len(sub)})
    summ.append({"type": WITHIN, "weight": omega, "avg_estimate": beta_w, "n_comparisons": None})
    weighted = omega * beta_w + float((tab["weight"] * tab["estimate"]).sum())
    outcome = d.outcome
    row = EffectEstimate(f"{outcome}[twfe]", outcome, "TWFE coefficient with covariates decomposed (Goodman-Bacon; "
                         "no standard error)", beta, nan, nan, nan, nan, nan, 0.95, "conventional")
    return BaconDecomposition(tab, pd.DataFrame(summ), beta, weighted, (row,),
                              prepared_options(d, covariates=list(d.covariates)), d.flow, tuple(d.covariates), omega,
                              beta_w, beta_b)


def bacon_decomposition(data: pd.DataFrame | StudentData, *, outcome: str, unit: str, time: str,
                        cohort: str | None = None, treatment: str | None = None,
                        covariates: Sequence[str] | None = None, where: Sequence[str] = ()) -> BaconDecomposition:
    """Goodman-Bacon decomposition from a long balanced panel (``cohort``: first treated period, 0 = never; or a
    0/1 absorbing ``treatment`` indicator). Units not observed in every period are dropped (with a warning), as
    are units treated from the first period.

    ``covariates``: time-varying controls of the TWFE regression; the decomposition is then the within component
    and one covariate-adjusted 2×2 per timing-group pair (Goodman-Bacon 2021, section 5; see the module docstring).
    A categorical covariate enters as indicator columns (:mod:`cteimpact.did.factors`).
    """
    from cteimpact.did.twfe import check_covariates

    covs = check_covariates(covariates)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               where=where, control="notyet", last_cohort_as_comparison=False, covariates=covs)
    return bacon_from_prepared(d, with_covariates=bool(covs))
