"""Monte Carlo: size of the few-cluster inference for staggered DiD (39 treated + 8 never-treated consortia).

Run as a script (not collected by pytest)::

    python tests/did/montecarlo_wild.py --reps 1000 --draws 999 --units 20 --seed 1

Each replication simulates a null design (no effect anywhere) from :func:`cteimpact.did.simulate_staggered`
with 47 clusters (8 never treated; 39 treated in cohorts spread over the panel), cluster-level shocks and AR(1)
unit errors, and records whether each method rejects H0: ATT = 0 at 5%:

* CS simple ATT, analytic cluster-robust SE with normal critical values;
* the same with t(G-1) critical values;
* CS simple ATT, restricted wild cluster bootstrap (Webb weights);
* TWFE, cluster-robust SE with t(G-1) (fixest/Stata convention);
* TWFE, restricted wild cluster bootstrap (Webb weights).

The smaller version of this experiment runs in ``test_did_montecarlo.py`` (marked slow).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

from scipy import stats

from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.did.twfe import twfe_from_prepared

METHODS = ("cs_normal", "cs_t", "cs_wild", "twfe_t", "twfe_wild")


def one_replication(seed: int, *, draws: int, units: int, periods: int = 11) -> dict[str, bool]:
    cohorts = {2013: 8, 2015: 8, 2016: 8, 2017: 8, 2019: 7}
    zero = dict.fromkeys(cohorts, 0.0)
    df, _ = simulate_staggered(n_clusters=47, n_never_clusters=8, units_per_cluster=units,
                               periods=range(2010, 2010 + periods), cohorts=cohorts, effect_base=zero,
                               effect_growth=0.0, cluster_sd=0.3, noise_sd=0.5, rho=0.6, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster")
        res = cs.fit(aggregations=("simple",), wild_bootstrap=draws, wild_labels=["y"], seed=seed)
        tw = twfe_from_prepared(cs.prepared, wild_bootstrap=draws, seed=seed)
    e = res.estimate("y")
    se = float(res.estimand_se[res.estimand_labels.index("y")])
    g = res.n_clusters
    assert g is not None
    z = abs(e.estimate) / se
    tcrit = stats.t.ppf(0.975, g - 1)
    assert tw.wild is not None
    return {
        "cs_normal": z > 1.959963984540054,
        "cs_t": z > tcrit,
        "cs_wild": res.wild["y"].p_value < 0.05,
        "twfe_t": abs(tw.estimate) / tw.std_error > tcrit,
        "twfe_wild": tw.wild.p_value < 0.05,
    }


def run(reps: int, draws: int, units: int, seed: int, progress: bool = False) -> dict[str, float]:
    counts = dict.fromkeys(METHODS, 0)
    for r in range(reps):
        out = one_replication(seed * 100_003 + r, draws=draws, units=units)
        for k in METHODS:
            counts[k] += int(out[k])
        if progress and (r + 1) % 100 == 0:
            print(f"  after {r + 1} replications: " + ", ".join(f"{k} {counts[k] / (r + 1):.3f}" for k in METHODS),
                  flush=True)
    return {k: counts[k] / reps for k in METHODS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=999)
    ap.add_argument("--units", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rates = run(a.reps, a.draws, a.units, a.seed, progress=True)
    mc_se = math.sqrt(0.05 * 0.95 / a.reps)
    print(f"null rejection rates at 5%, {a.reps} replications, {a.draws} wild draws, 47 clusters (8 never treated), "
          f"{a.units} units per cluster; Monte Carlo SE at 5% = {mc_se:.4f}; {time.perf_counter() - t0:.0f} s")
    for k in METHODS:
        print(f"  {k:10s} {rates[k]:.4f}")


if __name__ == "__main__":
    main()
