"""Shared by the score-cell RD tests (tests/rd/test_rd_sufficient.py, tests/backends/test_rd_in_engine.py):
generated data with a discrete score, the rdrobust reference on the rows, and the element-by-element comparison
with its tolerances (explained in tests/rd/test_rd_sufficient.py's docstring)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from cteimpact.errors import SmallSampleWarning
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.sufficient import cells_from_frame, fit_cells

__all__ = ["EXACT_FIELDS", "FLOAT_FIELDS", "RTOL_GIVEN", "RTOL_SELECTED", "assert_same", "differences", "grouped",
           "make_data", "make_fuzzy", "reference"]

RTOL_GIVEN = 1e-10
RTOL_SELECTED = 1e-8

FLOAT_FIELDS = ("estimate", "estimate_bc", "se", "se_robust", "z", "h", "b", "limits", "limits_bc")
EXACT_FIELDS = ("n", "n_h", "n_b", "n_unique", "n_clusters", "n_clusters_side", "cutoff", "p", "q", "deriv",
                "kernel", "vce", "bwselect", "level")


def make_data(seed: int, *, n: int = 20_000, n_values: int = 80, n_clusters: int = 120, cutoff: float = 0.0,
              step: float = 1.0, share_below: float = 0.4, level: float = 1.0, binary: bool = False) -> pd.DataFrame:
    """Rows with a score on a grid of ``n_values`` values (``share_below`` of them below ``cutoff``), each cluster's
    students spread around the cluster's own score, a jump of 0.4 at the cutoff and a cluster effect."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_clusters, n)
    grid = cutoff + step * (np.arange(n_values) - int(n_values * share_below))
    centre = rng.integers(0, n_values, n_clusters)
    spread = max(n_values // 6, 1)
    x = grid[np.clip(centre[g] + rng.integers(-spread, spread + 1, n), 0, n_values - 1)]
    t = (x - cutoff) / step
    signal = 0.4 * (x >= cutoff) + 0.01 * t - 0.0002 * t**2 + rng.normal(0, 0.3, n_clusters)[g]
    if binary:
        y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 1.5)))).astype(float)
    else:
        y = level + signal + rng.normal(0, 1, n)
    return pd.DataFrame({"x": x, "y": y, "g": g})


def make_fuzzy(df: pd.DataFrame, seed: int, cutoff: float = 0.0) -> pd.DataFrame:
    """``df`` with a take-up ``t`` (probability 0.2 below the cutoff, 0.7 at or above, a slight slope in the score)
    and an outcome raised by 0.8 with take-up."""
    rng = np.random.default_rng(seed + 100)
    x = df["x"].to_numpy()
    t = (rng.random(len(df)) < 0.2 + 0.5 * (x >= cutoff) + 0.002 * (x - cutoff)).astype(float)
    return df.assign(t=t, y=df["y"] + 0.8 * t)


def reference(df: pd.DataFrame, *, fuzzy: bool = False, **options: Any) -> LocalPolynomialFit:
    """rdrobust on the rows (warnings it raises are checked separately); ``fuzzy``: take-up column ``t``."""
    cluster = df["g"].to_numpy() if options.get("vce") in ("cr1", "cr2", "cr3") else None
    take_up = df["t"].to_numpy(float) if fuzzy else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_rdrobust(df["y"].to_numpy(float), df["x"].to_numpy(float), cluster=cluster, fuzzy=take_up,
                            **options)


def grouped(df: pd.DataFrame, *, fuzzy: bool = False, **options: Any) -> LocalPolynomialFit:
    cells = cells_from_frame(df, score="x", outcome="y", treatment="t" if fuzzy else None,
                             cluster="g" if options.get("vce") in ("cr1", "cr2", "cr3") else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fit_cells(cells, **options)


def _flat(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=float).reshape(-1)


def differences(ours: LocalPolynomialFit, ref: LocalPolynomialFit) -> dict[str, float]:
    """Largest difference per output, on the scale each output is compared on (see the module docstring)."""
    out: dict[str, float] = {}
    for name in FLOAT_FIELDS:
        a, b = _flat(getattr(ours, name)), _flat(getattr(ref, name))
        assert a.shape == b.shape, name
        out[name] = float(np.max(np.abs(a - b) / np.abs(b)))
    for side in ("left", "right"):
        sd = np.sqrt(np.diag(getattr(ref, f"vcov_{side}")))
        a, b = getattr(ours, f"beta_{side}"), getattr(ref, f"beta_{side}")
        out[f"beta_{side}"] = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), sd)))
        a, b = getattr(ours, f"vcov_{side}"), getattr(ref, f"vcov_{side}")
        out[f"vcov_{side}"] = float(np.max(np.abs(a - b) / np.outer(sd, sd)))
    out["bias"] = max(abs(x - y) for x, y in zip(ours.bias, ref.bias, strict=True)) / max(map(abs, ref.limits))
    quant = -norm.ppf((1 - ref.level / 100) / 2)
    taus, ses = (ref.estimate, ref.estimate_bc, ref.estimate_bc), (ref.se, ref.se, ref.se_robust)
    out["ci"] = max(abs(ours.ci[i][j] - ref.ci[i][j]) / (abs(taus[i]) + quant * ses[i])
                    for i in range(3) for j in range(2))
    out["p_value"] = max(abs(ours.p_value[i] - ref.p_value[i]) / ref.p_value[i] / max(1.0, ref.z[i] ** 2)
                         for i in range(3))
    assert (ours.first_stage is None) == (ref.first_stage is None)
    if ours.first_stage is not None and ref.first_stage is not None:
        out.update({f"first_stage.{k}": v for k, v in _jump_differences(ours.first_stage, ref.first_stage).items()})
    return out


def _jump_differences(ours: Any, ref: Any) -> dict[str, float]:
    """A first stage's estimates, SEs and z (relative), intervals and p-values as for the main jump."""
    out = {name: float(np.max(np.abs(_flat(getattr(ours, name)) - _flat(getattr(ref, name)))
                              / np.abs(_flat(getattr(ref, name)))))
           for name in ("estimate", "estimate_bc", "se", "se_robust", "z")}
    quant = 1.959963984540054
    taus, ses = (ref.estimate, ref.estimate_bc, ref.estimate_bc), (ref.se, ref.se, ref.se_robust)
    out["ci"] = max(abs(ours.ci[i][j] - ref.ci[i][j]) / (abs(taus[i]) + quant * ses[i])
                    for i in range(3) for j in range(2))
    out["p_value"] = max(abs(ours.p_value[i] - ref.p_value[i]) / ref.p_value[i] / max(1.0, ref.z[i] ** 2)
                         for i in range(3))
    return out


def assert_same(ours: LocalPolynomialFit, ref: LocalPolynomialFit, rtol: float) -> dict[str, float]:
    for name in EXACT_FIELDS:
        assert getattr(ours, name) == getattr(ref, name), name
    assert len(ours.warnings) == len(ref.warnings)
    assert len(ours.notes) == len(ref.notes)
    diffs = differences(ours, ref)
    bad = {k: v for k, v in diffs.items() if not v <= rtol}
    assert not bad, f"beyond {rtol:g}: {bad}"
    return diffs
