"""Speed and memory of the staggered DiD estimator against the peer ``csdid``, in one run.

Cases (each in its own subprocess, so that its peak resident memory, ``ru_maxrss``, is its own):

* ``data``: build the benchmark panel only (the memory floor every other case includes);
* ``ours``: Callaway–Sant'Anna, doubly robust, no covariates, never-treated comparisons, analytic SEs (R ``did``'s
  defaults; group-time effects plus all four aggregations and the pre-test);
* ``peer``: ``csdid`` ``ATTgt(...).fit(est_method="dr", bstrap=False)`` on the same data (group-time effects);
* ``boot``: ours with the 999-draw multiplier bootstrap (Mammen weights, simultaneous bands);
* ``twfe``: the TWFE comparison (``linearmodels`` PanelOLS, unit and year effects, clustered by unit).

Times are for the estimation call only (data built and libraries imported beforehand; import times are printed
apart); peak memory includes the data.

The panel: ``rows / 5`` units over 2003–2007 (like ``did::mpdta``), cohorts 2004 / 2006 / 2007 / never in shares
.1 / .2 / .3 / .4, unit and year effects, effects growing with exposure, normal noise.

Usage::

    python benchmarks/bench_did.py                       # 1M and 10M rows (checks free memory first)
    python benchmarks/bench_did.py --rows 1000000        # one size
    python benchmarks/bench_did.py --case ours --rows N  # one case (used internally; prints JSON)

Targets (issue 4): ours no slower than csdid at 1M and 10M rows; bootstrap at 10M within 8 GB and at most twice
the analytic run; TWFE at 10M within 24 GB. The script prints the measured numbers and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

PERIODS = np.arange(2003, 2008)


def make_panel(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rows // PERIODS.size
    cohorts = rng.choice(np.array([2004, 2006, 2007, 0]), size=n, p=[0.1, 0.2, 0.3, 0.4])
    unit_fe = rng.normal(size=n)
    year_fe = np.array([0.0, 0.1, 0.15, 0.3, 0.35])
    t = np.tile(PERIODS, n)
    g = np.repeat(cohorts, PERIODS.size)
    exposure = np.where((g > 0) & (t >= g), t - g + 1, 0)
    y = np.repeat(unit_fe, PERIODS.size) + np.tile(year_fe, n) + 0.05 * exposure + rng.normal(size=n * PERIODS.size)
    return pd.DataFrame({"id": np.repeat(np.arange(n, dtype=np.int64), PERIODS.size), "year": t.astype(np.int64),
                         "g": g.astype(np.int64), "y": y})


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: kilobytes


def run_case(case: str, rows: int) -> dict[str, object]:
    """Build the panel, import the library, then time only the estimation (imports are reported apart)."""
    warnings.simplefilter("ignore")
    df = make_panel(rows)
    t_imp = time.perf_counter()
    if case in ("ours", "boot", "twfe"):
        import cteimpact.did
        import cteimpact.did.multiplier  # noqa: F401  (numba kernel, loaded from its cache)
    elif case == "peer":
        import csdid.att_gt  # noqa: F401
    import_seconds = time.perf_counter() - t_imp
    t0 = time.perf_counter()
    info: dict[str, object] = {}
    if case == "ours":
        from cteimpact.did import CallawaySantAnna

        res = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit()
        info = {"simple_att": res.estimate("y").estimate, "simple_se": res.estimate("y").std_error,
                "if_bytes": res.influence.nbytes}
    elif case == "boot":
        from cteimpact.did import CallawaySantAnna

        res = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit(bootstrap=999, seed=1)
        info = {"simple_att": res.estimate("y").estimate, "simple_se_boot": res.estimate("y").std_error,
                "crit_dynamic": res.bootstrap["critical_values"].get("dynamic") if res.bootstrap else None}
    elif case == "peer":
        from csdid.att_gt import ATTgt

        out = ATTgt(yname="y", gname="g", idname="id", tname="year", data=df,
                    control_group="nevertreated").fit(est_method="dr", bstrap=False)
        info = {"first_att": float(np.asarray(out.results["att"])[0])}
    elif case == "twfe":
        from cteimpact.did import twfe

        r = twfe(df, outcome="y", unit="id", time="year", cohort="g")
        info = {"twfe": r.estimate, "twfe_se": r.std_error}
    elif case != "data":
        raise SystemExit(f"unknown case {case}")
    seconds = time.perf_counter() - t0
    return {"case": case, "rows": rows, "seconds": seconds, "import_seconds": import_seconds,
            "peak_rss_gb": peak_rss_gb(), **info}


def in_subprocess(case: str, rows: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--case", case, "--rows", str(rows)], capture_output=True,
                         text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        return {"case": case, "rows": rows, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_gb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 ** 2
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default=None)
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--skip", action="append", default=[], help="cases to skip (e.g. twfe)")
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, (a.rows or [1_000_000])[0])))
        return
    sizes = a.rows or [1_000_000, 10_000_000]
    results: dict[tuple[str, int], dict[str, object]] = {}
    for rows in sizes:
        for case in ("data", "ours", "peer", "boot", "twfe"):
            if case in a.skip:
                continue
            if rows >= 5_000_000:
                print(f"[{case} {rows:,}] available memory before the run: {free_gb():.1f} GB", flush=True)
            r = in_subprocess(case, rows)
            results[(case, rows)] = r
            print(json.dumps(r), flush=True)
    print()
    print(f"{'rows':>12} {'case':>6} {'seconds':>9} {'peak GB':>8}")
    for (case, rows), r in results.items():
        if "error" in r:
            print(f"{rows:>12,} {case:>6}   failed: {r['error']}")
        else:
            print(f"{rows:>12,} {case:>6} {r['seconds']:>9.2f} {r['peak_rss_gb']:>8.2f}")
    print()
    for rows in sizes:
        ours, peer, boot, tw = (results.get((c, rows), {}) for c in ("ours", "peer", "boot", "twfe"))
        if "seconds" in ours and "seconds" in peer:
            print(f"{rows:>12,} rows: csdid / ours time = {peer['seconds'] / ours['seconds']:.2f}x "  # type: ignore[operator]
                  f"(target >= 1); peak memory ours {ours['peak_rss_gb']:.2f} GB, csdid {peer['peak_rss_gb']:.2f} GB")
        if "seconds" in ours and "seconds" in boot:
            print(f"{rows:>12,} rows: bootstrap / analytic time = {boot['seconds'] / ours['seconds']:.2f} "  # type: ignore[operator]
                  f"(target <= 2); bootstrap peak memory {boot['peak_rss_gb']:.2f} GB (target <= 8)")
        if "seconds" in tw:
            print(f"{rows:>12,} rows: TWFE {tw['seconds']:.1f} s, peak memory {tw['peak_rss_gb']:.2f} GB "
                  "(target <= 24)")


if __name__ == "__main__":
    main()
