"""Subgroup effects of a staggered difference-in-differences design, from
:class:`cteimpact.did.CallawaySantAnna` fit on each subgroup's student rows.

For each level of a subgroup column, the Callaway–Sant'Anna estimator is fit on the rows of that level's students
(same outcome, periods, cohorts, comparison group, 2×2 estimator, covariates and clusters as the design) and its
simple ATT is the level's effect (labelled ``Y[col=level]``), with its analytic (cluster-robust) standard error.

**Covariance of two levels' effects.** The levels' students are disjoint but may share clusters (a district with
students of both levels). The simple ATT of level ``a`` is asymptotically ``(1/n_a) Σ_i ψ_i`` over its rows, with
``ψ`` its influence function, and its cluster-robust variance is ``Σ_c S_{a,c}² / n_a²`` with ``S_{a,c}`` the sum of
``ψ`` over the rows of cluster ``c`` (what :class:`~cteimpact.did.DiDResults` computes from the cluster sums of its
influence base). The covariance of two levels is therefore ``Σ_c S_{a,c} S_{b,c} / (n_a n_b)`` over the clusters
they share, turned into a correlation and scaled by the two reported standard errors. Without clusters the levels
are independent samples and the covariance is zero. Nothing is resampled, so no seed is involved.

Small cells: a level of fewer than ``min_cell`` students is not fit; each fit is published through
:meth:`cteimpact.did.DiDResults.with_min_cell` (the DiD rule: the students behind each group-time cell), and the
levels' counts follow the complementary rule of :func:`cteimpact.provenance.suppression.small_cell_mask` (a hidden
small level cannot be recovered from the others and the total).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.did.results import DiDResults
from cteimpact.equity.contrasts import LevelEffects
from cteimpact.equity.groups import SubgroupColumn
from cteimpact.errors import CteImpactError
from cteimpact.provenance.suppression import small_cell_mask
from cteimpact.results.estimate import EffectEstimate

__all__ = ["DID_COVARIANCE_CLUSTERED", "DID_COVARIANCE_INDEPENDENT", "did_subgroup_effects", "simple_att_cluster_sums"]

DID_COVARIANCE_CLUSTERED = ("levels share clusters: covariances of the levels' simple ATTs from the cluster sums of "
                            "their influence functions, Σ_c S_a,c S_b,c / (n_a n_b)")
DID_COVARIANCE_INDEPENDENT = "independent samples: the levels' students are disjoint and no cluster is declared"


def simple_att_cluster_sums(res: DiDResults) -> tuple[dict[str, float], int, float] | None:
    """Cluster sums of the simple ATT's influence function of a fit (by cluster label), the number of rows ``n``
    and the implied variance ``Σ_c S_c² / n²``; ``None`` for a fit without clusters."""
    fs = res.fit_state
    if fs is None or not fs.clustered or fs.data.cluster_labels is None:
        return None
    i = res.estimand_labels.index(res.outcome)
    proj = fs.moments @ res.estimands[i].coef
    n = int(fs.data.n)
    labels = [str(c) for c in fs.data.cluster_labels]
    return dict(zip(labels, proj.tolist(), strict=True)), n, float(proj @ proj) / n**2


def did_subgroup_effects(frame: pd.DataFrame, design: Mapping[str, Any], columns: Sequence[SubgroupColumn], *,
                         min_cell: int, source: str = "data frame") -> tuple[list[LevelEffects], list[str]]:
    """Fit Callaway–Sant'Anna on each level's rows of each subgroup column and collect the level effects.

    Parameters
    ----------
    frame
        Student-level rows (one student per row).
    design
        Keyword arguments of :class:`~cteimpact.did.CallawaySantAnna` (``outcome``, ``time``, ``cohort``,
        ``unit``, ``cluster``, ``covariates``, ``weights``, ``estimation``...).
    columns
        The subgroup columns with their reference levels.
    min_cell
        The small-cell rule's minimum.
    source
        Name of the data (sample flows).

    Returns
    -------
    tuple
        One :class:`LevelEffects` per column (the design's one outcome), and notes.
    """
    from cteimpact.did import CallawaySantAnna

    outcome = str(design["outcome"])
    out: list[LevelEffects] = []
    notes: list[str] = []
    for column in columns:
        codes = column.codes(frame)
        k = len(column.levels)
        fits: list[DiDResults | None] = [None] * k
        reasons: list[str | None] = [None] * k
        for i, lev in enumerate(column.levels):
            if column.counts[i] < min_cell:
                reasons[i] = (f"fewer than {min_cell} students in {column.column}={lev}: too few for an estimate "
                              "that may be shown (the small-cell rule)")
                continue
            sub = frame.loc[codes == i]
            try:
                with warnings.catch_warnings():
                    # the subgroup fits repeat the design's own warnings (rows dropped for a missing outcome...),
                    # whose counts for a small group must not be shown
                    warnings.simplefilter("ignore")
                    fitted = CallawaySantAnna(sub, source=f"{source}, {column.column}={lev}", **design).fit(
                        aggregations=("simple",))
            except CteImpactError:
                reasons[i] = ("not estimated: the Callaway-Sant'Anna estimator could not be computed on this group's "
                              f"students (typically too few in some cohort); no number is shown (estimates of fewer "
                              f"than {min_cell} students never are)")
                continue
            fits[i] = fitted
        counts = np.array(column.counts, dtype=float)
        small = small_cell_mask(counts, min_cell=min_cell, groups=[list(range(k))])
        rows: list[EffectEstimate] = []
        centres = np.full(k, np.nan)
        n_students: list[int | None] = []
        sums: list[tuple[dict[str, float], int, float] | None] = []
        for i, lev in enumerate(column.levels):
            label = f"{outcome}[{column.column}={lev}]"
            term = f"ATT (simple) for {column.column}={lev}"
            res = fits[i]
            reason = reasons[i]
            row: EffectEstimate | None = None
            if res is not None:
                published = res.with_min_cell(min_cell).estimate(outcome)
                row = replace(published, label=label, term=term)
                if row.suppressed:
                    reason = row.suppression
                elif small[i]:
                    reason = ("complementary suppression: with the other levels of "
                              f"'{column.column}' and their total shown, a suppressed level of fewer than {min_cell} "
                              "students could be recovered by subtraction")
            if reason is not None or row is None:
                blank = row or EffectEstimate.from_normal(label, outcome, term, 0.0, 0.0, ci_type="pointwise")
                rows.append(blank if blank.suppressed else blank.suppress(reason or "not estimated"))
                n_students.append(None)
                sums.append(None)
                continue
            assert res is not None  # noqa: S101 - row is set only from a fit
            rows.append(row)
            centres[i] = row.estimate
            n_students.append(int(res.n_units))
            sums.append(simple_att_cluster_sums(res))
        cov = np.full((k, k), np.nan)
        shown = [i for i in range(k) if not rows[i].suppressed and math.isfinite(rows[i].std_error)]
        for i in shown:
            for j in shown:
                cov[i, j] = rows[i].std_error ** 2 if i == j else _covariance(rows[i], rows[j], sums[i], sums[j])
        clustered = design.get("cluster") is not None
        out.append(LevelEffects("did", outcome, column.column, column.levels, column.reference, tuple(rows),
                                centres, cov, tuple(n_students),
                                DID_COVARIANCE_CLUSTERED if clustered else DID_COVARIANCE_INDEPENDENT))
    return out, notes


def _covariance(a: EffectEstimate, b: EffectEstimate, sa: tuple[dict[str, float], int, float] | None,
                sb: tuple[dict[str, float], int, float] | None) -> float:
    """Covariance of two levels' simple ATTs from their influence functions' cluster sums (0 without clusters)."""
    if sa is None or sb is None:
        return 0.0
    (ca, na, va), (cb, nb, vb) = sa, sb
    shared = sorted(set(ca) & set(cb))
    c = sum(ca[g] * cb[g] for g in shared) / (na * nb)
    if va <= 0 or vb <= 0:
        return 0.0
    rho = c / math.sqrt(va * vb)
    return rho * a.std_error * b.std_error
