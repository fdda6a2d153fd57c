"""The index page of ``cteimpact demo`` (``OUT/index.html``): each study with its headline estimate, its verdict and
links to its reports, and the table of estimates against the true effects of the synthetic data."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from cteimpact.reporting.facts import other_outcomes, outcomes_of
from cteimpact.reporting.formatting import MISSING
from cteimpact.reporting.numbers import FORMATTERS
from cteimpact.reporting.rundir import RunContents, load_run

__all__ = ["INDEX_NAME", "write_demo_index"]

INDEX_NAME = "index.html"


@dataclass(frozen=True)
class _Unit:
    kind: str
    currency: str


def _fmt(name: str, *values: Any, unit: Any = None, **settings: Any) -> str:
    if values[0] is None:
        return MISSING
    if unit is not None:
        settings = {"kind": unit.kind, "currency": unit.currency, **settings}
    plain = [v.raw if hasattr(v, "raw") else v for v in values]
    return FORMATTERS[name](*plain, **settings)


def _study(run_dir: Path, base: Path, run: RunContents | None = None) -> dict[str, Any]:
    if run is None:
        run = load_run(run_dir)
    records = run.records
    if records is None:  # load_run always reads them
        raise ValueError(f"the records of '{run_dir}' were not read")
    results = records.results
    # the design's outcomes and those the run estimates besides (a projected earnings_age26[surrogate] headline is
    # written in dollars, the long-run outcome's unit)
    known = {str(o.column): o for o in reversed([*outcomes_of(records), *other_outcomes(records)])}

    def unit_of(label: Any) -> Any:
        column, _, rest = str(label).partition("[")
        if rest.startswith("first_stage"):
            return _Unit("proportion", "$")
        return known.get(column) or _Unit("number", "$")

    def link(name: str) -> str | None:
        path = run_dir / "report" / name
        return Path(os.path.relpath(path, base)).as_posix() if path.is_file() else None

    h = results.headline
    headline = None
    if h is not None and h.estimate is not None:
        u = unit_of(h.label)
        headline = {"name": str(h.name or h.label), "value": _fmt("effect", h.estimate, h.std_error, unit=u),
                    "ci": _fmt("ci", h.ci_lower, h.ci_upper, h.std_error, unit=u),
                    "level": _fmt("percent", h.ci_level, decimals=0), "p": _fmt("p_text", h.p_value)}
    def reader_name(label: Any) -> str:
        column = str(label).partition("[")[0]
        match = known.get(column)
        row = results.estimate(str(label))
        name = str(match.name) if match is not None else column
        return f"{name} — {row.term}" if row is not None and row.term else str(label)

    # the index shows the estimates a reader meets first: each outcome's primary estimate and the headline (the
    # report's truth section has every row)
    shown = {str(c) for c in results.outcomes} | ({str(h.label)} if h is not None else set())
    truth = []
    for r in results.truth.rows if results.truth is not None else ():
        if str(r.label) not in shown:
            continue
        u = unit_of(r.label)
        truth.append({"label": reader_name(r.label), "estimate": _fmt("effect", r.estimate, r.std_error, unit=u),
                      "truth": _fmt("effect", r.truth, r.std_error, unit=u),
                      "difference": _fmt("effect", r.difference, r.std_error, unit=u, signed=True),
                      "covered": "yes" if r.covered else ("no" if r.covered is False else MISSING)})
    pricing = results.pricing
    payment = None
    if pricing is not None and pricing.payments is not None:
        currency = pricing.currency_symbol
        payment = {"at_estimate": _fmt("money", pricing.payments.at_estimate, currency=currency),
                   "expected": _fmt("money", pricing.payments.expected, currency=currency, compact=True)}
    cert = records.certificate
    return {
        "title": str((results.study.title or results.study.name) if results.study else run_dir.name),
        "name": run_dir.name, "synthetic": results.synthetic, "headline": headline, "truth": truth,
        "payment": payment, "verdict": str(cert.verdict) if cert is not None and cert.verdict else None,
        "links": {label: link(file) for label, file in (
            ("impact report (HTML)", "impact-report.html"), ("impact report (PDF)", "impact-report.pdf"),
            ("certificate (HTML)", "certificate.html"), ("certificate (PDF)", "certificate.pdf"))},
    }


def write_demo_index(out_dir: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]], *,
                     contents: Sequence[RunContents | None] | None = None) -> Path:
    """Write ``out_dir/index.html`` for the runs ``run_dirs`` (inside ``out_dir``), linking their reports.

    ``contents``: the runs as already read (:attr:`RunReports.contents
    <cteimpact.reporting.run_reports.RunReports.contents>`, same order; ``None`` for one to read here): the index
    shows their results and the certificate's verdict, which writing the reports does not change."""
    base = Path(out_dir)
    read = list(contents) if contents is not None else [None] * len(run_dirs)
    if len(read) != len(run_dirs):
        raise ValueError(f"write_demo_index: {len(read)} contents for {len(run_dirs)} run directories")
    studies = [_study(Path(r), base, c) for r, c in zip(run_dirs, read, strict=True)]
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=jinja2.PackageLoader("cteimpact.reporting", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("demo-index.html.j2").render(
        studies=studies, synthetic=any(s["synthetic"] for s in studies))
    target = base / INDEX_NAME
    target.write_text(html, encoding="utf-8", newline="\n")
    return target
