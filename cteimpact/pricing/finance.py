"""Financial arithmetic of Pay-for-Success deals: present values, internal rates of return, multiples, the
repayment waterfall of a capital stack and guarantees.

Every function works on one cash-flow series or, vectorised, on many at once (rows are Monte Carlo draws, columns
are years ``0, 1, ..., T-1`` from the start of the contract). Cash flows are end-of-year amounts; year 0 is not
discounted.

IRR conventions
---------------
The internal rate of return ``r`` solves ``sum_t c_t / (1 + r)**t = 0``. It is searched on ``(-100%, +1000%)``:

* a series with one sign change (money in, then money back) has exactly one IRR on that interval (Descartes' rule
  of signs applied to the polynomial in ``x = 1 / (1 + r)``), found by a safeguarded Newton iteration on a
  bracket, to ``1e-12``;
* a series whose inflows are all zero (a total loss) has IRR ``-100%`` (``-1.0``) by convention;
* a series with several sign changes (for example a second draw after a first repayment) may have several IRRs:
  all roots on a grid are located, the one nearest zero is reported, and the series is flagged;
* a series with no outflow, or no root on the interval, has no IRR (``NaN``, flagged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from cteimpact.errors import OptionError

__all__ = [
    "GuaranteeSpec",
    "IRRSolution",
    "IRRStatus",
    "TrancheSpec",
    "WaterfallResult",
    "annuity_factor",
    "discount_factors",
    "irr",
    "irr_solution",
    "moic",
    "npv",
    "run_waterfall",
    "sign_changes",
]

_R_LO = -0.99
_R_LO_FAR = -1.0 + 1e-6
_R_HI = 10.0
_TOL = 1e-12
_MAX_ITER = 200
_GRID = np.concatenate([np.linspace(-0.999, -0.5, 26), np.linspace(-0.49, 1.0, 150), np.linspace(1.05, 10.0, 60)])


class IRRStatus(IntEnum):
    """Outcome of the IRR search for one cash-flow series."""

    OK = 0
    """A unique IRR (one sign change)."""
    TOTAL_LOSS = 1
    """Money went in and nothing came back: IRR = -100 % by convention."""
    MULTIPLE = 2
    """Several sign changes: the IRR may not be unique; the root nearest zero is reported."""
    UNDEFINED = 3
    """No outflow, no cash flows at all, or no root on (-100 %, +1000 %): NaN."""


@dataclass(frozen=True)
class IRRSolution:
    """IRRs of a set of cash-flow series with the status of each (see :class:`IRRStatus`)."""

    rate: np.ndarray
    status: np.ndarray

    @property
    def n_multiple(self) -> int:
        """Series with several sign changes (IRR possibly not unique)."""
        return int(np.count_nonzero(self.status == IRRStatus.MULTIPLE))

    @property
    def n_undefined(self) -> int:
        """Series without an IRR."""
        return int(np.count_nonzero(self.status == IRRStatus.UNDEFINED))


def discount_factors(rate: float, n_years: int, *, start: int = 0) -> np.ndarray:
    """``(1 + rate) ** -t`` for ``t = start, ..., start + n_years - 1``."""
    if not rate > -1.0:
        raise OptionError(f"discount rate must be above -100%, got {rate}")
    t = np.arange(start, start + n_years, dtype=float)
    return np.asarray((1.0 + rate) ** (-t))


def npv(rate: float | np.ndarray, cash_flows: np.ndarray | Sequence[float]) -> np.ndarray | float:
    """Net present value at year 0 of cash flows in years ``0..T-1`` (last axis).

    ``rate`` is a scalar or one rate per row. Returns a float for a single series, an array otherwise.
    """
    cf = np.asarray(cash_flows, dtype=float)
    r = np.asarray(rate, dtype=float)
    if np.any(r <= -1.0):
        raise OptionError("discount rate must be above -100%")
    t = np.arange(cf.shape[-1], dtype=float)
    out = cf @ ((1.0 + r) ** (-t)) if r.ndim == 0 else np.sum(cf * (1.0 + r[..., None]) ** (-t), axis=-1)
    return float(out) if np.ndim(out) == 0 else np.asarray(out)


def annuity_factor(rate: float, years: int, *, start: int = 0, growth: float = 0.0) -> float:
    """Present value at year 0 of 1 per year paid in years ``start, ..., start + years - 1``, the amount growing at
    ``growth`` per year from ``start`` on."""
    if years < 0 or start < 0:
        raise OptionError(f"annuity needs non-negative years and start, got {years} and {start}")
    if not rate > -1.0 or not growth > -1.0:
        raise OptionError("rates must be above -100%")
    t = np.arange(years, dtype=float)
    return float(np.sum((1.0 + growth) ** t / (1.0 + rate) ** (t + start)))


def moic(invested: np.ndarray | float, received: np.ndarray | float) -> np.ndarray | float:
    """Multiple on invested capital: total received / total invested (NaN when nothing was invested)."""
    inv = np.asarray(invested, dtype=float)
    rec = np.asarray(received, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(inv > 0, rec / np.where(inv > 0, inv, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def sign_changes(cash_flows: np.ndarray) -> np.ndarray:
    """Number of sign changes among the non-zero cash flows of each row."""
    cf = np.atleast_2d(np.asarray(cash_flows, dtype=float))
    return _sign_changes_t(np.ascontiguousarray(cf.T))


def _sign_changes_t(cf_t: np.ndarray) -> np.ndarray:
    """:func:`sign_changes` of the columns of a years × draws matrix."""
    out = np.zeros(cf_t.shape[1], dtype=np.int64)
    last = np.zeros(cf_t.shape[1])
    for row in cf_t:
        s = np.sign(row)
        out += (s * last < 0).astype(np.int64)  # zeros never count: s*last is 0 when either is 0
        last = np.where(s != 0, s, last)
    return out


def _poly(cf_t: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NPV and its derivative in ``r`` of the columns of a years × draws matrix at rates ``r`` (Horner's rule in
    ``x = 1/(1+r)``)."""
    x = 1.0 / (1.0 + r)
    p = cf_t[-1].copy()
    dp = np.zeros_like(r)
    for j in range(cf_t.shape[0] - 2, -1, -1):
        dp *= x
        dp += p
        p *= x
        p += cf_t[j]
    # d/dr p(x(r)) = p'(x) * dx/dr = p'(x) * (-x^2)
    dp *= -(x * x)
    return p, dp


def _start_guess(cf_t: np.ndarray) -> np.ndarray:
    """A close first guess of the IRR: the rate that turns total outflows into total inflows over the distance
    between their money-weighted mean times."""
    t = np.arange(cf_t.shape[0], dtype=float)
    mag = np.abs(cf_t)
    total, total_abs = cf_t.sum(axis=0), mag.sum(axis=0)
    t_total, t_abs = t @ cf_t, t @ mag
    inflow = 0.5 * (total_abs + total)  # sum of the positive flows
    outflow = 0.5 * (total_abs - total)  # sum of the magnitudes of the negative flows
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = 0.5 * (t_abs + t_total) / inflow - 0.5 * (t_abs - t_total) / outflow
        guess = (inflow / outflow) ** (1.0 / np.maximum(gap, 1.0)) - 1.0
    return np.where(np.isfinite(guess), np.minimum(np.maximum(guess, _R_LO), 1.0), 0.0)


def _bracketed_newton(cf_t: np.ndarray, lo: np.ndarray, hi: np.ndarray, f_lo: np.ndarray,
                      start: np.ndarray | None = None) -> np.ndarray:
    """Root of the NPV of each column on ``[lo, hi]`` where the NPV changes sign (vectorised Newton iteration
    safeguarded by bisection)."""
    lo = lo.copy()
    hi = hi.copy()
    if start is None:
        start = np.where((lo < 0.0) & (hi > 0.0), 0.0, 0.5 * (lo + hi))
    r = np.where((start > lo) & (start < hi), start, 0.5 * (lo + hi))
    sign_lo = np.sign(f_lo)
    active: np.ndarray | None = None  # None: every column (no gather while most columns are unconverged)
    for _ in range(_MAX_ITER):
        if active is None:
            ra, la, ha, sub, sl = r, lo, hi, cf_t, sign_lo
        else:
            if active.size == 0:
                break
            ra, la, ha, sub, sl = r[active], lo[active], hi[active], cf_t[:, active], sign_lo[active]
        f, df = _poly(sub, ra)
        same = np.sign(f) == sl
        la = np.where(same, ra, la)
        ha = np.where(same, ha, ra)
        with np.errstate(divide="ignore", invalid="ignore"):
            cand = ra - f / df
        bad = ~np.isfinite(cand) | (cand <= la) | (cand >= ha)
        new = np.where(bad, 0.5 * (la + ha), cand)
        exact = f == 0
        new = np.where(exact, ra, new)
        done = exact | (np.abs(new - ra) <= _TOL * (1.0 + np.abs(ra))) | (ha - la <= _TOL * (1.0 + np.abs(ra)))
        if active is None:
            r, lo, hi = new, la, ha
            if done.mean() > 0.5:
                active = np.flatnonzero(~done)
        else:
            r[active], lo[active], hi[active] = new, la, ha
            active = active[~done]
    return r


def irr_solution(cash_flows: np.ndarray | Sequence[float]) -> IRRSolution:
    """IRR of each row of ``cash_flows`` (years ``0..T-1`` on the last axis) with its status."""
    cf_in = np.asarray(cash_flows, dtype=float)
    single = cf_in.ndim == 1
    cf = np.atleast_2d(cf_in)
    if cf.ndim != 2:
        raise OptionError(f"cash flows must be a vector or a draws × years matrix, got shape {cf_in.shape}")
    if cf.shape[1] > 60:
        raise OptionError(f"IRR supports at most 60 yearly periods, got {cf.shape[1]}")
    if not np.all(np.isfinite(cf)):
        raise OptionError("cash flows must be finite numbers")
    n = cf.shape[0]
    rate = np.full(n, np.nan)
    status = np.full(n, int(IRRStatus.UNDEFINED), dtype=np.int8)
    if n == 0:
        return IRRSolution(rate, status)
    cf_t = np.ascontiguousarray(cf.T)
    has_out = (cf_t < 0).any(axis=0)
    has_in = (cf_t > 0).any(axis=0)
    loss = has_out & ~has_in
    rate[loss] = -1.0
    status[loss] = IRRStatus.TOTAL_LOSS
    changes = _sign_changes_t(cf_t)
    cand = has_out & has_in

    one_mask = cand & (changes == 1)
    if one_mask.any():
        whole = bool(one_mask.all())
        one = np.flatnonzero(one_mask)
        sub = cf_t if whole else cf_t[:, one]
        lo = np.full(one.size, _R_LO)
        hi = np.full(one.size, _R_HI)
        f_lo, _ = _poly(sub, lo)
        f_hi, _ = _poly(sub, hi)
        far = np.sign(f_lo) == np.sign(f_hi)
        if far.any():  # root below -99 %: widen the bracket towards -100 %
            lo[far] = _R_LO_FAR
            f_lo[far], _ = _poly(sub[:, far], lo[far])
        ok = (np.sign(f_lo) != np.sign(f_hi)) | (f_lo == 0) | (f_hi == 0)
        if not ok.all():
            sub, lo, hi, f_lo, one = sub[:, ok], lo[ok], hi[ok], f_lo[ok], one[ok]
        if one.size:
            root = _bracketed_newton(sub, lo, hi, f_lo, _start_guess(sub))
            rate[one] = root
            status[one] = IRRStatus.OK

    many = np.flatnonzero(cand & (changes > 1))
    if many.size:
        sub = cf_t[:, many]
        vals = np.stack([_poly(sub, np.full(many.size, g))[0] for g in _GRID], axis=1)
        for row, k in enumerate(many):
            v = vals[row]
            cross = np.flatnonzero(np.sign(v[:-1]) * np.sign(v[1:]) <= 0)
            if cross.size == 0:
                continue
            roots = []
            for c in cross:
                if v[c] == 0:
                    roots.append(float(_GRID[c]))
                    continue
                col = sub[:, row:row + 1]
                roots.append(float(_bracketed_newton(col, np.array([_GRID[c]]), np.array([_GRID[c + 1]]),
                                                     np.array([v[c]]))[0]))
            rate[k] = min(roots, key=abs)
            status[k] = IRRStatus.MULTIPLE
    if single:
        return IRRSolution(rate[:1], status[:1])
    return IRRSolution(rate, status)


def irr(cash_flows: np.ndarray | Sequence[float]) -> np.ndarray | float:
    """IRR of one cash-flow series (a float) or of each row of a matrix (an array); see the module docstring."""
    sol = irr_solution(cash_flows)
    return float(sol.rate[0]) if np.ndim(cash_flows) == 1 else sol.rate


# --------------------------------------------------------------------------------------------------------------
# Capital stack and repayment waterfall
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrancheSpec:
    """One source of up-front capital.

    Attributes
    ----------
    name
        Identifier.
    kind
        ``"senior_loan"``, ``"junior_loan"``, ``"equity"`` or ``"recoverable_grant"``.
    draws
        Amount drawn in each year (length ``T``).
    return_cap
        Annual rate at which the outstanding balance accrues: the highest return the tranche can earn. ``None``
        makes the tranche the residual claimant (it receives everything that reaches it).
    priority
        Order of repayment (lower first).
    """

    name: str
    kind: str
    draws: np.ndarray
    return_cap: float | None
    priority: int

    @property
    def principal(self) -> float:
        return float(np.sum(self.draws))


@dataclass(frozen=True)
class GuaranteeSpec:
    """A third party's promise to a tranche, settled at maturity.

    ``mode="floor"``: the tranche receives in total at least ``amount`` (the guarantor tops up what outcome
    payments left short of it; NYC's Rikers deal, where Bloomberg Philanthropies' $7.2M capped Goldman Sachs' loss
    at 25% of its $9.6M whatever the result). ``mode="first_loss"``: the guarantor covers the shortfall of the
    tranche's principal, up to ``amount``.
    """

    name: str
    covers: str
    amount: float
    mode: str


@dataclass(frozen=True)
class WaterfallResult:
    """Where outcome payments went, by year (arrays are draws × years)."""

    receipts: Mapping[str, np.ndarray]
    """Outcome payments received by each tranche."""
    guarantee_payments: Mapping[str, np.ndarray]
    """Payments by each guarantor (to the tranche it covers)."""
    residual: np.ndarray
    """Outcome payments left after every tranche was repaid (success fees to the intermediary/provider)."""


def run_waterfall(payments: np.ndarray, tranches: Sequence[TrancheSpec],
                  guarantees: Sequence[GuaranteeSpec] = ()) -> WaterfallResult:
    """Distribute outcome payments (draws × years) to the tranches in order of priority, year by year.

    Each year every capped tranche's outstanding balance accrues at its ``return_cap`` and takes in that year's
    draws; the payments of the year then repay balances in priority order, tranches of equal priority pari passu
    (pro rata to their balances); an uncapped tranche (the residual claimant, alone in the last priority) takes all
    that is left. Guarantees settle in the final year.
    """
    pay = np.atleast_2d(np.asarray(payments, dtype=float))
    n, n_years = pay.shape
    pay_t = np.ascontiguousarray(pay.T)  # years x draws: each year's payments are contiguous (no copy for a view)
    order = sorted(tranches, key=lambda tr: (tr.priority, tr.name))
    groups: list[list[TrancheSpec]] = []
    for tr in order:
        if groups and groups[-1][0].priority == tr.priority:
            groups[-1].append(tr)
        else:
            groups.append([tr])
    balances = {tr.name: np.zeros(n) for tr in order}
    receipts = {tr.name: np.zeros((n_years, n)) for tr in order}
    residual = np.zeros((n_years, n))
    for t in range(n_years):
        avail = pay_t[t].copy()
        for group in groups:
            if len(group) == 1 and group[0].return_cap is None:  # the residual claimant takes what is left
                receipts[group[0].name][t] = avail
                avail = np.zeros(n)
                continue
            owed = []
            for tr in group:
                draw = float(tr.draws[t]) if t < tr.draws.size else 0.0
                rate = 0.0 if tr.return_cap is None else tr.return_cap
                owed.append(balances[tr.name] * (1.0 + rate) + draw)
            total_owed = np.sum(owed, axis=0)
            paid = np.minimum(total_owed, avail)
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(total_owed > 0, paid / total_owed, 0.0)
            for tr, bal in zip(group, owed, strict=True):  # equal priority: pari passu, pro rata to balances
                got = bal * frac
                receipts[tr.name][t] = got
                balances[tr.name] = bal - got
            avail = avail - paid
        residual[t] = avail
    paid_by_guarantor = {}
    for g in guarantees:
        tr = next(x for x in order if x.name == g.covers)
        received = receipts[tr.name].sum(axis=0)
        if g.mode == "floor":
            top = np.minimum(np.maximum(g.amount - received, 0.0), g.amount)
        else:
            top = np.minimum(np.maximum(tr.principal - received, 0.0), g.amount)
        gp = np.zeros((n_years, n))
        gp[-1] = top
        paid_by_guarantor[g.name] = gp
    # computed as years x draws; handed back as draws x years views (no copy)
    return WaterfallResult({k: v.T for k, v in receipts.items()}, {k: v.T for k, v in paid_by_guarantor.items()},
                           residual.T)
