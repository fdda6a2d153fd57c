"""Speed and memory of the staggered DiD estimator against its peers and a one-pass floor, in one run.

Cases (each in its own subprocess, so that its peak resident memory is its own; the cases alternate, round after
round, and each reports the minimum over the rounds, three by default):

* ``data``: build the benchmark panel only (the memory floor every other case includes);
* ``ours``: Callaway–Sant'Anna, doubly robust, no covariates, never-treated comparisons, analytic SEs (R ``did``'s
  defaults; data preparation, group-time effects, all four aggregations and the pre-test);
* ``ours_cov``: the same with one time-invariant covariate ``x``;
* ``diffdiff`` / ``diffdiff_cov``: the peer ``diff_diff.CallawaySantAnna`` (Rust backend) with the same options
  (``control_group="never_treated"``, ``estimation_method="dr"``, ``n_bootstrap=0``; group-time effects);
* ``csdid``: ``csdid`` ``ATTgt(...).fit(est_method="dr", bstrap=False)`` (group-time effects);
* ``floor``: one compiled pass over the unit, period, cohort and outcome columns accumulating each cohort's unit
  count, outcome sums and outcome cross-products, then every ATT(g,t) and its analytic standard error: the least
  any estimator must do (see :func:`floor_att` for why it must read the unit column and pair each unit's periods);
* ``boot``: ``ours`` with the 999-draw multiplier bootstrap (Mammen weights, simultaneous bands);
* ``twfe``: the TWFE comparison (``linearmodels`` PanelOLS, unit and year effects, clustered by unit).

Times are for the estimation call only (data built and libraries imported beforehand, the floor's kernel compiled
outside the timing). numba's one-time start-up in a process (about 0.25 s: the first call of any compiled function,
cached or not, loads its compiler's registries) is paid outside the timing in every case that uses numba (ours from
``cteimpact.limits.COMPILED_FROM`` rows, the bootstrap, the floor) and reported apart as ``numba_startup_seconds``,
so that ours and the floor compare like with like; our compiled kernels are still loaded from their cache inside
the timing. The ratios are also printed with the start-up added to the cases that pay it, the floor excepted (a
fresh process's first fit). ``cpu_seconds`` is the process's CPU time over the call (all threads: the work done,
which other jobs on the machine do not inflate as they do the wall time). Memory: ``peak GB`` is the process's peak
resident memory (data included); ``B/row`` is the peak during the estimation call minus the resident memory after
building the data, divided by the rows (the kernel's high-water mark is reset after the data are built).

The panel: ``rows / 5`` units over 2003–2007 (like ``did::mpdta``), cohorts 2004 / 2006 / 2007 / never in shares
.1 / .2 / .3 / .4, unit and year effects, effects growing with exposure, normal noise; ``x`` is a standard normal
per unit that shifts the trend of the treated cohorts' outcomes.

Usage::

    python benchmarks/bench_did.py                         # 1M and 10M rows (checks free memory first)
    python benchmarks/bench_did.py --rows 1000000          # one size
    python benchmarks/bench_did.py --rows 1000000 --skip twfe --skip csdid --rounds 1
    python benchmarks/bench_did.py --case ours --rows N    # one case (used internally; prints JSON)

Targets (issue 16): ours at least 4× faster than diff-diff without covariates and 2× with one covariate at 10M;
ours within 10× of the floor; the bootstrap at most twice the analytic run at 10M; at most 60 bytes per row above
the data. Ours and diff-diff must agree on every ATT(g,t) (the maximal absolute difference is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's cteimpact

PERIODS = np.arange(2003, 2008)
CASES = ("data", "ours", "ours_cov", "diffdiff", "diffdiff_cov", "csdid", "floor", "boot", "twfe")


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
    x = rng.normal(size=n)
    y += 0.05 * np.repeat(x * (cohorts > 0), PERIODS.size) * (t - PERIODS[0])
    return pd.DataFrame({"id": np.repeat(np.arange(n, dtype=np.int64), PERIODS.size), "year": t.astype(np.int64),
                         "g": g.astype(np.int64), "y": y, "x": np.repeat(x, PERIODS.size)})


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _floor_kernel() -> Any:
    import numba

    @numba.njit(cache=False)
    def cohort_moments(uid: np.ndarray, t: np.ndarray, g: np.ndarray, y: np.ndarray, t0: int, n_t: int,
                       cohort_code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One pass over the rows (grouped by unit): each unit's outcomes in a buffer of ``n_t``; at the unit's
        last row, if it has every period once and one cohort, its count, outcomes and outcome cross-products are
        added to its cohort's. Also counts what the checks need: units with a period missing or repeated, units
        whose cohort changes, and rows of a unit that appeared before (rows not grouped by unit)."""
        n_c = cohort_code.max() + 1
        count = np.zeros(n_c)
        s1 = np.zeros((n_c, n_t))
        s2 = np.zeros((n_c, n_t, n_t))
        checks = np.zeros(3, dtype=np.int64)  # incomplete or repeated periods; cohort changes; ungrouped rows
        buf = np.empty(n_t)
        seen = np.zeros(n_t, dtype=np.int64)
        cur = uid[0]
        cur_g = g[0]
        n_seen = 0
        bad_g = False
        for i in range(uid.size + 1):
            if i == uid.size or uid[i] != cur:
                if n_seen != n_t:
                    checks[0] += 1
                elif bad_g:
                    checks[1] += 1
                else:
                    c = cohort_code[cur_g]
                    count[c] += 1.0
                    for a in range(n_t):
                        ya = buf[a]
                        s1[c, a] += ya
                        for b in range(a, n_t):
                            s2[c, a, b] += ya * buf[b]
                if i == uid.size:
                    break
                if uid[i] < cur:
                    checks[2] += 1
                cur = uid[i]
                cur_g = g[i]
                n_seen = 0
                bad_g = False
                for a in range(n_t):
                    seen[a] = 0
            k = t[i] - t0
            if k < 0 or k >= n_t or seen[k]:
                n_seen = -n_t - 1  # out of range or repeated: the unit is flagged
            else:
                seen[k] = 1
                n_seen += 1
            if g[i] != cur_g:
                bad_g = True
            buf[k if 0 <= k < n_t else 0] = y[i]
        return count, s1, s2, checks

    return cohort_moments


def _start_numba() -> float:
    """numba's one-time start-up in this process (seconds): compiling a trivial function loads the compiler's
    registries that the first call of any compiled function, cached or not, needs. The floor pays it when its kernel
    is compiled outside the timing; ours pays it here, also outside the timing."""
    import numba

    t0 = time.perf_counter()
    numba.njit(cache=False)(lambda x: x + 1)(1)
    return time.perf_counter() - t0


def floor_att(df: pd.DataFrame, kernel: Any) -> dict[str, dict[str, float]]:
    """The one-pass floor: each cohort's unit count, outcome sums and outcome cross-products in one scan of the
    unit, period, cohort and outcome columns, then every ATT(g,t) against the never treated (varying base) and its
    analytic standard error, ``sqrt(var_g(Δy)/n_g + var_C(Δy)/n_C)`` (R ``did``'s ``sqrt(mean(IF²)/n)``).

    Why these sums: without covariates the doubly robust ATT(g,t) is a difference of mean outcome changes, and its
    influence function is linear in each unit's outcome vector within its cohort, so the variance of every
    ATT(g,t), and the covariance of any two (which every aggregation's standard error needs), is a function of the
    cohorts' outcome cross-products. An estimator cannot get them from per-cell sums of the rows alone: it must
    pair each unit's outcomes across periods, which needs the unit column, and it must check that each unit has
    every period once and one cohort. This floor does all of that in one compiled pass, taking the rows grouped by
    unit (as the benchmark's panel is; the pass counts rows that break the grouping, which an estimator could
    detect in the same pass and handle by a scatter). It is still a floor: no missing-value checks, no sample
    flow, no aggregations, no influence functions stored."""
    uid = df["id"].to_numpy()
    y = df["y"].to_numpy()
    t = df["year"].to_numpy()
    g = df["g"].to_numpy()
    t0 = int(PERIODS[0])
    code = np.zeros(int(PERIODS[-1]) + 1, dtype=np.int64)
    cohorts = [0, 2004, 2006, 2007]
    for i, c in enumerate(cohorts):
        code[c] = i
    count, s1, s2, checks = kernel(uid, t, g, y, t0, PERIODS.size, code)
    if checks.any():
        raise SystemExit(f"floor: the panel is not balanced and grouped by unit: {checks.tolist()}")
    mean = s1 / count[:, None]

    def change_moments(c: int, k: int, b: int) -> tuple[float, float]:
        m = mean[c, k] - mean[c, b]
        sq = (s2[c, k, k] - 2.0 * s2[c, min(k, b), max(k, b)] + s2[c, b, b]) / count[c]
        return float(m), float(sq - m * m)

    att: dict[str, float] = {}
    se: dict[str, float] = {}
    for i, c in enumerate(cohorts[1:], start=1):
        for k in range(1, PERIODS.size):
            tv = int(PERIODS[k])
            b = (c - 1 - t0) if tv >= c else k - 1
            m1, v1 = change_moments(i, k, b)
            m0, v0 = change_moments(0, k, b)
            att[f"{c},{tv}"] = m1 - m0
            se[f"{c},{tv}"] = float(np.sqrt(v1 / count[i] + v0 / count[0]))
    return {"att_gt": att, "se_gt": se}


def run_case(case: str, rows: int) -> dict[str, object]:
    """Build the panel, import the library, then time only the estimation (imports are reported apart)."""
    warnings.simplefilter("ignore")
    df = make_panel(rows)
    t_imp = time.perf_counter()
    kernel = None
    startup = None
    if case in ("ours", "ours_cov", "boot", "twfe"):
        import cteimpact.did
        import cteimpact.did.multiplier  # noqa: F401  (numba kernel, loaded from its cache)
        from cteimpact.limits import COMPILED_FROM

        if case == "boot" or rows >= COMPILED_FROM:  # the cases whose fit calls compiled kernels
            startup = _start_numba()
    elif case in ("diffdiff", "diffdiff_cov"):
        import diff_diff  # noqa: F401
    elif case == "csdid":
        import csdid.att_gt  # noqa: F401
    elif case == "floor":
        kernel = _floor_kernel()
        floor_att(make_panel(100), kernel)  # compile outside the timing
    import_seconds = time.perf_counter() - t_imp - (startup or 0.0)
    info: dict[str, object] = {}
    _reset_peak()
    rss_data = _status_bytes("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    if case in ("ours", "ours_cov", "boot"):
        from cteimpact.did import CallawaySantAnna

        cov = ["x"] if case == "ours_cov" else []
        model = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g", covariates=cov)
        res = model.fit(bootstrap=999, seed=1) if case == "boot" else model.fit()
        seconds = time.perf_counter() - t0
        info = {"simple_att": res.estimate("y").estimate, "simple_se": res.estimate("y").std_error}
        if case == "boot":
            info["crit_dynamic"] = res.bootstrap["critical_values"].get("dynamic") if res.bootstrap else None
        else:
            gt = res.group_time
            info["att_gt"] = {f"{int(r.group)},{int(r.time)}": float(r.att) for r in gt.itertuples()}
            info["se_gt"] = {f"{int(r.group)},{int(r.time)}": float(r.se) for r in gt.itertuples()}
    elif case in ("diffdiff", "diffdiff_cov"):
        from diff_diff import CallawaySantAnna as DiffDiffCS

        dd_cov = ["x"] if case == "diffdiff_cov" else None
        out = DiffDiffCS(control_group="never_treated", estimation_method="dr", n_bootstrap=0).fit(
            df, outcome="y", unit="id", time="year", first_treat="g", covariates=dd_cov)
        seconds = time.perf_counter() - t0
        info = {"att_gt": {f"{int(g)},{int(t)}": float(v["effect"]) for (g, t), v in out.group_time_effects.items()}}
    elif case == "csdid":
        from csdid.att_gt import ATTgt

        out = ATTgt(yname="y", gname="g", idname="id", tname="year", data=df,
                    control_group="nevertreated").fit(est_method="dr", bstrap=False)
        seconds = time.perf_counter() - t0
        info = {"first_att": float(np.asarray(out.results["att"])[0])}
    elif case == "floor":
        info = dict(floor_att(df, kernel))
        seconds = time.perf_counter() - t0
    elif case == "twfe":
        from cteimpact.did import twfe

        r = twfe(df, outcome="y", unit="id", time="year", cohort="g")
        seconds = time.perf_counter() - t0
        info = {"twfe": float(r.estimate), "twfe_se": r.std_error}
    elif case == "data":
        seconds = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown case {case}")
    above = (_status_bytes("VmHWM") - rss_data) / rows
    cpu_seconds = time.process_time() - c0  # all threads; includes the few lines after each timed call
    return {"case": case, "rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "import_seconds": import_seconds, "numba_startup_seconds": startup,
            "peak_rss_gb": _status_bytes("VmHWM") / 1024 ** 3, "bytes_per_row_above_data": above, **info}


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


def max_abs_diff(a: dict[str, float], b: dict[str, float]) -> tuple[float, int]:
    common = sorted(set(a) & set(b))
    if not common:
        return float("nan"), 0
    return max(abs(a[k] - b[k]) for k in common), len(common)


def _ratio(results: dict[tuple[str, int], dict[str, Any]], num: str, den: str, rows: int) -> float | None:
    a, b = results.get((num, rows), {}), results.get((den, rows), {})
    if "seconds" in a and "seconds" in b and b["seconds"] > 0:
        return float(a["seconds"]) / float(b["seconds"])
    return None


def _fresh_ratio(results: dict[tuple[str, int], dict[str, Any]], num: str, den: str, rows: int) -> float | None:
    """The ratio of :func:`_ratio` with numba's one-time start-up added to the time of each case that paid it
    outside the timing and is not the floor (a fresh process's first fit); ``None`` when neither paid it."""
    a, b = results.get((num, rows), {}), results.get((den, rows), {})
    if "seconds" not in a or "seconds" not in b:
        return None
    sa, sb = (r.get("numba_startup_seconds") if r["case"] != "floor" else None for r in (a, b))
    if sa is None and sb is None:
        return None
    den_s = float(b["seconds"]) + (sb or 0.0)
    return (float(a["seconds"]) + (sa or 0.0)) / den_s if den_s > 0 else None


def report(results: dict[tuple[str, int], dict[str, Any]], sizes: list[int]) -> None:
    print()
    print(f"{'rows':>12} {'case':>13} {'seconds':>9} {'peak GB':>8} {'B/row':>7}")
    for (case, rows), r in results.items():
        if "error" in r:
            print(f"{rows:>12,} {case:>13}   failed: {r['error']}")
        else:
            print(f"{rows:>12,} {case:>13} {r['seconds']:>9.3f} {r['peak_rss_gb']:>8.2f} "
                  f"{r['bytes_per_row_above_data']:>7.1f}")
    print()
    lines = (("diffdiff", "ours", "diff-diff / ours time, no covariates", ">= 4"),
             ("diffdiff_cov", "ours_cov", "diff-diff / ours time, one covariate", ">= 2"),
             ("csdid", "ours", "csdid / ours time", ">= 1"),
             ("ours", "floor", "ours / one-pass floor time", "<= 10"),
             ("boot", "ours", "bootstrap / analytic time", "<= 2"))
    for rows in sizes:
        for num, den, what, target in lines:
            q = _ratio(results, num, den, rows)
            if q is not None:
                fresh = _fresh_ratio(results, num, den, rows)
                also = "" if fresh is None else f"; with numba's start-up in each case that pays it: {fresh:.2f}"
                print(f"{rows:>12,} rows: {what} = {q:.2f} (target {target}{also})")
        boot, analytic = results.get(("boot", rows), {}), results.get(("ours", rows), {})
        if boot.get("cpu_seconds") and analytic.get("cpu_seconds"):
            print(f"{rows:>12,} rows: bootstrap / analytic CPU time (all threads; the work, whatever else runs on the "
                  f"machine) = {boot['cpu_seconds'] / analytic['cpu_seconds']:.2f}")
        ours = results.get(("ours", rows), {})
        if ours.get("numba_startup_seconds") is not None:
            print(f"{rows:>12,} rows: numba's one-time start-up in a process, outside every time above = "
                  f"{ours['numba_startup_seconds']:.2f} s (ours in a fresh process: "
                  f"{ours['seconds'] + ours['numba_startup_seconds']:.2f} s)")
        if "bytes_per_row_above_data" in ours:
            print(f"{rows:>12,} rows: ours, bytes per row above the data = {ours['bytes_per_row_above_data']:.1f} "
                  "(target < 60)")
        for a, b in (("ours", "diffdiff"), ("ours_cov", "diffdiff_cov"), ("ours", "floor")):
            ra, rb = results.get((a, rows), {}), results.get((b, rows), {})
            if "att_gt" in ra and "att_gt" in rb:
                d, k = max_abs_diff(ra["att_gt"], rb["att_gt"])
                print(f"{rows:>12,} rows: max |ATT(g,t) {a} - {b}| = {d:.2e} over {k} cells")
            if "se_gt" in ra and "se_gt" in rb:
                d, k = max_abs_diff(ra["se_gt"], rb["se_gt"])
                print(f"{rows:>12,} rows: max |SE of ATT(g,t) {a} - {b}| = {d:.2e} over {k} cells")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default=None)
    ap.add_argument("--rows", type=int, action="append")
    ap.add_argument("--skip", action="append", default=[], help="cases to skip (e.g. twfe)")
    ap.add_argument("--only", action="append", default=[], help="run only these cases")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating cases; the minimum time is kept")
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, (a.rows or [1_000_000])[0])))
        return
    sizes = a.rows or [1_000_000, 10_000_000]
    cases = [c for c in (a.only or CASES) if c not in a.skip]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for rows in sizes:
        for rnd in range(a.rounds):
            for case in cases:
                if rows >= 5_000_000:
                    print(f"[{case} {rows:,} round {rnd + 1}] available memory before the run: {free_gb():.1f} GB",
                          flush=True)
                r = in_subprocess(case, rows)
                print(json.dumps({k: v for k, v in r.items() if k not in ("att_gt", "se_gt")}), flush=True)
                best = results.get((case, rows))
                if best is None or ("seconds" in r and ("seconds" not in best or r["seconds"] < best["seconds"])):
                    results[(case, rows)] = r
    report(results, sizes)


if __name__ == "__main__":
    main()
