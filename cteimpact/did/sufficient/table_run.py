"""Callaway & Sant'Anna on a table in a database engine, from its first row: the sample restrictions and the
exclusions of rows missing a needed value run in the engine, each counted there for the sample flow
(:meth:`cteimpact.backends.source.TableSource.restrict` and ``exclude_missing``), then
:func:`~cteimpact.did.sufficient.estimate.callaway_santanna_sufficient` on what is left. No unit row is pulled.

Used by ``cteimpact did DATA.duckdb --in-engine`` (:mod:`cteimpact.cli.did_engine`) and by ``cteimpact run``
(:mod:`cteimpact.pipeline.engine_design`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError

__all__ = ["EngineRun", "engine_record", "flow_unit", "run_in_engine"]


@dataclass(frozen=True)
class EngineRun:
    """The in-engine Callaway & Sant'Anna results (sample flow from the table's first row) and what the engine
    returned."""

    result: Any
    """:class:`~cteimpact.did.sufficient.SufficientDiDResults`, unsuppressed."""
    flow_queries: int
    """Queries that counted the sample flow (one row each)."""


def flow_unit(panel: bool) -> str:
    """What the sample flow of a panel (unit-periods) or of repeated cross-sections (observations) counts."""
    return "unit-periods" if panel else "observations"


def run_in_engine(source: Any, *, where: Sequence[str], outcome: str, unit: str | None, time: str, cohort: str,
                  cluster: str | None, estimation: Any, inference: Any, min_e: float | None, max_e: float | None,
                  balance_e: int | None, twfe: bool, covariates: Sequence[str] = (),
                  covariate_reference: Mapping[str, str] | None = None,
                  restricted: tuple[Any, SampleFlow] | None = None) -> EngineRun:
    """Restrict, exclude rows missing a needed value and estimate, all in the engine.

    Parameters
    ----------
    source
        :class:`~cteimpact.backends.source.TableSource`.
    where
        Sample restrictions (``--where``).
    outcome, unit, time, cohort, cluster
        The columns.
    estimation, inference
        :class:`~cteimpact.did.options.DiDEstimation` and :class:`~cteimpact.did.options.DiDInference`.
    min_e, max_e, balance_e
        The dynamic aggregation's window and balancing.
    twfe
        Also the TWFE comparison.
    covariates
        Covariates (a balanced panel or repeated cross-sections): rows missing one are excluded in the engine, one
        counted step each (worded as in memory), before the estimator balances the panel. A text covariate is
        categorical: its levels are those of the rows left by the restrictions (as in memory),
        :mod:`cteimpact.did.sufficient.factors`.
    covariate_reference
        Reference level of categorical covariates (``--covariate-reference``).
    restricted
        The table already restricted by ``where`` and its sample flow, as
        :meth:`~cteimpact.backends.source.TableSource.restrict` returned them (``cteimpact run`` counted them to
        decide where to compute): they are not counted again.

    Returns
    -------
    EngineRun
        The results, whose sample flow starts at the table's rows: the restrictions and missing-value exclusions
        (worded as the in-memory preparation words them), then the estimator's own steps.
    """
    from cteimpact.did.sufficient import callaway_santanna_sufficient

    panel = bool(estimation.panel)
    if panel and unit is None:
        raise OptionError("a panel needs --unit (the unit identifier); for repeated cross-sections add --no-panel")
    source.require_columns({"outcome": outcome, "time": time, "cohort": cohort,
                            **({"unit": unit} if unit else {}), **({"cluster": cluster} if cluster else {})})
    source.require_numeric([outcome, time, cohort], why="difference-in-differences")
    source.require_columns(covariates, role="covariate")
    if restricted is None:
        start = SampleFlow(source.label, source.count_rows(), unit=flow_unit(panel))
        table, flow = source.restrict(list(where), flow=start)
    else:
        table, flow = restricted[0], restricted[1].with_unit(flow_unit(panel))
    levels_from = table
    needed = {"outcome": outcome, "time": time}
    if unit is not None and panel:  # repeated cross-sections: the unit column is not read (as in memory)
        needed["unit"] = unit
    needed["cohort"] = cohort
    if cluster is not None:
        needed["cluster"] = cluster
    table, flow = source.exclude_missing(table, flow, needed, template="{reason} '{column}' missing")
    for cov in covariates:
        table, flow = source.exclude_missing(table, flow, {"covariate": cov}, template="{reason} '{column}' missing")
    res = callaway_santanna_sufficient(
        table, outcome=outcome, unit=unit, time=time, cohort=cohort, cluster=cluster, covariates=tuple(covariates),
        covariate_reference=covariate_reference, factor_levels_from=levels_from, panel=panel,
        balance=panel and not estimation.allow_unbalanced, allow_unbalanced=bool(estimation.allow_unbalanced),
        control=estimation.control, base_period=estimation.base_period, anticipation=int(estimation.anticipation),
        method=estimation.method, trim_level=float(estimation.trim_level),
        min_e=-math.inf if min_e is None else min_e, max_e=math.inf if max_e is None else max_e, balance_e=balance_e,
        level=float(inference.level), small_sample=bool(inference.small_sample), bootstrap=inference.bootstrap,
        multiplier=inference.multiplier, bands=bool(inference.bands), seed=inference.seed, twfe=twfe,
        source=source.label)
    own = res.sample_flow
    if own.rows_read != flow.rows_used:  # the estimator read what the engine-side exclusions left
        raise OptionError(f"the sample flow does not add up: {flow.rows_used:,} rows after the exclusions, "
                          f"{own.rows_read:,} read by the estimator")
    for step in own.steps:
        flow = (flow.exclude(step.excluded, step.reason) if step.kind == "exclude"
                else flow.aggregate(step.remaining, step.reason, step.unit))
    # one row each: the table's count, the restrictions' single counting query, one count per column checked
    return EngineRun(replace(res, sample_flow=flow, options={**res.options, "unit": unit}),
                     2 + len(needed) + len(covariates))


def engine_record(run: EngineRun, *, backend: str, table: str, mode: str, note: str | None) -> dict[str, Any]:
    """``engine`` of the JSON object: where the computation ran and how many rows the queries returned."""
    res = run.result
    return {"computed_in_engine": True, "backend": backend, "table": table, "mode": mode,
            "rows_fetched": int(res.rows_fetched) + run.flow_queries,
            "rows_fetched_by_estimator": int(res.rows_fetched), "rows_fetched_by_sample_flow": run.flow_queries,
            "unit_rows_pulled": 0, "note": note}
