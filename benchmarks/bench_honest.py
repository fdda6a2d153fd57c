"""Speed and intervals of the HonestDiD sensitivity analysis (``cteimpact.did.honest``) against an earlier version of
ours and against ``diff_diff``'s HonestDiD, in one process.

Event studies:

* ``study``: the coefficients and covariance the shipped DiD study (``analyses/pathways-earnings-did.toml``) hands to
  HonestDiD on the pipeline tests' synthetic data (``tests/did/results/synth_did_event_study.json``: 8 pre-periods,
  7 post-periods, the post-period average as the target, earnings in dollars);
* ``pre9``: a seeded event study with 9 pre-periods and 4 post-periods (average as the target).

Timed, for each event study and restriction (smoothness Δ^SD with the FLCI, relative magnitudes Δ^RM with the C-LF
test):

* ``full``: ``honest_sensitivity`` with its default values and the breakdown value (what the study runs), ours now
  and ours at ``--before`` (a git revision of this repository, imported from ``git show``; skipped if it fails);
* ``table``: the intervals at the same values only, ours and ``diff_diff`` (smoothness: its optimal FLCI
  ``_flci_solve``; relative magnitudes: what its ``HonestDiD(method="relative_magnitude")`` computes, a fixed-length
  interval around the identified set, not the C-LF test, so only its time is comparable).

Each timing alternates the contenders and keeps the minimum of ``--repeats`` runs. Printed: seconds, ratios, and
the largest interval difference (now − before; ours − diff-diff with the relative widths for the FLCI).

Usage::

    python benchmarks/bench_honest.py                  # from the repository root
    python benchmarks/bench_honest.py --repeats 1 --before d933942
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cteimpact.did.honest import honest_sensitivity  # noqa: E402

Case = tuple[np.ndarray, np.ndarray, int, np.ndarray]


def study_case() -> Case:
    d = json.loads((REPO / "tests" / "did" / "results" / "synth_did_event_study.json").read_text())
    return np.array(d["betahat"]), np.array(d["sigma"]), int(d["n_pre"]), np.array(d["l_vec"])


def pre9_case() -> Case:
    rng = np.random.default_rng(20230901)
    k, tbar = 9, 4
    n = k + tbar
    a = rng.normal(size=(n, 3 * n))
    sigma = a @ a.T / (3 * n) * 0.01
    beta = np.concatenate([rng.normal(size=k) * 0.03, 0.3 + rng.normal(size=tbar) * 0.05])
    return beta, sigma, k, np.full(tbar, 1.0 / tbar)


def load_before(rev: str) -> ModuleType | None:
    """``cteimpact/did/honest.py`` at ``rev`` as a module (it imports the current package's other modules)."""
    try:
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:cteimpact/did/honest.py"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"before ({rev}): not available ({exc})")
        return None
    path = Path(tempfile.mkdtemp()) / "honest_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("honest_before", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["honest_before"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def best_of(fns: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Minimum time of each function over ``repeats`` rounds, the functions alternating within a round."""
    times = dict.fromkeys(fns, np.inf)
    outs: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times, outs


def dd_smoothness(case: Case, values: list[float]) -> np.ndarray:
    from diff_diff.honest_did import _flci_solve

    b, s, k, lv = case
    return np.array([_flci_solve(b[:k], b[k:], s, lv, k, lv.size, m, 0.05)[:2] for m in values])


def dd_relative_magnitude(case: Case, values: list[float]) -> np.ndarray:
    from diff_diff.honest_did import HonestDiD

    b, s, k, lv = case
    h = HonestDiD(method="relative_magnitude", l_vec=lv)
    return np.array([h._compute_rm_bounds(b[:k], b[k:], s, s[k:, k:], lv, k, lv.size, m, [], None)[2:]
                     for m in values])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", default="d933942", help="git revision of the 'before' version (default: d933942)")
    ap.add_argument("--no-peer", action="store_true", help="skip diff_diff (its smoothness FLCI takes minutes)")
    args = ap.parse_args(argv)
    before = load_before(args.before)
    try:
        import diff_diff  # noqa: F401
        peer = not args.no_peer
    except ImportError:
        print("diff_diff not installed: peer timings skipped")
        peer = False
    rows: list[dict[str, Any]] = []
    for cname, case in (("study", study_case()), ("pre9", pre9_case())):
        for restriction in ("smoothness", "relative_magnitude"):
            def ours_full(r: str = restriction, c: Case = case) -> Any:
                return honest_sensitivity(c[0], c[1], n_pre=c[2], l_vec=c[3], restriction=r)  # type: ignore[arg-type]

            full: dict[str, Callable[[], Any]] = {"now": ours_full}
            if before is not None:
                def before_full(r: str = restriction, c: Case = case) -> Any:
                    assert before is not None
                    return before.honest_sensitivity(c[0], c[1], n_pre=c[2], l_vec=c[3], restriction=r)

                full["before"] = before_full
            t_full, o_full = best_of(full, args.repeats)
            res = o_full["now"]
            values = [float(v) for v in res.table["value"]]
            now_ci = res.table[["lb", "ub"]].to_numpy()
            line = {"case": cname, "restriction": restriction, "now_full_s": t_full["now"],
                    "breakdown_now": res.breakdown}
            if "before" in o_full:
                old = o_full["before"]
                line.update(before_full_s=t_full["before"], speedup=t_full["before"] / t_full["now"],
                            breakdown_before=old.breakdown,
                            max_abs_diff_vs_before=float(np.max(np.abs(now_ci - old.table[["lb", "ub"]].to_numpy()))))
            if peer:
                def ours_table(r: str = restriction, c: Case = case, v: list[float] = values) -> Any:
                    return honest_sensitivity(c[0], c[1], n_pre=c[2], l_vec=c[3], restriction=r,  # type: ignore[arg-type]
                                              values=v, breakdown=False).table[["lb", "ub"]].to_numpy()

                peer_fn = dd_smoothness if restriction == "smoothness" else dd_relative_magnitude

                def peer_table(c: Case = case, v: list[float] = values, f: Any = peer_fn) -> Any:
                    return f(c, v)

                t_tab, o_tab = best_of({"now": ours_table, "diff_diff": peer_table}, args.repeats)
                ours_w = o_tab["now"][:, 1] - o_tab["now"][:, 0]
                dd_w = o_tab["diff_diff"][:, 1] - o_tab["diff_diff"][:, 0]
                line.update(now_table_s=t_tab["now"], diff_diff_table_s=t_tab["diff_diff"],
                            diff_diff_over_now=t_tab["diff_diff"] / t_tab["now"],
                            width_now_over_diff_diff=[float(x) for x in ours_w / dd_w],
                            max_abs_diff_vs_diff_diff=float(np.max(np.abs(o_tab["now"] - o_tab["diff_diff"]))))
            rows.append(line)
            print(json.dumps(line), flush=True)
    print()
    print(f"{'case':6s} {'restriction':18s} {'before s':>9s} {'now s':>8s} {'speedup':>8s} {'|Δci| vs before':>16s} "
          f"{'table now s':>11s} {'diff_diff s':>11s} {'dd/now':>8s}")
    for r in rows:
        def fmt(key: str, spec: str, r: dict[str, Any] = r) -> str:
            return format(r[key], spec) if key in r else "-"

        print(f"{r['case']:6s} {r['restriction']:18s} {fmt('before_full_s', '9.3f'):>9s} {r['now_full_s']:8.3f} "
              f"{fmt('speedup', '8.1f'):>8s} {fmt('max_abs_diff_vs_before', '16.3g'):>16s} "
              f"{fmt('now_table_s', '11.4f'):>11s} {fmt('diff_diff_table_s', '11.3f'):>11s} "
              f"{fmt('diff_diff_over_now', '8.2f'):>8s}")
        if r["restriction"] == "smoothness" and "width_now_over_diff_diff" in r:
            print("       FLCI width now / diff_diff at each M: "
                  + ", ".join(f"{x:.6f}" for x in r["width_now_over_diff_diff"]))


if __name__ == "__main__":
    main()
