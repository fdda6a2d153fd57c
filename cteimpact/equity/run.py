"""The equity analysis of an analysis specification: :func:`run_equity`, which the pipeline calls.

It reads the design from the specification's ``[design]`` (RD or DiD) and the equity options from ``[equity]``
(:class:`~cteimpact.equity.spec.EquitySpec`), runs :func:`~cteimpact.equity.analysis.rd_equity` or
:func:`~cteimpact.equity.analysis.did_equity`, and returns the results with their tables and figure, already
privacy-safe (every number describing fewer than ``min_cell`` students suppressed and said so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from cteimpact.data.student_data import StudentData
from cteimpact.equity.analysis import did_equity, rd_equity
from cteimpact.equity.results import EquityResults
from cteimpact.equity.spec import EquitySpec
from cteimpact.errors import SpecificationError
from cteimpact.provenance.suppression import check_min_cell

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.pipeline.spec import DiDDesignSpec, RDDesignSpec

__all__ = ["EquityRun", "run_equity"]


@dataclass(frozen=True)
class EquityRun:
    """What the equity analysis produced: the results, and the tables and figures to write (relative path → object;
    already suppressed)."""

    results: EquityResults
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)


def _outcomes(spec: EquitySpec, available: list[str], where: str) -> list[str]:
    if spec.outcomes is None:
        return available
    stray = [o for o in spec.outcomes if o not in available]
    if stray:
        raise SpecificationError(f"[equity] outcomes: {', '.join(repr(o) for o in stray)} not among the outcomes of "
                                 f"{where} ({', '.join(available)})")
    return list(spec.outcomes)


def run_equity(spec: EquitySpec, design_spec: RDDesignSpec | DiDDesignSpec, data: StudentData, *, seed: int,
               min_cell: int, access_data: StudentData | None = None) -> EquityRun:
    """Run the ``[equity]`` analysis of a specification on its data.

    Parameters
    ----------
    spec
        The ``[equity]`` section.
    design_spec
        The ``[design]`` section (RD or DiD; a DiD design must be on student rows, not an aggregated panel).
    data
        The data the design is estimated on (after the specification's sample restrictions).
    seed
        The study's seed (recorded; the equity analysis draws no random numbers: its covariances are analytic).
    min_cell
        The small-cell rule's minimum (``[privacy] min_cell``).
    access_data
        Rows for the access gaps (default: ``data``). Pass the data before restrictions that keep only cohorts after
        the program when the access gaps' ``baseline`` period needs the earlier cohorts.

    Returns
    -------
    EquityRun
        Tables ``equity/subgroup_effects.csv``, ``equity/tests.csv``, and with access outcomes
        ``equity/access_rates.csv`` and ``equity/access_gaps.csv``; one figure ``equity/subgroups-<outcome>.png`` per
        outcome.

    Raises
    ------
    SpecificationError
        Outcomes that are not the design's, or a DiD design on aggregated rows (``students`` set).
    MissingColumnError, UnknownGroupError, ...
        As :func:`~cteimpact.equity.analysis.rd_equity` and :func:`~cteimpact.equity.analysis.did_equity` raise them.
    """
    min_cell = check_min_cell(min_cell)
    periods = spec.periods()
    common: dict[str, Any] = {"subgroups": spec.subgroups, "reference": dict(spec.reference) or None,
                              "access": spec.access, "periods": periods, "access_data": access_data,
                              "multiplicity": spec.multiplicity, "min_cell": min_cell}
    if design_spec.type == "rd":
        outcomes = _outcomes(spec, list(design_spec.outcomes), "the RD design")
        res = rd_equity(data, outcomes=outcomes, running=design_spec.running, cutoff=design_spec.cutoff,
                        cutoff_column=design_spec.cutoff_column, fuzzy=design_spec.fuzzy,
                        cluster=design_spec.cluster, covariates=design_spec.covariates, donut=design_spec.donut,
                        options=design_spec.estimation.to_options(), **common)
    else:
        if design_spec.students is not None:
            raise SpecificationError(
                f"[equity] needs one student per row, but [design] students = '{design_spec.students}' says each row "
                "aggregates students (a district × cohort panel): subgroup effects cannot be formed from it; run the "
                "DiD design on the student rows (panel = false) or leave out [equity]")
        outcomes = _outcomes(spec, [design_spec.outcome], "the DiD design")
        res = did_equity(data, outcome=outcomes[0], time=design_spec.time, cohort=design_spec.cohort,
                         unit=design_spec.unit, cluster=design_spec.cluster, covariates=design_spec.covariates,
                         weights=design_spec.weights, estimation=design_spec.to_options(), **common)
    res = _with_seed(res, seed)
    tables: dict[str, pd.DataFrame] = {"equity/subgroup_effects.csv": res.tidy(), "equity/tests.csv": res.tidy_tests()}
    if res.access is not None:
        access = res.tidy_access()
        tables["equity/access_rates.csv"] = access["rates"]
        tables["equity/access_gaps.csv"] = access["gaps"]
    figures = {f"equity/subgroups-{y}.png": res.plot(outcome=y) for y in dict.fromkeys(le.outcome
                                                                                       for le in res.effects)}
    return EquityRun(res, tables, figures)


def _with_seed(res: EquityResults, seed: int) -> EquityResults:
    from dataclasses import replace

    return replace(res, options={**res.options, "seed": int(seed),
                                 "seed_use": "none: the equity analysis's covariances are analytic (no resampling)"})
