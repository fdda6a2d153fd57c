"""The surrogate index: the long-run outcome predicted from surrogates (interim outcomes) and covariates.

Athey, Chetty, Imbens & Kang (2019, NBER WP 26463; *Review of Economic Studies* 2025) define the surrogate index
as ``h(s, x) = E[Y | S = s, X = x]`` in an observational sample where the long-run outcome ``Y`` and the surrogates
``S`` are both seen (older cohorts), and estimate the long-run effect of a treatment in an experimental sample,
where ``Y`` is not yet seen, by the treatment's effect on ``h(S, X)``.

:class:`SurrogateIndex` holds the observational sample and the model's columns; :meth:`SurrogateIndex.fit` returns
a :class:`SurrogateModel`, the **linear projection** ``Y = α + β_S'S + β_X'X + e`` fitted by (weighted) least
squares, with an HC1 covariance, or CR1 when a cluster column is given. Because the index is linear in its
coefficients, the long-run effect is ``β'`` times the treatment's effects on the index's regressors, which is what
:mod:`cteimpact.surrogate.effect` uses for its standard errors. When ``E[Y | S, X]`` is not linear in the columns
given, the index is the best linear predictor: add transformations or interactions of the surrogates as further
columns to approximate it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.errors import DesignError, OptionError
from cteimpact.results.serialization import to_jsonable
from cteimpact.results.text import format_number, format_p
from cteimpact.surrogate.errors import TooFewRowsError
from cteimpact.surrogate.ols import CovType, check_full_rank, fit_least_squares
from cteimpact.surrogate.sample import Column, PreparedSample, prepare_sample
from cteimpact.threads import one_blas_thread

__all__ = ["INTERCEPT", "IndexValues", "SurrogateIndex", "SurrogateModel", "TrainingArrays", "check_model_columns",
           "freeze_arrays", "index_design"]

INTERCEPT = "intercept"
"""Name of the intercept among the model's terms."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _names(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise OptionError(f"{what} must be a list of column names, got the single string {value!r}; "
                          f"write [{value!r}]")
    names = tuple(value)
    for v in names:
        if not isinstance(v, str) or not v:
            raise OptionError(f"{what} must be column names (non-empty strings), got {v!r}")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        raise OptionError(f"{what} repeat {', '.join(repr(r) for r in repeated)}")
    return names


def check_model_columns(*, outcome: str, surrogates: Sequence[str], covariates: Sequence[str],
                        weights: str | None, cluster: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Refuse inconsistent column options before any data are read; return the surrogates and covariates."""
    if not isinstance(outcome, str) or not outcome:
        raise OptionError(f"outcome must be a column name, got {outcome!r}")
    surr = _names(surrogates, "surrogates")
    cov = _names(covariates, "covariates")
    if not surr:
        raise OptionError("surrogates must name at least one interim-outcome column")
    both = sorted(set(surr) & set(cov))
    if both:
        raise OptionError(f"{', '.join(repr(b) for b in both)} named both as surrogate and as covariate; a column "
                          "is one or the other (covariates are measured before treatment)")
    if outcome in surr or outcome in cov:
        raise OptionError(f"the long-run outcome '{outcome}' is also named as a surrogate or covariate")
    for what, col in (("weights", weights), ("cluster", cluster)):
        if col is not None and (not isinstance(col, str) or not col):
            raise OptionError(f"{what} must be a column name or None, got {col!r}")
        if col is not None and col in (outcome, *surr, *cov):
            raise OptionError(f"the {what} column '{col}' is also a model column")
    return surr, cov


def index_design(sample: PreparedSample, surrogates: Sequence[str], covariates: Sequence[str]) -> np.ndarray:
    """The index's regressors of a prepared sample: intercept, surrogates, covariates (``n × k``)."""
    return np.column_stack([np.ones(sample.n), sample.matrix(surrogates), sample.matrix(covariates)])


def freeze_arrays(obj: object, *names: str) -> None:
    """Store read-only float copies of the named array fields of a frozen dataclass (the surrogate results'
    coefficient and covariance arrays cannot be changed after the fit)."""
    for name in names:
        arr = np.array(getattr(obj, name), dtype=float)
        arr.setflags(write=False)
        object.__setattr__(obj, name, arr)


@dataclass(frozen=True, eq=False)
class TrainingArrays:
    """The fitted rows of the observational sample, kept for the two-sample bootstrap (never written out).

    Attributes
    ----------
    z
        Design: intercept, surrogates, covariates (``n × k``).
    y
        Long-run outcome.
    weights
        Weights, or ``None``.
    cluster
        Cluster codes, or ``None``.
    """

    z: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    cluster: np.ndarray | None


@dataclass(frozen=True, eq=False)
class IndexValues:
    """The surrogate index of each usable row of a sample.

    Attributes
    ----------
    values
        Predicted long-run outcome, indexed by the data's index labels of the rows used, named
        ``"<outcome>_index"``.
    flow
        Rows read, each exclusion (a missing surrogate or covariate) with its count, rows used.
    """

    values: pd.Series
    flow: SampleFlow


@dataclass(frozen=True, eq=False)
class SurrogateModel:
    """A fitted surrogate index: the linear projection of the long-run outcome on surrogates and covariates.

    Attributes
    ----------
    outcome
        Long-run outcome column.
    surrogates, covariates
        Column names, in the model's order.
    params
        Coefficients, in the order of :attr:`terms` (intercept, surrogates, covariates).
    cov
        Their HC1 (or, with a cluster column, CR1) covariance.
    n
        Rows used.
    n_clusters
        Clusters used (``None`` without a cluster column).
    r_squared
        (Weighted) R² of the projection: the share of the long-run outcome's variance the index explains.
    cov_type
        ``"HC1"`` or ``"CR1"``.
    outcome_mean, outcome_sd
        (Weighted) mean and standard deviation of the long-run outcome in the rows used.
    flow
        Sample flow of the observational sample.
    options
        Every option used, as plain data.
    """

    outcome: str
    surrogates: tuple[str, ...]
    covariates: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    n: int
    n_clusters: int | None
    r_squared: float
    cov_type: CovType
    outcome_mean: float
    outcome_sd: float
    flow: SampleFlow
    options: Mapping[str, Any]
    training: TrainingArrays | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self, "params", "cov")
        object.__setattr__(self, "options", dict(self.options))

    @property
    def terms(self) -> tuple[str, ...]:
        """``("intercept", *surrogates, *covariates)``."""
        return (INTERCEPT, *self.surrogates, *self.covariates)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors by term."""
        return pd.Series(np.sqrt(np.diag(self.cov)), index=pd.Index(self.terms, name="term"), name="std_error")

    @property
    def coef(self) -> pd.Series:
        """Coefficients by term."""
        return pd.Series(self.params, index=pd.Index(self.terms, name="term"), name="estimate")

    def coefficients(self, level: float = 0.95) -> pd.DataFrame:
        """``term, estimate, std_error, statistic, p_value, ci_lower, ci_upper`` (normal reference)."""
        se = np.sqrt(np.diag(self.cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.params / se
        crit = float(stats.norm.ppf(0.5 + level / 2))
        return pd.DataFrame({"term": self.terms, "estimate": self.params, "std_error": se, "statistic": z,
                             "p_value": 2 * stats.norm.sf(np.abs(z)), "ci_lower": self.params - crit * se,
                             "ci_upper": self.params + crit * se})

    def surrogate_block(self) -> tuple[np.ndarray, np.ndarray]:
        """The surrogates' coefficients ``β_S`` and their covariance ``Σ_β,SS``."""
        idx = np.arange(1, 1 + len(self.surrogates))
        return self.params[idx].copy(), self.cov[np.ix_(idx, idx)].copy()

    def design(self, sample: PreparedSample) -> np.ndarray:
        """The index's regressors (intercept, surrogates, covariates) of a prepared sample."""
        return index_design(sample, self.surrogates, self.covariates)

    def index(self, data: pd.DataFrame | StudentData, *, where: Sequence[str] = (),
              source: str | None = None) -> IndexValues:
        """The surrogate index (predicted long-run outcome) of each row of another sample.

        Rows missing a surrogate or covariate are excluded, one step of the returned flow per column; nothing is
        dropped unrecorded.

        Parameters
        ----------
        data
            A DataFrame or :class:`~cteimpact.data.StudentData` with the surrogate and covariate columns.
        where
            Sample restrictions applied first.
        source
            Name of the data in a new flow (default ``"sample the index is applied to"``).

        Raises
        ------
        SampleColumnError
            A surrogate or covariate column is not in the data (the message names it).
        AllMissingError, ColumnTypeError
            A surrogate or covariate with no value, or not numeric.
        TooFewRowsError
            No row has every surrogate and covariate.
        """
        prepared = prepare_sample(data, sample=source or "sample the index is applied to",
                                  columns=self._columns(), where=where)
        with one_blas_thread():
            values = self.design(prepared) @ self.params
        return IndexValues(pd.Series(values, index=prepared.index, name=f"{self.outcome}_index"), prepared.flow)

    def _columns(self) -> list[Column]:
        return [Column(s, "surrogate") for s in self.surrogates] + [Column(c, "covariate") for c in self.covariates]

    def summary(self) -> str:
        """The coefficients, fit and sample flow as plain text."""
        table = self.coefficients()
        width = max(len(t) for t in self.terms)
        on = _count(len(self.surrogates), "surrogate")
        if self.covariates:
            on += f" and {_count(len(self.covariates), 'covariate')}"
        lines = [f"Surrogate index for '{self.outcome}': linear projection on {on}",
                 f"N = {self.n:,} rows" + (f", {self.n_clusters:,} clusters" if self.n_clusters else "")
                 + f"; R² = {self.r_squared:.4f}; {self.cov_type} standard errors",
                 "",
                 f"{'term'.ljust(width)}  {'estimate':>12}  {'std.err':>12}  {'p-value':>8}"]
        for r in table.itertuples(index=False):
            lines.append(f"{str(r.term).ljust(width)}  {format_number(float(r.estimate)):>12}  "
                         f"{format_number(float(r.std_error)):>12}  {format_p(float(r.p_value)):>8}")
        lines += ["", "Sample flow (observational sample)", self.flow.summary()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<SurrogateModel outcome={self.outcome} surrogates={len(self.surrogates)} "
                f"covariates={len(self.covariates)} N={self.n:,} R2={self.r_squared:.3f} {self.cov_type}>")

    def to_dict(self) -> dict[str, Any]:
        """Coefficients, covariance, fit and sample flow as JSON-ready data (no student-level values)."""
        return to_jsonable({
            "outcome": self.outcome, "surrogates": list(self.surrogates), "covariates": list(self.covariates),
            "terms": list(self.terms), "params": self.params, "cov": self.cov, "n": self.n,
            "n_clusters": self.n_clusters, "r_squared": self.r_squared, "cov_type": self.cov_type,
            "outcome_mean": self.outcome_mean, "outcome_sd": self.outcome_sd, "options": dict(self.options),
            "sample_flow": self.flow.to_dict(),
        })


class SurrogateIndex:
    """Specification of a surrogate index on an observational sample; :meth:`fit` estimates it.

    Parameters
    ----------
    observational
        The sample where the long-run outcome and the surrogates are both seen (older cohorts): a DataFrame or a
        :class:`~cteimpact.data.StudentData` (its sample flow is continued). Not modified.
    outcome
        Long-run outcome column (for example earnings at age 26).
    surrogates
        Interim-outcome columns (pathway completion, credential attainment, early earnings...).
    covariates
        Pre-treatment covariates in the index (they must be present in the experimental sample too).
    weights
        Sampling-weight column (non-negative; rows with zero weight are excluded and recorded).
    cluster
        Cluster column for cluster-robust (CR1) coefficient covariance; without it HC1.
    where
        Sample restrictions (:mod:`cteimpact.data.restriction_language`), applied first.
    source
        Name of the data in a new sample flow.

    Raises
    ------
    OptionError
        No surrogate, repeated names, a column named in two roles.

    Examples
    --------
    >>> model = SurrogateIndex(older, outcome="earnings_26",
    ...                        surrogates=["credential", "completer", "earnings_19"]).fit()  # doctest: +SKIP
    """

    def __init__(self, observational: pd.DataFrame | StudentData, *, outcome: str, surrogates: Sequence[str],
                 covariates: Sequence[str] = (), weights: str | None = None, cluster: str | None = None,
                 where: Sequence[str] = (), source: str = "observational sample") -> None:
        self.surrogates, self.covariates = check_model_columns(
            outcome=outcome, surrogates=surrogates, covariates=covariates, weights=weights, cluster=cluster)
        if isinstance(where, str):
            raise OptionError(f"sample restrictions must be a list of expressions, got the single string {where!r}")
        self.observational = observational
        self.outcome = outcome
        self.weights = weights
        self.cluster = cluster
        self.where = tuple(where)
        self.source = source

    def __repr__(self) -> str:
        return (f"<SurrogateIndex outcome={self.outcome} surrogates={list(self.surrogates)} "
                f"covariates={list(self.covariates)}>")

    def fit(self) -> SurrogateModel:
        """Fit the linear projection of the long-run outcome on the surrogates and covariates.

        Returns
        -------
        SurrogateModel

        Raises
        ------
        SampleColumnError
            The observational sample lacks the long-run outcome or another named column.
        AllMissingError
            The long-run outcome (or a surrogate, covariate) has no value in the observational sample.
        CollinearColumnsError
            Surrogates or covariates are collinear (the message names them).
        TooFewRowsError
            No more usable rows than parameters, or fewer than two clusters.
        """
        columns = [Column(self.outcome, "long-run outcome")]
        columns += [Column(s, "surrogate") for s in self.surrogates]
        columns += [Column(c, "covariate") for c in self.covariates]
        prepared = prepare_sample(self.observational, sample="observational sample", columns=columns,
                                  weights=self.weights, cluster=self.cluster, where=self.where, source=self.source)
        k = 1 + len(self.surrogates) + len(self.covariates)
        n = prepared.n
        if n <= k:
            raise TooFewRowsError(
                f"observational sample: {n:,} rows have '{self.outcome}', every surrogate and covariate present, "
                f"but the surrogate model has {k} parameters (the intercept, "
                f"{_count(len(self.surrogates), 'surrogate')}, {_count(len(self.covariates), 'covariate')}) and "
                "needs more rows than parameters "
                f"({prepared.flow.rows_read:,} rows read, {prepared.flow.total_excluded:,} excluded)",
                rows=n, needed=k + 1)
        g = prepared.n_clusters
        if g is not None and g < 2:
            raise DesignError(f"observational sample: cluster '{self.cluster}' has {g} cluster among the {n:,} rows "
                              "used; cluster-robust standard errors need at least two")
        z = index_design(prepared, self.surrogates, self.covariates)
        y = prepared.values[self.outcome]
        w = prepared.weights
        labels = ["the intercept", *(f"surrogate '{s}'" for s in self.surrogates),
                  *(f"covariate '{c}'" for c in self.covariates)]
        with one_blas_thread():
            sw = np.ones(n) if w is None else np.sqrt(w)
            check_full_rank(z * sw[:, None], labels, columns=(INTERCEPT, *self.surrogates, *self.covariates),
                            what=f"observational sample ({n:,} rows used)")
            fit = fit_least_squares(z, y, weights=w, cluster=prepared.cluster, n_clusters=g)
        ww = np.ones(n) if w is None else w
        mean = float(np.sum(ww * y) / np.sum(ww))
        sd = float(np.sqrt(np.sum(ww * (y - mean) ** 2) / np.sum(ww) * n / (n - 1)))
        options = {"outcome": self.outcome, "surrogates": list(self.surrogates), "covariates": list(self.covariates),
                   "weights": self.weights, "cluster": self.cluster, "where": list(self.where),
                   "cov_type": fit.cov_type, "estimator": "least squares (linear projection)"}
        return SurrogateModel(self.outcome, self.surrogates, self.covariates, fit.params, fit.cov, n, g,
                              fit.r_squared, fit.cov_type, mean, sd, prepared.flow, options,
                              TrainingArrays(z, y, w, prepared.cluster))
