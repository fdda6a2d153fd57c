"""A study run gives the same bytes with 1 and 2 BLAS / OpenMP / numba threads.

Each shipped study (the DiD study with its HonestDiD smoothness and relative-magnitude sensitivity, the multiplier
and wild bootstraps, and the RD study with its diagnostics and local randomisation) runs twice through
``python -m cteimpact run`` in fresh interpreters whose thread-count variables are 1 and 2, on the small synthetic
data set of the pipeline tests. Every file of the two run directories (results.json, manifest.json, tables, figures)
must be identical. The runs use the same relative ``--out`` from two working directories, so that the command line
recorded in the manifest is the same too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYSES = REPO / "analyses"
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _start(spec: Path, data: Path, workdir: Path, threads: int) -> subprocess.Popen[str]:
    workdir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), **dict.fromkeys(THREAD_VARS, str(threads))}
    return subprocess.Popen([sys.executable, "-m", "cteimpact", "run", str(spec), "--data-root", str(data),
                             "--out", "run", "--quiet"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["pathways-earnings-did.toml", "ccpt-dropout-rd.toml"])
def test_study_run_is_identical_on_one_and_two_threads(spec: str, synth_dir: Path, tmp_path: Path) -> None:
    # both runs at once: the comparison is of their outputs, and it halves the wall time on two cores
    procs = {t: _start(ANALYSES / spec, synth_dir, tmp_path / f"threads{t}", t) for t in (1, 2)}
    for t, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{spec} on {t} thread(s) exited {proc.returncode}: {err[-2000:]}"
        assert "wrote" in out
    one, two = (_files(tmp_path / f"threads{t}" / "run") for t in (1, 2))
    assert {"results.json", "manifest.json"} <= set(one)
    assert any(name.startswith("tables/") and name.endswith(".csv") for name in one)
    assert any(name.startswith("figures/") for name in one)
    assert sorted(one) == sorted(two)
    differ = [name for name in one if one[name] != two[name]]
    assert differ == [], f"{spec}: files that differ between 1 and 2 threads: {differ}"
    if spec.startswith("pathways"):
        assert b'"restriction": "smoothness"' in one["results.json"]  # the HonestDiD FLCI ran
