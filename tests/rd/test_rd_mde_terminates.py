"""rdmde's Newton-Raphson has no iteration limit and can cycle forever a few ulps from its target; the adapter
solves the same power equation by bracketing, so an MDE always returns (and equals rdpower's where Newton works:
the Senate golden numbers in test_rd_reference_senate.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from scipy.stats import norm

from cteimpact.rd.adapters.rdpower import _bracketed_mde

REPO = Path(__file__).resolve().parents[2]


def test_the_bracketed_root_has_the_requested_power() -> None:
    n, stilde, beta, z = 812.0, 1.7, 0.8, norm.ppf(0.975)
    out = _bracketed_mde(n, 0.01, stilde, z, beta)
    scale = n ** 0.5 / stilde
    power = 1 - norm.cdf(scale * out["mde"] + z) + norm.cdf(scale * out["mde"] - z)
    assert abs(power - beta) < 1e-12
    # about (z + z_beta) * s / sqrt(n) for a two-sided test at 80% power
    assert abs(out["mde"] - (z + norm.ppf(beta)) * stilde / n ** 0.5) < 1e-3


def test_an_mde_that_used_to_hang_returns(tmp_path: Path) -> None:
    """The design on which rdmde did not return within minutes (run in a subprocess with a time limit)."""
    script = textwrap.dedent("""
        import numpy as np, pandas as pd
        from cteimpact.rd import RegressionDiscontinuity
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, 1000)
        y = 0.3 * (x >= 0) + x + rng.normal(0, 1, 1000)
        rd = RegressionDiscontinuity(pd.DataFrame({"x": x, "y": y}), ["y"], "x", 0.0)
        print(rd.mde("y").mde)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert 0.5 < float(done.stdout.strip().splitlines()[-1]) < 1.5
