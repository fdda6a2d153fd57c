"""``cteimpact run`` of a difference-in-differences study on a table too large to pull: Callaway & Sant'Anna computed
in the engine from sufficient statistics (:mod:`cteimpact.did.sufficient`), no student row pulled.

When the study's data are a table in an engine (``[data] backend``) and the study sample (the table's rows after
``[sample]`` restrictions, counted by the engine) has more rows than ``max_rows_pulled``, a ``did`` design runs in the
engine if every part of the study can (:func:`engine_blockers`); otherwise the run stops with one line naming the
first key that needs the rows and the setting that removes it. Below the limit the rows are pulled as before.

In the engine: the contract's column, type, key and value checks over every row, the restrictions and the exclusions of
rows missing a needed value (each a counted step of the sample flow), then the group-time effects (with numeric or text,
categorical, covariates on a balanced panel or repeated cross-sections: outcome regression, IPW or doubly robust, their
logits fitted by passes), the four aggregations, their standard errors (clustered, and the multiplier bootstrap from
cluster sums), the TWFE comparison, the pre-trend power and HonestDiD (both from the estimates and their covariance).
The results record is the one the in-memory path writes, with these differences: ``descriptives`` is ``null`` (the
students' standard deviations by cohort need the rows), the estimator's name says where it ran, ``extra.engine`` records
the backend, the table and the rows the queries returned, and the sample flow counts the table's rows (the in-memory
path counts the same rows after pulling them).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cteimpact.backends.errors import PullLimitError
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import DiDDesignSpec

if TYPE_CHECKING:
    from cteimpact.data.sample_flow import SampleFlow
    from cteimpact.pipeline.designs import DesignRun
    from cteimpact.pipeline.run import PreparedRun

__all__ = ["EnginePlan", "did_in_engine", "engine_blockers", "plan_engine"]


@dataclass(frozen=True)
class EnginePlan:
    """Why the design runs in the engine: the rows of the study sample and the pull limit they exceed."""

    rows: int
    """Rows of the study sample (after the restrictions)."""
    limit: int
    backend: str
    table: str
    table_rows: int
    """Rows of the whole table."""
    flow: SampleFlow
    """The table's rows and the ``[sample]`` restrictions, counted by the engine (the run's sample flow)."""
    restricted: Any = field(default=None, compare=False, repr=False)
    """The table restricted by ``[sample]`` (an Ibis expression; nothing computed yet)."""

    @property
    def note(self) -> str:
        return (f"computed in the engine ({self.backend}) from sufficient statistics: the study sample of table "
                f"'{self.table}' has {self.rows:,} rows, more than the {self.limit:,} that may be pulled "
                "(max_rows_pulled); no student row was pulled")


def engine_blockers(prep: PreparedRun) -> list[tuple[str, str]]:
    """The specification's keys that need the study's rows, each as (key and the setting that removes it, why);
    empty when the study can run in the engine."""
    spec = prep.spec
    design = spec.design
    if not isinstance(design, DiDDesignSpec):
        return [(f"[design] type = \"{design.type}\"", "only difference-in-differences is computed in the engine")]
    out: list[tuple[str, str]] = []
    estimation = design.to_options()
    if design.covariates and estimation.panel and estimation.allow_unbalanced:
        out.append(("[design] covariates with an unbalanced panel (leave them out)",
                    "covariates are computed in the engine for balanced panels and repeated cross-sections"))
    for key, value, why in (
        ("weights", design.weights, "weighted statistics"),
        ("students", design.students, "the in-engine small-cell rule counts rows, not a column of student counts"),
        ("outcome_sd", design.outcome_sd, "the students' statistics of aggregated rows"),
        ("outcome_n", design.outcome_n, "the students' statistics of aggregated rows"),
    ):
        if value:
            out.append((f"[design] {key} (leave it out)", why))
    comp = design.comparisons
    for key, on, why in (("bacon", comp.bacon, "the Goodman-Bacon decomposition re-estimates 2x2 comparisons"),
                         ("sun_abraham", comp.sun_abraham, "the Sun-Abraham regression"),
                         ("effect_sizes", comp.effect_sizes, "effect sizes and baseline equivalence")):
        if on:
            out.append((f"[design.comparisons] {key} (set it to false)", f"{why} need the rows"))
    inference = design.inference.to_options()
    if inference.wild_bootstrap:
        out.append(("[design.inference] wild_bootstrap (leave it out)",
                    "the wild cluster bootstrap re-estimates on the rows"))
    if inference.bootstrap is not None and design.cluster is None:
        out.append(("[design.inference] bootstrap without [design] cluster", "the multiplier bootstrap from "
                    "sufficient statistics draws one multiplier per cluster"))
    if estimation.panel and estimation.allow_unbalanced and comp.twfe:
        out.append(("[design.comparisons] twfe with allow_unbalanced (set twfe to false)",
                    "unit effects of an unbalanced panel"))
    if spec.surrogate is not None:
        out.append(("[surrogate] (leave it out)", "the surrogate index is fitted on the rows"))
    if spec.equity is not None:
        out.append(("[equity] (leave it out)", "effects by subgroup and access gaps"))
    if prep.contract is not None:
        groups = [o.payment.equity_premium.group for o in prep.contract.outcomes
                  if getattr(o.payment, "equity_premium", None) is not None]
        groups += [c.group for c in prep.contract.conditions]
        if groups:
            out.append(("the contract's equity premiums and conditions", f"the group '{groups[0]}' is checked "
                        "against the students' rows"))
    return out


def plan_engine(prep: PreparedRun) -> EnginePlan | None:
    """Whether the design runs in the engine (:class:`EnginePlan`) or the rows are pulled (``None``): data in an
    engine, a study sample above ``max_rows_pulled``, and nothing that needs the rows.

    The contract's checks over every row run first (as before a pull), and the restrictions are counted by the
    engine (one aggregate query).

    Raises
    ------
    PullLimitError
        The study sample exceeds the pull limit and a key of the specification needs the rows (the message names
        it and how to remove it).
    """
    if prep.source is None or prep.location is None or not isinstance(prep.spec.design, DiDDesignSpec):
        return None  # (an RD study above the limit is refused by the pull, with what the RD needs the rows for)
    from cteimpact.backends.loading import check_student_table
    from cteimpact.data.columns import ColumnMap

    spec = prep.spec
    source = prep.source
    limit = prep.location.max_rows
    rows = source.count_rows()
    if rows <= limit:  # every row may be pulled, so may the study sample's
        return None
    restricted, flow = source.restrict(list(spec.sample.restrictions))
    if flow.rows_used <= limit:
        return None
    blockers = engine_blockers(prep)
    if blockers:
        key, why = blockers[0]
        raise PullLimitError(
            f"the study sample of table '{source.name}' ({source.backend}) has {flow.rows_used:,} rows, more than the "
            f"{limit:,} that may be pulled (max_rows_pulled), and cannot be computed in the engine: {key} ({why}); "
            f"or restrict the sample, or raise max_rows_pulled if this machine has the memory",
            backend=source.backend, table=source.name, rows=flow.rows_used, limit=limit)
    design = spec.design
    cmap = ColumnMap(spec.data.columns)
    design_columns = [c for c in design.columns_used() if c not in cmap.columns()]
    check_student_table(source, cmap, extra_columns=[*spec.data.extra_columns, *design_columns],
                        numeric=[c for c in (design.outcome, design.time, design.cohort) if c],  # type: ignore[union-attr]
                        key_roles=None if spec.data.key is None else tuple(spec.data.key), max_rows=limit,
                        why="difference-in-differences")
    return EnginePlan(rows=flow.rows_used, limit=limit, backend=source.backend, table=source.name,
                      table_rows=rows, flow=flow, restricted=restricted)


def did_in_engine(prep: PreparedRun, plan: EnginePlan, *, seed: int, min_cell: int) -> DesignRun:
    """The ``did`` design of ``prep`` computed in the engine: what :func:`cteimpact.pipeline.designs.run_design`
    returns for the in-memory path (the figures, tables and diagnostics the engine supports; the estimator's sample
    flow continues ``plan.flow`` with the exclusions of rows missing a needed value and its own steps)."""
    from cteimpact.did.plots import plot_honest
    from cteimpact.did.sufficient.table_run import engine_record, run_in_engine
    from cteimpact.pipeline.designs import DesignRun

    spec = prep.spec.design
    if not isinstance(spec, DiDDesignSpec) or prep.source is None:  # pragma: no cover (plan_engine checked it)
        raise TypeError("did_in_engine needs a did design read from an engine")
    y = spec.outcome
    inference = replace(spec.inference.to_options(), seed=derive_seed(seed, "did.bootstrap") % (2**63 - 1))
    run = run_in_engine(prep.source, where=list(prep.spec.sample.restrictions), outcome=y, unit=spec.unit,
                        time=spec.time, cohort=spec.cohort, cluster=spec.cluster, estimation=spec.to_options(),
                        inference=inference, min_e=spec.min_e, max_e=spec.max_e, balance_e=spec.balance_e,
                        twfe=spec.comparisons.twfe, covariates=tuple(spec.covariates),
                        restricted=(plan.restricted, plan.flow))
    res = replace(run.result, notes=(*run.result.notes, plan.note))
    shown = res.with_min_cell(min_cell)
    figures: dict[str, Any] = {
        f"figures/did-{y}-event_study.png": shown.plot("event_study"),
        f"figures/did-{y}-group_time.png": shown.plot("group_time"),
    }
    tables: dict[str, Any] = {"tables/estimates.csv": shown.tidy(), "tables/event_study.csv": shown.event_study()}
    extra: dict[str, Any] = {"engine": engine_record(run, backend=plan.backend, table=plan.table, mode="automatic",
                                                     note=plan.note)}
    comp = spec.comparisons
    if comp.pretrend_power:
        extra["pretrend_power"] = res.pretrend_power(alpha=inference.size).to_dict()
    if comp.honest:
        honest = [res.honest_did(restriction=r, target=comp.honest_target, level=inference.level) for r in comp.honest]
        extra["honest"] = [h.to_dict() for h in honest]
        figures[f"figures/did-{y}-honest.png"] = plot_honest(honest)
    return DesignRun(shown, extra, figures, tables, {})
