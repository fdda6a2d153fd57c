"""Design runners: turn a validated design specification and loaded data into results, figures and tables."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from cteimpact.data.student_data import StudentData
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import DiDDesignSpec, RDDesignSpec
from cteimpact.results.contract import ImpactResults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.rd.checks import DiagnosticCheck

__all__ = ["DesignRun", "run_design"]


@dataclass(frozen=True)
class DesignRun:
    """What a design produced: the result (honouring the results contract), its extra records, figures and tables.

    ``figures`` and ``tables`` map a relative output path to a matplotlib figure or a DataFrame; they are already
    privacy-safe (small cells suppressed).
    """

    results: ImpactResults
    extra: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    """Several paths may map to one figure (the same plot under each outcome's name): it is drawn once and its file
    copied (:meth:`cteimpact.pipeline.artefacts.RunDirectory.write_figure`)."""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    mde: dict[str, float] = field(default_factory=dict)
    """Minimum detectable effect by estimate label, where the design computes one (rdmde for sharp RD)."""


def _check_figure(check: DiagnosticCheck, drawn: list[tuple[dict[str, Any], Figure]]) -> Figure:
    """The figure of a diagnostic check: the one drawn for an earlier record equal to ``check`` if any (a check that
    does not depend on the outcome, such as the density test, gives every outcome the same record, and a check's
    figure is drawn from its record alone), else a new one, remembered in ``drawn``."""
    record = check.to_dict()
    for earlier, fig in drawn:
        if earlier == record:
            return fig
    fig = check.plot()
    drawn.append((record, fig))
    return fig


def _rd(spec: RDDesignSpec, data: StudentData, seed: int, min_cell: int) -> DesignRun:
    from cteimpact.rd import RegressionDiscontinuity
    from cteimpact.rd.diagnostics import DiagnosticOptions
    from cteimpact.rd.estimator import LocalRandomizationOptions

    rd = RegressionDiscontinuity(
        data, spec.outcomes, spec.running, spec.cutoff, cutoff_column=spec.cutoff_column, fuzzy=spec.fuzzy,
        cluster=spec.cluster, covariates=spec.covariates, subgroups=spec.subgroups,
        baseline_covariates=spec.baseline_covariates, assignment_unit=spec.assignment_unit, donut=spec.donut,
    )
    diagnostics: bool | DiagnosticOptions = spec.diagnostics.to_options() if spec.diagnostics.enabled else False
    lr: bool | LocalRandomizationOptions = False
    if spec.local_randomization is not None and spec.local_randomization.enabled:
        lr = replace(spec.local_randomization.to_options(),
                     seed=derive_seed(seed, "rd.local_randomization") % (2**31 - 1))
    res = rd.fit(spec.estimation.to_options(), diagnostics=diagnostics, local_randomization=lr)
    # what is published: estimates of fewer than min_cell students hidden (the fit above used every row)
    shown = res.with_min_cell(min_cell)
    figures: dict[str, Figure] = {}
    tables: dict[str, pd.DataFrame] = {"tables/estimates.csv": shown.tidy(), "tables/rd_fits.csv": shown.tidy_fits(),
                                       "tables/descriptives.csv": shown.tidy_descriptives()}
    mde: dict[str, float] = {}
    drawn: list[tuple[dict[str, Any], Figure]] = []
    for y in spec.outcomes:
        if shown.primary_fit(y).suppressed is not None:
            continue  # the outcome's estimate is suppressed: no figure, diagnostic or MDE of its students
        figures[f"figures/rd-{y}.png"] = shown.plot(y)
        diag = shown.diagnostics.get(y)
        if diag is not None:
            for check in diag.checks:
                figures[f"figures/check-{y}-{check.name}.png"] = _check_figure(check, drawn)
                tables[f"tables/check-{y}-{check.name}.csv"] = check.table
        if spec.fuzzy is None:  # rdmde's MDE is the sharp effect's; a fuzzy design's priced estimates use their SE
            mde[y] = float(rd.mde(y).mde)
    return DesignRun(shown, {"mde": mde}, figures, tables, mde)


def _did(spec: DiDDesignSpec, data: StudentData, seed: int, min_cell: int) -> DesignRun:
    from cteimpact.did import (
        CallawaySantAnna,
        bacon_decomposition,
        baseline_equivalence,
        effect_size,
        equivalence_review,
        sun_abraham,
    )
    from cteimpact.did.plots import plot_honest
    from cteimpact.did.privacy import (
        suppress_bacon,
        suppress_baseline_equivalence,
        suppress_effect_size,
        suppress_sun_abraham,
    )

    frame = data.frame
    y = spec.outcome
    inf = spec.inference
    estimation = spec.to_options()
    cs = CallawaySantAnna(
        frame, outcome=y, time=spec.time, unit=spec.unit, cohort=spec.cohort, covariates=spec.covariates,
        weights=spec.weights, cluster=spec.cluster, source=data.flow.source, students=spec.students,
        outcome_sd=spec.outcome_sd, outcome_n=spec.outcome_n, estimation=estimation,
    )
    window: dict[str, Any] = {}
    if spec.min_e is not None:
        window["min_e"] = spec.min_e
    if spec.max_e is not None:
        window["max_e"] = spec.max_e
    # the seed derives from the study's; the wild cluster bootstrap gives the headline aggregates their few-cluster
    # inference, while the event study keeps the multiplier bootstrap's simultaneous (sup-t) band
    inference = replace(inf.to_options(), seed=derive_seed(seed, "did.bootstrap") % (2**63 - 1),
                        wild_labels=tuple(spec.labels()) if inf.to_options().wild_bootstrap else None)
    res = cs.fit(inference, balance_e=spec.balance_e, twfe=spec.comparisons.twfe, **window)
    # what is published: estimates of fewer than min_cell students hidden (the fit above used every row); the
    # diagnostics that combine every cohort (pre-trend power, HonestDiD) are computed from the full results
    shown = res.with_min_cell(min_cell)
    figures: dict[str, Figure] = {
        f"figures/did-{y}-event_study.png": shown.plot("event_study"),
        f"figures/did-{y}-group_time.png": shown.plot("group_time"),
    }
    tables: dict[str, pd.DataFrame] = {"tables/estimates.csv": shown.tidy(),
                                       "tables/event_study.csv": shown.event_study(),
                                       "tables/descriptives.csv": shown.descriptives()}
    extra: dict[str, Any] = {}
    comp = spec.comparisons
    can_decompose = estimation.panel and spec.unit is not None and not spec.covariates
    if comp.bacon and can_decompose:
        bacon = suppress_bacon(bacon_decomposition(frame, outcome=y, unit=str(spec.unit), time=spec.time,
                                                   cohort=spec.cohort), res, min_cell)
        extra["bacon"] = bacon.record()
        figures[f"figures/did-{y}-bacon.png"] = bacon.plot()
        tables["tables/bacon.csv"] = bacon.two_by_twos
    if comp.sun_abraham and can_decompose:
        extra["sun_abraham"] = suppress_sun_abraham(
            sun_abraham(frame, outcome=y, unit=str(spec.unit), time=spec.time, cohort=spec.cohort,
                        cluster=spec.cluster, anticipation=estimation.anticipation,
                        level=inference.level).record(), res, min_cell)
    if comp.pretrend_power:  # the pre-trend tests at the size of the run's tests, 1 - level
        extra["pretrend_power"] = res.pretrend_power(alpha=inference.size).to_dict()
    if comp.honest:
        honest = [res.honest_did(restriction=r, target=comp.honest_target, level=inference.level) for r in comp.honest]
        extra["honest"] = [h.to_dict() for h in honest]
        figures[f"figures/did-{y}-honest.png"] = plot_honest(honest)
    if comp.effect_sizes:
        extra["effect_sizes"] = [suppress_effect_size(effect_size(res).to_dict(), res, min_cell)]
        equivalence = suppress_baseline_equivalence(baseline_equivalence(res), res, min_cell)
        extra["baseline_equivalence"] = equivalence.to_dict(orient="records")
        obs = None if res.data is None else res.data.observations
        extra["baseline_equivalence_review"] = equivalence_review(
            equivalence, level="students" if obs is None else obs.level, outcome=y)
        tables["tables/baseline_equivalence.csv"] = equivalence
    return DesignRun(shown, extra, figures, tables, {})


def run_design(spec: RDDesignSpec | DiDDesignSpec, data: StudentData, *, seed: int, min_cell: int) -> DesignRun:
    """Run the design ``spec`` on ``data`` (random streams derived from ``seed``); what it returns is published, so
    estimates, tables and figures describing fewer than ``min_cell`` students are suppressed (see
    :mod:`cteimpact.rd.privacy` and :mod:`cteimpact.did.privacy`)."""
    if isinstance(spec, RDDesignSpec):
        return _rd(spec, data, seed, min_cell)
    return _did(spec, data, seed, min_cell)

