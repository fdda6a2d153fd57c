"""The sampling distribution of a set of effect estimates, as pricing consumes it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cteimpact.errors import OptionError

__all__ = ["SamplingDistribution"]


@dataclass(frozen=True, eq=False)
class SamplingDistribution:
    """Approximate joint sampling distribution of effect estimates: normal, or Student t with ``df`` degrees of
    freedom (few clusters).

    Pricing draws effects from this distribution to price a contract under estimation uncertainty. Each design
    documents which centre and scale it reports (for RD: the bias-corrected estimate and the robust standard error,
    so that draws agree with the robust confidence interval; for DiD: the aggregated ATT and its influence-function
    covariance).

    Parameters
    ----------
    labels
        Estimate labels, in the order of ``mean``.
    mean
        Centre of each estimate.
    cov
        Covariance matrix (``k × k``), symmetric positive semi-definite.
    joint
        ``True`` when the off-diagonal covariances were estimated; ``False`` when only the variances are known
        and the off-diagonals are zero by assumption (separately estimated outcomes).
    df
        Degrees of freedom of a multivariate t; ``None`` for the normal.
    centre
        What ``mean`` is (for example ``"bias-corrected estimate"``).
    scale
        What the square roots of the diagonal of ``cov`` are (for example ``"robust standard error"``).
    """

    labels: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray
    joint: bool = True
    df: float | None = None
    centre: str = "point estimate"
    scale: str = "standard error"
    family: Literal["normal", "t"] = field(init=False)

    def __post_init__(self) -> None:
        labels = tuple(str(x) for x in self.labels)
        mean = np.asarray(self.mean, dtype=float).reshape(-1).copy()
        cov = np.atleast_2d(np.asarray(self.cov, dtype=float)).copy()
        k = len(labels)
        if len(set(labels)) != k:
            raise OptionError(f"sampling distribution labels must be unique, got {list(labels)}")
        if mean.shape != (k,) or cov.shape != (k, k):
            raise OptionError(
                f"sampling distribution with {k} labels needs a mean of length {k} and a {k}×{k} covariance, "
                f"got {mean.shape} and {cov.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise OptionError("sampling distribution mean and covariance must be finite")
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-14 * max(1.0, float(np.abs(cov).max(initial=0)))):
            raise OptionError("sampling distribution covariance must be symmetric")
        cov = (cov + cov.T) / 2
        if k and np.linalg.eigvalsh(cov).min() < -1e-10 * max(1.0, float(np.abs(np.diag(cov)).max())):
            raise OptionError("sampling distribution covariance must be positive semi-definite")
        if self.df is not None and not (self.df > 0 and math.isfinite(self.df)):
            raise OptionError(f"degrees of freedom must be positive, got {self.df}")
        if self.df is not None:  # stored as float so that to_dict() -> from_dict() -> to_dict() is identical
            object.__setattr__(self, "df", float(self.df))
        mean.setflags(write=False)
        cov.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "family", "normal" if self.df is None else "t")

    @classmethod
    def independent(
        cls,
        labels: Sequence[str],
        mean: Sequence[float],
        se: Sequence[float],
        **kwargs: Any,
    ) -> SamplingDistribution:
        """Estimates with known standard errors and unknown (assumed zero) covariances."""
        se_arr = np.asarray(se, dtype=float)
        return cls(tuple(labels), np.asarray(mean, dtype=float), np.diag(se_arr**2), joint=len(se_arr) <= 1,
                   **kwargs)

    @classmethod
    def block_diagonal(cls, parts: Sequence[SamplingDistribution], *, centre: str,
                       scale: str) -> SamplingDistribution:
        """One distribution of the estimates of several (their labels in order; each part's covariance a block, the
        covariances between parts zero: estimates of different results drawn as independent), with the heaviest
        tails among theirs (the smallest degrees of freedom; normal when none is a t). A label repeated across parts
        is refused (the labels must be unique)."""
        labels = tuple(lab for d in parts for lab in d.labels)
        k = len(labels)
        cov = np.zeros((k, k))
        i = 0
        for d in parts:
            m = len(d.labels)
            cov[i:i + m, i:i + m] = d.cov
            i += m
        mean = np.concatenate([d.mean for d in parts]) if parts else np.zeros(0)
        dfs = [d.df for d in parts if d.df is not None]
        return cls(labels, mean, cov, joint=False, df=min(dfs) if dfs else None, centre=centre, scale=scale)

    @property
    def std_errors(self) -> np.ndarray:
        """Square roots of the covariance diagonal."""
        return np.sqrt(np.diag(self.cov))

    def index(self, label: str) -> int:
        """Position of ``label``."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise OptionError(
                f"no estimate labelled '{label}'; available: {', '.join(self.labels)}"
            ) from None

    def marginal(self, label: str) -> tuple[float, float]:
        """``(centre, standard error)`` of one estimate."""
        i = self.index(label)
        return float(self.mean[i]), float(math.sqrt(self.cov[i, i]))

    def subset(self, labels: Sequence[str]) -> SamplingDistribution:
        """The joint distribution of some of the estimates, in the order given."""
        idx = [self.index(lab) for lab in labels]
        return SamplingDistribution(tuple(labels), self.mean[idx], self.cov[np.ix_(idx, idx)],
                                    joint=self.joint, df=self.df, centre=self.centre, scale=self.scale)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws as an ``n × k`` array (rows are draws, columns follow :attr:`labels`).

        The covariance factor comes from a symmetric eigendecomposition, so semi-definite covariances (perfectly
        correlated estimates) are allowed. Same generator state → same draws.
        """
        if n < 0:
            raise OptionError(f"number of draws must be non-negative, got {n}")
        k = len(self.labels)
        vals, vecs = np.linalg.eigh(self.cov)
        factor = vecs * np.sqrt(np.clip(vals, 0.0, None))
        z = rng.standard_normal((n, k))
        if self.df is not None:
            z = z / np.sqrt(rng.chisquare(self.df, size=(n, 1)) / self.df)
        return self.mean + z @ factor.T

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "family": self.family,
            "labels": list(self.labels),
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
            "joint": self.joint,
            "df": self.df,
            "centre": self.centre,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingDistribution:
        """Inverse of :meth:`to_dict`."""
        if isinstance(data.get("labels"), str):
            raise OptionError("sampling distribution record: 'labels' must be a list of labels, not a string")
        try:
            return cls(tuple(data["labels"]), np.asarray(data["mean"], dtype=float),
                       np.asarray(data["cov"], dtype=float), joint=bool(data.get("joint", True)),
                       df=None if data.get("df") is None else float(data["df"]),
                       centre=str(data.get("centre", "point estimate")),
                       scale=str(data.get("scale", "standard error")))
        except KeyError as exc:
            raise OptionError(f"sampling distribution record lacks the key {exc}") from None
