"""Estimator entry points run with one BLAS thread, so their results do not depend on the machine's thread count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cteimpact.threads import one_blas_thread

REPO = Path(__file__).resolve().parents[1]


def _blas_threads() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_one_blas_thread_limits_every_blas_library_and_restores_it() -> None:
    before = _blas_threads()
    assert before, "numpy's BLAS library should be visible to threadpoolctl"
    with one_blas_thread():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_entry_points_run_under_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``honest_sensitivity`` (one of the decorated entry points) BLAS reports one thread."""
    import cteimpact.did.honest as honest

    seen: list[list[int]] = []
    original = honest._SmoothnessFLCI.interval

    def spy(self: honest._SmoothnessFLCI, *args: object) -> tuple[float, float, np.ndarray]:
        seen.append(_blas_threads())
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(honest._SmoothnessFLCI, "interval", spy)
    sig = np.diag([1.0, 1.0, 1.0, 2.0])
    honest.honest_sensitivity(np.array([0.1, 0.0, -0.1, 1.0]), sig, n_pre=3, restriction="smoothness",
                              values=[0.0, 0.1], breakdown=False)
    assert len(seen) == 2
    assert all(t == [1] * len(t) for t in seen)


def test_every_estimator_entry_point_is_wrapped() -> None:
    from cteimpact.did.bacon import bacon_from_prepared
    from cteimpact.did.estimator import CallawaySantAnna
    from cteimpact.did.honest import honest_sensitivity
    from cteimpact.did.pretest import pretrend_power
    from cteimpact.did.sunab import sun_abraham_from_prepared
    from cteimpact.did.twfe import twfe_from_prepared
    from cteimpact.pricing.montecarlo import price_contract
    from cteimpact.rd.estimator import RegressionDiscontinuity as RDD

    entry_points = [CallawaySantAnna.fit, RDD.fit, RDD.power, RDD.mde, bacon_from_prepared, sun_abraham_from_prepared,
                    twfe_from_prepared, price_contract, honest_sensitivity, pretrend_power]
    unwrapped = [f.__qualname__ for f in entry_points if not hasattr(f, "__wrapped__")]
    assert unwrapped == []


_PROBE = """
import numpy as np
from cteimpact.threads import one_blas_thread
rng = np.random.default_rng(0)
x, y = rng.normal(size=(400_000, 3)), rng.normal(size=400_000)
with one_blas_thread():
    print((x.T @ y).tobytes().hex(), (x[:, 0] @ y).hex())
"""


def test_thread_sensitive_reductions_give_the_same_bits_under_one_blas_thread(tmp_path: Path) -> None:
    """``Xᵀy`` of a tall matrix and long dot products: OpenBLAS splits them across threads (on this machine with
    2 cores the bits differ between OPENBLAS_NUM_THREADS=1 and 2 outside the context)."""
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.strip())
    assert outs[0] and outs[0] == outs[1]


def test_controller_is_kept_and_rebuilt_when_a_library_is_loaded_later() -> None:
    """The cached controller is reused while nothing is loaded; a BLAS loaded afterwards (scipy's) is limited too."""
    code = (
        "import sys, numpy\n"
        "assert 'scipy' not in sys.modules\n"
        "from threadpoolctl import threadpool_info\n"
        "from cteimpact.threads import one_blas_thread, _controller\n"
        "def n(): return [int(i['num_threads']) for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "first = _controller()\n"
        "with one_blas_thread(): pass\n"
        "print('same', _controller() is first)\n"
        "before = len(n())\n"
        "import scipy.linalg\n"
        "with one_blas_thread(): inside = n()\n"
        "ok = inside == [1] * len(inside)\n"
        "print('libs', before, len(inside), 'limited', ok, 'rebuilt', _controller() is not first)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    lines = out.stdout.split("\n")
    assert lines[0] == "same True"
    words = lines[1].split()
    assert int(words[2]) > int(words[1]), out.stdout
    assert words[4:] == ["True", "rebuilt", "True"], out.stdout
