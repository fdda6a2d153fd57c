"""Speed of the RD diagnostic suite against one plain rdrobust call, on 1 million observations.

Prints, in the same run and process:

* the time of one plain ``rdrobust(y, x)`` call (default options);
* the time of cteimpact's full diagnostic suite through the public API (``RegressionDiscontinuity(...).fit(...)``):
  the estimate + the manipulation test (rddensity) + covariate balance for 5 covariates + 4 placebo cutoffs + a
  6-point bandwidth grid, including cteimpact's data checks and sample flow;
* for reference, the same fits run naively (each an rdrobust call on all the data, in sequence);
* the ratios. Target: suite <= 5 x one rdrobust call.

Run: ``.venv/bin/python benchmarks/bench_rd.py [--n 1000000] [--repeat 3] [--jobs N]``. Timings are the minimum
over ``--repeat`` runs. Other processes on the machine (other helpers share the 2 cores) make timings noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's cteimpact


def make_data(n: int, seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    covs = {f"z{k}": 0.3 * x * (k + 1) / 5 + rng.normal(size=n) for k in range(5)}
    y = 1.0 + 0.8 * x - 0.5 * x**2 + 0.25 * (x >= 0) + 0.2 * covs["z0"] + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"x": x, "y": y, **covs})


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: cteimpact's choice)")
    parser.add_argument("--naive", action="store_true", help="also time the naive sequential loop")
    args = parser.parse_args()

    import rdrobust.funs as rdfuns
    from rddensity import rddensity
    from rdrobust import rdrobust

    from cteimpact.rd import DiagnosticOptions, RegressionDiscontinuity

    warnings.simplefilter("ignore")
    d = make_data(args.n)
    y = d["y"].to_numpy()
    x = d["x"].to_numpy()
    small = make_data(2000, seed=1)
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:  # warm up: numba compilation of rdrobust's nearest-neighbour residuals, imports
        rdrobust(small["y"].to_numpy(), small["x"].to_numpy())
        rddensity(small["x"].to_numpy())
    jit = getattr(rdfuns, "_nn_residuals_jit", None)
    print(f"numba available to rdrobust: {getattr(rdfuns, '_NB_AVAILABLE', False)}; nn residual kernel compiled: "
          f"{type(jit).__name__ == 'CPUDispatcher' and bool(getattr(jit, 'signatures', []))}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"n = {args.n:,}; cores available = {cores}; repeat = {args.repeat} (minimum reported)")

    def plain() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            rdrobust(y, x)

    baseline_covs = [f"z{k}" for k in range(5)]
    opts = DiagnosticOptions(checks=("density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity"))

    def suite() -> None:
        rd = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=baseline_covs)
        res = rd.fit(diagnostics=opts, n_jobs=args.jobs)
        diag = res.diagnostics["y"]
        assert len(diag.check("covariate_balance").rows) == 5
        assert len(diag.check("placebo_cutoffs").rows) == 4
        assert len(diag.check("bandwidth_sensitivity").rows) == 7

    def naive() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            main_fit = rdrobust(y, x)
            rddensity(x)
            for k in range(5):
                rdrobust(d[f"z{k}"].to_numpy(), x)
            for pc in (-2 / 3, -1 / 3, 1 / 3, 2 / 3):
                side = x < 0 if pc < 0 else x >= 0
                rdrobust(y[side], x[side], c=pc)
            h = float(main_fit.bws.iloc[0, 0])
            for m in (0.5, 0.75, 0.9, 1.1, 1.25, 1.5):
                rdrobust(y, x, h=h * m)

    t_plain = best(plain, args.repeat)
    t_suite = best(suite, args.repeat)
    print(f"one plain rdrobust call:           {t_plain:8.3f} s")
    print(f"cteimpact full diagnostic suite:   {t_suite:8.3f} s   ratio {t_suite / t_plain:5.2f} x  (target <= 5)")
    if args.naive:
        t_naive = best(naive, 1)
        print(f"naive sequential loop (17 fits):   {t_naive:8.3f} s   ratio {t_naive / t_plain:5.2f} x")


if __name__ == "__main__":
    main()
