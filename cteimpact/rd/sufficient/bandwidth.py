"""MSE-optimal bandwidths (``mserd``, ``msetwo``) of Calonico, Cattaneo & Titiunik (2014) and Calonico, Cattaneo
& Farrell (2020) from score cells, following rdrobust's implementation step by step.

rdrobust standardises the score by its standard deviation (``stdvars``), starts from the pilot bandwidth
``C_K · min(1, IQR/(1.349 sd)) · M^{-1/5}`` (``M`` distinct values with ``masspoints="adjust"``), widened so that each
side holds at least ``bwcheck`` distinct values (10 when 20% or more of a side's rows repeat a value), and then
chains three plug-in steps: a pilot for the derivative of order ``q + 1`` (``d``), the bias bandwidth ``b`` and the
main bandwidth ``h``, each ``(V / (B² + R))^{1/(2o+3)}`` with a variance ``V``, a bias ``B`` and a regularisation
``R``. rdrobust also divides the outcome by its standard deviation; ``V``, ``B²`` and ``R`` all scale with its square,
so the ratio (the bandwidth) does not depend on it and the outcome is left unscaled here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cteimpact.errors import DesignError
from cteimpact.rd.sufficient.design import Kernel, Side
from cteimpact.rd.sufficient.localfit import Vce, WeightedFit, fit_side, meat, residuals

__all__ = ["BandwidthSelector", "Bandwidths", "select_bandwidths"]

BandwidthSelector = Literal["mserd", "msetwo"]

_KERNEL_CONSTANT = {"epanechnikov": 2.34, "uniform": 1.843, "triangular": 2.576}
_PAD = 1 + float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class Bandwidths:
    """Selected bandwidths ``(left, right)`` for the estimate (``h``) and the bias correction (``b``)."""

    h: tuple[float, float]
    b: tuple[float, float]


@dataclass(frozen=True)
class _Terms:
    v: float
    b: float
    r: float
    rate: float


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` in floating point (NaN, not a complex number, for a negative or undefined base)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.power(np.float64(base), exponent))


def _nan_terms(order: int) -> _Terms:
    return _Terms(math.nan, math.nan, math.nan, 1 / (2 * order + 3))


def _variance(fit: WeightedFit, vce: Vce, nnmatch: int, s: np.ndarray) -> np.ndarray:
    res = residuals(fit, vce, nnmatch).combine(s)
    return fit.inv_gram @ meat(fit, res, vce) @ fit.inv_gram


def _weights(fit: WeightedFit, nu: int) -> np.ndarray:
    """rdrobust's delta-method weights: 1 (sharp), or ``(1/τ_T, −τ_Y/τ_T²)`` of the side's ``nu``-th derivatives
    (fuzzy)."""
    if fit.beta.shape[1] == 1:
        return np.ones(1)
    fac = math.factorial(nu)
    tau_y, tau_t = fac * float(fit.beta[nu, 0]), fac * float(fit.beta[nu, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.array([np.float64(1.0) / tau_t, -(np.float64(tau_y) / np.float64(tau_t) ** 2)])


def _terms(side: Side, cutoff: float, *, order: int, nu: int, order_b: int, h_v: float, h_b: float, scale: float,
           kernel: Kernel, vce: Vce, nnmatch: int,
           cache: dict[tuple[int, int], tuple[float, float, np.ndarray]]) -> _Terms:
    """rdrobust's ``(V, B, R, rate)`` for the derivative ``nu`` of a fit of ``order``: ``V`` from the pilot bandwidth
    ``h_v``, the bias constant from the same fit, the leading coefficient of a fit of ``order_b`` within ``h_b``."""
    key = (order, nu)
    if key not in cache:
        fit_v = fit_side(side, cutoff, h_v, order, kernel)
        if fit_v is None:
            cache[key] = (math.nan, math.nan, np.ones(1))
        else:
            s = _weights(fit_v, nu)
            var_v = float(_variance(fit_v, vce, nnmatch, s)[nu, nu])
            u = (fit_v.cells.x - cutoff) / h_v
            v = (fit_v.r * (fit_v.cells.n * fit_v.w)[:, None]).T @ (u ** (order + 1))
            hp = np.array([h_v**j for j in range(order + 1)])
            cache[key] = (var_v, float((hp * (fit_v.inv_gram @ v))[nu]), s)
    var_v, b_const, s = cache[key]
    if not np.isfinite(var_v) or not (np.isfinite(h_b) and h_b > 0):
        return _nan_terms(order)
    fit_b = fit_side(side, cutoff, h_b, order_b, kernel)
    if fit_b is None:
        return _nan_terms(order)
    reg = 0.0
    if scale > 0:
        reg = 3 * b_const**2 * float(_variance(fit_b, vce, nnmatch, s)[-1, -1])
    bias = math.sqrt(2 * (order + 1 - nu)) * b_const * float(s @ fit_b.beta[-1, :])
    variance = (2 * nu + 1) * h_v ** (2 * nu + 1) * var_v
    return _Terms(np.float64(variance), np.float64(bias), np.float64(scale * (2 * (order + 1 - nu)) * reg),
                  1 / (2 * order + 3))


def _quantile_type2(values: np.ndarray, counts: np.ndarray, prob: float) -> float:
    """Hyndman-Fan type 2 quantile of the rows (sorted distinct ``values`` with ``counts``)."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    h = total * prob
    j = int(np.floor(h))

    def at(pos: int) -> float:  # the value of the sorted row at 0-based position pos
        return float(values[int(np.searchsorted(ends, pos, side="right"))])

    if h == j:
        return 0.5 * (at(j - 1) + at(j))
    return at(j)


def select_bandwidths(left: Side, right: Side, cutoff: float, *, p: int, q: int, kernel: Kernel, vce: Vce,
                      selector: BandwidthSelector, nnmatch: int, bwcheck: int | None, scaleregul: float,
                      bwrestrict: bool = True) -> Bandwidths:
    """Bandwidths ``h`` and ``b`` as ``rdrobust.rdbwselect`` selects them (``deriv = 0``, ``stdvars``,
    ``masspoints="adjust"``) from the cells on each side.

    Raises
    ------
    DesignError
        A pilot fit has fewer distinct score values than coefficients, or the selected bandwidth is not a positive
        number (too little variability in the running variable).
    """
    n_l, n_r = left.rows, right.rows
    n = n_l + n_r
    values, inverse = np.unique(np.concatenate([left.x, right.x]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([left.n, right.n]).astype(float))
    mean = float(np.sum(counts * values) / n)
    x_sd = math.sqrt(float(np.sum(counts * (values - mean) ** 2)) / (n - 1))
    iqr = _quantile_type2(values, counts, 0.75) - _quantile_type2(values, counts, 0.25)
    bwp = min(1.0, (iqr / x_sd) / 1.349)
    sl, sr = left.scaled(x_sd), right.scaled(x_sd)
    c = cutoff / x_sd
    uniq_l = np.sort(np.unique(left.x))[::-1] / x_sd
    uniq_r = np.unique(right.x) / x_sd
    m_total = len(uniq_l) + len(uniq_r)
    x_min, x_max = float(values[0]) / x_sd, float(values[-1]) / x_sd
    range_l = abs(cutoff - float(np.min(left.x))) / x_sd
    range_r = abs(cutoff - float(np.max(right.x))) / x_sd

    c_bw = _KERNEL_CONSTANT[kernel] * bwp * m_total ** (-1 / 5)
    bw_max_l, bw_max_r = abs(c - x_min), abs(c - x_max)
    bw_max = max(bw_max_l, bw_max_r)
    if bwrestrict:
        c_bw = min(c_bw, bw_max)
    bw_min_l = bw_min_r = 0.0
    if bwcheck is not None:
        bw_min_l = float(np.abs(uniq_l - c)[min(bwcheck, len(uniq_l)) - 1]) * _PAD
        bw_min_r = float(np.abs(uniq_r - c)[min(bwcheck, len(uniq_r)) - 1]) * _PAD
        c_bw = max(c_bw, bw_min_l, bw_min_r)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _chain(sl, sr, c, p=p, q=q, kernel=kernel, vce=vce, selector=selector, nnmatch=nnmatch,
                     bwcheck=bwcheck, scaleregul=scaleregul, bwrestrict=bwrestrict, c_bw=c_bw,
                     bw_max=(bw_max_l, bw_max_r), bw_min=(bw_min_l, bw_min_r), ranges=(range_l, range_r), x_sd=x_sd)
    arr = np.asarray(out, dtype=float)
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise DesignError(
            f"bandwidth selection ({selector}): not enough variability in the running variable to select a "
            f"bandwidth ({len(uniq_l)} distinct values below the cutoff, {len(uniq_r)} at or above, {n_l} and {n_r} "
            f"rows); the pilot fits of order up to {q + 2} are not identified: give the bandwidth h")
    return Bandwidths(h=(out[0], out[1]), b=(out[2], out[3]))


def _chain(sl: Side, sr: Side, c: float, *, p: int, q: int, kernel: Kernel, vce: Vce, selector: BandwidthSelector,
           nnmatch: int, bwcheck: int | None, scaleregul: float, bwrestrict: bool, c_bw: float,
           bw_max: tuple[float, float], bw_min: tuple[float, float], ranges: tuple[float, float],
           x_sd: float) -> tuple[float, float, float, float]:
    """The three plug-in steps (``d``, ``b``, ``h``) in standardised units; returns ``(h_l, h_r, b_l, b_r)``."""
    bw_max_l, bw_max_r = bw_max
    bw_max_both = max(bw_max)
    bw_min_l, bw_min_r = bw_min
    range_l, range_r = ranges
    cache_l: dict[tuple[int, int], tuple[float, float, np.ndarray]] = {}
    cache_r: dict[tuple[int, int], tuple[float, float, np.ndarray]] = {}
    common = {"kernel": kernel, "vce": vce, "nnmatch": nnmatch, "h_v": c_bw}

    def terms_l(**kw: float) -> _Terms:
        return _terms(sl, c, cache=cache_l, **common, **kw)  # type: ignore[arg-type]

    def terms_r(**kw: float) -> _Terms:
        return _terms(sr, c, cache=cache_r, **common, **kw)  # type: ignore[arg-type]

    d_l = terms_l(order=q + 1, nu=q + 1, order_b=q + 2, h_b=range_l * _PAD, scale=0)
    d_r = terms_r(order=q + 1, nu=q + 1, order_b=q + 2, h_b=range_r * _PAD, scale=0)

    def ratio(t: _Terms, bias: float, reg: float, rate: float) -> float:
        return _power(t.v / (bias**2 + reg), rate)

    if selector == "msetwo":
        d_bw = [_power(t.v / t.b**2, t.rate) for t in (d_l, d_r)]
        if bwrestrict:
            d_bw = [min(d_bw[0], bw_max_l), min(d_bw[1], bw_max_r)]
        if bwcheck is not None:
            d_bw = [max(d_bw[0], bw_min_l), max(d_bw[1], bw_min_r)]
        b_l = terms_l(order=q, nu=p + 1, order_b=q + 1, h_b=d_bw[0], scale=scaleregul)
        b_r = terms_r(order=q, nu=p + 1, order_b=q + 1, h_b=d_bw[1], scale=scaleregul)
        b_bw = [ratio(t, t.b, scaleregul * t.r, t.rate) for t in (b_l, b_r)]
        if bwrestrict:
            b_bw = [min(b_bw[0], bw_max_l), min(b_bw[1], bw_max_r)]
        h_l = terms_l(order=p, nu=0, order_b=q, h_b=b_bw[0], scale=scaleregul)
        h_r = terms_r(order=p, nu=0, order_b=q, h_b=b_bw[1], scale=scaleregul)
        h_bw = [ratio(t, t.b, scaleregul * t.r, t.rate) for t in (h_l, h_r)]
        if bwrestrict:
            h_bw = [min(h_bw[0], bw_max_l), min(h_bw[1], bw_max_r)]
        return (x_sd * h_bw[0], x_sd * h_bw[1], x_sd * b_bw[0], x_sd * b_bw[1])
    else:
        d_bw_d = _power((d_l.v + d_r.v) / (d_r.b - d_l.b) ** 2, d_l.rate)
        if bwrestrict:
            d_bw_d = min(d_bw_d, bw_max_both)
        if bwcheck is not None:
            d_bw_d = max(d_bw_d, bw_min_l, bw_min_r)
        b_l = terms_l(order=q, nu=p + 1, order_b=q + 1, h_b=d_bw_d, scale=scaleregul)
        b_r = terms_r(order=q, nu=p + 1, order_b=q + 1, h_b=d_bw_d, scale=scaleregul)
        b_bw_d = _power((b_l.v + b_r.v) / ((b_r.b - b_l.b) ** 2 + scaleregul * (b_r.r + b_l.r)), b_l.rate)
        if bwrestrict:
            b_bw_d = min(b_bw_d, bw_max_both)
        h_l = terms_l(order=p, nu=0, order_b=q, h_b=b_bw_d, scale=scaleregul)
        h_r = terms_r(order=p, nu=0, order_b=q, h_b=b_bw_d, scale=scaleregul)
        h_bw_d = _power((h_l.v + h_r.v) / ((h_r.b - h_l.b) ** 2 + scaleregul * (h_r.r + h_l.r)), h_l.rate)
        if bwrestrict:
            h_bw_d = min(h_bw_d, bw_max_both)
        out = (x_sd * h_bw_d, x_sd * h_bw_d, x_sd * b_bw_d, x_sd * b_bw_d)
    return out
