"""Speed and memory of TWFE and Sun–Abraham (the within solver, ``cteimpact/did/within.py``) against ``pyfixest``.

Cases (each in its own subprocess, so that its peak resident memory, ``ru_maxrss``, is its own):

* ``data``: build the benchmark panel only (the memory floor every other case includes);
* ``twfe``: ``cteimpact.did.twfe`` (unit and year effects, clustered by unit);
* ``twfe_peer``: ``pyfixest.feols("y ~ d | id + year", vcov={"CRV1": "id"})`` with ``d = 1{g > 0, year >= g}``;
* ``sunab``: ``cteimpact.did.sun_abraham`` (cohort × relative-period effects, never-treated comparisons, reference
  period −1, clustered by unit);
* ``sunab_peer``: the same saturated regression in ``pyfixest``, as its ``SaturatedEventStudy`` writes it:
  ``feols("y ~ i(rel_time, first_treated_period, ref=-1, ref2=0) | id + year", vcov={"CRV1": "id"})``.

Times are for the estimation call only (data built, libraries imported and warmed up on a 5,000-row panel
beforehand — ``pyfixest`` compiles numba kernels on first use; for the peers the time includes building ``d`` or
``rel_time``); peak memory includes the data. Every case is run ``--repeat`` times
(default 3), alternating ours and the peer, and the minimum time and peak memory are reported. The script also
prints the largest absolute difference between our and ``pyfixest``'s coefficients and standard errors.

The panel: that of ``benchmarks/bench_did.py`` (``rows / 5`` units over 2003–2007, cohorts 2004 / 2006 / 2007 /
never).

Usage::

    python benchmarks/bench_twfe.py                              # TWFE at 1M and 10M, Sun-Abraham at 1M
    python benchmarks/bench_twfe.py --twfe-rows 1000000          # TWFE at one size only
    python benchmarks/bench_twfe.py --case twfe --rows N         # one case (used internally; prints JSON)

Targets (issue 16): TWFE at 10M at most 0.5x pyfixest's time and at most its peak memory; Sun-Abraham at 1M at
most 0.5x pyfixest's time.
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
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_did import free_gb, make_panel


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: kilobytes


def _pyfixest_sunab(df: pd.DataFrame) -> dict[str, object]:
    import pyfixest as pf

    df["first_treated_period"] = df["g"]
    df["rel_time"] = np.where(df["g"] > 0, df["year"] - df["g"], -1)
    m = pf.feols("y ~ i(rel_time, first_treated_period, ref=-1, ref2=0) | id + year", data=df,
                 vcov={"CRV1": "id"})
    tid = m.tidy()
    keys = tid.index.str.extract(r"rel_time::(?P<e>[^:]+):first_treated_period::(?P<g>.+)")
    cells = [f"g{float(g):g}_e{float(e):g}" for g, e in zip(keys["g"], keys["e"], strict=True)]
    return {"coef": dict(zip(cells, tid["Estimate"].astype(float), strict=True)),
            "se": dict(zip(cells, tid["Std. Error"].astype(float), strict=True))}


def estimate(case: str, df: pd.DataFrame) -> dict[str, object]:
    """Run one case's estimation on ``df``; its coefficients and standard errors by name."""
    if case == "twfe":
        from cteimpact.did import twfe

        r = twfe(df, outcome="y", unit="id", time="year", cohort="g")
        return {"coef": {"d": float(r.estimate)}, "se": {"d": r.std_error}}
    if case == "twfe_peer":
        import pyfixest as pf

        df["d"] = ((df["g"] > 0) & (df["year"] >= df["g"])).astype(np.float64)
        m = pf.feols("y ~ d | id + year", data=df, vcov={"CRV1": "id"})
        return {"coef": {"d": float(m.coef()["d"])}, "se": {"d": float(m.se()["d"])}}
    if case == "sunab":
        from cteimpact.did import sun_abraham

        r = sun_abraham(df, outcome="y", unit="id", time="year", cohort="g")
        ce = r.cohort_effects
        cells = [f"g{g:g}_e{e:g}" for g, e in zip(ce["cohort"], ce["event_time"], strict=True)]
        return {"coef": dict(zip(cells, ce["estimate"].astype(float), strict=True)),
                "se": dict(zip(cells, ce["std_error"].astype(float), strict=True))}
    if case == "sunab_peer":
        return _pyfixest_sunab(df)
    if case == "data":
        return {}
    raise SystemExit(f"unknown case {case}")


def run_case(case: str, rows: int) -> dict[str, object]:
    """Build the panel, import the library and warm it up on a 5,000-row panel (``pyfixest`` compiles its numba
    kernels on first use), then time only the estimation (import and warm-up are reported apart)."""
    warnings.simplefilter("ignore")
    df = make_panel(rows)
    t_imp = time.perf_counter()
    if case != "data":
        estimate(case, make_panel(5_000, seed=2))
    import_seconds = time.perf_counter() - t_imp
    t0 = time.perf_counter()
    info = estimate(case, df)
    seconds = time.perf_counter() - t0
    return {"case": case, "rows": rows, "seconds": seconds, "import_seconds": import_seconds,
            "peak_rss_gb": peak_rss_gb(), **info}


def in_subprocess(case: str, rows: int) -> dict[str, object]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": root + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    out = subprocess.run([sys.executable, __file__, "--case", case, "--rows", str(rows)], capture_output=True,
                         text=True, check=False, env=env)
    if out.returncode != 0:
        return {"case": case, "rows": rows, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def best(runs: list[dict[str, object]]) -> dict[str, object]:
    """The minimum time and peak memory over the runs (the first run's other fields)."""
    ok = [r for r in runs if "seconds" in r]
    if not ok:
        return runs[0]
    out = dict(ok[0])
    out["seconds"] = min(float(r["seconds"]) for r in ok)  # type: ignore[arg-type]
    out["peak_rss_gb"] = min(float(r["peak_rss_gb"]) for r in ok)  # type: ignore[arg-type]
    out["runs"] = len(ok)
    return out


def max_diff(a: dict[str, object], b: dict[str, object], key: str) -> float:
    x, y = a.get(key), b.get(key)
    if not isinstance(x, dict) or not isinstance(y, dict) or set(x) != set(y):
        return float("nan")
    return max(abs(float(x[k]) - float(y[k])) for k in x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default=None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--twfe-rows", type=int, action="append", help="TWFE sizes (default 1M and 10M)")
    ap.add_argument("--sunab-rows", type=int, action="append", help="Sun-Abraham sizes (default 1M)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, a.rows)))
        return
    plan = [("twfe", rows) for rows in (a.twfe_rows or [1_000_000, 10_000_000])]
    plan += [("sunab", rows) for rows in (a.sunab_rows or [1_000_000])]
    table: list[tuple[str, int, dict[str, object], dict[str, object], dict[str, object]]] = []
    for kind, rows in plan:
        if rows >= 5_000_000:
            print(f"[{kind} {rows:,}] available memory before the runs: {free_gb():.1f} GB", flush=True)
        data = in_subprocess("data", rows)
        print(json.dumps(data), flush=True)
        ours_runs, peer_runs = [], []
        for _ in range(a.repeat):
            for case, store in ((kind, ours_runs), (f"{kind}_peer", peer_runs)):
                r = in_subprocess(case, rows)
                store.append(r)
                print(json.dumps({k: v for k, v in r.items() if k not in ("coef", "se")}), flush=True)
        table.append((kind, rows, data, best(ours_runs), best(peer_runs)))
    print()
    print(f"{'case':>6} {'rows':>12} {'ours s':>8} {'peer s':>8} {'ratio':>6} {'ours GB':>8} {'peer GB':>8} "
          f"{'data GB':>8} {'max|dcoef|':>11} {'max|dse|':>10}")
    for kind, rows, data, ours, peer in table:
        if "seconds" not in ours or "seconds" not in peer:
            print(f"{kind:>6} {rows:>12,}   failed: {ours.get('error')} {peer.get('error')}")
            continue
        so, sp = float(ours["seconds"]), float(peer["seconds"])  # type: ignore[arg-type]
        print(f"{kind:>6} {rows:>12,} {so:>8.2f} {sp:>8.2f} {so / sp:>6.2f} {float(ours['peak_rss_gb']):>8.2f} "  # type: ignore[arg-type]
              f"{float(peer['peak_rss_gb']):>8.2f} {float(data.get('peak_rss_gb', float('nan'))):>8.2f} "  # type: ignore[arg-type]
              f"{max_diff(ours, peer, 'coef'):>11.2e} {max_diff(ours, peer, 'se'):>10.2e}")
    print("\nratio = ours / pyfixest time (minimum of the runs); targets: TWFE at 10M <= 0.5 and peak memory <= "
          "pyfixest's; Sun-Abraham at 1M <= 0.5.")


if __name__ == "__main__":
    main()
