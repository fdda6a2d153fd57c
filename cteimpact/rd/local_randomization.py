"""Local-randomisation RD analysis: randomisation inference in a small window around the cutoff.

When few assignment units sit near the cutoff (tens of grant consortia) the continuity-based large-sample
approximations are fragile. The local-randomisation view (Cattaneo, Frandsen & Titiunik 2015; Cattaneo, Titiunik &
Vazquez-Bare 2016) treats assignment in a small window ``[c - w, c + w]`` as if randomised and tests the sharp
null of no effect by re-randomising the treatment labels.

This implementation follows ``rdlocrand``'s ``rdrandinf`` with the difference-in-means statistic (``p = 0``,
uniform kernel, complete randomisation with the observed number of treated units) and extends it to designs whose
score is assigned to **units** (consortia, schools): labels are permuted across units, and the statistic is the
difference in the outcome's mean over rows. With one row per unit it coincides with rdrandinf (the tests compare
the observed statistic and the asymptotic p-value exactly and the randomisation p-value within Monte Carlo
error). Also reported: an asymptotic p-value (Welch, cluster-robust by unit), a confidence interval by inverting
the randomisation test under a constant additive effect, and a window selected by covariate balance (the
largest window whose nested windows all have balance p-values of at least ``window_alpha``, 0.15 as CTV 2016
recommend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.errors import DesignError, OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.text import format_number

__all__ = ["STATISTICS", "LocalRandomizationResult", "WindowBalance", "local_randomization", "select_window"]

STATISTICS: tuple[str, ...] = ("diffmeans", "ksmirnov", "ranksum")
"""Test statistics of the randomisation test (rdlocrand's names)."""
STATISTIC_NAMES = {"diffmeans": "difference in means", "ksmirnov": "Kolmogorov-Smirnov statistic",
                   "ranksum": "rank-sum z statistic"}


@dataclass(frozen=True)
class WindowBalance:
    """Balance of the covariates in one candidate window."""

    half_width: float
    units_left: int
    units_right: int
    min_p: float
    worst_covariate: str

    def to_dict(self) -> dict[str, Any]:
        return {"half_width": self.half_width, "units_left": self.units_left, "units_right": self.units_right,
                "min_p": self.min_p, "worst_covariate": self.worst_covariate}


@dataclass(frozen=True)
class LocalRandomizationResult:
    """Randomisation inference in a window around the cutoff.

    Attributes
    ----------
    window
        ``(lower, upper)`` bounds on the running variable (inclusive).
    estimate
        Difference in mean outcome, at-or-above minus below the cutoff, over rows in the window.
    p_value
        Randomisation p-value of the sharp null of no effect (``reps`` re-randomisations of unit labels).
    p_asymptotic
        Normal p-value with the Welch (unit-clustered) standard error.
    ci
        Randomisation confidence interval (test inversion under a constant effect; ``None`` if not requested).
    window_selection
        Candidate windows and their covariate balance, when the window was selected from covariates.
    """

    outcome: str
    cutoff: float
    window: tuple[float, float]
    estimate: float
    se_asymptotic: float
    p_value: float
    p_asymptotic: float
    n: tuple[int, int]
    units: tuple[int, int]
    unit: str
    reps: int
    seed: int
    level: float
    ci: tuple[float, float] | None = None
    window_selection: tuple[WindowBalance, ...] = ()
    notes: tuple[str, ...] = field(default=())
    suppressed: str | None = None
    statistic: str = "diffmeans"
    """Test statistic of the randomisation and asymptotic p-values: ``diffmeans`` (difference in means),
    ``ksmirnov`` (Kolmogorov-Smirnov) or ``ranksum`` (Wilcoxon-Mann-Whitney standardised rank sum), as rdlocrand."""
    statistic_value: float | None = None
    """The observed value of ``statistic`` (the difference in means itself for ``diffmeans``)."""
    """Why the small-cell rule hides the result (fewer than ``min_cell`` students on a side of the window);
    :meth:`to_dict` and :meth:`summary` then show no number computed from those students."""

    def summary(self) -> str:
        if self.suppressed is not None:
            return f"  {SUPPRESSION_MARKER} suppressed ({self.suppressed})"
        lines = [f"  window [{format_number(self.window[0], 4)}, {format_number(self.window[1], 4)}]: "
                 f"{self.units[0]} / {self.units[1]} {self.unit} below / above ({self.n[0]:,} / {self.n[1]:,} rows)",
                 f"  difference in means {format_number(self.estimate)}"
                 + ("" if self.statistic == "diffmeans" else
                    f"; {STATISTIC_NAMES[self.statistic]} {format_number(self.statistic_value or math.nan)}")
                 + "; randomisation p = "
                 f"{format_number(self.p_value)} ({self.reps} draws, seed {self.seed}); asymptotic p = "
                 f"{format_number(self.p_asymptotic)}"]
        if self.ci is not None:
            lines.append(f"  {round(self.level * 100)}% randomisation CI [{format_number(self.ci[0])}, "
                         f"{format_number(self.ci[1])}]")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        if self.suppressed is not None:
            return {"outcome": self.outcome, "cutoff": self.cutoff, "window": list(self.window), "estimate": None,
                    "se_asymptotic": None, "p_value": None, "p_asymptotic": None, "n": None, "units": None,
                    "unit": self.unit, "reps": self.reps, "seed": self.seed, "level": self.level, "ci": None,
                    "window_selection": [], "notes": [], "suppressed": True, "suppression": self.suppressed,
                    "statistic": self.statistic, "statistic_value": None}
        return {"outcome": self.outcome, "cutoff": self.cutoff, "window": list(self.window),
                "estimate": self.estimate, "se_asymptotic": self.se_asymptotic, "p_value": self.p_value,
                "p_asymptotic": self.p_asymptotic, "n": list(self.n), "units": list(self.units), "unit": self.unit,
                "reps": self.reps, "seed": self.seed, "level": self.level,
                "ci": None if self.ci is None else list(self.ci),
                "window_selection": [w.to_dict() for w in self.window_selection], "notes": list(self.notes),
                "suppressed": False, "suppression": None, "statistic": self.statistic,
                "statistic_value": self.statistic_value}


@dataclass(frozen=True)
class _Units:
    """Per-unit sums of the rows in a window."""

    treated: np.ndarray  # bool per unit
    n: np.ndarray  # rows per unit
    sums: np.ndarray  # (units, k) sums of the variables
    sumsq: np.ndarray


def _collapse(codes: np.ndarray, treated_rows: np.ndarray, values: np.ndarray) -> _Units:
    uniq, inv = np.unique(codes, return_inverse=True)
    g = uniq.size
    n = np.bincount(inv, minlength=g).astype(float)
    vals = values.reshape(values.shape[0], -1)
    sums = np.column_stack([np.bincount(inv, weights=vals[:, j], minlength=g) for j in range(vals.shape[1])])
    sumsq = np.column_stack([np.bincount(inv, weights=vals[:, j] ** 2, minlength=g) for j in range(vals.shape[1])])
    t = np.zeros(g, dtype=bool)
    t[inv] = treated_rows
    return _Units(t, n, sums, sumsq)


def _diffmeans(units: _Units, labels: np.ndarray) -> np.ndarray:
    """Difference in row means (treated minus control) for label matrix ``labels`` (draws × units) or a vector."""
    lab = np.atleast_2d(labels).astype(float)
    nt = lab @ units.n
    nc = (1 - lab) @ units.n
    st = lab @ units.sums
    sc = (1 - lab) @ units.sums
    return st / nt[:, None] - sc / nc[:, None]


def _welch(units: _Units, col: int = 0) -> tuple[float, float]:
    """Difference in means and its Welch standard error (cluster-robust by unit; rdrandinf's with 1 row per unit)."""
    out = []
    for grp in (units.treated, ~units.treated):
        n = units.n[grp]
        s = units.sums[grp, col]
        ntot = n.sum()
        mean = s.sum() / ntot
        g = grp.sum()
        if np.all(n == 1):
            ss = units.sumsq[grp, col].sum() - ntot * mean**2
            var = ss / ntot / (ntot - 1) if ntot > 1 else math.nan
        else:
            e = s - mean * n
            var = float(np.sum(e**2)) / ntot**2 * (g / (g - 1)) if g > 1 else math.nan
        out.append((mean, var))
    diff = out[0][0] - out[1][0]
    return diff, math.sqrt(out[0][1] + out[1][1])


def _draws(treated: np.ndarray, reps: int, rng: np.random.Generator, chunk: int = 256):
    g = treated.size
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        keys = rng.random((m, g))
        perm = np.argsort(keys, axis=1)
        yield treated[perm]


def _window_units(x: np.ndarray, codes: np.ndarray, cutoff: float, lo: float, hi: float) -> np.ndarray:
    return (np.round(x, 8) >= np.round(lo, 8)) & (np.round(x, 8) <= np.round(hi, 8))


def _randomization(units: _Units, obs: np.ndarray, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of every column over ``reps`` re-randomisations, and of the treatment indicator."""
    rng = np.random.default_rng(seed)
    stats_y, stats_d = [], []
    t = units.treated.astype(float)
    d_units = _Units(units.treated, units.n, (t * units.n)[:, None], (t * units.n)[:, None])
    for lab in _draws(units.treated, reps, rng):
        stats_y.append(_diffmeans(units, lab))
        stats_d.append(_diffmeans(d_units, lab)[:, 0])
    return np.vstack(stats_y), np.concatenate(stats_d)


def _distribution_stats(y: np.ndarray, labels: np.ndarray, statistic: str) -> np.ndarray:
    """``ksmirnov`` or ``ranksum`` for each row of ``labels`` (draws x rows; True = at or above the cutoff), one row
    per unit, as rdlocrand defines them: the largest gap between the two empirical distribution functions (ties
    compared exactly in integer counts), and the standardised Wilcoxon rank sum of the rows below the cutoff."""
    lab = np.atleast_2d(labels).astype(np.int64)
    n1 = int(lab[0].sum())
    n0 = lab.shape[1] - n1
    if statistic == "ranksum":
        ranks = stats.rankdata(y)
        n = n0 + n1
        below = (1 - lab) @ ranks
        return (below - n0 * (n + 1) / 2) / math.sqrt(n0 * n1 * (n + 1) / 12)
    order = np.argsort(y, kind="stable")
    ys = y[order]
    last = np.flatnonzero(np.r_[ys[1:] != ys[:-1], True])  # last position of each distinct value
    above = np.cumsum(lab[:, order], axis=1)[:, last]
    below = (last + 1)[None, :] - above
    return np.max(np.abs(below * n1 - above * n0), axis=1) / (n0 * n1)


def _asymptotic_p(y: np.ndarray, treated: np.ndarray, statistic: str, value: float) -> float:
    if statistic == "ksmirnov":
        return float(stats.ks_2samp(y[~treated], y[treated]).pvalue)
    return float(2 * stats.norm.sf(abs(value)))


def select_window(
    x: np.ndarray,
    cutoff: float,
    covariates: Mapping[str, np.ndarray],
    *,
    codes: np.ndarray | None = None,
    min_units: int = 10,
    step: int = 5,
    n_windows: int = 10,
    level: float = 0.15,
    reps: int = 500,
    seed: int = 666,
) -> tuple[float, tuple[WindowBalance, ...]]:
    """Choose the window half-width by covariate balance (nested symmetric windows, growing by ``step`` units a
    side from ``min_units``); returns the largest half-width whose nested windows all have min p >= ``level``."""
    if not covariates:
        raise OptionError("window selection needs at least one baseline covariate")
    codes = np.arange(x.size) if codes is None else codes
    _uniq, first = np.unique(codes, return_index=True)
    ux = x[first]
    dist_l = np.sort(cutoff - ux[ux < cutoff])
    dist_r = np.sort(ux[ux >= cutoff] - cutoff)
    rows: list[WindowBalance] = []
    names = list(covariates)
    mat = np.column_stack([np.asarray(covariates[n], dtype=float) for n in names])
    for j in range(n_windows):
        k = min_units + step * j
        if k > dist_l.size or k > dist_r.size:
            break
        w = float(max(dist_l[k - 1], dist_r[k - 1]))
        inw = np.abs(x - cutoff) <= w
        ok = inw & np.all(np.isfinite(mat), axis=1)
        units = _collapse(codes[ok], x[ok] >= cutoff, mat[ok])
        obs = _diffmeans(units, units.treated)[0]
        sy, _ = _randomization(units, obs, reps, seed)
        pvals = np.mean(np.abs(sy) >= np.abs(obs)[None, :] - 1e-12 * (1 + np.abs(obs)[None, :]), axis=0)
        i = int(np.argmin(pvals))
        rows.append(WindowBalance(w, int((~units.treated).sum()), int(units.treated.sum()), float(pvals[i]), names[i]))
    if not rows:
        raise DesignError(f"fewer than {min_units} units on one side of the cutoff; no window can be selected")
    chosen = rows[0].half_width
    for r in rows:
        if r.min_p < level:
            break
        chosen = r.half_width
    return chosen, tuple(rows)


def local_randomization(
    x: np.ndarray,
    y: np.ndarray,
    cutoff: float,
    *,
    outcome: str = "outcome",
    window: float | tuple[float, float] | None = None,
    codes: np.ndarray | None = None,
    unit: str = "rows",
    covariates: Mapping[str, np.ndarray] | None = None,
    reps: int = 1000,
    seed: int = 666,
    level: float = 0.95,
    ci: bool = True,
    ci_grid: Sequence[float] | None = None,
    window_alpha: float = 0.15,
    statistic: str = "diffmeans",
) -> LocalRandomizationResult:
    """Randomisation inference for the RD effect in a window (see the module docstring).

    Parameters
    ----------
    x, y
        Running variable and outcome (no missing values).
    window
        Half-width around the cutoff or ``(lower, upper)`` bounds; if ``None``, selected from ``covariates``.
    codes
        Assignment-unit codes (labels are permuted across units); default one unit per row.
    reps, seed
        Re-randomisations and the seed of their generator (same seed → same p-value).
    ci, ci_grid
        Whether to invert the test for a confidence interval, and on which grid of effects (default 201 points
        over the estimate ± 5 asymptotic standard errors); difference in means only.
    statistic
        ``diffmeans`` (default), ``ksmirnov`` or ``ranksum`` (rdlocrand's statistics): the randomisation and
        asymptotic p-values test the sharp null with it. The distributional statistics need one row per unit.
    """
    if statistic not in STATISTICS:
        raise OptionError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise OptionError(f"x and y must have the same length, got {x.size} and {y.size}")
    if reps < 100:
        raise OptionError(f"reps must be at least 100, got {reps}")
    codes = np.arange(x.size) if codes is None else np.asarray(codes)
    selection: tuple[WindowBalance, ...] = ()
    notes: list[str] = []
    if window is None:
        if not covariates:
            raise OptionError("give a window (half-width) or baseline covariates to select one")
        half, selection = select_window(x, cutoff, covariates, codes=codes, level=window_alpha, seed=seed)
        lo, hi = cutoff - half, cutoff + half
        if selection and selection[0].min_p < window_alpha:
            notes.append(f"even the smallest window shows covariate imbalance (min p {selection[0].min_p:.3f} < "
                         f"{window_alpha}); it is used, but the local-randomisation assumption is doubtful")
    elif isinstance(window, (tuple, list)):
        lo, hi = float(window[0]), float(window[1])
    else:
        lo, hi = cutoff - float(window), cutoff + float(window)
    if not lo < cutoff <= hi:
        raise OptionError(f"the window [{lo}, {hi}] must contain the cutoff {cutoff}")
    inw = _window_units(x, codes, cutoff, lo, hi)
    treated_rows = x[inw] >= cutoff
    if treated_rows.all() or not treated_rows.any():
        raise DesignError(f"the window [{lo:g}, {hi:g}] has observations on one side of the cutoff only")
    units = _collapse(codes[inw], treated_rows, y[inw])
    mixed = np.unique(codes[inw][treated_rows]).size + np.unique(codes[inw][~treated_rows]).size
    if mixed != units.treated.size:
        raise OptionError("some assignment units have rows on both sides of the cutoff; the unit column does not "
                          "identify the unit the score was assigned to")
    n_t, n_c = int(units.treated.sum()), int((~units.treated).sum())
    if min(n_t, n_c) < 2:
        raise DesignError(f"the window has {n_c} unit(s) below and {n_t} at or above the cutoff; at least 2 a side "
                          "are needed")
    if statistic != "diffmeans" and not np.all(units.n == 1):
        raise OptionError(f"statistic='{statistic}' compares the distributions of one row per assignment unit, but "
                          f"{int(np.count_nonzero(units.n > 1))} units have several rows in the window; use "
                          "statistic='diffmeans'")
    obs = float(_diffmeans(units, units.treated)[0, 0])
    _, se = _welch(units)
    if statistic != "diffmeans":
        return _distribution_test(x, y, inw, treated_rows, units, statistic, obs, se, lo, hi, outcome=outcome,
                                  cutoff=cutoff, unit=unit, reps=reps, seed=seed, level=level, ci=ci,
                                  selection=selection, notes=notes)
    p_asy = float(2 * stats.norm.sf(abs(obs) / se)) if se > 0 else math.nan
    max_perm = math.comb(units.treated.size, n_t)
    if max_perm < reps:
        notes.append(f"only {max_perm} distinct assignments exist; {reps} random draws repeat some of them")
    sy, sd = _randomization(units, np.array([obs]), reps, seed)
    a = sy[:, 0]
    tol = 1e-12 * (1 + abs(obs))
    p_value = float(np.mean(np.abs(a) >= abs(obs) - tol))
    interval = None
    if ci:
        grid = np.asarray(ci_grid, dtype=float) if ci_grid is not None else (
            np.linspace(obs - 5 * se, obs + 5 * se, 201) if (se > 0 and math.isfinite(se)) else np.array([obs]))
        alpha = 1 - level
        pv = np.array([np.mean(np.abs(a - t * sd) >= np.abs(obs - t) - tol) for t in grid])
        accepted = grid[pv >= alpha]
        if accepted.size:
            interval = (float(accepted.min()), float(accepted.max()))
            if accepted.min() == grid.min() or accepted.max() == grid.max():
                notes.append("the randomisation confidence interval reaches the end of the grid; widen ci_grid")
        else:
            notes.append("no effect on the grid is accepted; the confidence interval is empty on this grid")
    return LocalRandomizationResult(
        outcome=outcome, cutoff=float(cutoff), window=(float(lo), float(hi)), estimate=obs, se_asymptotic=float(se),
        p_value=p_value, p_asymptotic=p_asy, n=(int((~treated_rows).sum()), int(treated_rows.sum())),
        units=(n_c, n_t), unit=unit, reps=int(reps), seed=int(seed), level=float(level), ci=interval,
        window_selection=selection, notes=tuple(notes), statistic="diffmeans", statistic_value=obs)


def _distribution_test(x: np.ndarray, y: np.ndarray, inw: np.ndarray, treated_rows: np.ndarray, units: _Units,
                       statistic: str, obs: float, se: float, lo: float, hi: float, *, outcome: str, cutoff: float,
                       unit: str, reps: int, seed: int, level: float, ci: bool, selection: tuple[WindowBalance, ...],
                       notes: list[str]) -> LocalRandomizationResult:
    """Randomisation inference with the Kolmogorov-Smirnov or rank-sum statistic (one row per unit)."""
    yu = units.sums[:, 0]  # one row per unit: the unit's outcome
    value = float(_distribution_stats(yu, units.treated, statistic)[0])
    rng = np.random.default_rng(seed)
    draws = np.concatenate([_distribution_stats(yu, lab, statistic) for lab in _draws(units.treated, reps, rng)])
    tol = 1e-12 * (1 + abs(value))
    p_value = float(np.mean(np.abs(draws) >= abs(value) - tol))
    n_t, n_c = int(units.treated.sum()), int((~units.treated).sum())
    max_perm = math.comb(units.treated.size, n_t)
    if max_perm < reps:
        notes.append(f"only {max_perm} distinct assignments exist; {reps} random draws repeat some of them")
    if ci:
        notes.append(f"the randomisation confidence interval is computed for the difference in means only; none "
                     f"with statistic '{statistic}'")
    return LocalRandomizationResult(
        outcome=outcome, cutoff=float(cutoff), window=(float(lo), float(hi)), estimate=obs, se_asymptotic=float(se),
        p_value=p_value, p_asymptotic=_asymptotic_p(yu, units.treated, statistic, value),
        n=(int((~treated_rows).sum()), int(treated_rows.sum())), units=(n_c, n_t), unit=unit, reps=int(reps),
        seed=int(seed), level=float(level), ci=None, window_selection=selection, notes=tuple(notes),
        statistic=statistic, statistic_value=value)


def unit_codes(frame: pd.DataFrame, column: str | None) -> np.ndarray | None:
    """Integer codes of an assignment-unit column (``None`` → one unit per row)."""
    if column is None:
        return None
    codes, _ = pd.factorize(frame[column], sort=False)
    if np.any(codes < 0):
        raise OptionError(f"assignment unit column '{column}' has missing values")
    return codes.astype(np.int64)
