"""The engine query: score cells computed where the data live, so that no student row leaves the engine.

From a :class:`~cteimpact.backends.source.TableSource`, the sample restrictions and the exclusions of rows missing
the running variable, the cutoff, the cluster or the outcome run in the engine, each counted there for the sample
flow (:meth:`~cteimpact.backends.source.TableSource.restrict`, ``exclude_missing``), worded as the in-memory RD
preparation words them. Then one aggregate query (compiled by Ibis, no SQL text) ::

    SELECT x, cluster, COUNT(*), SUM(y), VAR_POP(y) [, SUM(t), VAR_POP(t), COVAR_POP(y, t)]
    FROM rows GROUP BY x, cluster

returns one row per score value × cluster, with ``x = score`` or ``score − cutoff_column`` (and, for a fuzzy design,
the take-up ``t``'s moments). A first one-row query
counts the distinct values of ``x``: beyond ``max_values`` (:data:`MAX_SCORE_VALUES`) the cells would be nearly as
many as the rows, the grouped path does not pay, and :class:`TooManyScoreValuesError` says so (pull the rows and
use the in-memory estimator instead).

The within-cell sum of squares comes back as ``n · VAR_POP(y)`` (DuckDB computes the variance with a streaming
update, without the cancellation of ``Σy² − (Σy)²/n``). DuckDB adds on one thread here, so the sums do not depend on
how rows were split among threads (the same reason as :mod:`cteimpact.did.sufficient.queries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cteimpact.backends.determinism import deterministic_sums
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import DataValidationError
from cteimpact.rd.sufficient.cells import ScoreCells
from cteimpact.rd.sufficient.errors import TooManyScoreValuesError

__all__ = ["MAX_CELLS", "MAX_SCORE_VALUES", "AnalysisTable", "EngineCells", "analysis_table", "score_cells_query"]

MAX_SCORE_VALUES = 10_000
"""Most distinct running-variable values the grouped path accepts. Grouping pays when the values are few relative to
the rows (a rubric score: about 200 values for 10^5-10^7 students); with a score near-continuous the cells are about
as many as the rows, and the nearest-neighbour windows and bandwidth pilots then loop over every value."""

MAX_CELLS = 1_000_000
"""Most score × cluster cells the query may return to the client."""


@dataclass(frozen=True, eq=False)
class EngineCells:
    """Score cells computed by the engine and the sample flow that led to them.

    Attributes
    ----------
    cells
        The cells (cluster codes are the ranks of the sorted cluster identifiers).
    flow
        Rows read, each restriction's and each missing-value exclusion's count (all counted by the engine).
    rows_fetched
        Rows the cell query returned to the client (one per cell).
    queries
        Queries run (the flow's counts, the distinct-value count and the cell query), each returning one row except
        the cell query.
    cluster_labels
        The cluster identifiers, in code order (``None`` without clusters).
    by_cutoff
        With ``by_cutoff``: each cutoff's cells on the raw score (its rows only), by cutoff value.
    """

    cells: ScoreCells
    flow: SampleFlow
    rows_fetched: int
    queries: int
    cluster_labels: np.ndarray | None = None
    by_cutoff: dict[float, ScoreCells] | None = None


def score_cells_query(
    source: Any,
    *,
    score: str,
    outcome: str,
    cluster: str | None = None,
    cutoff_column: str | None = None,
    treatment: str | None = None,
    where: Sequence[str] = (),
    missing_cluster: Literal["error", "drop"] = "error",
    by_cutoff: bool = False,
    max_values: int = MAX_SCORE_VALUES,
    max_cells: int = MAX_CELLS,
) -> EngineCells:
    """Restrict, exclude rows missing a needed value and group by score (× cluster), all in the engine.

    Parameters
    ----------
    source
        :class:`~cteimpact.backends.source.TableSource`.
    score
        The running variable's column.
    outcome
        The outcome's column (numbers or true/false).
    cluster
        The cluster identifier's column, or ``None``.
    cutoff_column
        A column of cutoffs: the running variable is then ``score − cutoff_column`` (cutoff 0).
    treatment
        Fuzzy designs: the take-up column (numbers or true/false); its sums, ``VAR_POP`` and ``COVAR_POP`` with the
        outcome come back too.
    where
        Sample restrictions, in the restriction language.
    missing_cluster
        ``"error"`` (as the in-memory path's default): rows with a missing cluster are an error naming their count;
        ``"drop"``: they are excluded (a counted step).
    by_cutoff
        With ``cutoff_column``: also each cutoff's cells on the raw score (a second ``GROUP BY cutoff, score ×
        cluster`` query), for the cutoff-specific fits.
    max_values, max_cells
        Most distinct running-variable values, and most cells returned.

    Returns
    -------
    EngineCells
        The cells and the sample flow.

    Raises
    ------
    BackendColumnError, BackendTypeError
        A column the table does not have, or a running variable, cutoff or outcome that is not numeric.
    DataValidationError
        Missing cluster identifiers with ``missing_cluster="error"``, or no row left.
    TooManyScoreValuesError
        More than ``max_values`` distinct values of the running variable, or more than ``max_cells`` cells.
    """
    rows = analysis_table(source, score=score, outcome=outcome, cluster=cluster, cutoff_column=cutoff_column,
                          treatment=treatment, where=where, missing_cluster=missing_cluster)
    table, flow, x, label = rows.table, rows.flow, rows.x, rows.label
    queries = rows.queries
    distinct = int(source.execute(table.aggregate(k=x.nunique()), what="the distinct values of the running "
                                  "variable")["k"].iloc[0])
    queries += 1
    if distinct > max_values:
        raise TooManyScoreValuesError(
            f"running variable '{label}' has {distinct:,} distinct values among {flow.rows_used:,} rows, more than "
            f"the {max_values:,} the grouped path accepts: with so many values the cells are nearly as many as the "
            "rows and grouping in the engine does not pay; pull the rows (the in-memory estimator) instead",
            column=label, count=distinct, limit=max_values)
    keys = {"x": x}
    if cluster is not None:
        keys["g"] = table[cluster]
    y = table[outcome].cast("float64")
    stats = {"n": table.count(), "sum_y": y.sum(), "var_y": y.var(how="pop")}
    if treatment is not None:
        t = table[treatment].cast("float64")
        stats.update(sum_t=t.sum(), var_t=t.var(how="pop"), cov_yt=y.cov(t, how="pop"))
    grouped = table.group_by(**keys).aggregate(**stats)
    with deterministic_sums(grouped):
        frame = source.execute(grouped.limit(max_cells + 1), what="the score cells")
    queries += 1
    if len(frame) > max_cells:
        raise TooManyScoreValuesError(
            f"the score cells of '{label}' × '{cluster}' are more than {max_cells:,} (for {distinct:,} score values): "
            "too many for the grouped path; pull the rows instead", column=label, count=len(frame), limit=max_cells)
    out = _cells(frame, label=label, outcome=outcome, cluster=cluster, treatment=treatment, flow=flow,
                 queries=queries)
    if not (by_cutoff and cutoff_column is not None):
        return out
    raw_keys = {"c": table[cutoff_column].cast("float64"), "x": table[score].cast("float64")}
    if cluster is not None:
        raw_keys["g"] = table[cluster]
    per_cutoff = table.group_by(**raw_keys).aggregate(**stats)
    with deterministic_sums(per_cutoff):
        frame = source.execute(per_cutoff.limit(max_cells + 1), what="the score cells of each cutoff")
    if len(frame) > max_cells:
        raise TooManyScoreValuesError(
            f"the score cells of '{score}' by '{cutoff_column}' are more than {max_cells:,}: too many for the grouped "
            "path; pull the rows instead", column=score, count=len(frame), limit=max_cells)
    cells = {float(cut): _cells(part.drop(columns="c"), label=score, outcome=outcome, cluster=cluster,
                                treatment=treatment, flow=None, queries=0).cells
             for cut, part in frame.groupby("c", sort=True)}
    if sum(c.n_rows for c in cells.values()) != flow.rows_used:
        raise DataValidationError(f"the score cells of each cutoff hold {sum(c.n_rows for c in cells.values()):,} "
                                  f"rows but the sample flow {flow.rows_used:,}: the engine's counts disagree")
    return replace(out, rows_fetched=out.rows_fetched + len(frame), queries=out.queries + 1, by_cutoff=cells)


@dataclass(frozen=True, eq=False)
class AnalysisTable:
    """An outcome's analysis rows as an engine expression, and the sample flow counted there.

    Attributes
    ----------
    table
        The restricted Ibis table (nothing pulled).
    flow
        Rows read, each restriction's and each exclusion's count.
    x
        The running variable's expression (``score`` or ``score - cutoff_column``, as float64).
    label
        Its name in messages (``score`` or ``score - cutoff_column``).
    queries
        Queries run, each returning one row.
    design
        The rows before the outcome's missing values are excluded (the design's analysis rows, which the
        in-memory path checks before any outcome).
    """

    table: Any
    flow: SampleFlow
    x: Any
    label: str
    queries: int
    design: Any = None


def analysis_table(source: Any, *, score: str, outcome: str, cluster: str | None = None,
                   cutoff_column: str | None = None, treatment: str | None = None, where: Sequence[str] = (),
                   missing_cluster: Literal["error", "drop"] = "error", cutoff: float = 0.0,
                   donut: float = 0.0) -> AnalysisTable:
    """The sample restrictions and the exclusions of rows missing the running variable, the cutoff, the take-up,
    the cluster or the outcome (and, with ``donut``, of rows within it of the cutoff), each run and counted in the
    engine and worded as the in-memory RD preparation words it (:func:`cteimpact.rd.sample.prepare_sample`).

    Raises
    ------
    BackendColumnError, BackendTypeError
        A column the table does not have, or a running variable, cutoff, take-up or outcome that is not numeric.
    DataValidationError
        Missing cluster identifiers with ``missing_cluster="error"``, or no row left.
    """
    from cteimpact.rd.sample import format_value

    roles = {"running variable": score, "outcome": outcome}
    if cutoff_column is not None:
        roles["cutoff"] = cutoff_column
    if treatment is not None:
        roles["treatment"] = treatment
    if cluster is not None:
        roles["cluster"] = cluster
    source.require_columns(roles)
    source.require_numeric([c for c in (score, cutoff_column, treatment, outcome) if c is not None],
                           why="regression discontinuity")
    queries = 2
    start = SampleFlow(source.label, source.count_rows())
    table, flow = source.restrict(list(where), flow=start)
    needed = {"running variable": score, **({"cutoff": cutoff_column} if cutoff_column else {}),
              **({"treatment": treatment} if treatment else {})}
    table, flow = source.exclude_missing(table, flow, needed, template="{reason} '{column}' missing")
    queries += len(needed)
    if cluster is not None:  # as in memory: an error, or a step only when rows are missing it
        before = flow.rows_used
        known = table[cluster].notnull()  # noqa: PD004 (an Ibis expression)
        if source.dtype(cluster).is_floating():  # a NaN identifier is missing too, as in memory
            known = known & ~table[cluster].isnan()
        present = table.filter(known)
        kept = source.count_rows(present)
        queries += 1
        if kept < before and missing_cluster == "error":
            raise DataValidationError(
                f"cluster column '{cluster}' has {before - kept:,} missing values among {before:,} analysis rows; "
                "cluster-robust inference needs every row's cluster: fill them, or exclude those rows "
                "(missing_cluster='drop')")
        if kept < before:
            table, flow = present, flow.exclude(before - kept, f"cluster '{cluster}' missing")
    if donut > 0:  # as in memory: |x - cutoff| < donut excluded, after the missing values
        before = flow.rows_used
        x = _running(table, score, cutoff_column)
        table = table.filter((x - cutoff).abs() >= donut)
        kept = source.count_rows(table)
        queries += 1
        flow = flow.exclude(before - kept, f"donut: |{score} - cutoff| < {format_value(donut)}")
    design = table
    table, flow = source.exclude_missing(table, flow, {"outcome": outcome}, template="{reason} '{column}' missing")
    queries += 1
    if flow.rows_used == 0:
        raise DataValidationError(f"no row of table '{source.name}' is left after the restrictions and the "
                                  "exclusions of missing values")
    label = score if cutoff_column is None else f"{score} - {cutoff_column}"
    return AnalysisTable(table, flow, _running(table, score, cutoff_column), label, queries, design)


def _running(table: Any, score: str, cutoff_column: str | None) -> Any:
    """The running variable as float64: the score, or the score minus the row's cutoff."""
    x = table[score].cast("float64")
    return x if cutoff_column is None else x - table[cutoff_column].cast("float64")


def _cells(frame: pd.DataFrame, *, label: str, outcome: str, cluster: str | None, treatment: str | None,
           flow: SampleFlow | None, queries: int) -> EngineCells:
    labels = None
    if cluster is not None:
        codes, uniques = pd.factorize(frame["g"], sort=True)
        labels = np.asarray(uniques)
        frame = frame.assign(code=codes.astype(np.int64))
        frame = frame.sort_values(["x", "code"], kind="stable")
    else:
        frame = frame.sort_values("x", kind="stable")
    n = frame["n"].to_numpy(dtype=np.int64)

    def moment(name: str) -> np.ndarray:  # n · VAR_POP (or COVAR_POP); one row: 0
        values = frame[name].to_numpy(dtype=float)
        return np.where(np.isfinite(values), values, 0.0) * n

    fuzzy: dict[str, Any] = {}
    if treatment is not None:
        fuzzy = {"sum_t": frame["sum_t"].to_numpy(dtype=float), "m2_t": moment("var_t"), "m2_yt": moment("cov_yt"),
                 "treatment_column": treatment}
    if flow is not None and int(n.sum()) != flow.rows_used:
        raise DataValidationError(f"the score cells hold {int(n.sum()):,} rows but the sample flow "
                                  f"{flow.rows_used:,}: the engine's counts disagree")
    cells = ScoreCells(
        score=frame["x"].to_numpy(dtype=float), cluster=frame["code"].to_numpy(dtype=np.int64) if cluster else None,
        n=n, sum_y=frame["sum_y"].to_numpy(dtype=float), m2_y=moment("var_y"), score_column=label,
        outcome_column=outcome, cluster_column=cluster, **fuzzy)
    return EngineCells(cells=cells, flow=flow if flow is not None else SampleFlow("cells", int(n.sum())),
                       rows_fetched=len(frame), queries=queries, cluster_labels=labels)
