"""``cteimpact rd-multi``: RD designs with multiple or cumulative cutoffs (rdmulti; Cattaneo, Titiunik &
Vazquez-Bare 2020).

``--cutoff-column COL``: each student faces the cutoff in COL (at least two distinct values); reported per cutoff,
``weighted`` (cutoff estimates weighted by their share of observations within the bandwidths) and ``pooled`` (one
fit on running - cutoff). ``--cutoffs 40,60 --cumulative``: every student faces every cutoff (the treatment changes
at each); each cutoff is estimated on the students between its neighbouring cutoffs. ``--deriv 1`` estimates kinks
(changes in slope; ``--p`` at least 1). With ``--json`` one JSON object is printed: ``estimates`` (one row per
estimate: ``label`` such as ``y[cutoff=40]``, ``y[weighted]``, ``y[pooled]``, ``kind``, ``cutoff``, conventional
``estimate``/``se``/``p_value``/``ci_*``, robust ``estimate_bc``/``se_robust``/``p_robust``/``ci_robust_*``,
bandwidths, counts within them, ``weight``, ``suppressed``/``suppression``), ``cutoffs``, ``options``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cteimpact.cli.options import check_output_file, emit_record
from cteimpact.config.declared import build_options, click_options
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd.options import RDOptions

__all__ = ["command"]


def _cutoffs(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise OptionError(f"--cutoffs takes numbers separated by commas (40,60), got {text!r}") from None


@click.command("rd-multi", context_settings={"max_content_width": 100})
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outcome", required=True, help="Outcome column.")
@click.option("--running", required=True, help="Running variable (score) column.")
@click.option("--cutoff-column", default=None, help="Column of each student's cutoff (multiple cutoffs).")
@click.option("--cutoffs", "cutoffs_text", default=None,
              help="Cutoffs every student faces, comma-separated (cumulative cutoffs; with --cumulative).")
@click.option("--cumulative", is_flag=True, help="Cumulative cutoffs (with --cutoffs).")
@click.option("--deriv", type=click.IntRange(0, 1), default=0, show_default=True,
              help="0: jumps at the cutoffs; 1: kinks (changes in slope).")
@click.option("--fuzzy", default=None, help="Treatment take-up column (fuzzy design).")
@click.option("--cluster", default=None, help="Cluster column: cluster-robust variance.")
@click.option("--p", "p", type=int, default=None,
              help="Order of the local polynomial (default 1; 2 with --deriv 1, rdrobust's kink default).")
@click_options(RDOptions, exclude=("p", "h", "b", "rho", "sharpbw"))
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result (JSON) to this file.")
@click.option("--min-cell", "min_cell", type=int, default=DEFAULT_MIN_CELL, show_default=True,
              help="Suppress every estimate describing fewer students than this (privacy).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text summary.")
def command(data: Path, outcome: str, running: str, cutoff_column: str | None, cutoffs_text: str | None,
            cumulative: bool, deriv: int, fuzzy: str | None, cluster: str | None, p: int | None,
            output: Path | None, min_cell: int, as_json: bool, **estimation: Any) -> None:
    """RD estimates of OUTCOME with multiple (--cutoff-column) or cumulative (--cutoffs ... --cumulative) cutoffs
    of RUNNING in DATA (CSV or Parquet), with robust bias-corrected inference (rdmulti)."""
    from cteimpact.cli.rd import _read_data
    from cteimpact.rd.multi_cutoff import multi_cutoff_rd

    min_cell = check_min_cell(min_cell)
    if output is not None:
        check_output_file(output, "--output")
    order = p if p is not None else (2 if deriv == 1 else 1)
    options = build_options(RDOptions, {"p": order, **estimation}, where="cteimpact rd-multi")
    frame = _read_data(data, (), [("outcome", outcome), ("running variable", running), ("cutoff", cutoff_column),
                                  ("treatment", fuzzy), ("cluster", cluster)], ids=(cluster,))
    res = multi_cutoff_rd(frame, outcome=outcome, score=running, cutoff_column=cutoff_column,
                          cutoffs=_cutoffs(cutoffs_text), cumulative=cumulative, treatment=fuzzy, cluster=cluster,
                          deriv=deriv, options=options, min_cell=min_cell)
    emit_record(res.to_dict(), res.summary(), output=output, as_json=as_json)
