"""Compact storage of group-time influence functions and the linear algebra every inference step needs.

The influence function of ATT(g,t) is zero for every unit outside the two groups it compares (the units of cohort
``g`` and its comparison units). A dense ``n × K`` matrix would therefore mostly hold zeros, and at ten million
unit-periods it would not fit comfortably in memory. :class:`InfluenceFunctions` stores it *by segment*: the rows
(units, or observations for repeated cross-sections) are sorted by cohort, each cohort (and, for repeated
cross-sections, each cohort-period) is a contiguous segment, and for each segment only the columns of the cells that
use it are kept, as one dense ``float64`` block. Memory is therefore ``8 × Σ_cells (units compared)`` bytes: the
number of non-zero entries, without index overhead.

Every aggregated estimand of the Callaway–Sant'Anna estimator is a linear combination of the group-time influence
functions *plus* a term for the estimated aggregation weights (Callaway & Sant'Anna 2021, section 4; R ``did``'s
``wif``). That term is a linear function of ``w_i · 1{G_i = g}`` for each treated cohort ``g`` and of a constant.
We therefore work with an extended *base* of columns::

    [ IF of cell 1, ..., IF of cell K,  w·1{G=g_1}, ..., w·1{G=g_C},  1 ]

and represent each estimand by a coefficient vector on this base (see :mod:`cteimpact.did.aggregation`). From the
base we compute, once: the Gram matrix (for analytic variances and covariances of all estimands), cluster sums (for
cluster-robust variances), and bootstrap draws (:mod:`cteimpact.did.multiplier`). Nothing is re-estimated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["InfluenceFunctions"]


@dataclass(frozen=True, eq=False)
class InfluenceFunctions:
    """Group-time influence functions stored by segment.

    Attributes
    ----------
    n
        Number of rows (units; observations for repeated cross-sections).
    n_cells
        Number of group-time cells (columns).
    seg_bounds
        Row boundaries of the segments (``len = S + 1``).
    seg_cohort
        Cohort of each segment (0 = never treated).
    seg_cols
        For each segment, the cells (column indices) with non-zero values there.
    seg_vals
        For each segment, a ``rows × len(seg_cols[s])`` float64 block (column-major as :mod:`cteimpact.did.grouptime`
        builds them: each cell's column is contiguous).
    row_weight
        Aggregation weight of each row (``w_i``; one for unweighted data).
    groups
        Treated cohorts whose weight columns form the extended base.
    seg_blocks
        Optionally, each segment's block of the extended base as :meth:`base_blocks` lays it out, column-major
        (:meth:`empty_block`), whose leading columns ``seg_vals`` are views of: :meth:`base_blocks` then yields
        the column-major blocks without copying them.
    """

    n: int
    n_cells: int
    seg_bounds: np.ndarray
    seg_cohort: np.ndarray
    seg_cols: tuple[np.ndarray, ...]
    seg_vals: tuple[np.ndarray, ...]
    row_weight: np.ndarray
    groups: np.ndarray
    seg_blocks: tuple[np.ndarray, ...] | None = None

    @staticmethod
    def empty_block(cohort: float, n_cols: int, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A segment's column-major block of the extended base: ``n_cols`` zero columns for the influence
        functions, then the rows' weights (cohorts among ``groups`` only) and the constant 1."""
        weighted = bool(np.any(groups == cohort))
        block = np.zeros((weights.size, n_cols + int(weighted) + 1), order="F")
        if weighted:
            block[:, n_cols] = weights
        block[:, -1] = 1.0
        return block

    @property
    def n_base(self) -> int:
        """Number of columns of the extended base: cells, cohort-weight columns, constant."""
        return self.n_cells + self.groups.size + 1

    @property
    def nbytes(self) -> int:
        """Memory held by the influence-function values."""
        return int(sum(v.nbytes for v in self.seg_vals))

    def column(self, k: int) -> np.ndarray:
        """Influence function of cell ``k`` as a dense vector of length ``n``."""
        out = np.zeros(self.n)
        for s, (cols, vals) in enumerate(zip(self.seg_cols, self.seg_vals, strict=True)):
            j = np.flatnonzero(cols == k)
            if j.size:
                out[self.seg_bounds[s]:self.seg_bounds[s + 1]] = vals[:, j[0]]
        return out

    def dense(self) -> np.ndarray:
        """All cells as a dense ``n × n_cells`` matrix (for small problems and tests)."""
        out = np.zeros((self.n, self.n_cells))
        for s, (cols, vals) in enumerate(zip(self.seg_cols, self.seg_vals, strict=True)):
            out[self.seg_bounds[s]:self.seg_bounds[s + 1], cols] = vals
        return out

    def base_blocks(self, order: Literal["C", "F"] = "C") -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """Yield ``(start, stop, columns, block)`` of the extended base for each segment.

        ``columns`` index the extended base (cells, then cohort-weight columns, then the constant); ``block`` holds
        the segment's rows of those columns, row-major (``order="C"``, a copy) or column-major (``"F"``: the stored
        :attr:`seg_blocks` themselves when there are, else copied column by column, the cheaper copy).
        """
        k = self.n_cells
        const_col = k + self.groups.size
        for s, (cols, vals) in enumerate(zip(self.seg_cols, self.seg_vals, strict=True)):
            a, b = int(self.seg_bounds[s]), int(self.seg_bounds[s + 1])
            c = self.seg_cohort[s]
            gi = np.flatnonzero(self.groups == c)
            extra_cols = [k + int(gi[0])] if gi.size else []
            extra_cols.append(const_col)
            all_cols = np.concatenate([cols, np.asarray(extra_cols, dtype=np.int64)])
            if order == "F" and self.seg_blocks is not None:
                yield a, b, all_cols, self.seg_blocks[s]  # built with these columns: no copy
                continue
            block = np.empty((b - a, vals.shape[1] + len(extra_cols)), order=order)
            block[:, :vals.shape[1]] = vals
            if gi.size:
                block[:, vals.shape[1]] = self.row_weight[a:b]
            block[:, -1] = 1.0
            yield a, b, all_cols, block

    def gram(self) -> np.ndarray:
        """``B'B`` of the extended base ``B`` (``n_base × n_base``): unit-level (i.i.d.) variances come from it."""
        m = self.n_base
        out = np.zeros((m, m))
        for _, _, cols, block in self.base_blocks("F"):
            out[np.ix_(cols, cols)] += block.T @ block
        return out

    def cluster_sums(self, row_cluster: np.ndarray, n_clusters: int) -> np.ndarray:
        """Sums of the extended base within clusters (``n_clusters × n_base``)."""
        out = np.zeros((n_clusters, self.n_base))
        for a, b, cols, block in self.base_blocks("F"):
            codes = row_cluster[a:b]
            for j, col in enumerate(cols):
                out[:, col] += np.bincount(codes, weights=block[:, j], minlength=n_clusters)
        return out

    def combine(self, coef: np.ndarray) -> np.ndarray:
        """Influence functions of estimands given by coefficient vectors on the extended base.

        ``coef`` is ``n_base`` (one estimand, returns length ``n``) or ``n_base × m`` (returns ``n × m``).
        """
        c = np.asarray(coef, dtype=float)
        single = c.ndim == 1
        c2 = c[:, None] if single else c
        out = np.zeros((self.n, c2.shape[1]))
        for a, b, cols, block in self.base_blocks():
            out[a:b] = block @ c2[cols]
        return out[:, 0] if single else out
