"""``cteimpact rd``: regression discontinuity estimates, diagnostics and the WWC-style review from a data file.

With ``--json`` one JSON object is printed. Its keys are a contract scripts and validators rely on (the first
outcome's numbers at the top level; every outcome under ``outcomes``):

``estimate`` (conventional point estimate), ``estimate_bc`` (bias-corrected), ``se`` (conventional),
``se_robust``, ``ci`` [lo, hi] (conventional), ``ci_robust`` [lo, hi], ``p`` (conventional), ``p_robust``,
``h`` [left, right], ``b`` [left, right], ``n`` [left, right], ``n_effective`` [left, right], ``sample_flow``;
with ``--diagnostics`` also ``density_test`` {``statistic``, ``p_value``, ``verdict``, ...}, ``covariate_balance``,
``placebo_cutoffs``, ``bandwidth_sensitivity``, ``polynomial_order``, ``donut``, ``attrition`` (each with
``verdict``, ``evidence`` and ``table``) and ``wwc_review``. ``results`` holds the full results record
(``cteimpact.results/1``), readable by :meth:`cteimpact.results.ResultsRecord.from_dict`.

Privacy (``--min-cell``, default 10): every output — the text summary, the JSON object, ``--output`` and
``--plot`` — is the result after small-cell suppression (:mod:`cteimpact.rd.privacy`). A fit describing fewer than
``min_cell`` students on a side within its bandwidth (or revealing one by subtraction) keeps its ``label`` with
``suppressed: true`` and the ``suppression`` reason, and every number of it is ``null``; ``privacy`` holds
``min_cell``, the counts and the one-line ``note``, which the text summary prints last. The cluster and
assignment-unit columns are identifiers, read from CSV files as text (17-digit ids stay distinct).

From a table in an engine, a DuckDB database (``DATA.duckdb``) or a table reached through Ibis named as ``cteimpact
run`` names it (``--backend postgres --connection env:NAME --table TABLE`` without ``DATA``; ``--backend spark``
with a Parquet ``DATA`` or a catalog ``--table``: :func:`cteimpact.cli.options.engine_location`), the rows are
pulled (``--pull``; the default within ``--max-rows-pulled``), or the fits computed in the engine from score cells
(``--in-engine``, :mod:`cteimpact.cli.rd_engine`), or fitted on the rows within given bandwidths (``--window-pull``,
:mod:`cteimpact.cli.rd_window`); above the limit the command chooses
(:func:`cteimpact.cli.rd_engine.choose_rd_mode`). The last two publish the same keys with ``results`` ``null`` and
an ``engine`` record saying how the rows were obtained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from cteimpact.cli.options import CommaList, backend_options, check_output_file, echo_json, engine_location
from cteimpact.config.declared import build_options, by_declaration, click_options
from cteimpact.errors import MissingColumnError, OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd.diagnostics import DiagnosticOptions
from cteimpact.rd.estimator import LocalRandomizationOptions
from cteimpact.rd.options import RDOptions

__all__ = ["command"]


_FIT_KEYS = ("estimate", "estimate_bc", "se", "se_robust", "ci", "ci_robust", "p", "p_robust", "z", "z_robust", "h",
             "b", "n", "n_effective", "cutoff", "kernel", "vce", "bwselect", "order", "order_bias", "clusters")


def _hidden_keys(reason: str) -> dict[str, Any]:
    """The keys of a fit hidden by the small-cell rule: every number null, the flag and the reason."""
    return {**dict.fromkeys(_FIT_KEYS), "suppressed": True, "suppression": reason}


def _fit_keys(fit: Any) -> dict[str, Any]:
    return {
        "estimate": fit.estimate, "estimate_bc": fit.estimate_bc, "se": fit.se, "se_robust": fit.se_robust,
        "ci": list(fit.ci[0]), "ci_robust": list(fit.ci[2]), "p": fit.p_value[0], "p_robust": fit.p_value[2],
        "z": fit.z[0], "z_robust": fit.z[2], "h": list(fit.h), "b": list(fit.b), "n": list(fit.n),
        "n_effective": list(fit.n_h), "cutoff": fit.cutoff, "kernel": fit.kernel, "vce": fit.vce,
        "bwselect": fit.bwselect, "order": fit.p, "order_bias": fit.q,
        "clusters": None if fit.n_clusters_side is None else list(fit.n_clusters_side),
        "suppressed": False, "suppression": None,
    }


def _keys(of: Any) -> dict[str, Any]:
    return _hidden_keys(of.suppressed) if of.suppressed is not None else _fit_keys(of.fit)


def _outcome_block(res: Any, outcome: str) -> dict[str, Any]:
    of = res.primary_fit(outcome)
    block = _keys(of)
    block["outcome"] = outcome
    block["design"] = of.design
    block["sample_flow"] = of.flow.to_dict()  # the outcome's whole sample, shown as in the summary
    if of.suppressed is None and of.fit.first_stage is not None:
        block["first_stage"] = of.fit.first_stage.to_dict()
    if of.suppressed is None and of.reduced_form is not None:
        block["reduced_form"] = _fit_keys(of.reduced_form)
    block["subgroups"] = [{"label": f.label, "group": list(f.group or ()), **_keys(f)}
                          for f in res.fits if f.outcome == outcome and f.kind == "subgroup"]
    block["subgroup_differences"] = [c.to_dict() for c in res.subgroup_comparisons if c.outcome == outcome]
    block["cutoffs"] = [{"label": f.label, **_keys(f)} for f in res.fits
                        if f.outcome == outcome and f.kind == "cutoff"]
    block["cutoff_equality"] = [t.to_dict() for t in res.cutoff_tests if t.outcome == outcome]
    diag = res.diagnostics.get(outcome)
    if diag is not None:
        for check in diag.checks:
            entry = check.to_dict()
            if check.name == "density_test" and check.rows:
                entry = {"statistic": check.rows[0]["statistic"], "p_value": check.rows[0]["p_value"], **entry}
            block[check.name] = entry
        block["wwc_review"] = None if diag.standards is None else diag.standards.to_dict()
    lr = res.local_randomization.get(outcome)
    if lr is not None:
        block["local_randomization"] = lr.to_dict()
    honest = res.honest.get(outcome)
    if honest is not None:
        block["honest"] = honest.to_dict()
    return block


@click.command("rd", context_settings={"max_content_width": 100})
@click.argument("data", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outcome", "outcomes", type=CommaList(), multiple=True, required=True,
              help="Outcome column(s): repeat the option or separate names by commas.")
@click.option("--running", required=True, help="Running variable (score) column.")
@click.option("--cutoff", type=float, default=None, help="The cutoff on the running variable.")
@click.option("--cutoff-column", default=None,
              help="Column with each row's cutoff (multi-cutoff data): pooled estimate on running - cutoff, plus "
                   "cutoff-specific estimates.")
@click.option("--fuzzy", default=None, help="Treatment take-up column (fuzzy design).")
@click.option("--cluster", default=None, help="Cluster column (consortium, school): cluster-robust variance.")
@click.option("--missing-cluster", type=click.Choice(["error", "drop"]), default="error", show_default=True,
              help="What to do with rows whose cluster is missing.")
@click.option("--covariates", type=CommaList(), default=None, help="Covariates for adjustment (a,b).")
@click.option("--weights", default=None, help="Weight column.")
@click.option("--subgroups", type=CommaList(), default=None, help="Subgroup columns (female,low_income).")
@click.option("--baseline-covariates", type=CommaList(), default=None,
              help="Baseline covariates checked for continuity at the cutoff (diagnostics, window selection).")
@click.option("--assignment-unit", default=None,
              help="Column of the unit scores were assigned to (density test and local randomisation per unit).")
@click.option("--where", "where", multiple=True,
              help="Sample restriction, e.g. \"cohort >= award_year\" (repeatable; recorded in the sample flow).")
@backend_options()
@click.option("--table", default=None,
              help="The table to read: of DATA.duckdb (may be omitted when it holds one), of the server --backend "
                   "names (required), or of Spark's catalog (instead of DATA); --where is then evaluated by the "
                   "engine and only the columns used are pulled.")
@click.option("--max-rows-pulled", type=click.IntRange(min=1), default=None,
              help="A table in an engine: the most rows that may be pulled from it (default 5,000,000).")
@click.option("--in-engine/--pull", "in_engine", default=None,
              help="A table in an engine: compute the sharp or fuzzy fits there from score cells (one "
                   "GROUP BY score x cluster query per outcome, no row pulled), or pull the rows. Neither: the rows "
                   "are pulled up to --max-rows-pulled; above it the fits run in the engine (a discrete score), or "
                   "on the rows within given bandwidths (--window-pull), when the options allow.")
@click.option("--window-pull", "window_pull", is_flag=True,
              help="A table in an engine and --h given: pull only the rows within the bandwidths "
                   "(|running - cutoff| <= max(h, b) on each side); the sample flow and the whole sample's counts "
                   "are computed in the engine.")
@click.option("--donut", type=float, default=0.0, show_default=True,
              help="Exclude observations with |running - cutoff| below this.")
@click_options(RDOptions)
@click.option("--diagnostics", is_flag=True, help="Run every diagnostic check and the WWC-style review.")
@click_options(DiagnosticOptions)
@click.option("--local-randomization", is_flag=True, help="Add randomisation inference in a small window.")
@click_options(LocalRandomizationOptions)
@click.option("--power-tau", type=float, default=None,
              help="Also report the power of the robust test against this effect (rdpower), first outcome.")
@click.option("--mde", "want_mde", is_flag=True,
              help="Also report the minimum detectable effect at 80% power of a test of size 5% (rdmde), first "
                   "outcome.")
@click.option("--n-jobs", type=int, default=None, help="Worker processes for the diagnostics (default auto).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the RD plot of the first outcome (.png, .svg, .pdf).")
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full results record (JSON) to this file.")
@click.option("--min-cell", "min_cell", type=int, default=DEFAULT_MIN_CELL, show_default=True,
              help="Suppress every estimate describing fewer students than this (privacy).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text summary.")
def command(data: Path | None, outcomes: tuple[list[str], ...], running: str, cutoff: float | None,
            cutoff_column: str | None, fuzzy: str | None, cluster: str | None, missing_cluster: str,
            covariates: list[str] | None, weights: str | None, subgroups: list[str] | None,
            baseline_covariates: list[str] | None, assignment_unit: str | None, where: tuple[str, ...],
            backend: str | None, connection: str | None, table: str | None, max_rows_pulled: int | None,
            in_engine: bool | None, window_pull: bool, donut: float,
            diagnostics: bool, local_randomization: bool, power_tau: float | None,
            want_mde: bool, n_jobs: int | None,
            plot_path: Path | None, output: Path | None, min_cell: int, as_json: bool, **estimation: Any) -> None:
    """Regression discontinuity estimate of OUTCOME at the cutoff of RUNNING in DATA (CSV, Parquet or DuckDB).

    Reports the conventional estimate with robust bias-corrected inference (rdrobust), bandwidths and effective
    sample sizes per side and the sample flow; --diagnostics adds the manipulation test, covariate continuity,
    placebo cutoffs, bandwidth/order/donut sensitivity, differential attrition and a WWC-style review.

    To read a table where it lives instead of a file, name the engine: --backend postgres (or mysql, mssql,
    snowflake, trino) --connection env:NAME --table TABLE, without DATA; --backend spark with DATA a Parquet file,
    or --table a table of Spark's catalog. --where and the counts then run in the engine, and so do the fits with
    --in-engine.
    """
    from cteimpact.data.student_data import StudentData
    from cteimpact.rd import RegressionDiscontinuity
    from cteimpact.results.serialization import write_json

    outcome_list = [o for group in outcomes for o in group]
    min_cell = check_min_cell(min_cell)
    for path, option in ((output, "--output"), (plot_path, "--plot")):
        if path is not None:
            check_output_file(path, option)
    if cutoff is None and cutoff_column is None:
        raise OptionError("give --cutoff, or --cutoff-column for multi-cutoff data")
    given = by_declaration(estimation, RDOptions, DiagnosticOptions, LocalRandomizationOptions)
    options = build_options(RDOptions, given[RDOptions], where="cteimpact rd")
    location = engine_location(data, backend=backend, connection=connection, table=table,
                              max_rows_pulled=max_rows_pulled)
    if location is None and (in_engine is not None or window_pull):
        raise OptionError("--in-engine and --pull apply to a DuckDB database (DATA ending in .duckdb) or a table in "
                          "the engine --backend names, and so does --window-pull")
    if location is None and (table is not None or max_rows_pulled is not None):
        raise OptionError("--table and --max-rows-pulled apply to a DuckDB database (DATA ending in .duckdb) or a "
                          "table in the engine --backend names")
    table_source = None
    if location is not None:
        from cteimpact.cli.rd_engine import rd_engine_blockers
        from cteimpact.cli.rd_window import window_blockers

        kinds: dict[str, Any] = {
            "covariates": covariates, "weights": weights, "subgroups": subgroups,
            "baseline_covariates": baseline_covariates, "assignment_unit": assignment_unit, "diagnostics": diagnostics,
            "local_randomization": local_randomization, "power_tau": power_tau, "want_mde": want_mde,
            "plot": plot_path is not None, "options": options}
        table_source = location.open()
        limit = location.max_rows
        mode, note = _choose_mode(table_source, in_engine, window_pull, limit=limit, where=where, running=running,
                                  cutoff=cutoff, cutoff_column=cutoff_column, donut=donut, options=options,
                                  engine=rd_engine_blockers(**kinds, donut=donut, clustered=cluster is not None),
                                  windowed=window_blockers(**kinds))
        common: dict[str, Any] = {"outcomes": outcome_list, "running": running, "cutoff": cutoff,
                                  "cutoff_column": cutoff_column, "cluster": cluster,
                                  "missing_cluster": missing_cluster, "where": where, "options": options,
                                  "fuzzy": fuzzy, "min_cell": min_cell, "output": output, "as_json": as_json,
                                  "note": note}
        if mode == "engine":
            _run_in_engine(table_source, **common)
            return
        if mode == "window":
            _run_window(table_source, **common, donut=donut, limit=limit)
            return
    frame = _read_data(table_source if table_source is not None else cast(Path, data), where, [
        *[("outcome", o) for o in outcome_list], ("running variable", running), ("cutoff", cutoff_column),
        ("treatment", fuzzy), ("cluster", cluster), ("weights", weights), ("assignment unit", assignment_unit),
        *[("covariate", c) for c in covariates or []], *[("subgroup", c) for c in subgroups or []],
        *[("baseline covariate", c) for c in baseline_covariates or []]], ids=(cluster, assignment_unit),
        max_rows_pulled=None if location is None else location.max_rows)
    source = cast(Path, data).name if table_source is None else ""
    if isinstance(frame, StudentData):  # read from an engine's table: --where applied there, recorded in its flow
        where, source = (), frame.flow.source
    rd = RegressionDiscontinuity(
        frame, outcome_list, running, cutoff, cutoff_column=cutoff_column, fuzzy=fuzzy, cluster=cluster,
        covariates=covariates or (), weights=weights, subgroups=subgroups or (),
        baseline_covariates=baseline_covariates or (), assignment_unit=assignment_unit, where=where, donut=donut,
        source=source, missing_cluster=missing_cluster)  # type: ignore[arg-type]
    diag = build_options(DiagnosticOptions, given[DiagnosticOptions], where="cteimpact rd") if diagnostics else False
    lr = (build_options(LocalRandomizationOptions, given[LocalRandomizationOptions], where="cteimpact rd")
          if local_randomization else False)
    res = rd.fit(options, diagnostics=diag, local_randomization=lr, n_jobs=n_jobs)
    res = res.with_min_cell(min_cell)  # everything below is published: small cells suppressed
    if plot_path is not None:
        from cteimpact.plotting.style import save_figure

        save_figure(res.plot(), plot_path)
    planning = _planning(rd, res, options, power_tau=power_tau, want_mde=want_mde)
    record = res.to_dict()
    if output is not None:
        write_json(record, output)
    if as_json:
        blocks = {o: _outcome_block(res, o) for o in res.outcomes}
        obj: dict[str, Any] = {**blocks[res.outcomes[0]], "sample_flow": res.primary_fit().flow.to_dict(),
                               **planning, "outcomes": blocks, "notes": list(res.notes),
                               "privacy": dict(res.privacy or {}), "results": record}
        echo_json(obj)
    else:
        click.echo(res.summary())
        _echo_planning(planning, hidden=res.primary_fit().suppressed is not None)


def _choose_mode(source: Any, in_engine: bool | None, window: bool, *, limit: int, where: tuple[str, ...],
                 running: str, cutoff: float | None, cutoff_column: str | None, donut: float, options: RDOptions,
                 engine: list[tuple[str, str]], windowed: list[tuple[str, str]]) -> tuple[str, str | None]:
    """:func:`cteimpact.cli.rd_engine.choose_rd_mode`, with the counts it reads in automatic mode run in the
    engine: the study sample's rows after --where, and above the limit the running variable's distinct values and
    the rows within the bandwidths."""
    from cteimpact.cli.rd_engine import choose_rd_mode
    from cteimpact.cli.rd_window import window_rows

    rows = distinct = inside = text = None
    if in_engine is None and not window:
        restricted, flow = source.restrict(list(where))
        rows = flow.rows_used
        if rows > limit:
            source.require_columns({"running variable": running,
                                    **({"cutoff": cutoff_column} if cutoff_column else {})})
            x = restricted[running].cast("float64")
            if cutoff_column is not None:
                x = x - restricted[cutoff_column].cast("float64")
            distinct = int(source.execute(restricted.aggregate(k=x.nunique()),
                                          what="the distinct values of the running variable")["k"].iloc[0])
            if not windowed:
                win, _, inside = window_rows(source, running=running, cutoff=cutoff, cutoff_column=cutoff_column,
                                             where=where, options=options, donut=donut)
                lo, hi = win.bounds
                label = running if cutoff_column is None else f"{running} - {cutoff_column}"
                text = f"{lo:g} <= {label} <= {hi:g}"
    return choose_rd_mode(in_engine, window, rows=rows, limit=limit, engine_blockers=engine,
                          window_blockers=windowed, distinct=distinct, window_rows=inside, window_text=text,
                          table=source.name)


def _run_window(table_source: Any, *, outcomes: list[str], running: str, cutoff: float | None,
                cutoff_column: str | None, cluster: str | None, missing_cluster: str, where: tuple[str, ...],
                options: RDOptions, fuzzy: str | None, min_cell: int, output: Path | None, as_json: bool,
                note: str | None, donut: float, limit: int) -> None:
    """The fits on the rows within the bandwidths (:mod:`cteimpact.cli.rd_window`), published with the in-memory
    path's keys and the ``engine`` record of the window."""
    from cteimpact.cli.rd_engine import engine_json
    from cteimpact.cli.rd_window import run_rd_window

    run, window, pulled = run_rd_window(table_source, outcomes=outcomes, running=running, cutoff=cutoff,
                                        cutoff_column=cutoff_column, cluster=cluster,
                                        missing_cluster=missing_cluster, where=list(where), options=options,
                                        fuzzy=fuzzy, donut=donut, max_rows=limit)
    record = {"computed_in_engine": False, "backend": table_source.backend, "table": table_source.name,
              "mode": "window", "window": window.to_dict(), "rows_pulled": pulled, "max_rows_pulled": limit,
              "automatic": note is not None, "note": note}
    obj = engine_json(run, fit_keys=_fit_keys, hidden_keys=_hidden_keys, min_cell=min_cell,
                      backend=table_source.backend, table=table_source.name, mode="window", note=note,
                      engine=record)
    _publish_engine(obj, output=output, as_json=as_json)


def _run_in_engine(table_source: Any, *, outcomes: list[str], running: str, cutoff: float | None,
                   cutoff_column: str | None, cluster: str | None, missing_cluster: str, where: tuple[str, ...],
                   options: RDOptions, fuzzy: str | None, min_cell: int, output: Path | None,
                   as_json: bool, note: str | None = None) -> None:
    """The sharp fits in the engine (:mod:`cteimpact.cli.rd_engine`), published with the in-memory path's keys."""
    from cteimpact.cli.rd_engine import engine_json, run_rd_in_engine

    run = run_rd_in_engine(table_source, outcomes=outcomes, running=running, cutoff=cutoff,
                           cutoff_column=cutoff_column, cluster=cluster, missing_cluster=missing_cluster,
                           where=list(where), options=options, fuzzy=fuzzy)
    obj = engine_json(run, fit_keys=_fit_keys, hidden_keys=_hidden_keys, min_cell=min_cell,
                      backend=table_source.backend, table=table_source.name,
                      mode="automatic" if note else "--in-engine", note=note)
    _publish_engine(obj, output=output, as_json=as_json)


def _read_data(data: Any, where: tuple[str, ...], roles: list[tuple[str, str | None]],
               ids: tuple[str | None, ...], *, max_rows_pulled: int | None = None) -> Any:
    """The columns the command uses (every column with --where, which may name others), each checked to exist;
    identifier columns read as text. From a table in an engine (``data`` a
    :class:`~cteimpact.backends.source.TableSource`): the rows that meet --where (evaluated and counted by the
    engine) with only the columns used, as StudentData whose flow holds the counts."""
    from cteimpact.backends.source import TableSource
    from cteimpact.data.io import read_columns, read_table

    if isinstance(data, TableSource):
        from cteimpact.backends.errors import BackendColumnError
        from cteimpact.backends.loading import table_student_data
        from cteimpact.backends.source import DEFAULT_MAX_ROWS_PULLED

        source = data
        for role, col in roles:
            if col is not None and col not in source.columns():
                raise BackendColumnError(col, source.columns(), backend=source.backend, table=source.name, role=role)
        wanted = [c for c in dict.fromkeys(col for _, col in roles) if c is not None]
        return table_student_data(source, wanted, where=list(where),
                                  max_rows=max_rows_pulled or DEFAULT_MAX_ROWS_PULLED,
                                  why="regression discontinuity: the local polynomial fits run on the rows (a sharp "
                                      "design can be computed in the engine: --in-engine)")
    available = read_columns(data)
    for role, col in roles:
        if col is not None and col not in available:
            raise MissingColumnError(col, available, role=role)
    wanted = [c for c in dict.fromkeys(col for _, col in roles) if c is not None]
    return read_table(data, None if where else wanted, text_columns=[c for c in ids if c is not None])


def _planning(rd: Any, res: Any, options: RDOptions, *, power_tau: float | None, want_mde: bool) -> dict[str, Any]:
    """rdpower's power against --power-tau and rdmde's minimum detectable effect, unless the estimate is hidden."""
    hidden = res.primary_fit().suppressed
    planning: dict[str, Any] = {}
    if power_tau is not None:
        planning["power"] = ({"suppressed": True, "suppression": hidden} if hidden is not None
                             else rd.power(res.outcomes[0], power_tau, p=options.p, kernel=options.kernel).to_dict())
    if want_mde:
        planning["mde"] = ({"suppressed": True, "suppression": hidden} if hidden is not None
                           else rd.mde(res.outcomes[0], p=options.p, kernel=options.kernel).to_dict())
    return planning


def _echo_planning(planning: dict[str, Any], *, hidden: bool) -> None:
    if "power" in planning:
        pw = planning["power"]
        click.echo("\nPower of the robust test: not shown, the estimate is suppressed" if hidden
                   else f"\nPower of the robust test against tau = {pw['tau']:g}: {pw['power']:.3f}")
    if "mde" in planning:
        click.echo("\nMinimum detectable effect: not shown, the estimate is suppressed" if hidden
                   else f"\nMinimum detectable effect (power 0.8, alpha 0.05): {planning['mde']['mde']:.4g}")


def _publish_engine(obj: dict[str, Any], *, output: Path | None, as_json: bool) -> None:
    """Write an in-engine result (score cells or window pull) to ``output`` and print it as JSON or as text."""
    from cteimpact.cli.rd_engine import engine_text
    from cteimpact.results.serialization import write_json

    if output is not None:
        write_json(obj, output)
    if as_json:
        echo_json(obj)
    else:
        click.echo(engine_text(obj))
