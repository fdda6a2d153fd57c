"""``cteimpact did``: staggered difference-in-differences (Callaway & Sant'Anna) from a data file or a table in an
engine.

::

    cteimpact did DATA --outcome Y --unit ID --time T --cohort G [--control never|notyet] [--method dr|ipw|reg]
        [--covariates a,b [--covariate-reference region=North]] [--cluster C] [--where EXPR ...] [--level 0.95]
        [--bootstrap N] [--wild-bootstrap N]
        [--honest smoothness|relative-magnitudes [--m 0,0.01 | --mbar 0,0.5,1]] [--pretrend-power] --json
    cteimpact did DATA --outcome Y --unit ID --time T --cohort G
        --estimator twfe|event-study|sun-abraham|etwfe|bacon|imputation [--family linear|logit|poisson]
        [--horizons all|0,1,2] [--pretrends K] --json
    cteimpact did --backend postgres --connection env:NAME --table TABLE --outcome Y --unit ID --time T --cohort G
        [--in-engine | --pull] [--max-rows-pulled N] ... --json

``--estimator`` (default ``cs``, Callaway & Sant'Anna) runs another estimator instead
(:mod:`cteimpact.cli.did_estimators`: its JSON object has ``estimator``, ``results``, ``estimates``,
``sample_flow``, ``options``, ``notes`` and ``privacy``, and the text output is the estimator's summary). An
option that does not apply to the chosen estimator (``--method`` with ``twfe``, ``--family`` with ``cs``...) is a
one-line error, exit code 2, naming the option and the estimator.

A text covariate (``--covariates lpop,region``) is categorical: it enters as indicator columns of its levels but
the reference level (the first in sorted order, as R's ``model.matrix`` codes a factor; ``--covariate-reference
region=North`` chooses another), recorded in ``options.covariate_coding`` and the notes. A categorical covariate with
a single level is a one-line error (exit 2) naming it.

``--honest`` adds ``honest``: the HonestDiD sensitivity (Rambachan & Roth 2023) of the first post-period effect of
the dynamic aggregation (:meth:`cteimpact.did.DiDResults.honest_did`), under smoothness (grid ``--m``) or relative
magnitudes (grid ``--mbar``), with the breakdown value; ``--pretrend-power`` adds ``pretrend_power`` (Roth 2022,
:meth:`cteimpact.did.DiDResults.pretrend_power`). Both combine every cohort and are computed before suppression.
``--conditional-pretest`` adds ``conditional_pretest``: the integrated-moments pre-test of parallel trends
conditional on ``--covariates`` (:func:`cteimpact.did.conditional_did_pretest`; its statistic combines every unit,
the treated and comparison counts of a pre-treatment cell below ``--min-cell`` are ``null``).

The estimation options (``--control``, ``--method``, ``--base-period``, ``--anticipation``, ``--panel/--no-panel``,
``--allow-unbalanced``, ``--trim-level``) and the inference options (``--level``, ``--bootstrap``, ...) are generated
from their declarations, :class:`~cteimpact.did.options.DiDEstimation` and
:class:`~cteimpact.did.options.DiDInference`, with their help.

Defaults are R ``did``'s: never-treated comparison units, the doubly robust estimator, a varying base period and
analytic standard errors (a bootstrap only when asked for).

With ``--json`` one JSON object is printed. Its keys are a contract: ``att_gt`` (list of {``group``, ``time``,
``att``, ``se``, ...}), ``aggregates`` {``simple``, ``group``, ``dynamic``, ``calendar``: each {``att``, ``se``,
..., ``elements``: the per-element list}}, ``pretest`` {``statistic``, ``p_value``, ``df``} (``null`` when
unavailable), ``twfe`` {``estimate``, ``se``, ...} (``null`` with ``--no-twfe``), ``sample_flow``; also
``options``, ``estimates`` (the tidy rows), ``notes``, ``descriptives`` (the analysis sample by cohort),
``inference`` (how each row's standard error, interval and p-value were obtained) and ``results`` (the full results
record, ``cteimpact.results/1``, which ``cteimpact price --results`` reads). With ``--effect-sizes`` also
``effect_sizes`` (Hedges' g or the Cox index of the simple ATT), ``baseline_equivalence`` (one row per cohort) and
``baseline_equivalence_review`` (the WWC verdict). For aggregated rows (``--students``), ``--outcome-sd`` names the
students' standard deviation of the outcome within each row (and ``--outcome-n`` the students behind it) so that
descriptive statistics and effect sizes are in student-level standard deviations.

A table in an engine: a DuckDB database as ``DATA`` (``--table``), or a table reached through Ibis, named as
``cteimpact run`` names it (:func:`cteimpact.cli.options.engine_location`): ``--backend postgres --connection
env:NAME --table TABLE`` without ``DATA`` (any server backend), ``--backend spark`` with ``DATA`` a Parquet file or
``--table`` a table of Spark's catalog. ``--where`` is evaluated and counted by the engine. ``--pull`` pulls the
columns used and runs the estimators here; ``--in-engine`` computes Callaway & Sant'Anna from sufficient statistics
in the engine, no unit row pulled (the same JSON keys and numbers but for the ones :mod:`cteimpact.cli.did_engine`
lists, plus ``engine``: where it ran and the rows its queries returned); neither: pulled up to ``--max-rows-pulled``
rows, computed in the engine above (with a note) when every option given allows it. An option that needs the rows is
then a one-line error (exit 2).

Privacy (``--min-cell``, default 10; ``--students`` names a column of student counts for aggregated data): every
output is the result after small-cell suppression (:mod:`cteimpact.did.privacy`). A hidden estimate keeps its
label with ``suppressed: true`` and the ``suppression`` reason, every number of it ``null``; ``privacy`` holds
``min_cell``, the count and the one-line ``note``, which the text summary prints last. The unit and cluster
columns are identifiers, read from CSV files as text (17-digit ids stay distinct, ``01`` is not ``1``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import click

from cteimpact.cli.did_estimators import ESTIMATORS, check_applies, run_comparison
from cteimpact.cli.options import (
    CommaList,
    backend_options,
    check_output_file,
    echo_json,
    emit_record,
    engine_location,
)
from cteimpact.config.declared import build_options, by_declaration, click_options
from cteimpact.did.options import DiDEstimation, DiDInference
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell

__all__ = ["command"]

class _Grid(click.ParamType):
    """A comma-separated list of non-negative numbers (``--mbar 0,0.5,1``)."""

    name = "x[,x...]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> list[float]:
        if isinstance(value, list):
            return value
        try:
            out = [float(v) for v in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not a list of numbers separated by commas", param, ctx)
        if any(not math.isfinite(v) or v < 0 for v in out):
            self.fail(f"{value!r}: every value must be a finite number of at least 0", param, ctx)
        return out


class _Horizons(click.ParamType):
    """Event times of the imputation estimator: ``all`` or non-negative integers separated by commas."""

    name = "all|h[,h...]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> bool | list[int]:
        if isinstance(value, (bool, list)):
            return value
        text = str(value).strip()
        if text.lower() == "all":
            return True
        try:
            out = [int(v) for v in text.split(",")]
        except ValueError:
            self.fail(f"{value!r} is neither 'all' nor a list of integers separated by commas", param, ctx)
        if any(v < 0 for v in out):
            self.fail(f"{value!r}: event times must be at least 0", param, ctx)
        return out


def _references(given: tuple[str, ...]) -> dict[str, str]:
    """``--covariate-reference COLUMN=LEVEL`` options as a mapping (one level per column)."""
    out: dict[str, str] = {}
    for item in given:
        column, sep, level = item.partition("=")
        if not sep or not column.strip() or not level:
            raise OptionError(f"option --covariate-reference takes COLUMN=LEVEL (e.g. region=North), got {item!r}")
        if column.strip() in out:
            raise OptionError(f"option --covariate-reference gives column '{column.strip()}' twice")
        out[column.strip()] = level
    return out


def _given(ctx: click.Context) -> list[str]:
    """Parameters the user set on the command line (not their defaults)."""
    return [name for name in ctx.params
            if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT,
                                                      click.core.ParameterSource.DEFAULT_MAP, None)]


def _check_diagnostics(honest: str | None, mbar: list[float] | None, m_grid: list[float] | None) -> None:
    if mbar is not None and honest != "relative-magnitudes":
        raise OptionError("option --mbar needs --honest relative-magnitudes (use --m with --honest smoothness)")
    if m_grid is not None and honest != "smoothness":
        raise OptionError("option --m needs --honest smoothness (use --mbar with --honest relative-magnitudes)")


def _diagnostics(res: Any, honest: str | None, grid: list[float] | None, pretrend_power: bool,
                 level: float) -> dict[str, Any]:
    """HonestDiD and pre-trend power on the (unsuppressed) dynamic aggregation: they combine every cohort."""
    out: dict[str, Any] = {}
    if honest is not None:
        restriction = "smoothness" if honest == "smoothness" else "relative_magnitude"
        out["honest"] = res.honest_did(restriction=restriction, values=grid, level=level).to_dict()
    if pretrend_power:
        out["pretrend_power"] = res.pretrend_power().to_dict()
    return out


def _conditional_pretest(frame: Any, *, outcome: str, time: str, unit: str | None, cohort: str | None,
                         covariates: list[str], covariate_reference: dict[str, str], weights: str | None,
                         cluster: str | None, where: tuple[str, ...], level: float, seed: int | None,
                         min_cell: int) -> dict[str, Any]:
    """The conditional pre-test as published: cell counts under ``min_cell`` not shown."""
    from cteimpact.did.conditional_pretest import conditional_did_pretest

    if not covariates:
        raise OptionError("option --conditional-pretest needs --covariates (parallel trends conditional on them)")
    if unit is None or cohort is None:
        raise OptionError("option --conditional-pretest needs --unit and --cohort (a balanced panel)")
    res = conditional_did_pretest(frame, outcome=outcome, time=time, unit=unit, cohort=cohort, covariates=covariates,
                                  covariate_reference=covariate_reference, weights=weights, cluster=cluster,
                                  where=where, alpha=1 - level, seed=0 if seed is None else seed)
    out = res.to_dict()
    for c in out["cells"]:
        for key in ("n_treated", "n_comparison"):
            if c[key] < min_cell:
                c[key] = None
    return out


def _diagnostics_text(extra: dict[str, Any]) -> str:
    lines: list[str] = []
    if "honest" in extra:
        h = extra["honest"]
        lines += ["", f"HonestDiD ({h['restriction']}, {h['method']}): robust intervals of the first post-period "
                      "effect",
                  f"  original [{h['original'][0]:.4f}, {h['original'][1]:.4f}]"]
        lines += [f"  {r['value']:.4g}: [{r['lb']:.4f}, {r['ub']:.4f}]" for r in h["table"]]
        if h["breakdown"] is not None:
            lines.append(f"  breakdown value {h['breakdown']:.4g}")
    if "conditional_pretest" in extra:
        c = extra["conditional_pretest"]
        lines += ["", f"Conditional pre-test (integrated moments, {len(c['cells'])} pre-treatment cells): Cramér-von "
                      f"Mises {c['statistic']:.4g}, critical value {c['critical_value']:.4g}, p = {c['p_value']:.4f}"]
    if "pretrend_power" in extra:
        p = extra["pretrend_power"]
        lines += ["", f"Pre-trend power (Roth 2022): slope detected with power {p['target_power']:.2f}: "
                      f"{p['slope_any_significant']:.4g} (any significant pre-period), {p['slope_wald']:.4g} (Wald)"]
    return "\n".join(lines)


def _json_object(res: Any) -> dict[str, Any]:
    gt = res.group_time
    att_gt = [{"group": r["group"], "time": r["time"], "att": r["att"], "se": r["se"],
               "event_time": r["event_time"], "base_period": r["base_period"], "post": bool(r["post"]),
               "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"], "n_treated": r["n_treated"],
               "n_comparison": r["n_comparison"], "note": r["note"], "suppressed": bool(r.get("suppressed", False)),
               "suppression": r.get("suppression")} for r in gt.to_dict(orient="records")]
    def wald(t: Any) -> dict[str, Any] | None:
        return None if t is None else {"statistic": t.statistic, "p_value": t.p_value, "df": t.df,
                                       "p_value_f": t.p_value_f}

    return {
        "att_gt": att_gt,
        "aggregates": res.aggregates_dict(),
        "pretest": wald(res.pretest),
        "pretest_event_study": wald(res.pretest_event),
        "twfe": None if res.twfe is None else res.twfe.record(),
        "sample_flow": res.sample_flow.to_dict(),
        "options": dict(res.options),
        "estimates": [e.to_dict() for e in res.estimates],
        "notes": list(res.notes),
        "privacy": dict(res.privacy or {}),
        "descriptives": res.descriptives_record(),
        "inference": res.inference_record(),
        "results": res.to_dict(),
    }


def _effect_sizes(full: Any, min_cell: int) -> dict[str, Any]:
    """Effect size of the simple ATT and baseline equivalence of each cohort, small cells suppressed."""
    from cteimpact.did.effect_sizes import baseline_equivalence, effect_size, equivalence_review
    from cteimpact.did.privacy import suppress_baseline_equivalence, suppress_effect_size

    equivalence = suppress_baseline_equivalence(baseline_equivalence(full), full, min_cell)
    level = full.data.observations.level
    return {"effect_sizes": [suppress_effect_size(effect_size(full).to_dict(), full, min_cell)],
            "baseline_equivalence": equivalence.to_dict(orient="records"),
            "baseline_equivalence_review": equivalence_review(equivalence, level=level, outcome=full.outcome)}


def _effect_size_text(extra: dict[str, Any]) -> str:
    lines = ["", "Effect size and baseline equivalence (WWC)"]
    for es in extra["effect_sizes"]:
        if es.get("suppressed"):
            lines.append(f"  {es['label']}: suppressed ({es.get('suppression')})")
            continue
        measure = "Hedges' g" if es["kind"] == "hedges_g" else "Cox index"
        lines.append(f"  {es['label']}: {measure} {es['estimate']:.4f} [{es['ci_lower']:.4f}, {es['ci_upper']:.4f}] "
                     f"on the {es['standardiser_name']} ({es['standardiser']:.6g})")
        if es.get("note"):
            lines.append(f"  note: {es['note']}")
    lines.append("  " + extra["baseline_equivalence_review"]["verdict"])
    return "\n".join(lines)


@click.command("did", context_settings={"max_content_width": 100})
@click.argument("data", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outcome", required=True, help="Outcome column.")
@click.option("--unit", default=None, help="Unit identifier (required for panels).")
@click.option("--time", "time_col", required=True, help="Period column.")
@click.option("--cohort", default=None, help="First treated period of each unit (0 = never treated).")
@click.option("--treatment", default=None, help="Alternatively a 0/1 treatment indicator per unit and period.")
@click.option("--covariates", type=CommaList(), default=None, help="Covariates (a,b).")
@click.option("--covariate-reference", "covariate_reference", multiple=True, metavar="COLUMN=LEVEL",
              help="Reference level of a categorical (text) covariate, e.g. region=North (repeatable; cs only; "
                   "default: the first level in sorted order).")
@click.option("--cluster", default=None, help="Cluster column (constant within units).")
@click.option("--weights", default=None, help="Sampling weight column.")
@click_options(DiDEstimation)
@click.option("--where", "where", multiple=True,
              help="Sample restriction, e.g. \"year >= 2004\" (repeatable; recorded in the sample flow; see "
                   "'Sample restrictions' in the README).")
@backend_options()
@click.option("--table", default=None,
              help="The table to read: of DATA.duckdb (may be omitted when it holds one), of the server --backend "
                   "names (required), or of Spark's catalog (instead of DATA); only the columns used (and those "
                   "--where names) are pulled.")
@click.option("--max-rows-pulled", type=click.IntRange(min=1), default=None,
              help="A table in an engine: the most rows that may be pulled from it (default 5,000,000).")
@click.option("--in-engine/--pull", "in_engine", default=None,
              help="A table in an engine: compute Callaway & Sant'Anna there from sufficient statistics "
                   "(no row pulled; --where and missing values counted there), or pull the rows. Default: pull when "
                   "the table has at most --max-rows-pulled rows, else compute in the engine (with a note) if every "
                   "option given allows it.")
@click.option("--min-e", type=float, default=None, help="Smallest event time of the dynamic aggregation.")
@click.option("--max-e", type=float, default=None, help="Largest event time of the dynamic aggregation.")
@click.option("--balance-e", type=int, default=None, help="Balance the event study over this many periods.")
@click_options(DiDInference, exclude=("wild_labels",))
@click.option("--no-twfe", is_flag=True, help="Skip the two-way fixed effects comparison.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the event-study figure (.png, .svg or .pdf).")
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON object to this file.")
@click.option("--students", default=None,
              help="Column with the number of students each row describes (aggregated data); default: each row is one.")
@click.option("--outcome-sd", "outcome_sd", default=None,
              help="Aggregated rows: column with the students' standard deviation of the outcome within each row.")
@click.option("--outcome-n", "outcome_n", default=None,
              help="Column with the students behind each row's outcome mean and SD (default: --students).")
@click.option("--effect-sizes", "effect_sizes", is_flag=True,
              help="Also report the WWC effect size of the simple ATT and baseline equivalence by cohort.")
@click.option("--min-cell", "min_cell", type=int, default=DEFAULT_MIN_CELL, show_default=True,
              help="Suppress every estimate describing fewer students than this (privacy).")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="cs", show_default=True,
              help="cs: Callaway & Sant'Anna; twfe; event-study (TWFE); sun-abraham; etwfe (Wooldridge); bacon "
                   "(Goodman-Bacon decomposition); imputation (Borusyak, Jaravel & Spiess). Options that do not "
                   "apply to the estimator are an error.")
@click.option("--horizons", type=_Horizons(), default=None,
              help="Event times of the imputation estimator's effects: all, or e.g. 0,1,2 (imputation only).")
@click.option("--pretrends", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pre-periods in the imputation estimator's pre-trend test (BJS Test 1; imputation only).")
@click.option("--family", type=click.Choice(["linear", "logit", "poisson"]), default="linear", show_default=True,
              help="ETWFE link (etwfe only): logit needs a 0/1 outcome, poisson a non-negative one.")
@click.option("--honest", type=click.Choice(["smoothness", "relative-magnitudes"]), default=None,
              help="HonestDiD sensitivity (Rambachan & Roth 2023) of the first post-period event-study effect (cs).")
@click.option("--mbar", type=_Grid(), default=None, help="Relative-magnitudes grid of Mbar (e.g. 0,0.5,1).")
@click.option("--m", "m_grid", type=_Grid(), default=None, help="Smoothness grid of M (e.g. 0,0.01,0.02).")
@click.option("--pretrend-power", "pretrend_power", is_flag=True,
              help="Roth (2022) power of the pre-trend tests on the event-study pre-periods (cs).")
@click.option("--conditional-pretest", "conditional_pretest", is_flag=True,
              help="Integrated-moments (Cramér-von Mises) pre-test of conditional parallel trends given --covariates "
                   "(cs; R did's conditional_did_pretest; 1000 multiplier draws, --seed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text summary.")
@click.pass_context
def command(ctx: click.Context, data: Path | None, outcome: str, unit: str | None, time_col: str, cohort: str | None,
            treatment: str | None, covariates: list[str] | None, covariate_reference: tuple[str, ...],
            cluster: str | None, weights: str | None,
            where: tuple[str, ...], backend: str | None, connection: str | None, table: str | None,
            max_rows_pulled: int | None, min_e: float | None,
            max_e: float | None, balance_e: int | None, no_twfe: bool,
            plot_path: Path | None, output: Path | None, students: str | None, outcome_sd: str | None,
            outcome_n: str | None, effect_sizes: bool, min_cell: int, estimator: str, family: str,
            in_engine: bool | None,
            horizons: bool | list[int] | None, pretrends: int, honest: str | None,
            mbar: list[float] | None, m_grid: list[float] | None, pretrend_power: bool, conditional_pretest: bool,
            as_json: bool,
            **declared_options: Any) -> None:
    """Staggered difference-in-differences (Callaway & Sant'Anna 2021) with TWFE comparison and diagnostics.

    DATA is a CSV, Parquet or DuckDB (.duckdb, with --table) file. To read a table where it lives instead, name the
    engine: --backend postgres (or mysql, mssql, snowflake, trino) --connection env:NAME --table TABLE, without
    DATA; --backend spark with DATA a Parquet file, or --table a table of Spark's catalog. --where, the counts and,
    with --in-engine, the whole computation then run in the engine.
    """
    from cteimpact.data.io import read_table
    from cteimpact.did.estimator import CallawaySantAnna

    min_cell = check_min_cell(min_cell)
    given_names = _given(ctx)
    check_applies(estimator, given_names)
    _check_diagnostics(honest, mbar, m_grid)
    if conditional_pretest and (students or "students" in given_names):
        raise OptionError("option --conditional-pretest works on unit rows, not aggregated ones (--students)")
    for path, option in ((output, "--output"), (plot_path, "--plot")):
        if path is not None:
            check_output_file(path, option)
    needed = [c for c in (outcome, unit, time_col, cohort, treatment, cluster, weights, students, outcome_sd,
                          outcome_n) if c]
    needed += list(covariates or [])
    ids = [c for c in (unit, cluster) if c]  # identifiers: text, never rounded
    given = by_declaration(declared_options, DiDEstimation, DiDInference)
    estimation = build_options(DiDEstimation, given[DiDEstimation], where="cteimpact did")
    options = build_options(DiDInference, given[DiDInference], where="cteimpact did")
    location = engine_location(data, backend=backend, connection=connection, table=table,
                              max_rows_pulled=max_rows_pulled)
    if location is not None:  # a table in an engine: computed there, or the columns used pulled (module docstring)
        from cteimpact.cli.did_engine import choose_mode, engine_blockers

        table_source = location.open()
        limit = location.max_rows
        blockers = engine_blockers(given_names, estimator=estimator, bootstrap=options.bootstrap, cluster=cluster,
                                   panel=estimation.panel, allow_unbalanced=estimation.allow_unbalanced,
                                   twfe=not no_twfe)
        rows = table_source.count_rows() if in_engine is None else None
        mode, note = choose_mode(in_engine, rows=rows, limit=limit, blockers=blockers, table=table_source.name)
        if mode == "engine":
            if cohort is None:
                raise OptionError("the in-engine computation needs --cohort (first treated period of each unit)")
            _run_in_engine(table_source, note, outcome=outcome, unit=unit, time_col=time_col, cohort=cohort,
                           cluster=cluster, covariates=tuple(covariates or ()),
                           covariate_reference=_references(covariate_reference), where=where, estimation=estimation,
                           options=options, min_e=min_e,
                           max_e=max_e, balance_e=balance_e, no_twfe=no_twfe, honest=honest,
                           grid=mbar if mbar is not None else m_grid, pretrend_power=pretrend_power,
                           min_cell=min_cell, plot_path=plot_path, output=output, as_json=as_json)
            return
        from cteimpact.backends.loading import table_student_data

        # --where is evaluated and counted by the engine (the rows it excludes never leave it); the sample flow of
        # the rows pulled holds its counts, so the estimators are not given it again
        frame = table_student_data(table_source, needed, where=list(where), max_rows=limit,
                                   why="difference-in-differences: the estimators run on the rows",
                                   unit="unit-periods" if estimation.panel else "observations")
        where = ()
        source = table_source.label
    elif table is not None or max_rows_pulled is not None or in_engine is not None:
        raise OptionError("--table, --max-rows-pulled, --in-engine and --pull apply to a DuckDB database (DATA ending "
                          "in .duckdb) or a table in the engine --backend names")
    else:
        data = cast(Path, data)  # engine_location returns None for a data file only
        frame = read_table(data, columns=None if where else needed, text_columns=ids)
        source = data.name
    if estimator != "cs":
        control = estimation.control if "control" in given_names else "notyet"
        run = run_comparison(estimator, frame, outcome=outcome, unit=unit, time=time_col, cohort=cohort,
                             treatment=treatment, covariates=covariates or (), cluster=cluster, where=where,
                             level=options.level, min_cell=min_cell,
                             options={"panel": estimation.panel, "allow_unbalanced": estimation.allow_unbalanced,
                                      "anticipation": estimation.anticipation, "control": control, "family": family,
                                      "horizons": horizons, "pretrends": pretrends})
        _publish(run.obj, run.text(), run.result if plot_path is not None else None, plot_path, output, as_json)
        return
    cs = CallawaySantAnna(
        frame, outcome=outcome, time=time_col, unit=unit, cohort=cohort, treatment=treatment,
        covariates=covariates or (), covariate_reference=_references(covariate_reference), weights=weights,
        cluster=cluster, where=where, source=source,
        students=students, outcome_sd=outcome_sd, outcome_n=outcome_n, estimation=estimation)
    res = cs.fit(options, min_e=-math.inf if min_e is None else min_e, max_e=math.inf if max_e is None else max_e,
                 balance_e=balance_e, twfe=not no_twfe)
    extra = _effect_sizes(res, min_cell) if effect_sizes else {}
    extra |= _diagnostics(res, honest, mbar if mbar is not None else m_grid, pretrend_power, options.level)
    if conditional_pretest:
        extra["conditional_pretest"] = _conditional_pretest(
            frame, outcome=outcome, time=time_col, unit=unit, cohort=cohort, covariates=covariates or [],
            covariate_reference=_references(covariate_reference), weights=weights, cluster=cluster, where=where,
            level=options.level, seed=options.seed, min_cell=min_cell)
    _publish_cs(res.with_min_cell(min_cell), extra, plot_path, output, as_json)


def _run_in_engine(table_source: Any, note: str | None, *, outcome: str, unit: str | None, time_col: str, cohort: str,
                   cluster: str | None, covariates: tuple[str, ...], covariate_reference: dict[str, str],
                   where: tuple[str, ...], estimation: Any,
                   options: Any, min_e: float | None,
                   max_e: float | None, balance_e: int | None, no_twfe: bool, honest: str | None,
                   grid: list[float] | None, pretrend_power: bool, min_cell: int, plot_path: Path | None,
                   output: Path | None, as_json: bool) -> None:
    """Callaway & Sant'Anna in the engine (:mod:`cteimpact.cli.did_engine`), published as the in-memory path."""
    from dataclasses import replace

    from cteimpact.did.sufficient.table_run import engine_record, run_in_engine

    run = run_in_engine(table_source, where=where, outcome=outcome, unit=unit, time=time_col, cohort=cohort,
                        cluster=cluster, estimation=estimation, inference=options, min_e=min_e, max_e=max_e,
                        balance_e=balance_e, twfe=not no_twfe, covariates=covariates,
                        covariate_reference=covariate_reference)
    res = run.result if note is None else replace(run.result, notes=(*run.result.notes, note))
    extra = _diagnostics(res, honest, grid, pretrend_power, options.level)
    record = engine_record(run, backend=table_source.backend, table=table_source.name,
                           mode="automatic" if note else "--in-engine", note=note)
    _publish_cs(res.with_min_cell(min_cell), {**extra, "engine": record}, plot_path, output, as_json)


def _publish_cs(res: Any, extra: dict[str, Any], plot_path: Path | None, output: Path | None, as_json: bool) -> None:
    """Publish Callaway & Sant'Anna results already suppressed (``res.with_min_cell``): the figure, the JSON object
    (also to ``output``) or the summary with the diagnostics before the privacy note."""
    from cteimpact.results.serialization import write_json

    if plot_path is not None:
        from cteimpact.plotting.style import save_figure

        save_figure(res.plot("event_study"), plot_path)
    obj = {**_json_object(res), **extra}
    if output is not None:
        write_json(obj, output)
    if as_json:
        echo_json(obj)
    else:
        text = (_effect_size_text(extra) if "effect_sizes" in extra else "") + _diagnostics_text(extra)
        if "engine" in extra:
            e = extra["engine"]
            text += (f"\n\nComputed in the engine ({e['backend']}, table '{e['table']}'): no row pulled; the queries "
                     f"returned {e['rows_fetched']:,} rows")
        summary = res.summary()
        head, sep, privacy = summary.rpartition("\n\nPrivacy: ")
        # the privacy note stays last (module docstring)
        click.echo(head + text + sep + privacy if sep else summary + text)


def _publish(obj: dict[str, Any], text: str, result: Any, plot_path: Path | None, output: Path | None,
             as_json: bool) -> None:
    if plot_path is not None:
        from cteimpact.plotting.style import save_figure

        save_figure(result.plot(), plot_path)
    emit_record(obj, text, output=output, as_json=as_json)
