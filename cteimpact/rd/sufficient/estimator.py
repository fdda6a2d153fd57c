"""Sharp and fuzzy regression-discontinuity local polynomial estimation from score cells, reproducing
``rdrobust.rdrobust``
(Calonico, Cattaneo & Titiunik 2014; Calonico, Cattaneo, Farrell & Titiunik 2019) on the student rows the cells
summarise.

The conventional estimate is the jump in the intercepts of kernel-weighted polynomial fits of order ``p`` within
``h`` on each side; the bias-corrected estimate subtracts the leading bias term estimated by a fit of order ``q``
within ``b``; its robust variance accounts for that estimation (the ``Q_q`` score rows of rdrobust). Each side's
fits, residuals and variances are sums over students of terms that depend on the student only through the score
(constant within a cell) and the outcome (through the cell's count, sum and centred sum of squares), so the cells
give rdrobust's numbers up to the order of floating-point summation.

A fuzzy design fits the outcome and the take-up together: the estimate is the ratio of their jumps, its variance
the delta method's (rdrobust's weights ``s = (1/τ_T, −τ_Y/τ_T²)`` applied to the two residuals of each row, whose
products within a cell come from the cell's centred cross-products), and the bandwidths are selected for the ratio
(for the outcome alone when the take-up is constant on a side, as rdrobust does).

Supported: ``p`` 1 to 4 (``q > p``, at most 6), ``deriv = 0``, sharp and fuzzy designs without covariates or
weights, triangular, uniform and Epanechnikov kernels, given bandwidths or ``mserd``/``msetwo`` selection with
``masspoints="adjust"`` (rdrobust's default), the default ``bwrestrict`` and ``stdvars``, and ``vce`` ``nn``,
``hc0``-``hc3`` (the leverage ``h_ii`` of HC2/HC3 is a function of the score), ``cr1``, ``cr2`` and ``cr3``.
Tested against rdrobust for ``p`` 1 and 2.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import norm

from cteimpact.errors import DesignError, OptionError, SmallSampleWarning
from cteimpact.rd.adapters.rdrobust import FirstStage, LocalPolynomialFit
from cteimpact.rd.sufficient.bandwidth import BandwidthSelector, select_bandwidths
from cteimpact.rd.sufficient.cells import ScoreCells
from cteimpact.rd.sufficient.design import Kernel, Side, kernel_weights, powers
from cteimpact.rd.sufficient.localfit import HETEROSKEDASTIC, Vce, hc_scale, inverse_spd, leverage
from cteimpact.rd.sufficient.nearest import nn_windows
from cteimpact.rd.sufficient.variance import (
    ResidualMoments,
    cr1_meat,
    cr2_meat,
    cr2_mixed_meat,
    cr3_meat,
    cr3_mixed_meat,
    hetero_meat,
    residual_sums,
)
from cteimpact.threads import one_blas_thread

__all__ = ["fit_cells"]

_KERNELS = ("triangular", "uniform", "epanechnikov")
_VCES = ("nn", "hc0", "hc1", "hc2", "hc3", "cr1", "cr2", "cr3")
_SELECTORS = ("mserd", "msetwo")
MASS_POINT_SHARE = 0.2
"""rdrobust reports mass points (and, with ``masspoints="adjust"``, sets ``bwcheck = 10``) when this share or more
of a side's rows repeat a score value (``1 − distinct/rows``)."""


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    vals = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(vals) != 2:
        raise OptionError(f"{name} must be one number or a (left, right) pair, got {len(vals)} values")
    out = (float(vals[0]), float(vals[1]))
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise OptionError(f"{name} must be positive and finite, got {out}")
    return out


def _split(cells: ScoreCells, cutoff: float) -> tuple[Side, Side]:
    below = cells.score < cutoff
    if cells.sum_t is not None and cells.m2_t is not None and cells.m2_yt is not None:
        sums = np.column_stack([cells.sum_y, cells.sum_t])
        cross = np.stack([np.stack([cells.m2_y, cells.m2_yt], axis=1), np.stack([cells.m2_yt, cells.m2_t], axis=1)],
                         axis=1)
    else:
        sums = cells.sum_y.reshape(-1, 1)
        cross = cells.m2_y.reshape(-1, 1, 1)
    side = Side(x=cells.score, cluster=cells.cluster, n=cells.n, sums=sums, cross=cross)
    return side.subset(below), side.subset(~below)


class _SideFit:
    """The main (order ``p``, bandwidth ``h``) and bias (order ``q``, bandwidth ``b``) fits on one side, on the cells
    inside the larger bandwidth, with rdrobust's bias-corrected score rows ``Q``."""

    def __init__(self, side: Side, cutoff: float, h: float, b: float, p: int, q: int, kernel: Kernel) -> None:
        w_h_all = kernel_weights(side.x, cutoff, h, kernel)
        w_b_all = kernel_weights(side.x, cutoff, b, kernel)
        self.n_h = int(np.sum(side.n[w_h_all > 0]))
        self.n_b = int(np.sum(side.n[w_b_all > 0]))
        self.distinct_h = int(np.unique(side.x[w_h_all > 0]).size)
        self.distinct_b = int(np.unique(side.x[w_b_all > 0]).size)
        keep = w_h_all > 0 if h > b else w_b_all > 0
        self.cells = side.subset(keep)
        self.w_h = w_h_all[keep]
        self.w_b = w_b_all[keep]
        self.h, self.b, self.p, self.q = h, b, p, q
        if self.distinct_h < p + 1 or self.distinct_b < q + 1:
            return
        cells = self.cells
        self.r_q = powers(cells.x - cutoff, q)
        self.r_p = self.r_q[:, : p + 1]
        u = (cells.x - cutoff) / h
        self.rw_p = self.r_p * self.w_h[:, None]
        lead = (self.rw_p * cells.n[:, None]).T @ (u ** (p + 1))
        self.gram_q = (self.r_q * (cells.n * self.w_b)[:, None]).T @ self.r_q
        self.inv_q = inverse_spd(self.gram_q)
        self.inv_p = inverse_spd((self.r_p * (cells.n * self.w_h)[:, None]).T @ self.r_p)
        m = (self.r_q @ self.inv_q[p + 1, :]) * self.w_b
        self.q_rows = self.rw_p - h ** (p + 1) * m[:, None] * lead[None, :]
        self.beta_p = self.inv_p @ (self.rw_p.T @ cells.sums)
        self.beta_q = self.inv_q @ ((self.r_q * self.w_b[:, None]).T @ cells.sums)
        self.beta_bc = self.inv_p @ (self.q_rows.T @ cells.sums)

    @property
    def rows(self) -> int:
        return self.cells.rows

    def residuals(self, vce: Vce, nnmatch: int) -> tuple[ResidualMoments, ResidualMoments]:
        """Residual sums of the main and of the bias fit (the same nearest-neighbour ones for ``nn``)."""
        if vce == "nn":
            scale, centre = nn_windows(self.cells, nnmatch)
            res = residual_sums(self.cells, centre, scale)
            return res, res
        fit_p = self.r_p @ self.beta_p
        fit_q = self.r_q @ self.beta_q
        lev_p = lev_q = np.zeros(len(self.w_h))
        if vce in ("hc2", "hc3"):
            lev_p = leverage(self.r_p, self.inv_p, self.w_h)
            lev_q = leverage(self.r_q, self.inv_q, self.w_b)
        s_p = hc_scale(vce, self.rows, self.p + 1, lev_p)
        s_q = hc_scale(vce, self.rows, self.q + 1, lev_q)
        return residual_sums(self.cells, fit_p, s_p), residual_sums(self.cells, fit_q, s_q)

    def variances(self, vce: Vce, nnmatch: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Conventional and robust variance matrices of the side's coefficients of ``Σ_j s_j v_j`` (the outcome for
        ``s = (1,)``; the delta method's combination of outcome and take-up for a fuzzy design)."""
        moments_h, moments_b = self.residuals(vce, nnmatch)
        res_h, res_b = moments_h.combine(s), moments_b.combine(s)
        codes = self.cells.cluster
        if vce in HETEROSKEDASTIC:
            v_cl = self.inv_p @ hetero_meat(self.rw_p, res_h) @ self.inv_p
            v_rb = self.inv_p @ hetero_meat(self.q_rows, res_b) @ self.inv_p
            return v_cl, v_rb
        if codes is None:
            raise OptionError(f"vce={vce!r} needs cells grouped by a cluster column")
        same = self.h == self.b
        if vce == "cr1":
            v_cl = self.inv_p @ cr1_meat(self.rw_p, res_h, codes, rows=self.rows, k_df=self.p + 1) @ self.inv_p
            if same:
                a_q = self.r_q * self.w_h[:, None]
                v_rb = self.inv_q @ cr1_meat(a_q, res_b, codes, rows=self.rows, k_df=self.q + 1) @ self.inv_q
            else:
                v_rb = self.inv_p @ cr1_meat(self.q_rows, res_b, codes, rows=self.rows, k_df=self.q + 1) @ self.inv_p
            return v_cl, v_rb
        if vce == "cr2":
            v_cl = self.inv_p @ cr2_meat(self.r_p, self.w_h, self.cells, res_h, codes, self.inv_p) @ self.inv_p
            if same:
                v_rb = self.inv_q @ cr2_meat(self.r_q, self.w_h, self.cells, res_b, codes, self.inv_q) @ self.inv_q
            else:
                mixed = cr2_mixed_meat(self.q_rows, self.r_q, self.w_b, self.cells, res_b, codes, self.inv_q)
                v_rb = self.inv_p @ mixed @ self.inv_p
            return v_cl, v_rb
        # CR3: rdrobust recovers the main fit's Gram matrix by inverting its inverse
        gram_p = np.linalg.inv(self.inv_p)
        v_cl = self.inv_p @ cr3_meat(self.r_p, self.w_h, self.cells, res_h, codes, gram_p) @ self.inv_p
        if same:
            v_rb = self.inv_q @ cr3_meat(self.r_q, self.w_h, self.cells, res_b, codes, self.gram_q) @ self.inv_q
        else:
            mixed = cr3_mixed_meat(self.q_rows, self.r_q, self.w_b, self.cells, res_b, codes, self.gram_q)
            v_rb = self.inv_p @ mixed @ self.inv_p
        return v_cl, v_rb


@one_blas_thread()
def fit_cells(
    cells: ScoreCells,
    *,
    cutoff: float = 0.0,
    p: int = 1,
    q: int | None = None,
    h: float | tuple[float, float] | None = None,
    b: float | tuple[float, float] | None = None,
    rho: float | None = None,
    kernel: Kernel = "triangular",
    bwselect: BandwidthSelector = "mserd",
    vce: Vce = "nn",
    nnmatch: int = 3,
    level: float = 95.0,
    bwcheck: int | None = None,
    scaleregul: float = 1.0,
    sharpbw: bool = False,
    context: str = "rd (grouped)",
) -> LocalPolynomialFit:
    """Sharp (or, with the take-up's sums in ``cells``, fuzzy) RD estimate from score cells, equal (to rounding) to
    ``rdrobust.rdrobust`` on the rows.

    Parameters
    ----------
    cells
        Per (score, cluster) counts and outcome sums (:func:`~cteimpact.rd.sufficient.cells.cells_from_frame` or
        the engine query).
    cutoff
        The cutoff ``c``; rows with ``score < c`` are on the left.
    p, q
        Orders of the main and bias-correction polynomials (``q`` defaults to ``p + 1``).
    h, b
        Main and bias bandwidths, one number or ``(left, right)``; ``b`` defaults to ``h``. Without ``h`` both are
        selected by ``bwselect``.
    rho
        ``b = h / rho`` (with ``h`` given or selected); not with ``b``.
    kernel
        ``"triangular"``, ``"uniform"`` or ``"epanechnikov"``.
    bwselect
        ``"mserd"`` (one common bandwidth) or ``"msetwo"`` (one per side).
    vce
        ``"nn"`` (nearest neighbours, ``nnmatch`` of them), ``"hc0"``-``"hc3"``, or with cluster codes
        ``"cr1"``/``"cr2"``/``"cr3"``.
    nnmatch, level, bwcheck, scaleregul
        As in rdrobust (``level`` in percent).
    sharpbw
        Fuzzy designs: select the bandwidth for the outcome alone (as rdrobust does by itself when the take-up is
        constant on a side).
    context
        Prefix of error messages.

    Returns
    -------
    LocalPolynomialFit
        The same fields as :func:`cteimpact.rd.adapters.rdrobust.fit_rdrobust` returns; ``notes`` and ``warnings``
        say in cteimpact's words what rdrobust prints and warns (mass points, few clusters within the bandwidth).

    Warns
    -----
    SmallSampleWarning
        Fewer than 10 clusters on a side within ``h`` (cluster-robust ``vce``).

    Raises
    ------
    OptionError
        An option outside the supported set.
    DesignError
        The cutoff is outside the scores, too few distinct scores on a side (for the fit of order ``q``, or within
        the bandwidths), a bandwidth that cannot be selected, a singular local fit, or (fuzzy) a take-up that does
        not jump at the cutoff.
    """
    if kernel not in _KERNELS:
        raise OptionError(f"{context}: kernel must be one of {', '.join(_KERNELS)}, got {kernel!r}")
    if vce not in _VCES:
        raise OptionError(f"{context}: vce must be one of {', '.join(_VCES)}, got {vce!r}")
    if bwselect not in _SELECTORS:
        raise OptionError(f"{context}: bwselect must be one of {', '.join(_SELECTORS)}, got {bwselect!r}")
    if p not in (1, 2, 3, 4):
        raise OptionError(f"{context}: p must be 1 to 4, got {p}")
    q = p + 1 if q is None else q
    if q <= p or q > 6:
        raise OptionError(f"{context}: q must be greater than p = {p} (and at most 6), got {q}")
    if not (0 < level < 100):
        raise OptionError(f"{context}: level must be in (0, 100), got {level}")
    if nnmatch < 1:
        raise OptionError(f"{context}: nnmatch must be a positive integer, got {nnmatch}")
    if rho is not None and not (np.isfinite(rho) and rho > 0):
        raise OptionError(f"{context}: rho must be a positive number, got {rho!r}")
    if rho is not None and b is not None:
        raise OptionError(f"{context}: give either b or rho, not both")
    clustered = vce in ("cr1", "cr2", "cr3")
    if clustered and cells.cluster is None:
        raise OptionError(f"{context}: vce={vce!r} needs cells grouped by a cluster column")
    if not clustered and cells.cluster is not None:
        raise OptionError(f"{context}: the cells are grouped by cluster '{cells.cluster_column}'; use vce 'cr1', "
                          f"'cr2' or 'cr3' (rdrobust switches {vce!r} to a cluster variance when given clusters)")
    if cells.n_cells == 0:
        raise DesignError(f"{context}: no rows")
    x_min, x_max = float(np.min(cells.score)), float(np.max(cells.score))
    if not (x_min < cutoff < x_max):
        raise DesignError(f"{context}: the cutoff {cutoff:g} is not inside the range of '{cells.score_column}' "
                          f"({x_min:g} to {x_max:g})")
    left, right = _split(cells, cutoff)
    n_l, n_r = left.rows, right.rows
    m_l, m_r = left.distinct, right.distinct
    if min(m_l, m_r) < q + 1:
        side = "below" if m_l < q + 1 else "at or above"
        raise DesignError(f"{context}: {min(m_l, m_r)} distinct values of '{cells.score_column}' {side} the cutoff "
                          f"({m_l} below, {m_r} at or above); a polynomial of order q = {q} needs {q + 1}")
    if cells.fuzzy and left.constant(1) and right.constant(1):
        t_l, t_r = float(left.sums[0, 1] / left.n[0]), float(right.sums[0, 1] / right.n[0])
        if abs(t_l - t_r) < math.sqrt(np.finfo(float).eps):
            raise DesignError(f"{context}: the take-up '{cells.treatment_column}' is {t_l:g} on both sides of the "
                              "cutoff: no jump, the fuzzy estimate is not identified; estimate the sharp effect")
    notes: list[str] = []
    if 1 - m_l / n_l >= MASS_POINT_SHARE or 1 - m_r / n_r >= MASS_POINT_SHARE:
        notes.append(f"mass points in '{cells.score_column}': {m_l} distinct values for {n_l} rows below the cutoff, "
                     f"{m_r} for {n_r} at or above; bandwidths keep at least "
                     f"{10 if bwcheck is None else bwcheck} distinct values a side")
        if bwcheck is None:
            bwcheck = 10
    selector_name: str = bwselect
    if h is None and n_l + n_r < 20:
        h = max(cutoff - x_min, x_max - cutoff)
        notes.append(f"only {n_l + n_r} rows: no bandwidth is selected, h is the farthest distance from the cutoff "
                     f"({h:g})")
    if h is None:
        sel_l, sel_r = left, right
        if cells.fuzzy and (left.constant(1) or right.constant(1) or sharpbw):
            sel_l, sel_r = left.first_column(), right.first_column()
        bws = select_bandwidths(sel_l, sel_r, cutoff, p=p, q=q, kernel=kernel, vce=vce, selector=bwselect,
                                nnmatch=nnmatch, bwcheck=bwcheck, scaleregul=scaleregul)
        h_l, h_r = bws.h
        b_l, b_r = bws.b if rho is None else (h_l / rho, h_r / rho)
    else:
        selector_name = "Manual"
        h_l, h_r = _pair(h, "h")
        if rho is not None:
            b_l, b_r = h_l / rho, h_r / rho
        else:
            b_l, b_r = (h_l, h_r) if b is None else _pair(b, "b")

    warns: list[str] = []
    if clustered:
        gh_l = left.subset(kernel_weights(left.x, cutoff, h_l, kernel) > 0).clusters
        gh_r = right.subset(kernel_weights(right.x, cutoff, h_r, kernel) > 0).clusters
        if min(gh_l, gh_r) < 10:
            verdict = (f"with p + 1 = {p + 1} or fewer on a side the cluster-robust variance can be degenerate"
                       if min(gh_l, gh_r) <= p + 1 else
                       "cluster-robust standard errors are unreliable with fewer than 10 clusters on a side")
            warns.append(f"{context}: {gh_l} clusters below the cutoff and {gh_r} at or above it within the "
                         f"bandwidth h; {verdict}")
            warnings.warn(warns[-1], SmallSampleWarning, stacklevel=2)

    fl = _SideFit(left, cutoff, h_l, b_l, p, q, kernel)
    fr = _SideFit(right, cutoff, h_r, b_r, p, q, kernel)
    for name, f in (("below", fl), ("at or above", fr)):
        if f.distinct_h < p + 1 or f.distinct_b < q + 1:
            raise DesignError(
                f"{context}: {f.distinct_h} distinct values of '{cells.score_column}' {name} the cutoff within h "
                f"(the order-{p} fit needs {p + 1}) and {f.distinct_b} within b (the order-{q} fit needs {q + 1}): "
                "widen the bandwidths")
    fuzzy = cells.fuzzy
    s_y = _fuzzy_weights(fl, fr, context, cells.treatment_column) if fuzzy else np.ones(1)
    try:
        v_cl_l, v_rb_l = fl.variances(vce, nnmatch, s_y)
        v_cl_r, v_rb_r = fr.variances(vce, nnmatch, s_y)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - guarded by the distinct-value checks
        raise DesignError(f"{context}: a local fit is singular ({exc})") from exc
    quant = -float(norm.ppf(abs((1 - level / 100) / 2)))
    lim = (float(fl.beta_p[0, 0]), float(fr.beta_p[0, 0]))
    lim_bc = (float(fl.beta_bc[0, 0]), float(fr.beta_bc[0, 0]))
    first_stage = None
    if fuzzy:
        tau_y, tau_t = float(fr.beta_p[0, 0] - fl.beta_p[0, 0]), float(fr.beta_p[0, 1] - fl.beta_p[0, 1])
        bias_y = tau_y - float(fr.beta_bc[0, 0] - fl.beta_bc[0, 0])
        bias_t = tau_t - float(fr.beta_bc[0, 1] - fl.beta_bc[0, 1])
        tau_cl = tau_y / tau_t
        tau_bc = tau_cl - float(s_y @ np.array([bias_y, bias_t]))
        bias = tuple(float(s_y @ np.array([f.beta_p[0, 0] - f.beta_bc[0, 0], f.beta_p[0, 1] - f.beta_bc[0, 1]]))
                     for f in (fl, fr))
        s_t = np.array([0.0, 1.0])
        t_cl_l, t_rb_l = fl.variances(vce, nnmatch, s_t)
        t_cl_r, t_rb_r = fr.variances(vce, nnmatch, s_t)
        first_stage = FirstStage(**_jump(tau_t, tau_t - bias_t, math.sqrt(float((t_cl_l + t_cl_r)[0, 0])),
                                         math.sqrt(float((t_rb_l + t_rb_r)[0, 0])), quant))
        if first_stage.estimate == 0 or not np.isfinite(first_stage.estimate):
            raise DesignError(f"{context}: the take-up of '{cells.treatment_column}' does not change within the "
                              f"bandwidth (first-stage jump {first_stage.estimate}); the fuzzy estimate is not "
                              "identified, estimate the sharp effect instead")
    else:
        tau_cl = lim[1] - lim[0]
        tau_bc = lim_bc[1] - lim_bc[0]
        bias = (lim[0] - lim_bc[0], lim[1] - lim_bc[1])
    se_cl = math.sqrt(float((v_cl_l + v_cl_r)[0, 0]))
    se_rb = math.sqrt(float((v_rb_l + v_rb_r)[0, 0]))
    n_clusters = n_side = None
    if clustered:
        n_side = (fl.cells.clusters, fr.cells.clusters)
        codes = [c for c in (fl.cells.cluster, fr.cells.cluster) if c is not None]
        n_clusters = int(np.unique(np.concatenate(codes)).size)
    return LocalPolynomialFit(
        **_jump(tau_cl, tau_bc, se_cl, se_rb, quant), h=(h_l, h_r), b=(b_l, b_r), n=(n_l, n_r),
        n_h=(fl.n_h, fr.n_h), n_b=(fl.n_b, fr.n_b), n_unique=(m_l, m_r), cutoff=float(cutoff), p=p, q=q, deriv=0,
        kernel=kernel, vce=vce, bwselect=selector_name, level=float(level), bias=(bias[0], bias[1]), limits=lim,
        limits_bc=lim_bc, beta_left=fl.beta_p[:, 0].copy(), beta_right=fr.beta_p[:, 0].copy(), vcov_left=v_cl_l,
        vcov_right=v_cl_r, n_clusters=n_clusters, n_clusters_side=n_side, first_stage=first_stage,
        notes=tuple(notes), warnings=tuple(warns))


def _jump(tau_cl: float, tau_bc: float, se_cl: float, se_rb: float, quant: float) -> dict[str, Any]:
    """The fields of a :class:`Jump`: conventional, bias-corrected and robust statistics, p-values, intervals."""
    taus = (tau_cl, tau_bc, tau_bc)
    ses = (se_cl, se_cl, se_rb)
    zs = tuple(t / s for t, s in zip(taus, ses, strict=True))
    pvs = tuple(float(2 * norm.cdf(-abs(z))) for z in zs)
    cis = tuple((t - quant * s, t + quant * s) for t, s in zip(taus, ses, strict=True))
    return {"estimate": tau_cl, "estimate_bc": tau_bc, "se": se_cl, "se_robust": se_rb, "z": (zs[0], zs[1], zs[2]),
            "p_value": (pvs[0], pvs[1], pvs[2]), "ci": (cis[0], cis[1], cis[2])}


def _fuzzy_weights(fl: _SideFit, fr: _SideFit, context: str, treatment: str | None) -> np.ndarray:
    """The delta method's weights ``(1/τ_T, −τ_Y/τ_T²)`` of the Wald ratio's variance."""
    tau_y = float(fr.beta_p[0, 0] - fl.beta_p[0, 0])
    tau_t = float(fr.beta_p[0, 1] - fl.beta_p[0, 1])
    if tau_t == 0 or not np.isfinite(tau_t):
        raise DesignError(f"{context}: the take-up of '{treatment}' does not change within the bandwidth (first-stage "
                          f"jump {tau_t}); the fuzzy estimate is not identified, estimate the sharp effect instead")
    return np.array([1 / tau_t, -(tau_y / tau_t**2)])
