"""Within (two-way fixed effects) least squares with cluster-robust covariance, on integer codes.

The TWFE, event-study TWFE and Sun–Abraham regressions all have the form ``y = α_a + λ_b + X β + u`` with two sets
of fixed effects (unit or cohort ``a``, period ``b``). By Frisch–Waugh–Lovell ``β̂`` is the least-squares fit of the
two-way-demeaned outcome on the two-way-demeaned regressors, and the residuals are those of that fit. This module
computes both from numpy integer codes (group sums with ``np.bincount``; no data frames, no dummy matrices of the
fixed effects):

* balanced panels (one observation per ``(a, b)`` cell): the closed form ``z − mean_a − mean_b + grand mean``;
* otherwise, when one dimension has at most :data:`EXACT_LEVELS` levels (periods, or cohorts of repeated
  cross-sections): exactly, by eliminating the large dimension and solving the small dimension's normal equations
  (``(diag(n_b) − Nᵀ diag(1/n_a) N) λ = Bᵀ M_a z``, ``N`` the ``a × b`` cell counts; one refinement pass);
* otherwise: alternating projections to relative tolerance ``1e-13``
  (:func:`cteimpact.did.wild.demean_two_way`).

The covariance is the cluster-robust sandwich from the cluster sums of the scores ``x̃_i û_i`` with ``fixest``'s
small-sample factor ``G/(G−1) · (n−1)/(n−K)``, ``K`` counting the regressors and the fixed effects not nested in the
clusters (``a`` and ``b`` levels, minus one per connected set of the two when neither is nested). Regressors absorbed
by the fixed effects (demeaned norm below ``1e-8`` of their norm) are dropped and listed, as ``linearmodels``'
``drop_absorbed``; regressors collinear among themselves are not solved here: :func:`fit_within` returns ``None``
and the callers fall back to ``linearmodels.PanelOLS`` (saying so in the result's notes).

Every sum runs in a fixed order (``np.bincount``, single-threaded matrix products of ``K × K`` blocks), so results
are byte-identical across runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from cteimpact.did.wild import demean_two_way

__all__ = ["EXACT_LEVELS", "TwoWay", "WithinFit", "fit_within", "two_way"]

#: the largest number of levels of the smaller fixed-effect dimension solved exactly in unbalanced designs
EXACT_LEVELS = 2000
#: a regressor whose demeaned norm is below this share of its norm is absorbed by the fixed effects
ABSORBED = 1e-8
#: the reciprocal condition number of the (scaled) demeaned cross-product below which regressors count as collinear
COLLINEAR = 1e-12


@dataclass(frozen=True, eq=False)
class TwoWay:
    """Codes of the two fixed-effect dimensions and what demeaning needs from them.

    Attributes
    ----------
    a, b
        Integer codes (from 0) of the first (unit or cohort) and second (period) dimension.
    n_a, n_b
        Numbers of levels.
    count_a, count_b
        Observations per level.
    method
        ``"balanced"`` (closed form), ``"exact"`` (small dimension solved exactly) or ``"iterative"``.
    """

    a: np.ndarray
    b: np.ndarray
    n_a: int
    n_b: int
    count_a: np.ndarray
    count_b: np.ndarray
    method: str
    exact: _Exact | None = None

    def demean(self, z: np.ndarray) -> np.ndarray:
        """Residual of ``z`` (length ``N``, float64) on both sets of fixed effects."""
        z = np.asarray(z, dtype=np.float64)
        if self.method == "balanced":
            ma = np.bincount(self.a, weights=z, minlength=self.n_a) / self.count_a
            mb = np.bincount(self.b, weights=z, minlength=self.n_b) / self.count_b
            out = z - ma[self.a]
            out -= mb[self.b]
            out += float(np.sum(z)) / z.size
            return out
        if self.exact is not None:
            out = self.exact.residual(z)
            return self.exact.residual(out)  # one refinement pass: the projection of a residual is (numerically) 0
        return np.asarray(demean_two_way(z, self.a, self.b), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class _Exact:
    """The large dimension's codes and counts, the small one's codes and the pseudo-inverse of its reduced Gram
    matrix ``diag(n_b) − Nᵀ diag(1/n_a) N``."""

    big: np.ndarray
    small: np.ndarray
    cbig: np.ndarray
    pinv: np.ndarray

    def residual(self, z: np.ndarray) -> np.ndarray:
        big, small, cbig, pinv = self.big, self.small, self.cbig, self.pinv
        n_small = pinv.shape[0]
        zbar = np.bincount(big, weights=z, minlength=cbig.size) / cbig
        r = np.bincount(small, weights=z - zbar[big], minlength=n_small)
        lam = pinv @ r
        out = z - lam[small]
        alpha = np.bincount(big, weights=out, minlength=cbig.size) / cbig
        out -= alpha[big]
        return out


def two_way(a: np.ndarray, b: np.ndarray, *, balanced: bool = False) -> TwoWay:
    """The demeaning structure of codes ``a`` and ``b`` (see :class:`TwoWay`); ``balanced``: the caller built the
    codes as a balanced panel (every ``(a, b)`` pair exactly once), so it is not checked again."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n_a, n_b = int(a.max()) + 1, int(b.max()) + 1
    n = a.size
    if balanced and n == n_a * n_b:
        return TwoWay(a, b, n_a, n_b, np.full(n_a, float(n_b)), np.full(n_b, float(n_a)), "balanced")
    ca = np.bincount(a, minlength=n_a).astype(np.float64)
    cb = np.bincount(b, minlength=n_b).astype(np.float64)
    if n == n_a * n_b and np.all(ca == n_b) and np.all(cb == n_a):
        cells = np.bincount(a * n_b + b, minlength=n_a * n_b)
        if np.all(cells == 1):
            return TwoWay(a, b, n_a, n_b, ca, cb, "balanced")
    if min(n_a, n_b) <= EXACT_LEVELS:
        big, small, cbig, csmall = (a, b, ca, cb) if n_b <= n_a else (b, a, cb, ca)
        n_big, n_small = cbig.size, csmall.size
        counts = sparse.csr_matrix((np.ones(n), (big, small)), shape=(n_big, n_small))
        counts.sum_duplicates()
        scaled = sparse.diags(1.0 / cbig) @ counts
        gram = np.diag(csmall) - np.asarray((counts.T @ scaled).todense())
        pinv = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
        return TwoWay(a, b, n_a, n_b, ca, cb, "exact", _Exact(big, small, cbig, pinv))
    return TwoWay(a, b, n_a, n_b, ca, cb, "iterative")


@dataclass(frozen=True, eq=False)
class WithinFit:
    """Coefficients of the regressors kept, their cluster-robust covariance and the small-sample ``K``.

    Attributes
    ----------
    names, params, cov
        Regressors kept (in the order given), coefficients and covariance (``fixest`` small-sample factor).
    absorbed
        Regressors dropped because the fixed effects absorb them.
    n_clusters, dof_k
        Clusters ``G`` and the ``K`` of the small-sample factor.
    method
        How the fixed effects were removed (see :class:`TwoWay`).
    """

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    absorbed: tuple[str, ...]
    n_clusters: int
    dof_k: int
    method: str


def _nested(codes: np.ndarray, m: int, cluster: np.ndarray) -> bool:
    """Whether every level of ``codes`` lies within one cluster."""
    first = np.full(m, -1, dtype=np.int64)
    first[codes] = cluster
    return bool(np.all(first[codes] == cluster))


def connected_sets(fe: TwoWay) -> int:
    """Connected sets of the two fixed effects (levels linked by sharing an observation): one in a balanced panel;
    with several, each set's effects lose one more degree of freedom (Abowd, Creecy & Kramarz 2002)."""
    if fe.method == "balanced":
        return 1
    from scipy.sparse.csgraph import connected_components

    n_nodes = fe.n_a + fe.n_b
    graph = sparse.coo_matrix((np.ones(fe.a.size, dtype=np.int8), (fe.a, fe.n_a + fe.b)), shape=(n_nodes, n_nodes))
    n_sets, _ = connected_components(graph, directed=False)
    return int(n_sets)


def fixed_effects_k(fe: TwoWay, cluster: np.ndarray) -> int:
    """Fixed effects counted in ``K``: the levels of those not nested in the clusters, less one per connected set
    (:func:`connected_sets`) when neither dimension is nested (the rank of the two sets of dummies)."""
    a_nested = _nested(fe.a, fe.n_a, cluster)
    b_nested = _nested(fe.b, fe.n_b, cluster)
    k = (0 if a_nested else fe.n_a) + (0 if b_nested else fe.n_b)
    return k - connected_sets(fe) if not a_nested and not b_nested else k


def fit_within(y: np.ndarray, columns: Sequence[tuple[str, Callable[[], np.ndarray]]], fe: TwoWay,
               cluster: np.ndarray, n_clusters: int) -> WithinFit | None:
    """Two-way fixed-effects least squares of ``y`` on the regressors ``columns`` (name, function building the
    column), with the cluster-robust covariance.

    Each regressor is built and demeaned one at a time (the ``N × K`` demeaned matrix is the only one kept).
    Returns ``None`` when the regressors kept are collinear among themselves (the caller falls back to
    ``linearmodels``).
    """
    n = y.size
    k_all = len(columns)
    xt = np.empty((n, k_all), dtype=np.float64, order="F")
    keep: list[int] = []
    absorbed: list[str] = []
    for j, (name, build) in enumerate(columns):
        raw = np.asarray(build(), dtype=np.float64)
        xt[:, j] = fe.demean(raw)
        norm_raw = float(np.sqrt(raw @ raw))
        norm_dm = float(np.sqrt(xt[:, j] @ xt[:, j]))
        if norm_dm <= ABSORBED * norm_raw or norm_raw == 0.0:
            absorbed.append(name)
        else:
            keep.append(j)
        del raw
    names = tuple(columns[j][0] for j in keep)
    if len(keep) < k_all:
        xt = np.asfortranarray(xt[:, keep])
    k = len(keep)
    if k == 0:
        return WithinFit((), np.zeros(0), np.zeros((0, 0)), tuple(absorbed), n_clusters, fixed_effects_k(fe, cluster),
                         fe.method)
    yt = fe.demean(y)
    xtx = xt.T @ xt
    scale = np.sqrt(np.diag(xtx))
    corr = xtx / np.outer(scale, scale)
    eig = np.linalg.eigvalsh(corr)
    if eig[0] <= COLLINEAR * eig[-1]:
        return None
    bread = np.linalg.inv(xtx)
    beta = np.linalg.solve(xtx, xt.T @ yt)
    resid = yt - xt @ beta
    scores = np.empty((n_clusters, k), dtype=np.float64)
    for j in range(k):
        scores[:, j] = np.bincount(cluster, weights=xt[:, j] * resid, minlength=n_clusters)
    meat = scores.T @ scores
    cov = bread @ meat @ bread
    dof_k = k + fixed_effects_k(fe, cluster)
    g = n_clusters
    cov = cov * (g / (g - 1)) * ((n - 1) / max(n - dof_k, 1))
    cov = (cov + cov.T) / 2
    return WithinFit(names, beta, cov, tuple(absorbed), g, dof_k, fe.method)
