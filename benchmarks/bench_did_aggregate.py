"""Estimate once, aggregate many ways: the time of a new aggregation against the time of the fit.

One Callaway–Sant'Anna fit (doubly robust, no covariates, never-treated comparisons, analytic standard errors; all
four aggregations) on a synthetic balanced panel, then new aggregations from the stored group-time effects and
influence functions (:meth:`cteimpact.did.DiDResults.aggregate`): a dynamic one with a narrower event-time window,
and, clustered, the same. Prints the times and their ratio to the fit.

The panel: ``rows / 10`` units over 2003–2012, cohorts 2005 / 2007 / 2009 / 2011 / never in shares
.1 / .15 / .15 / .2 / .4, 200 clusters of units, unit and year effects, effects growing with exposure, normal noise;
built with vectorised numpy.

Usage::

    python benchmarks/bench_did_aggregate.py                   # 10M unit-years
    python benchmarks/bench_did_aggregate.py --rows 1000000    # another size

Target (issue 12): a new dynamic aggregation after one fit at 10M unit-years takes under 2% of the fit's time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

PERIODS = np.arange(2003, 2013)
COHORTS = np.array([2005, 2007, 2009, 2011, 0])
SHARES = [0.1, 0.15, 0.15, 0.2, 0.4]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's cteimpact, not an installed one


def make_panel(rows: int, seed: int = 1) -> pd.DataFrame:
    """A balanced panel of ``rows // 10`` units × 10 years (vectorised)."""
    rng = np.random.default_rng(seed)
    n = rows // PERIODS.size
    cohorts = rng.choice(COHORTS, size=n, p=SHARES)
    unit_fe = rng.normal(size=n)
    year_fe = np.linspace(0.0, 0.5, PERIODS.size)
    t = np.tile(PERIODS, n)
    g = np.repeat(cohorts, PERIODS.size)
    exposure = np.where((g > 0) & (t >= g), t - g + 1, 0)
    y = np.repeat(unit_fe, PERIODS.size) + np.tile(year_fe, n) + 0.05 * exposure + rng.normal(size=n * PERIODS.size)
    unit = np.arange(n, dtype=np.int64)
    return pd.DataFrame({"id": np.repeat(unit, PERIODS.size), "year": t.astype(np.int64),
                         "g": g.astype(np.int64), "y": y, "cl": np.repeat(unit % 200, PERIODS.size)})


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: kilobytes


def bench(df: pd.DataFrame, cluster: str | None) -> None:
    from cteimpact.did import CallawaySantAnna

    t0 = time.perf_counter()
    model = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g", cluster=cluster)
    t_prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = model.fit()
    t_fit = time.perf_counter() - t0
    timings = []
    for kw in ({"min_e": -3, "max_e": 3}, {"max_e": 2, "balance_e": 2}, {}):
        t0 = time.perf_counter()
        agg = res.aggregate("dynamic", **kw)  # type: ignore[arg-type]
        timings.append((kw, time.perf_counter() - t0, agg.overall.estimate))
    label = f"clustered by {cluster} ({res.n_clusters} clusters)" if cluster else "unit-level (no cluster)"
    print(f"\n{label}: {res.n_units:,} units, {len(res.group_time)} group-time cells")
    print(f"  preparation (constructor)          {t_prep:9.3f} s")
    print(f"  fit (ATT(g,t), 4 aggregations)     {t_fit:9.3f} s")
    for kw, t_agg, est in timings:
        what = ", ".join(f"{k}={v}" for k, v in kw.items()) or "full window"
        print(f"  aggregate('dynamic', {what:<22}) {t_agg:9.4f} s   ratio {t_agg / t_fit:7.3%}   "
              f"overall {est:.5f}")
    worst = max(t for _, t, _ in timings) / t_fit
    print(f"  worst ratio {worst:.3%} (target < 2%): {'met' if worst < 0.02 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="unit-years (default 10M)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    df = make_panel(args.rows)
    print(f"panel: {len(df):,} unit-years built in {time.perf_counter() - t0:.2f} s")
    import cteimpact.did  # noqa: F401  (imports timed apart from the fit)

    bench(df, None)
    bench(df, "cl")
    print(f"\npeak resident memory {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
