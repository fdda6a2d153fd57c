"""The reports of a run directory built from the templates: the impact-study report and the validator's
certificate, as Quarto markdown, with the figures they show and the ledger of the numbers they print.

>>> from cteimpact.reporting.rundir import load_run
>>> built = build_report(load_run("runs/ccpt"), "impact")                 # doctest: +SKIP
>>> built.write("runs/ccpt/report/impact-report.qmd")                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from cteimpact.records import Num, Text, join_path
from cteimpact.reporting.document import check_references
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.facts import Figures, Outcome, other_outcomes, outcome, outcomes_of, suppress, trusted
from cteimpact.reporting.markdown import Markdown, code_block, escape_markdown, front_matter
from cteimpact.reporting.numbers import HIDDEN, Ledger
from cteimpact.reporting.rundir import RunContents
from cteimpact.reporting.templating import StudyTemplates, render_template

__all__ = ["BuiltReport", "ReportKind", "build_report"]

ReportKind = Literal["impact", "certificate"]


@dataclass(frozen=True)
class BuiltReport:
    """A report source not yet written.

    Attributes
    ----------
    text
        The Quarto markdown.
    figures
        Path relative to the source (``figures/rd-dropout.png``) → the run's figure file to copy there.
    ledger
        Every number the source shows, with where it came from.
    templates
        Study template name → SHA-256, for each study template used (empty with cteimpact's own only).
    """

    text: str
    figures: dict[str, Path]
    ledger: Ledger
    templates: dict[str, str] = field(default_factory=dict)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Copy the figures beside ``path`` and write the .qmd there."""
        out = Path(path)
        for relative, source in self.figures.items():
            target = out.parent / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != Path(source).read_bytes():
                shutil.copyfile(source, target)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.text, encoding="utf-8", newline="\n")
        return out


# -- helpers the templates call ---------------------------------------------------------------------------------------

def _recorded(value: Any, path: str) -> Any:
    """A raw JSON value of the manifest's specification as a recorded value (numbers and texts with their path;
    lists and objects as their JSON text)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return Num(value, path)
    if isinstance(value, str):
        return Text(value, path)
    return Text(json.dumps(value, ensure_ascii=False), path)


def _leaves(obj: Mapping[str, Any], path: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        where = join_path(path, str(key))
        if name in ("data.columns", "pricing.contract", "report"):
            continue
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, where, name)
        else:
            yield name, _recorded(value, where)


def _spec_json(spec: Mapping[str, Any]) -> str:
    """The resolved specification as indented JSON with sorted keys (its compact form has the SHA-256 recorded as
    ``spec_sha256``). Quarto scans raw text, code included, for shortcodes and inline expressions: those can occur
    only inside JSON strings, where the equivalent escapes show the same specification without them."""
    text = json.dumps(dict(spec), indent=2, sort_keys=True, ensure_ascii=False)
    return re.sub(r"`(?=\s*\{|r[\s#])", r"\\u0060", text).replace("{{", "{\\u007b")


def _front_matter(ledger: Ledger, **meta: Any) -> Markdown:
    """YAML front matter; texts escaped as markdown (pandoc reads them as markdown), recorded ones in the ledger."""
    def value(v: Any) -> Any:
        if isinstance(v, Text):
            ledger.text(v)
        if isinstance(v, (list, tuple)):
            return [value(i) for i in v]
        if isinstance(v, str):
            return escape_markdown(v)
        return v

    clean = {k.replace("_", "-"): value(v) for k, v in meta.items() if v is not None and v != [] and v != ()}
    formats = {"html": {"embed-resources": True}, "typst": {"papersize": "us-letter"}}
    return Markdown(front_matter({**clean, "lang": "en", "engine": "markdown", "tbl-colwidths": False,
                                  "format": formats}))


def _code_block(ledger: Ledger, lines: Sequence[Any], language: str = "sh") -> Markdown:
    for line in lines:
        if isinstance(line, Text):
            ledger.text(line)
    return code_block("\n".join(str(trusted(x)) if not isinstance(x, str) else str(x) for x in lines),
                      language=language)


def _spec_list(records: Any, key: str) -> list[Any]:
    report = records.manifest.specification.get("report")
    items = report.get(key) if isinstance(report, Mapping) else None
    base = "manifest.json:specification.report"
    if isinstance(items, str):
        return [Text(items, join_path(base, key))]
    if isinstance(items, list):
        return [Text(str(v), join_path(join_path(base, key), i)) for i, v in enumerate(items) if isinstance(v, str)]
    return []


MAX_MISMATCH_ROWS = 60
"""Mismatches listed in the certificate report (all of them are in certificate.json)."""
WEAK_FIRST_STAGE_F = 10.0
"""First-stage F below which a fuzzy RD's local average treatment effect is treated as weakly identified."""


def _unit_for(outs: Sequence[Outcome], take_up: Outcome | None, label: Any) -> Outcome | None:
    """The outcome whose unit an estimate ``label`` is written in (a first stage: the take-up, a proportion); the
    outcomes include those a run estimates besides the design's (a projected ``earnings_age26[surrogate]`` is
    written in the long-run outcome's unit)."""
    column, _, rest = str(label).partition("[")
    if rest.startswith("first_stage") and take_up is not None:
        return take_up
    return next((o for o in outs if str(o.column) == column), None)


def _label_at(results: Any, path: str) -> Any:
    """The label of the estimate a results.json path belongs to (``design.estimates[3].estimate``), else the part
    of the record (``pricing``)."""
    m = re.match(r"design\.estimates\[(\d+)\]", str(path))
    if m and results.design is not None and int(m.group(1)) < len(results.design.estimates):
        return results.design.estimates[int(m.group(1))].label
    return str(path).split(".")[0].split("[")[0]


def _units_are_students(records: Any) -> bool:
    """Whether a DiD panel's units are students (else districts, schools or consortia, whose counts are not
    students and are not subject to the small-cell rule)."""
    unit = getattr(records.results.design.options, "unit", None) if records.results.design is not None else None
    columns = (records.manifest.specification.get("data") or {}).get("columns") or {}
    return not any(col == unit and role in ("district", "school", "consortium") for role, col in columns.items())


def context(run: RunContents, figures: Figures, ledger: Ledger) -> dict[str, Any]:
    """What the templates are filled from (see ``templates/impact.qmd.j2``)."""
    records = run.records
    if records is None:
        raise ReportContentError(f"the records of '{run.root}' were not read")
    results = records.results
    design = results.design
    outs = outcomes_of(records)
    others = other_outcomes(records)
    options = design.options if design is not None else None
    fuzzy = getattr(options, "fuzzy", None)
    take_up = outcome(fuzzy, records) if isinstance(fuzzy, Text) else None
    spec = records.manifest.specification
    min_cell = results.privacy.min_cell if results.privacy is not None and results.privacy.min_cell else None
    organisation = _spec_list(records, "organisation")
    return {
        "results": results, "manifest": records.manifest, "certificate": records.certificate,
        "study": results.study or (records.certificate.study if records.certificate else None),
        "design": results.design_type, "design_record": design, "options": options,
        "rd": results.rd, "did": results.did, "extra": design.extra if design is not None else None,
        "outcomes": outs, "primary": outs[0] if outs else None, "take_up": take_up,
        "known_outcomes": [*outs, *others], "surrogate": results.surrogate, "equity": results.equity,
        "pricing": results.pricing, "privacy": results.privacy, "min_cell": min_cell,
        "authors": _spec_list(records, "authors"), "organisation": organisation[0] if organisation else None,
        "run_date": records.manifest.run_date, "headline": results.headline,
        "version": records.manifest.code.cteimpact if records.manifest.code is not None else None,
        "synthetic": results.synthetic, "truth": results.truth,
        "figure": figures.figure, "figure_exists": figures.exists, "figure_label": figures.label_of,
        "suppress": partial(suppress, min_cell=min_cell if min_cell is not None else results.min_cell),
        "front_matter": partial(_front_matter, ledger),
        "code_block": partial(_code_block, ledger),
        "spec_rows": list(_leaves(spec, "manifest.json:specification")),
        "spec_json": Text(_spec_json(spec), "manifest.json:specification"),
        "hidden": HIDDEN, "weak_f": WEAK_FIRST_STAGE_F,
        "number_unit": Outcome(column=Text("value"), name=Text("value"), kind="number", currency="$",
                               results=results),
        "share_unit": Outcome(column=Text("share"), name=Text("share"), kind="proportion", currency="$",
                              results=results),
        "unit_for": partial(_unit_for, [*outs, *others], take_up),
        "units_are_students": _units_are_students(records),
        "max_mismatches": MAX_MISMATCH_ROWS,
        "label_at": partial(_label_at, results),
        "column_map": [(Text(str(k), f"manifest.json:specification.data.columns.{k}~key"),
                        Text(str(v), join_path("manifest.json:specification.data.columns", str(k))))
                       for k, v in ((spec.get("data") or {}).get("columns") or {}).items()],
    }


def build_report(run: RunContents, kind: ReportKind, *, templates: StudyTemplates | None = None) -> BuiltReport:
    """The ``kind`` report of ``run``: ``"impact"`` or ``"certificate"`` (which needs ``certificate.json``).

    Raises
    ------
    ReportContentError
        The run has no certificate (for ``"certificate"``), a template cannot be filled, a number has no recorded
        source, or a cross-reference names a label the report does not define.
    """
    if kind == "certificate" and run.certificate is None:
        raise ReportContentError(f"'{run.root}' has no certificate.json: run 'cteimpact verify {run.root}' before "
                                 "building the validator's certificate")
    ledger = Ledger()
    figures = Figures(run.figure)
    values = context(run, figures, ledger)
    currency = values["pricing"].currency_symbol if values["pricing"] is not None else "$"
    text = render_template(kind, values, ledger=ledger, currency=currency, study=templates)
    check_references(text)
    return BuiltReport(text=text, figures=dict(figures.copies), ledger=ledger,
                       templates=dict(templates.used) if templates is not None else {})
