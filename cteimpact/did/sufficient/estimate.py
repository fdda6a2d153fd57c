"""The public entry points: Callaway–Sant'Anna and two-way fixed effects on an Ibis table, computed from
sufficient statistics (the aggregate queries run in the engine; the estimator maths runs here on their small
results)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

import ibis.expr.types as ir

from cteimpact.did.aggregation import FAMILIES
from cteimpact.did.grouptime import BasePeriod, ControlGroup
from cteimpact.did.multiplier import MultiplierWeights
from cteimpact.did.options import DEFAULT_BOOTSTRAP_SEED
from cteimpact.did.sufficient.covariates import group_time_effects_covariates
from cteimpact.did.sufficient.cs import group_time_effects, group_time_effects_rcs, group_time_effects_unbalanced
from cteimpact.did.sufficient.errors import UnsupportedDataError
from cteimpact.did.sufficient.factors import engine_factors
from cteimpact.did.sufficient.queries import (
    DEFAULT_MAX_ROWS,
    CrossSectionMoments,
    PanelColumns,
    PanelMoments,
    balanced_moments,
    unbalanced_moments,
)
from cteimpact.did.sufficient.rcs_covariates import group_time_effects_rcs_covariates
from cteimpact.did.sufficient.results import NO_UNIT_BOOTSTRAP, SufficientDiDResults, sufficient_results
from cteimpact.did.sufficient.twfe import twfe_from_statistics
from cteimpact.did.twobytwo import Method
from cteimpact.errors import OptionError

__all__ = ["callaway_santanna_sufficient"]


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def callaway_santanna_sufficient(
    table: ir.Table,
    *,
    outcome: str,
    unit: str | None,
    time: str,
    cohort: str,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    covariate_reference: Mapping[str, str] | None = None,
    factor_levels_from: ir.Table | None = None,
    panel: bool = True,
    balance: bool = False,
    allow_unbalanced: bool = False,
    control: ControlGroup = "never",
    base_period: BasePeriod = "varying",
    anticipation: int = 0,
    method: Method = "dr",
    trim_level: float = 0.995,
    aggregations: Sequence[Literal["simple", "group", "dynamic", "calendar"]] = FAMILIES,  # type: ignore[assignment]
    min_e: float = -math.inf,
    max_e: float = math.inf,
    balance_e: int | None = None,
    level: float = 0.95,
    small_sample: bool = False,
    bootstrap: int | None = None,
    multiplier: MultiplierWeights = "mammen",
    bands: bool = True,
    seed: int | None = DEFAULT_BOOTSTRAP_SEED,
    twfe: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    source: str = "engine table",
) -> SufficientDiDResults:
    """Callaway–Sant'Anna (2021) on a balanced panel or repeated cross-sections (with or without covariates), or an
    unbalanced panel (without covariates), held by a database engine.

    Two aggregate queries run in the engine for a panel (:mod:`cteimpact.did.sufficient.queries`): at most (cohorts ×
    periods) rows and one row per cohort come back, or with clusters (clusters × cohorts × periods) rows and one row;
    one query for repeated cross-sections. With covariates, further queries over one engine-side row per unit return
    sums by (cluster ×) cohort: 3 for ``reg``, 3 plus the propensity-score logit's Newton steps for ``ipw`` and ``dr``
    (:mod:`cteimpact.did.sufficient.covariates`); for repeated cross-sections the same over the observations, by cohort
    and period (:mod:`cteimpact.did.sufficient.rcs_covariates`). Every ATT(g,t), its analytic standard error and the
    ``simple``, ``group``, ``dynamic`` and ``calendar`` aggregations with theirs equal those of
    :class:`~cteimpact.did.estimator.CallawaySantAnna` on the same data (to rounding).

    Parameters
    ----------
    table
        Ibis table expression: one row per unit and period (a DuckDB table, a Parquet file read by DuckDB, a
        Spark or PostgreSQL table...).
    outcome, unit, time, cohort
        Outcome, unit identifier (``None`` for repeated cross-sections), period and first treated period (0: never
        treated).
    cluster
        Cluster identifier (constant within units in panels; cluster-robust standard errors), or ``None``.
    covariates
        Numeric covariates of the 2×2 estimators (panels: values of the earlier period of each comparison, as in
        memory; repeated cross-sections: each observation's own), balanced panels and repeated cross-sections: the
        outcome regressions' cross-products, the propensity-score logit's Newton steps and
        the influence functions' moments are aggregate queries (:mod:`cteimpact.did.sufficient.covariates`). Rows
        missing a covariate are refused, or dropped with ``balance=True``, as rows missing the outcome are. A
        text column is categorical (:mod:`cteimpact.did.sufficient.factors`): its levels are found by one query and
        it enters as indicator columns computed in the engine, coded as in memory (recorded in the results'
        ``options["covariate_coding"]`` and notes).
    covariate_reference
        Reference level of categorical covariates, e.g. ``{"region": "North"}`` (default: the first level in sorted
        order), as for :class:`~cteimpact.did.estimator.CallawaySantAnna`.
    factor_levels_from
        The rows whose values of a categorical covariate are its levels (default ``table``; the in-memory
        preparation takes them from the rows left by the sample restrictions, before the rows missing a value are
        dropped: :func:`~cteimpact.did.sufficient.table_run.run_in_engine` passes those).
    panel
        ``False`` for repeated cross-sections (one row per observation, no unit): one query of at most (cohorts ×
        periods), or (clusters × cohorts × periods), rows; rows missing a value are dropped and cohorts never
        observed before their treatment are dropped, as in memory.
    balance
        Panels: drop rows missing a value and then the units not observed in every period, in the engine, as the
        in-memory estimator does by default (recorded in the sample flow, with a warning). Default: refuse them
        (:class:`~cteimpact.did.sufficient.errors.UnsupportedDataError`).
    allow_unbalanced
        Panels: keep units missing in some periods (the in-memory estimator's ``allow_unbalanced=True``: each cell
        from the observations of its two periods, a unit's influence function the sum of its observations'; rows
        missing a value are dropped). One more query than a balanced panel's pivot: per cohort, statistics of
        every pair of periods (or, with clusters, unit counts per cluster and cohort).
    control, base_period, anticipation, method, trim_level
        As for :class:`~cteimpact.did.estimator.CallawaySantAnna` (without covariates the three 2×2 methods give the
        same effects; ``dr`` and ``ipw`` refuse cells whose treated share reaches ``trim_level``).
    aggregations, min_e, max_e, balance_e
        Aggregations to report and the event-time window of the dynamic one (R ``aggte``).
    level, small_sample
        Confidence level; t critical values with ``G − 1`` degrees of freedom with clusters.
    bootstrap, multiplier, bands, seed
        Multiplier bootstrap by cluster (needs ``cluster``): draws, weights (``mammen`` or ``rademacher``), sup-t
        bands, seed; the same draws as the in-memory estimator's with the same seed.
    twfe
        Also the two-way fixed effects comparison on the same prepared data, from the same statistics (no other
        query), as ``CallawaySantAnna.fit(twfe=True)`` (without covariates, as there); not for unbalanced panels
        kept unbalanced.
    max_rows
        Most rows one aggregate query may bring to the client.
    source
        Name of the data in the sample flow.

    Raises
    ------
    UnsupportedDataError
        Unbalanced panels, or missing values in a panel (without ``balance``); covariates with an unbalanced panel
        kept unbalanced.
    TooManyRowsError
        A query would bring more than ``max_rows`` rows to the client.
    """
    _check_choice("control", control, ("never", "notyet"))
    _check_choice("base_period", base_period, ("varying", "universal"))
    _check_choice("method", method, ("dr", "ipw", "reg"))
    if not (0 < trim_level <= 1):
        raise OptionError(f"trim_level must be in (0, 1], got {trim_level}")
    if bootstrap is not None and cluster is None:
        raise OptionError(NO_UNIT_BOOTSTRAP)
    if panel and unit is None:
        raise OptionError("a panel needs the unit identifier column ('unit'); for repeated cross-sections set "
                          "panel=False")
    if twfe and panel and allow_unbalanced:
        raise OptionError("the TWFE comparison from sufficient statistics needs a balanced panel or repeated "
                          "cross-sections (unit fixed effects of an unbalanced panel are not a function of cohort × "
                          "period sums); fit it on the in-memory path")
    if isinstance(covariates, str):
        covariates = [covariates]
    factors = engine_factors(table if factor_levels_from is None else factor_levels_from, tuple(covariates),
                             covariate_reference, max_rows=max_rows)
    table = factors.apply(table)
    covs = factors.covariates
    if covs and panel and allow_unbalanced:
        raise UnsupportedDataError(
            f"covariates ({', '.join(repr(c) for c in covs)}) are computed in the engine for balanced panels and "
            "repeated cross-sections; an unbalanced panel (allow_unbalanced=True) with covariates needs the rows: use "
            "the in-memory estimator")
    if balance and allow_unbalanced:
        raise OptionError("balance=True drops the incomplete units, allow_unbalanced=True keeps them: choose one")
    if panel and allow_unbalanced:
        ub_cols = PanelColumns(outcome=outcome, unit=unit, time=time, cohort=cohort, cluster=cluster)
        ub = unbalanced_moments(table, ub_cols, control=control, anticipation=anticipation, max_rows=max_rows,
                                source=source)
        fit = group_time_effects_unbalanced(ub, control=control, base_period=base_period, anticipation=anticipation,
                                            method=method, trim_level=trim_level)
    else:
        cols = PanelColumns(outcome=outcome, unit=unit if panel else None, time=time, cohort=cohort, cluster=cluster,
                            covariates=covs)
        st = balanced_moments(table, cols, panel=panel, control=control, anticipation=anticipation,
                              max_rows=max_rows, source=source, balance=balance,
                              cross_products=False if covs and not twfe else None)
        if isinstance(st, PanelMoments) and covs:
            fit = group_time_effects_covariates(table, st, control=control, base_period=base_period,
                                                anticipation=anticipation, method=method, trim_level=trim_level,
                                                max_rows=max_rows)
        elif isinstance(st, CrossSectionMoments) and covs:
            fit = group_time_effects_rcs_covariates(table, st, control=control, base_period=base_period,
                                                    anticipation=anticipation, method=method,
                                                    trim_level=trim_level, max_rows=max_rows)
        elif isinstance(st, PanelMoments):
            fit = group_time_effects(st, control=control, base_period=base_period, anticipation=anticipation,
                                     method=method, trim_level=trim_level)
        else:
            fit = group_time_effects_rcs(st, control=control, base_period=base_period, anticipation=anticipation,
                                         method=method, trim_level=trim_level)
    twfe_res = None
    if twfe:
        statistics = fit.statistics
        if not isinstance(statistics, PanelMoments | CrossSectionMoments):
            raise OptionError("the TWFE comparison needs a balanced panel or repeated cross-sections")
        twfe_res = twfe_from_statistics(statistics, level=level)
    res = sufficient_results(fit, aggregations=aggregations, min_e=min_e, max_e=max_e, balance_e=balance_e,
                             level=level, small_sample=small_sample, bootstrap=bootstrap, multiplier=multiplier,
                             bands=bands, seed=seed, twfe=twfe_res, trim_level=trim_level)
    if not factors.codings and not factors.queries:
        return res
    # the coding notes follow the preparation's notes and precede the failed cells' note, as in memory
    cut = len(res.notes) - (1 if fit.failures else 0)
    return replace(res, options={**res.options, "covariate_coding": [f.to_dict() for f in factors.codings]},
                   notes=(*res.notes[:cut], *factors.notes(), *res.notes[cut:]),
                   rows_fetched=res.rows_fetched + factors.rows_fetched)
