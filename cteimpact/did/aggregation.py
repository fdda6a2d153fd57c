"""Aggregations of group-time effects (Callaway & Sant'Anna 2021, section 4), as linear maps on the influence base.

Each aggregated parameter is a weighted average of ATT(g,t) with weights proportional to cohort sizes
``P(G = g)``:

* ``simple``: all post-treatment cells (``t >= g``), weighted by cohort size;
* ``group``: for each cohort, the mean of its post-treatment cells; overall = cohort-size weighted mean of those;
* ``dynamic`` (event study): for each event time ``e = t - g``, the cohort-size weighted mean of the cells at ``e``
  (optionally only cohorts observed for ``balance_e`` periods after treatment, and ``min_e <= e <= max_e``);
  overall = mean of the ``e >= 0`` effects;
* ``calendar``: for each period ``t``, the cohort-size weighted mean of the cells treated by ``t``; overall = mean
  over periods.

Because the weights are estimated, the influence function of a weighted average gains a term (R ``did``'s
``wif``): for a selection ``K`` of cells with weights ``pg_k / S`` (``S = Σ_K pg_k``) and estimate ``θ``,

    ψ_i = Σ_K (pg_k / S) IF_ik + (1/S) Σ_K (att_k − θ) (w_i 1{G_i = g_k} − pg_k),

which is linear in the extended base of :mod:`cteimpact.did.influence` (cells, ``w·1{G = g}`` columns, constant).
Every estimand below is therefore a coefficient vector on that base; variances, covariances, cluster-robust
variances and bootstrap draws of all estimands follow from the base without re-estimation.

Cells that could not be estimated are left out (R ``aggte(na.rm = TRUE)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cteimpact.did.grouptime import Cell
from cteimpact.errors import OptionError

__all__ = ["AggregationType", "Estimand", "build_estimands", "cohort_probabilities"]

AggregationType = Literal["simple", "group", "dynamic", "calendar"]
FAMILIES: tuple[str, ...] = ("simple", "group", "dynamic", "calendar")


@dataclass(frozen=True, eq=False)
class Estimand:
    """One reported parameter.

    Attributes
    ----------
    family
        ``"attgt"`` (a single cell), ``"simple"``, ``"group"``, ``"dynamic"`` or ``"calendar"``.
    element
        Cohort (group), event time (dynamic) or period (calendar); ``None`` for the overall parameter of a family.
    cell
        For ``"attgt"``: ``(group, time)``.
    estimate
        Point estimate.
    coef
        Coefficient vector on the extended influence base.
    n_cells
        Number of group-time cells averaged.
    """

    family: str
    element: float | None
    cell: tuple[float, float] | None
    estimate: float
    coef: np.ndarray
    n_cells: int
    cells: tuple[int, ...] = ()

    @property
    def is_overall(self) -> bool:
        return self.family != "attgt" and self.element is None


def cohort_probabilities(row_cohort: np.ndarray, row_weight: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``pg_g = mean_i(w_i 1{G_i = g})`` for each treated cohort (R ``did``: ``mean(weights.ind * (G == g))``)."""
    n = row_cohort.size
    return np.array([np.dot(row_weight, row_cohort == g) / n for g in groups])


def _weighted(selection: Sequence[int] | np.ndarray, att: np.ndarray, cell_group_idx: np.ndarray, pg: np.ndarray,
              n_cells: int, n_groups: int, *, with_wif: bool = True) -> tuple[float, np.ndarray]:
    sel = [int(i) for i in selection]
    coef = np.zeros(n_cells + n_groups + 1)
    pgs = pg[cell_group_idx[sel]]
    s = pgs.sum()
    omega = pgs / s
    theta = float(np.dot(omega, att[sel]))
    coef[sel] = omega
    if with_wif:
        for k in sel:
            j = cell_group_idx[k]
            alpha = (att[k] - theta) / s
            coef[n_cells + j] += alpha
            coef[-1] -= alpha * pg[j]
    return theta, coef


@dataclass(frozen=True)
class _Cells:
    """The cells as arrays, for selecting the cells of an aggregation."""

    att: np.ndarray
    groups: np.ndarray
    times: np.ndarray
    pg: np.ndarray
    group_idx: np.ndarray
    grp: np.ndarray
    tim: np.ndarray
    post: np.ndarray
    ok: np.ndarray

    @property
    def k(self) -> int:
        return int(self.att.size)

    @property
    def m(self) -> int:
        return self.k + self.groups.size + 1

    def weighted(self, sel: np.ndarray) -> tuple[float, np.ndarray]:
        return _weighted(sel, self.att, self.group_idx, self.pg, self.k, self.groups.size)


def build_estimands(
    cells: Sequence[Cell],
    att: np.ndarray,
    groups: np.ndarray,
    times: np.ndarray,
    pg: np.ndarray,
    *,
    types: Sequence[str] = FAMILIES,
    min_e: float = -np.inf,
    max_e: float = np.inf,
    balance_e: int | None = None,
) -> list[Estimand]:
    """All estimands: every cell, then each requested aggregation (elements, then the overall parameter).

    ``min_e``, ``max_e`` and ``balance_e`` restrict the dynamic (event-study) aggregation as in R ``aggte``; the
    simple, group and calendar aggregations use every post-treatment cell.
    """
    c = _Cells(att=att, groups=groups, times=times, pg=pg,
               group_idx=np.array([int(np.flatnonzero(groups == cell.group)[0]) for cell in cells], dtype=np.int64),
               grp=np.array([cell.group for cell in cells]), tim=np.array([cell.time for cell in cells]),
               post=np.array([cell.post for cell in cells], dtype=bool), ok=~np.isnan(att))
    out: list[Estimand] = []
    for k, cell in enumerate(cells):
        coef = np.zeros(c.m)
        coef[k] = 1.0
        out.append(Estimand("attgt", None, (cell.group, cell.time), float(att[k]), coef, 1, (k,)))
    for typ in types:
        if typ == "simple":
            out.extend(_simple(c))
        elif typ == "group":
            out.extend(_group(c))
        elif typ == "dynamic":
            out.extend(_dynamic(c, min_e=min_e, max_e=max_e, balance_e=balance_e))
        elif typ == "calendar":
            out.extend(_calendar(c))
        else:
            raise OptionError(f"aggregation type must be one of {', '.join(FAMILIES)}, got {typ!r}")
    return out


def _simple(c: _Cells) -> list[Estimand]:
    """Every post-treatment cell, weighted by cohort size."""
    sel = np.flatnonzero(c.post & c.ok)
    if sel.size == 0:
        return []
    theta, coef = c.weighted(sel)
    return [Estimand("simple", None, None, theta, coef, int(sel.size), tuple(int(i) for i in sel))]


def _group(c: _Cells) -> list[Estimand]:
    """Each cohort's mean post-treatment effect; overall: their cohort-size weighted mean."""
    elems: list[Estimand] = []
    for g in c.groups:
        sel = np.flatnonzero((c.grp == g) & c.post & c.ok)
        if sel.size == 0:
            continue
        coef = np.zeros(c.m)
        coef[sel] = 1.0 / sel.size
        theta = float(c.att[sel].mean())
        elems.append(Estimand("group", float(g), None, theta, coef, int(sel.size), tuple(int(i) for i in sel)))
    if not elems:
        return []
    gi = np.array([int(np.flatnonzero(c.groups == e.element)[0]) for e in elems])
    pgg = c.pg[gi]
    s = pgg.sum()
    theta_g = np.array([e.estimate for e in elems])
    theta = float(np.dot(pgg, theta_g) / s)
    coef = np.zeros(c.m)
    for e, p in zip(elems, pgg, strict=True):
        coef += (p / s) * e.coef
    for j, tg in zip(gi, theta_g, strict=True):
        alpha = (tg - theta) / s
        coef[c.k + j] += alpha
        coef[-1] -= alpha * c.pg[j]
    return [*elems, Estimand("group", None, None, theta, coef, int(sum(e.n_cells for e in elems)),
                             tuple(i for e in elems for i in e.cells))]


def _event_times(c: _Cells, *, min_e: float, max_e: float, balance_e: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Event times of the dynamic aggregation and the cells it may use (cohorts observed ``balance_e`` periods
    after treatment)."""
    ev = c.tim - c.grp
    include = np.ones(c.k, dtype=bool)
    eseq = np.unique(ev[c.ok])
    if balance_e is not None:
        if balance_e < 0:
            raise OptionError(f"balance_e must be a non-negative number of periods, got {balance_e}")
        last, first = float(max(c.times.max(), c.groups.max())), float(min(c.times.min(), c.groups.min()))
        include = (last - c.grp) >= balance_e
        eseq = np.unique(ev[c.ok & include])
        eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - last + first)]
    eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
    if eseq.size == 0:
        raise OptionError(f"no event time falls within min_e={min_e}, max_e={max_e}"
                          + (f", balance_e={balance_e}" if balance_e is not None else "") + "; widen the window")
    return eseq, include


def _dynamic(c: _Cells, *, min_e: float, max_e: float, balance_e: int | None) -> list[Estimand]:
    """Each event time's cohort-size weighted mean; overall: the mean of the effects at ``e >= 0``."""
    eseq, include = _event_times(c, min_e=min_e, max_e=max_e, balance_e=balance_e)
    ev = c.tim - c.grp
    elems = []
    for e in eseq:
        sel = np.flatnonzero((ev == e) & include & c.ok)
        theta, coef = c.weighted(sel)
        elems.append(Estimand("dynamic", float(e), None, theta, coef, int(sel.size), tuple(int(i) for i in sel)))
    pos = [e for e in elems if e.element is not None and e.element >= 0]
    if not pos:
        return elems
    coef = np.mean([e.coef for e in pos], axis=0)
    theta = float(np.mean([e.estimate for e in pos]))
    return [*elems, Estimand("dynamic", None, None, theta, coef, int(sum(e.n_cells for e in pos)),
                             tuple(i for e in pos for i in e.cells))]


def _calendar(c: _Cells) -> list[Estimand]:
    """Each period's cohort-size weighted mean of the cells treated by then; overall: the mean over periods."""
    tl = np.unique(c.tim[c.post & c.ok])
    tl = tl[tl >= c.groups.min()]
    elems = []
    for tv in tl:
        sel = np.flatnonzero((c.tim == tv) & c.post & c.ok)
        if sel.size == 0:
            continue
        theta, coef = c.weighted(sel)
        elems.append(Estimand("calendar", float(tv), None, theta, coef, int(sel.size), tuple(int(i) for i in sel)))
    if not elems:
        return []
    coef = np.mean([e.coef for e in elems], axis=0)
    theta = float(np.mean([e.estimate for e in elems]))
    return [*elems, Estimand("calendar", None, None, theta, coef, int(sum(e.n_cells for e in elems)),
                             tuple(i for e in elems for i in e.cells))]
