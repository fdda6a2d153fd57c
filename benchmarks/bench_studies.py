"""Wall-clock time of ``cteimpact run`` for each shipped study and of ``cteimpact demo``, against their targets.

Each command runs in a subprocess (``python -m cteimpact ...``, importing the cteimpact of this checkout), as a user
would run it, so process start and imports count. The time of each stage is read from the progress lines the CLI
prints on stderr (``[k/n] step: done in 1.2 s`` for a run's steps, ``[demo] stage: done in 1.2 s`` for the demo's
own stages). Timings are the minimum over ``--repeat`` runs: other processes on the machine (on a shared 2-core
machine, other jobs) only ever add time, so the minimum is the least noisy estimate.

Targets: ``cteimpact run`` of each shipped study under 8 s, ``cteimpact demo`` (default scale) under 40 s.

Run: ``.venv/bin/python benchmarks/bench_studies.py [--repeat 3] [--only run|demo] [--study NAME]``.
The synthetic data the runs read are made once with ``cteimpact synth`` at the demo's default scale (not timed).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT
"""The checkout whose cteimpact is timed (``--checkout``; default this one)."""
RUN_TARGET = 8.0
DEMO_TARGET = 40.0
_STEP = re.compile(r"^\[(?:\d+/\d+|demo)\] (?P<what>.+): done in (?P<seconds>[0-9.]+) s$")
CPU = "CPU time (user + system, all processes)"
_HEADER = re.compile(r"^== (?P<study>\S+)$")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(CHECKOUT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _stage_name(what: str, scope: str) -> str:
    """A stage's name without the run's own folder (``writing /tmp/x/runs/a`` → ``writing the run``)."""
    if what.startswith("writing "):
        what = "writing the run directory"
    elif what.startswith("loading "):
        what = "loading the data"
    elif what.startswith("pricing the contract"):
        what = "pricing the contract"
    elif what.startswith("projecting "):
        what = "surrogate index projection"
    return f"{scope}: {what}" if scope else what


def timed(args: list[str], cwd: Path) -> tuple[float, dict[str, float], str]:
    """Run ``python -m cteimpact ARGS``; its wall time, the time of each stage it reported (and ``CPU time``: the
    user + system seconds of the process and its workers, less sensitive to other load than wall time), and its
    stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cteimpact", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"cteimpact {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    stages: dict[str, float] = defaultdict(float)
    scope = ""
    for line in done.stderr.splitlines():
        header = _HEADER.match(line.strip())
        if header:
            scope = header["study"]
            continue
        m = _STEP.match(line.strip())
        if m:
            whole = line.startswith("[demo]") and m["what"].startswith(("synthetic data", "index of"))
            stages[_stage_name(m["what"], "" if whole else scope)] += float(m["seconds"])
    stages[CPU] = cpu
    return wall, dict(stages), done.stderr


def _minimum(samples: list[tuple[float, dict[str, float]]]) -> tuple[float, dict[str, float]]:
    walls = [w for w, _ in samples]
    names = list(dict.fromkeys(n for _, s in samples for n in s))
    return min(walls), {n: min(s.get(n, float("inf")) for _, s in samples) for n in names}


def _print(title: str, wall: float, stages: dict[str, float], target: float, repeat: int) -> None:
    print(f"\n{title}: {wall:.1f} s (minimum of {repeat}), target {target:g} s, ratio {wall / target:.2f}"
          f"{'  OK' if wall <= target else '  over target'}")
    for name, seconds in stages.items():
        if name != CPU:
            print(f"    {seconds:7.1f} s  {name}")
    rest = wall - sum(s for n, s in stages.items() if n != CPU)
    print(f"    {rest:7.1f} s  the rest: process start, imports, specification checks, output")
    print(f"    {stages.get(CPU, float('nan')):7.1f} s  {CPU}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the minimum is shown")
    parser.add_argument("--only", choices=["run", "demo"], default=None, help="time only the runs or the demo")
    parser.add_argument("--study", action="append", default=None, help="a shipped study (default: all three)")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="time the cteimpact of another checkout (for a before/after comparison)")
    args = parser.parse_args()
    global CHECKOUT
    CHECKOUT = args.checkout.resolve()
    print(f"timing the cteimpact of {CHECKOUT}", flush=True)
    sys.path.insert(0, str(ROOT))
    from cteimpact.pipeline.studies import SHIPPED_STUDIES, copy_shipped_studies

    studies = args.study or list(SHIPPED_STUDIES)
    with tempfile.TemporaryDirectory(prefix="cteimpact-bench-") as tmp:
        work = Path(tmp)
        if args.only != "demo":
            print("making the synthetic data (cteimpact synth, the demo's scale; not timed) ...", flush=True)
            subprocess.run([sys.executable, "-m", "cteimpact", "synth", "--out", "data", "--scale", "0.25",
                            "--seed", "7"], cwd=work, env=_env(), check=True, capture_output=True)
            copy_shipped_studies(work / "analyses")
            for name in studies:
                samples = []
                for k in range(args.repeat):
                    wall, stages, _ = timed(["run", f"analyses/{name}.toml", "--data-root", "data", "--out",
                                             f"runs/{name}-{k}"], work)
                    samples.append((wall, stages))
                    print(f"  cteimpact run {name}: {wall:.1f} s", flush=True)
                _print(f"cteimpact run {name}", *_minimum(samples), RUN_TARGET, args.repeat)
        if args.only != "run":
            samples = []
            for k in range(args.repeat):
                wall, stages, _ = timed(["demo", "--out", f"demo-{k}"], work)
                samples.append((wall, stages))
                print(f"  cteimpact demo: {wall:.1f} s", flush=True)
            _print("cteimpact demo", *_minimum(samples), DEMO_TARGET, args.repeat)
    print("\nTimes are wall-clock seconds, the minimum over the repeats (other processes only add time).")


if __name__ == "__main__":
    main()
