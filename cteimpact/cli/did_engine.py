"""``cteimpact did DATA.duckdb --in-engine``: Callaway & Sant'Anna computed where the data live, no row pulled.

With a DuckDB database as ``DATA``, ``cteimpact did`` either pulls the columns it uses to this machine and runs the
in-memory estimator (``--pull``), or computes Callaway & Sant'Anna from sufficient statistics in the engine
(``--in-engine``, :func:`cteimpact.did.sufficient.table_run.run_in_engine`): the sample restrictions
(``--where``) and the exclusions of rows missing a needed value run in the engine, each counted there for the sample
flow (:meth:`cteimpact.backends.source.TableSource.restrict` and ``exclude_missing``), then the aggregate queries
bring back at most (cohorts × periods) rows, or (clusters × cohorts × periods) with ``--cluster``, and a row per
cohort. Neither flag (the default): the rows are pulled when the table has at most ``--max-rows-pulled`` rows (as
before), and the computation runs in the engine, with a note, when it has more and every option given is one the
engine computes; otherwise the run stops with one line naming the option that needs the rows.

:func:`engine_blockers` lists the options that need the rows (:data:`NEEDS_ROWS`): covariates of an unbalanced panel
kept unbalanced (numeric and text, categorical, covariates of a balanced panel or of repeated cross-sections run in the
engine, with ``--covariate-reference``: :mod:`cteimpact.did.sufficient.factors` and
:mod:`cteimpact.did.sufficient.rcs_covariates`), weights, a treatment indicator, student counts and the students'
outcome statistics of aggregated rows, effect sizes and descriptive statistics by cohort, the conditional pre-test, the
wild cluster bootstrap, a multiplier bootstrap without ``--cluster`` (it needs every unit's influence function), the
TWFE comparison of an unbalanced panel kept unbalanced, and every ``--estimator`` but ``cs``.

The published output has the in-memory path's keys and numbers (:mod:`cteimpact.cli.did`): the same small-cell rule
(:func:`cteimpact.did.privacy.suppress_sufficient`, on the engine's cohort × period counts), the same sample flow. What
differs: ``descriptives`` (and ``results.details.descriptives``) is ``null`` (the students' standard deviations by
cohort need the rows), ``results.estimator`` names the sufficient statistics, ``options.backend`` is
``"sufficient statistics"``, ``results.details`` has ``rows_fetched`` and no ``influence_function_storage`` (no
unit-level influence function exists), the notes of a balanced panel's exclusions count rows rather than units (the
engine's layout query counts rows; the sample flow's numbers are equal), and the object has ``engine``: where it ran
and how many rows the queries returned (:func:`cteimpact.did.sufficient.table_run.engine_record`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from cteimpact.errors import OptionError

__all__ = ["NEEDS_ROWS", "choose_mode", "engine_blockers"]

NEEDS_ROWS: Mapping[str, tuple[str, str]] = {
    "treatment": ("--treatment", "the in-engine computation reads the first treated period, --cohort"),
    "weights": ("--weights", "weighted statistics are not computed in the engine"),
    "students": ("--students", "the in-engine small-cell rule counts rows, not a column of student counts"),
    "outcome_sd": ("--outcome-sd", "the students' statistics of aggregated rows"),
    "outcome_n": ("--outcome-n", "the students' statistics of aggregated rows"),
    "effect_sizes": ("--effect-sizes", "effect sizes and baseline equivalence"),
    "conditional_pretest": ("--conditional-pretest", "the integrated-moments test on covariates"),
    "wild_bootstrap": ("--wild-bootstrap", "the wild cluster bootstrap re-estimates on the rows"),
    "wild_weights": ("--wild-weights", "the wild cluster bootstrap re-estimates on the rows"),
}
"""Parameters of ``cteimpact did`` the in-engine computation does not support → the option and why it needs rows."""

Mode = Literal["engine", "pull"]


def engine_blockers(given: Sequence[str], *, estimator: str, bootstrap: int | None, cluster: str | None,
                    panel: bool, allow_unbalanced: bool, twfe: bool) -> list[tuple[str, str]]:
    """The options given (parameter names the user set, and the values that matter) that need the rows, each as
    (option, why); empty when the computation can run in the engine."""
    out = [NEEDS_ROWS[name] for name in given if name in NEEDS_ROWS]
    if "covariates" in given and panel and allow_unbalanced:
        out.append(("--covariates with --allow-unbalanced",
                    "covariates are computed in the engine for balanced panels and repeated cross-sections"))
    if estimator != "cs":
        out.append((f"--estimator {estimator}", "only Callaway & Sant'Anna, cs, is computed in the engine"))
    if bootstrap is not None and cluster is None:
        out.append(("--bootstrap without --cluster", "the multiplier bootstrap from sufficient statistics draws one "
                    "multiplier per cluster; without clusters it needs every unit's influence function"))
    if panel and allow_unbalanced and twfe:
        out.append(("--allow-unbalanced with the TWFE comparison", "unit effects of an unbalanced panel; add "
                    "--no-twfe"))
    return out


def choose_mode(in_engine: bool | None, *, rows: int | None, limit: int, blockers: Sequence[tuple[str, str]],
                table: str) -> tuple[Mode, str | None]:
    """Pull or compute in the engine, and the note saying why when the choice was automatic.

    Parameters
    ----------
    in_engine
        ``True`` (``--in-engine``), ``False`` (``--pull``) or ``None`` (automatic).
    rows
        Rows of the table (counted by the engine; only read in automatic mode).
    limit
        The most rows that may be pulled.
    blockers
        :func:`engine_blockers`.
    table
        The table's name, for the messages.

    Raises
    ------
    OptionError
        ``--in-engine`` with an option that needs the rows, or a table above the pull limit with such an option.
    """
    if in_engine is True:
        if blockers:
            option, why = blockers[0]
            raise OptionError(f"option {option} needs the rows ({why}), which --in-engine does not pull: leave the "
                              "option out, or run without --in-engine to pull the rows")
        return "engine", None
    if in_engine is False or rows is None or rows <= limit:
        return "pull", None
    if blockers:
        option, why = blockers[0]
        raise OptionError(f"table '{table}' has {rows:,} rows, more than the {limit:,} that may be pulled, and option "
                          f"{option} needs the rows ({why}): leave it out to compute in the engine, restrict the "
                          "sample, or raise --max-rows-pulled if this machine has the memory")
    return "engine", (f"computed in the engine from sufficient statistics: table '{table}' has {rows:,} rows, more "
                      f"than the {limit:,} that may be pulled (--max-rows-pulled); --pull to refuse, --in-engine to "
                      "choose it always")
