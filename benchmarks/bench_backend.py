"""Callaway–Sant'Anna where the data live: the DuckDB sufficient-statistics path against the in-memory path and a
single DuckDB scan (the floor), on student-year rows stored as Parquet (issue 14).

The data: ``rows / 10`` students observed over 2011–2020 (a balanced panel), first treated in 2013, 2015, 2017 or
2019 or never (shares .15 / .15 / .15 / .15 / .4), one of 400 schools each (the cluster), outcome = student effect +
year effect + an effect growing with exposure + noise. They are written as one Parquet file in chunks of at most
``--chunk`` students (memory stays bounded by one chunk), into a temporary folder removed at the end.

Cases (each in its own subprocess, so that its peak resident memory is its own):

* ``inmem``: read the Parquet file into pandas, then ``CallawaySantAnna`` (never-treated comparisons, dynamic
  aggregation, standard errors clustered by school);
* ``duckdb``: :func:`cteimpact.did.sufficient.estimate.callaway_santanna_sufficient` on ``con.read_parquet(...)`` with
  the same options (two aggregate queries in DuckDB, the estimator maths on their results);
* ``floor``: one DuckDB scan of the same file (``SELECT SUM(y)``), the least any engine-side estimator must do;
* ``inmem_twfe`` / ``duckdb_twfe`` (with ``--twfe``): the TWFE coefficient and event study clustered by school,
  in memory (:func:`cteimpact.did.twfe.twfe`) and from sufficient statistics
  (:func:`cteimpact.did.sufficient.twfe.twfe_sufficient`);
* ``floor5``: one DuckDB scan of the five columns the estimator reads (the sum of each), since a Parquet scan of one
  column reads only that column.

Reported: wall time of each case (from the start of reading the file; the interpreter start and imports excluded),
peak resident memory of its process, and the ratios DuckDB / in-memory and DuckDB / floor. The DuckDB connection
uses ``--threads`` threads and ``--memory-limit`` (its hash aggregation spills to disk beyond it).

Usage::

    python benchmarks/bench_backend.py                      # 10M rows, all three cases
    python benchmarks/bench_backend.py --rows 100000000 --skip inmem
    python benchmarks/bench_backend.py --twfe                # also the TWFE and event-study TWFE cases
    python benchmarks/bench_backend.py --case duckdb --path FILE   # one case (used internally; prints JSON)

Measured on the 2-core / 24 GB machine shared with other work (5 December 2026; times vary by up to 2× with the
load, so each line is one run):

* 10M rows: DuckDB 0.5–1.7 s and 0.48 GB peak; in memory 3.4–7.0 s and 1.4–1.5 GB (0.14–0.25×); floor (one column)
  0.26–0.52 s, five columns 0.37–0.74 s; TWFE with event study: DuckDB 0.9–1.7 s, 0.48 GB; in memory 15.7–21.7 s,
  3.1 GB.
* 100M rows: DuckDB 4.5–11 s and 1.6–1.8 GB peak; in memory 40–46 s and 11.0 GB (0.14×); floor 0.5–2.1 s, five
  columns 1.0–2.7 s; TWFE with event study: DuckDB 10.7 s, 1.7 GB; in memory it does not fit in 20 GB (run
  ``--twfe`` at this size under ``ulimit -v`` or with ``--skip inmem``).
* 300M rows (2.81 GB Parquet, written in 37 s; ``--rows 300000000 --skip inmem --twfe``, machine shared, load about 2):
  DuckDB 35.9 s and 3.32 GB peak; TWFE with event study 41.0 s, 3.32 GB; floor 0.94 s, five columns 3.12 s.
* The dynamic estimates and standard errors of the two paths agree to 1e-15, the TWFE ones to 1e-13.

Targets (issue 14): 100M rows through DuckDB (never-treated, dynamic aggregation, clustered SEs) in under 5 minutes and
4 GB peak RSS; at 10M rows DuckDB no slower than 1.5× the in-memory path. The two paths' dynamic estimates and
standard errors are compared (the largest absolute difference is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's cteimpact

PERIODS = np.arange(2011, 2021)
COHORTS = np.array([2013, 2015, 2017, 2019, 0])
SHARES = np.array([0.15, 0.15, 0.15, 0.15, 0.4])
N_SCHOOLS = 400


def write_panel(path: str, rows: int, *, chunk: int = 1_000_000, seed: int = 1) -> int:
    """Write ``rows`` student-year rows (``rows / 10`` students) to one Parquet file, ``chunk`` students at a time;
    returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_t = PERIODS.size
    n_students = rows // n_t
    rng = np.random.default_rng(seed)
    year_fe = np.linspace(0.0, 0.9, n_t)
    schema = pa.schema([("student", pa.int64()), ("year", pa.int16()), ("first_treated", pa.int16()),
                        ("school", pa.int32()), ("y", pa.float64())])
    written = 0
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, n_students, chunk):
            n = min(chunk, n_students - start)
            cohort = rng.choice(COHORTS, size=n, p=SHARES)
            school = rng.integers(0, N_SCHOOLS, size=n, dtype=np.int32)
            fe = rng.normal(size=n)
            t = np.tile(PERIODS, n)
            g = np.repeat(cohort, n_t)
            exposure = np.where((g > 0) & (t >= g), t - g + 1, 0)
            y = np.repeat(fe, n_t) + np.tile(year_fe, n) + 0.05 * exposure + rng.normal(size=n * n_t)
            table = pa.table({"student": np.repeat(np.arange(start, start + n, dtype=np.int64), n_t),
                              "year": t.astype(np.int16), "first_treated": g.astype(np.int16),
                              "school": np.repeat(school, n_t), "y": y}, schema=schema)
            writer.write_table(table, row_group_size=1_000_000)
            written += n * n_t
    return written


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _dynamic(res: Any) -> dict[str, list[float]]:
    tab = res.aggregation("dynamic")
    return {"element": [float("nan") if v is None else float(v) for v in tab["element"]],
            "att": [float(v) for v in tab["att"]], "se": [float(v) for v in tab["se"]]}


def _twfe(res: Any) -> dict[str, list[float]]:
    tab = res.tidy()
    return {"att": [float(v) for v in tab["estimate"]], "se": [float(v) for v in tab["std_error"]]}


def _connect(threads: int, memory_limit: str) -> Any:
    import ibis

    con = ibis.duckdb.connect(threads=threads, memory_limit=memory_limit)
    return con


def run_case(case: str, path: str, *, threads: int, memory_limit: str) -> dict[str, Any]:
    """One case in this process; returns its time, peak memory and (estimators) the dynamic aggregation."""
    warnings.simplefilter("ignore")
    if case == "inmem":
        import pandas as pd

        from cteimpact.did import CallawaySantAnna

        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        t_read = time.perf_counter() - t0
        res = CallawaySantAnna(df, outcome="y", unit="student", time="year", cohort="first_treated",
                               cluster="school").fit(aggregations=("dynamic",))
        return {"seconds": time.perf_counter() - t0, "read_seconds": t_read, "peak_gb": _peak_rss_gb(),
                "dynamic": _dynamic(res)}
    if case == "duckdb":
        from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient

        con = _connect(threads, memory_limit)
        t0 = time.perf_counter()
        table = con.read_parquet(path)
        sql = callaway_santanna_sufficient(table, outcome="y", unit="student", time="year", cohort="first_treated",
                                           cluster="school", aggregations=("dynamic",))
        return {"seconds": time.perf_counter() - t0, "peak_gb": _peak_rss_gb(), "dynamic": _dynamic(sql),
                "rows_fetched": sql.rows_fetched}
    if case == "inmem_twfe":
        import pandas as pd

        from cteimpact.did.twfe import twfe

        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        tw = twfe(df, outcome="y", unit="student", time="year", cohort="first_treated", cluster="school",
                  event_study=True)
        return {"seconds": time.perf_counter() - t0, "peak_gb": _peak_rss_gb(), "twfe": _twfe(tw)}
    if case == "duckdb_twfe":
        from cteimpact.did.sufficient.twfe import twfe_sufficient

        con = _connect(threads, memory_limit)
        t0 = time.perf_counter()
        tw = twfe_sufficient(con.read_parquet(path), outcome="y", unit="student", time="year", cohort="first_treated",
                             cluster="school", event_study=True)
        return {"seconds": time.perf_counter() - t0, "peak_gb": _peak_rss_gb(), "twfe": _twfe(tw)}
    if case in ("floor", "floor5"):
        con = _connect(threads, memory_limit)
        t0 = time.perf_counter()
        table = con.read_parquet(path)
        names = ["y"] if case == "floor" else ["y", "student", "year", "first_treated", "school"]
        sums = table.aggregate(**{f"s_{c}": table[c].cast("float64").sum() for c in names}).to_pyarrow()
        return {"seconds": time.perf_counter() - t0, "peak_gb": _peak_rss_gb(),
                "sum": float(sums.column(0)[0].as_py())}
    raise SystemExit(f"unknown case {case!r}")


def _subprocess(case: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--case", case, "--path", path, "--threads", str(args.threads),
           "--memory-limit", args.memory_limit]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:  # e.g. the in-memory path does not fit: reported, the other cases go on
        lines = out.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {out.returncode}"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="student-year rows (default 10M; 100M: 1e8)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="students written per chunk")
    parser.add_argument("--skip", action="append", default=[], choices=["inmem", "duckdb", "floor", "floor5"])
    parser.add_argument("--twfe", action="store_true", help="also the TWFE cases (in memory and DuckDB)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit")
    parser.add_argument("--keep", default=None, help="write the Parquet file here and keep it (default: temporary)")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.path, threads=args.threads, memory_limit=args.memory_limit)))
        return
    folder = args.keep or tempfile.mkdtemp(prefix="bench_backend_")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"panel_{args.rows}.parquet")
    try:
        if not os.path.exists(path):
            t0 = time.perf_counter()
            n = write_panel(path, args.rows, chunk=args.chunk)
            print(f"wrote {n:,} rows ({os.path.getsize(path) / 1e9:.2f} GB Parquet) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        results: dict[str, dict[str, Any]] = {}
        cases = ["floor", "floor5", "duckdb", "inmem"] + (["duckdb_twfe", "inmem_twfe"] if args.twfe else [])
        for case in cases:
            if case in args.skip or (case == "inmem_twfe" and "inmem" in args.skip):
                continue
            r = _subprocess(case, path, args)
            if "error" in r:
                print(f"{case:>7}: failed: {r['error']}", flush=True)
                continue
            results[case] = r
            print(f"{case:>7}: {r['seconds']:8.2f} s   peak RSS {r['peak_gb']:6.2f} GB"
                  + (f"   (read {r['read_seconds']:.2f} s)" if "read_seconds" in r else "")
                  + (f"   rows to client {r['rows_fetched']}" if "rows_fetched" in r else ""), flush=True)
        for duck, mem, key, what in (("duckdb", "inmem", "dynamic", "dynamic estimates and SEs"),
                                     ("duckdb_twfe", "inmem_twfe", "twfe", "TWFE and event-study estimates and SEs")):
            if duck in results and mem in results:
                a, b = results[duck][key], results[mem][key]
                diff = max(float(np.nanmax(np.abs(np.array(a[k]) - np.array(b[k])))) for k in ("att", "se"))
                print(f"{duck} / {mem}: {results[duck]['seconds'] / results[mem]['seconds']:.2f}x time, "
                      f"{results[duck]['peak_gb'] / results[mem]['peak_gb']:.2f}x memory; max |difference| of the "
                      f"{what}: {diff:.2e}")
        for floor in ("floor", "floor5"):
            if "duckdb" in results and floor in results:
                print(f"DuckDB / {floor}: {results['duckdb']['seconds'] / results[floor]['seconds']:.2f}x time")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
