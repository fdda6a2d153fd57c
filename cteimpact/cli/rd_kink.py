"""``cteimpact rd-kink``: regression kink design (the change in slope of the outcome at the cutoff; rdrobust with
``deriv=1``), sharp or fuzzy (``--fuzzy``: ratio of the outcome's kink to the treatment's kink).

The estimate is labelled ``<outcome>[kink]``. ``--p`` (default 2, rdrobust's default with ``deriv=1``) must be at
least 1 (a kink of a local constant is not defined); ``--p 0`` is an error (exit 2). With ``--json`` one JSON
object is printed: ``estimates`` (one row per estimate: ``label``, ``estimand``, ``estimate``, ``estimate_bc``,
``se``, ``se_robust``, ``ci_lower``/``ci_upper`` robust, ``p_robust``, bandwidths and counts within them),
``options``, ``fit`` (rdrobust's numbers) and the small-cell fields ``suppressed``/``suppression``
(``--min-cell``, default 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cteimpact.cli.options import CommaList, check_output_file, emit_record
from cteimpact.config.declared import build_options, click_options
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd.options import RDOptions

__all__ = ["command"]


@click.command("rd-kink", context_settings={"max_content_width": 100})
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outcome", required=True, help="Outcome column.")
@click.option("--running", required=True, help="Running variable (score) column.")
@click.option("--cutoff", type=float, required=True, help="The kink point on the running variable.")
@click.option("--fuzzy", default=None, help="Treatment (intensity) column: fuzzy kink, a ratio of kinks.")
@click.option("--cluster", default=None, help="Cluster column: cluster-robust variance.")
@click.option("--covariates", type=CommaList(), default=None, help="Covariates for adjustment (a,b).")
@click.option("--weights", default=None, help="Weight column.")
@click.option("--p", "p", type=int, default=2, show_default=True,
              help="Order of the local polynomial (at least 1 for a kink; rdrobust's default with deriv=1 is 2).")
@click_options(RDOptions, exclude=("p",))
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the result (JSON) to this file.")
@click.option("--min-cell", "min_cell", type=int, default=DEFAULT_MIN_CELL, show_default=True,
              help="Suppress an estimate describing fewer students than this (privacy).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text summary.")
def command(data: Path, outcome: str, running: str, cutoff: float, fuzzy: str | None, cluster: str | None,
            covariates: list[str] | None, weights: str | None, p: int, output: Path | None, min_cell: int,
            as_json: bool, **estimation: Any) -> None:
    """Regression kink estimate of OUTCOME at CUTOFF of RUNNING in DATA (CSV or Parquet): the change in slope,
    with robust bias-corrected inference (rdrobust, deriv=1)."""
    from cteimpact.cli.rd import _read_data
    from cteimpact.rd.kink import kink_options, kink_rd

    min_cell = check_min_cell(min_cell)
    if output is not None:
        check_output_file(output, "--output")
    options = kink_options(build_options(RDOptions, {"p": p, **estimation}, where="cteimpact rd-kink"))
    frame = _read_data(data, (), [("outcome", outcome), ("running variable", running), ("treatment", fuzzy),
                                  ("cluster", cluster), ("weights", weights),
                                  *[("covariate", c) for c in covariates or []]], ids=(cluster,))
    res = kink_rd(frame, outcome=outcome, score=running, cutoff=cutoff, treatment=fuzzy, cluster=cluster,
                  covariates=covariates or (), weights=weights, options=options, min_cell=min_cell)
    emit_record(res.to_dict(), res.summary(), output=output, as_json=as_json)
