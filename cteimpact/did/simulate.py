"""A staggered-adoption data-generating process with known, heterogeneous, exposure-growing effects.

Used by the validation tests (bias and coverage of the Callaway–Sant'Anna estimator, the sign and size of the TWFE
bias that the Goodman-Bacon decomposition predicts, size of the wild cluster bootstrap with few clusters) and by
the benchmark.

Model (unit ``i`` in cluster ``c``, period ``t``, cohort ``G_c`` assigned by cluster)::

    y_it = α_i + λ_t + s_ct + u_it + 1{t >= G_c} τ(G_c, t − G_c)
    τ(g, e) = effect_base[g] + effect_growth · e          (effects build with exposure, differ by cohort)
    u_it = ρ u_i,t−1 + ε_it,   s_ct ~ N(0, cluster_sd²)  (serial and within-cluster correlation)

Parallel trends hold by construction (no cohort-specific trends), so ATT(g,t) = mean of τ over the cohort's units
= τ(g, t − g). The aggregated truths use the realised cohort shares, which is the estimand of the aggregations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError

__all__ = ["StaggeredTruth", "simulate_staggered"]


@dataclass(frozen=True)
class StaggeredTruth:
    """True group-time effects and their aggregations for a simulated panel."""

    att_gt: pd.DataFrame
    simple: float
    group: dict[float, float]
    dynamic: dict[float, float]
    calendar: dict[float, float]
    group_overall: float
    dynamic_overall: float
    calendar_overall: float


def simulate_staggered(
    *,
    n_clusters: int = 50,
    units_per_cluster: int = 20,
    periods: Sequence[int] = tuple(range(2010, 2021)),
    cohorts: Mapping[int, int] | None = None,
    n_never_clusters: int = 10,
    effect_base: Mapping[int, float] | None = None,
    effect_growth: float = 0.05,
    unit_sd: float = 1.0,
    time_sd: float = 0.5,
    cluster_sd: float = 0.2,
    noise_sd: float = 0.5,
    rho: float = 0.5,
    seed: int | None = None,
) -> tuple[pd.DataFrame, StaggeredTruth]:
    """Simulate a balanced staggered-adoption panel.

    Parameters
    ----------
    n_clusters, units_per_cluster
        Clusters (e.g. consortia) and units (e.g. districts) per cluster; treatment timing varies by cluster.
    periods
        Periods (consecutive integers).
    cohorts
        ``{first treated period: number of clusters}`` for the treated clusters; by default the treated clusters
        are spread evenly over every second period from the fourth period on.
    n_never_clusters
        Clusters never treated.
    effect_base, effect_growth
        ``τ(g, e) = effect_base[g] + effect_growth · e`` for ``e >= 0``; by default earlier cohorts have larger
        on-impact effects (0.10 for the first cohort falling by 0.02 per cohort).

    Returns
    -------
    data, truth
        Long data with ``unit, cluster, time, cohort, treated, y`` and the true effects.
    """
    rng = np.random.default_rng(seed)
    per = np.asarray(list(periods), dtype=np.int64)
    if per.size < 3 or np.any(np.diff(per) != 1):
        raise OptionError("periods must be at least three consecutive integers")
    n_treated_clusters = n_clusters - n_never_clusters
    if n_treated_clusters < 1 or n_never_clusters < 0:
        raise OptionError(f"need at least one treated cluster: n_clusters={n_clusters}, "
                          f"n_never_clusters={n_never_clusters}")
    if cohorts is None:
        starts = [int(p) for p in per[3::2]]
        base_n, extra = divmod(n_treated_clusters, len(starts))
        cohorts = {g: base_n + (1 if i < extra else 0) for i, g in enumerate(starts)}
    if sum(cohorts.values()) != n_treated_clusters:
        raise OptionError(f"cohort cluster counts sum to {sum(cohorts.values())}, expected {n_treated_clusters}")
    glist = sorted(int(g) for g in cohorts)
    if effect_base is None:
        effect_base = {g: 0.10 - 0.02 * i for i, g in enumerate(glist)}
    cl_cohort = np.concatenate([np.zeros(n_never_clusters)] + [np.full(cohorts[g], float(g)) for g in glist])
    cl_cohort = rng.permutation(cl_cohort)
    n_units = n_clusters * units_per_cluster
    unit_cluster = np.repeat(np.arange(n_clusters), units_per_cluster)
    unit_cohort = cl_cohort[unit_cluster]
    t_n = per.size
    alpha_i = rng.normal(0.0, unit_sd, n_units)
    lam_t = np.cumsum(rng.normal(0.0, time_sd, t_n))
    s_ct = rng.normal(0.0, cluster_sd, (n_clusters, t_n))
    eps = rng.normal(0.0, noise_sd, (n_units, t_n))
    u = np.empty((n_units, t_n))
    u[:, 0] = eps[:, 0] / np.sqrt(max(1 - rho ** 2, 1e-12))
    for j in range(1, t_n):
        u[:, j] = rho * u[:, j - 1] + eps[:, j]
    ev = per[None, :] - unit_cohort[:, None]
    treated = (unit_cohort[:, None] > 0) & (ev >= 0)
    base = np.array([effect_base.get(int(g), 0.0) if g > 0 else 0.0 for g in unit_cohort])
    tau = np.where(treated, base[:, None] + effect_growth * ev, 0.0)
    y = alpha_i[:, None] + lam_t[None, :] + s_ct[unit_cluster] + u + tau
    data = pd.DataFrame({
        "unit": np.repeat(np.arange(n_units), t_n),
        "cluster": np.repeat(unit_cluster, t_n),
        "time": np.tile(per, n_units),
        "cohort": np.repeat(unit_cohort, t_n).astype(np.int64),
        "treated": treated.reshape(-1).astype(np.int64),
        "y": y.reshape(-1),
    })
    # truths
    rows = []
    for g in glist:
        for t in per:
            e = int(t - g)
            rows.append({"group": float(g), "time": float(t), "event_time": e,
                         "att": effect_base[g] + effect_growth * e if e >= 0 else 0.0})
    gt = pd.DataFrame(rows)
    pg = {float(g): float(np.mean(unit_cohort == g)) for g in glist}
    post = gt[gt["event_time"] >= 0]
    w = post["group"].map(pg)
    simple = float((post["att"] * w).sum() / w.sum())
    grp = {float(g): float(post.loc[post["group"] == g, "att"].mean()) for g in glist}
    gw = np.array([pg[g] for g in grp])
    group_overall = float(np.dot(gw, list(grp.values())) / gw.sum())
    dyn = {}
    for e, sub in gt.groupby("event_time"):
        ww = sub["group"].map(pg)
        dyn[float(e)] = float((sub["att"] * ww).sum() / ww.sum())
    dyn_overall = float(np.mean([v for e, v in dyn.items() if e >= 0]))
    cal = {}
    for t, sub in post.groupby("time"):
        ww = sub["group"].map(pg)
        cal[float(t)] = float((sub["att"] * ww).sum() / ww.sum())
    cal_overall = float(np.mean(list(cal.values())))
    truth = StaggeredTruth(gt, simple, grp, dyn, cal, group_overall, dyn_overall, cal_overall)
    return data, truth
