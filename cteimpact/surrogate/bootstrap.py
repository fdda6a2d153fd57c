"""Two-sample bootstrap of the surrogate-index effect (a cross-check of the analytic variance).

Each replicate resamples **both** samples independently, as they were drawn:

* the observational sample: rows with replacement, or whole clusters when the index was fitted with a cluster
  column; the index is refitted on the resample (``β*``);
* the experimental sample: rows with replacement within each arm (the arms' sizes are fixed by the design), or
  whole clusters within each arm when every cluster lies in one arm (cluster-randomised designs); when clusters
  span both arms, whole clusters are resampled from all of them; the design's effects on the index's regressors
  are re-estimated on the resample (``d*``), adjustment covariates re-centred at the resample's mean.

The replicate's effect is ``β*'d*``. The bootstrap standard error is the standard deviation of the replicates
(divisor ``B − 1``); the percentile interval their quantiles. A replicate whose refit is singular (a rare binary
surrogate absent from the resample, an arm without rows) is not used, and the number of such replicates is
reported. Resampling is driven by two independent streams spawned from ``seed``
(:class:`numpy.random.SeedSequence`), one per sample: the same data and seed give the same replicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cteimpact.errors import OptionError
from cteimpact.surrogate.model import TrainingArrays

__all__ = ["BootstrapSummary", "ExperimentArrays", "treatment_design", "two_sample_bootstrap"]

_MAX_CONDITION = 1e12
"""A replicate's normal equations with a larger condition number count as singular."""
_BLOCK_CELLS = 4_000_000
"""Replicates are drawn in blocks of about this many (replicate × row) counts, to bound memory."""


@dataclass(frozen=True, eq=False)
class ExperimentArrays:
    """The experimental rows the bootstrap resamples.

    Attributes
    ----------
    z
        The index's regressors (intercept, surrogates, covariates), ``n × k``.
    treatment
        0/1 treatment.
    adjust
        Adjustment covariates (``n × q``, raw; centred per replicate).
    weights, cluster
        Weights and cluster codes, or ``None``.
    """

    z: np.ndarray
    treatment: np.ndarray
    adjust: np.ndarray
    weights: np.ndarray | None
    cluster: np.ndarray | None


@dataclass(frozen=True, eq=False)
class BootstrapSummary:
    """The replicates of a two-sample bootstrap and what they give.

    Attributes
    ----------
    n_boot
        Replicates drawn.
    seed
        Seed of the resampling.
    draws
        The usable replicates' effects.
    n_failed
        Replicates not used (singular refit or an empty arm).
    level
        Level of :attr:`percentile_interval`.
    scheme
        How each sample was resampled, in words.
    """

    n_boot: int
    seed: int
    draws: np.ndarray
    n_failed: int
    level: float
    scheme: str

    @property
    def std_error(self) -> float:
        """Standard deviation of the usable replicates (divisor ``B − 1``); NaN with fewer than two."""
        return float(np.std(self.draws, ddof=1)) if self.draws.size > 1 else float("nan")

    @property
    def percentile_interval(self) -> tuple[float, float]:
        """The ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of the replicates."""
        if self.draws.size == 0:
            return float("nan"), float("nan")
        lo, hi = np.quantile(self.draws, [(1 - self.level) / 2, (1 + self.level) / 2])
        return float(lo), float(hi)

    def to_dict(self) -> dict[str, Any]:
        """Summary numbers (not the replicates)."""
        lo, hi = self.percentile_interval
        return {"n_boot": self.n_boot, "seed": self.seed, "n_used": int(self.draws.size),
                "n_failed": self.n_failed, "std_error": self.std_error, "percentile_lower": lo,
                "percentile_upper": hi, "level": self.level, "scheme": self.scheme}


def treatment_design(treatment: np.ndarray, adjust: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``[1, W]``, or with adjustment covariates ``[1, W, X̃, W·X̃]`` with ``X̃`` centred at its (weighted) mean
    (Lin 2013): the coefficient on ``W`` is then the covariate-adjusted difference in means."""
    n = treatment.size
    if adjust.shape[1] == 0:
        return np.column_stack([np.ones(n), treatment])
    w = np.ones(n) if weights is None else weights
    centred = adjust - (w @ adjust) / w.sum()
    return np.column_stack([np.ones(n), treatment, centred, centred * treatment[:, None]])


def _stable(a: np.ndarray) -> bool:
    """Whether a square matrix is finite and well conditioned enough to solve."""
    return bool(np.all(np.isfinite(a))) and float(np.linalg.cond(a)) < _MAX_CONDITION


class _IndexRefit:
    """Weighted least squares of the index on a resample (normal equations with the resample's counts as
    frequency weights)."""

    def __init__(self, t: TrainingArrays) -> None:
        self.w = np.ones(t.y.size) if t.weights is None else t.weights
        self.z, self.y = t.z, t.y

    def __call__(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (``B × k``) of a block of resamples (rows of ``counts``) and which gave a solvable fit."""
        beta = np.full((counts.shape[0], self.z.shape[1]), np.nan)
        ok = np.zeros(counts.shape[0], dtype=bool)
        for b, c in enumerate(counts):
            zw = self.z * (c * self.w)[:, None]
            a = zw.T @ self.z
            if _stable(a):
                beta[b] = np.linalg.solve(a, zw.T @ self.y)
                ok[b] = True
        return beta, ok


class _ArmComparison:
    """The design's effects on the index's regressors in a resample: differences in (weighted) means, or Lin's
    covariate-adjusted differences (each arm's regression on the covariates, evaluated at their overall mean),
    which equal the treatment coefficient of :func:`treatment_design`'s regression."""

    def __init__(self, e: ExperimentArrays) -> None:
        self.w = np.ones(e.treatment.size) if e.weights is None else e.weights
        self.arms = [self.w * (e.treatment == 1), self.w * (e.treatment == 0)]
        self.z, self.x = e.z, e.adjust

    def __call__(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Effects (``B × k``) of a block of resamples and which gave them (both arms present, covariates not
        collinear within an arm)."""
        totals = [counts @ arm for arm in self.arms]
        ok = (totals[0] > 0) & (totals[1] > 0)
        means = [counts @ (self.z * arm[:, None]) / np.where(t > 0, t, 1.0)[:, None]
                 for arm, t in zip(self.arms, totals, strict=True)]
        effects = means[0] - means[1]
        if self.x.shape[1] == 0:
            return effects, ok
        for b in np.flatnonzero(ok):
            c = counts[b]
            xbar_all = (c * self.w) @ self.x / (c @ self.w)
            adjusted = []
            for arm, total, zbar in zip(self.arms, totals, means, strict=True):
                u = c * arm
                xbar = u @ self.x / total[b]
                xc = self.x - xbar
                sxx = (xc * u[:, None]).T @ xc
                if not _stable(sxx):
                    break
                slope = np.linalg.solve(sxx, (xc * u[:, None]).T @ (self.z - zbar[b]))
                adjusted.append(zbar[b] - (xbar - xbar_all) @ slope)
            if len(adjusted) == 2:
                effects[b] = adjusted[0] - adjusted[1]
            else:
                ok[b] = False
        return effects, ok


class _Resampler:
    """Counts of each row in a block of resamples: rows or clusters, drawn within strata (arms) or not."""

    def __init__(self, n: int, cluster: np.ndarray | None, strata: np.ndarray | None) -> None:
        if cluster is None:
            units = np.arange(n)
            unit_stratum = strata if strata is not None else np.zeros(n, dtype=np.int64)
        else:
            units = cluster
            unit_stratum = np.zeros(int(cluster.max()) + 1, dtype=np.int64)
            if strata is not None:
                unit_stratum[cluster] = strata
        self.units = units
        self.n_units = int(unit_stratum.size)
        self.groups = [np.flatnonzero(unit_stratum == s) for s in np.unique(unit_stratum)]

    def counts(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size × n`` counts: each stratum's units drawn with replacement, as many as it has."""
        unit_counts = np.zeros((size, self.n_units))
        for g in self.groups:
            picked = rng.integers(0, g.size, size=(size, g.size)) + (np.arange(size) * g.size)[:, None]
            unit_counts[:, g] = np.bincount(picked.ravel(), minlength=size * g.size).reshape(size, g.size)
        return unit_counts[:, self.units]


def _experimental_strata(e: ExperimentArrays) -> tuple[np.ndarray | None, str]:
    """Arms as strata, unless clusters span both arms (then clusters are resampled from all of them)."""
    arm = e.treatment.astype(np.int64)
    if e.cluster is None:
        return arm, "rows within each arm"
    n_units = int(e.cluster.max()) + 1
    treated_rows = np.bincount(e.cluster, weights=arm, minlength=n_units)
    sizes = np.bincount(e.cluster, minlength=n_units)
    if bool(np.all((treated_rows == 0) | (treated_rows == sizes))):
        return arm, "clusters within each arm"
    return None, "clusters (they span both arms)"


def two_sample_bootstrap(training: TrainingArrays, experiment: ExperimentArrays, *, n_boot: int, seed: int,
                         level: float) -> BootstrapSummary:
    """Resample both samples ``n_boot`` times (see the module docstring).

    Parameters
    ----------
    training
        The observational rows the index was fitted on.
    experiment
        The experimental rows.
    n_boot
        Replicates (at least 2).
    seed
        Seed of the resampling.
    level
        Level of the percentile interval.

    Returns
    -------
    BootstrapSummary
    """
    if not (isinstance(n_boot, int | np.integer) and not isinstance(n_boot, bool) and n_boot >= 2):
        raise OptionError(f"n_boot must be a whole number of at least 2 replicates, got {n_boot!r}")
    obs_stream, exp_stream = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    obs = _Resampler(training.y.size, training.cluster, None)
    strata, exp_scheme = _experimental_strata(experiment)
    exp = _Resampler(experiment.treatment.size, experiment.cluster, strata)
    refit, compare = _IndexRefit(training), _ArmComparison(experiment)
    block = max(1, min(int(n_boot), _BLOCK_CELLS // max(training.y.size, experiment.treatment.size)))
    draws, ok = [], []
    for start in range(0, int(n_boot), block):
        size = min(block, int(n_boot) - start)
        beta, ok_beta = refit(obs.counts(obs_stream, size))
        d, ok_d = compare(exp.counts(exp_stream, size))
        good = ok_beta & ok_d
        draws.append(np.where(good, np.einsum("bk,bk->b", np.where(good[:, None], d, 0.0),
                                              np.where(good[:, None], beta, 0.0)), np.nan))
        ok.append(good)
    all_draws, all_ok = np.concatenate(draws), np.concatenate(ok)
    obs_scheme = "rows" if training.cluster is None else "clusters"
    scheme = f"observational sample: {obs_scheme}; experimental sample: {exp_scheme}"
    used = all_draws[all_ok]
    used.setflags(write=False)
    return BootstrapSummary(int(n_boot), int(seed), used, int(n_boot - all_ok.sum()), float(level), scheme)
