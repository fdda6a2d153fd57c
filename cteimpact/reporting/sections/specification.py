"""The exact specification: every resolved setting of the run (from the manifest), and the full JSON in the
appendix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from cteimpact.reporting.markdown import md
from cteimpact.reporting.sections.context import ReportContext

__all__ = ["add_specification", "add_specification_appendix", "spec_json"]

_SKIP = ("data.columns", "pricing.contract")


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _leaves(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in obj.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if key in _SKIP:
            continue
        if isinstance(v, Mapping) and v:
            yield from _leaves(v, key)
        else:
            yield key, v


def spec_json(spec: Mapping[str, Any]) -> str:
    """The resolved specification as indented JSON with sorted keys: the text whose compact form
    (``separators=(",", ":")``) has the SHA-256 recorded as ``spec_sha256``."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False)


def add_specification(ctx: ReportContext) -> None:
    """``sec-specification``: the settings table and the column map."""
    run = ctx.run
    doc = ctx.doc
    spec = run.spec
    doc.heading("Specification", label="sec-specification")
    digest = run.manifest.get("spec_sha256") or run.results.get("spec_sha256")
    doc.paragraph(md(
        "The run was computed from the analysis specification below, with every default filled in: the resolved "
        "specification recorded in the run's manifest. The same settings re-run the analysis exactly; the full text "
        "is in {}. Its SHA-256 hash:", ctx.ref("sec-spec-json")))
    doc.paragraph(ctx.code(digest))
    rows = [(k, _value(v)) for k, v in _leaves(spec)]
    if rows:
        ctx.table(pd.DataFrame(rows, columns=["Setting", "Value"]), caption="Resolved analysis specification",
                  label="tbl-spec", align={"Value": "left"}, widths=[38, 62],
                  note="Keys as in the specification file (section.key). The column map and the pricing contract "
                       "follow in their own tables.")
    columns = (spec.get("data") or {}).get("columns") or {}
    if columns:
        ctx.table(pd.DataFrame(list(columns.items()), columns=["Role", "Column"]),
                  caption="Column map: the data's columns and the roles they fill", label="tbl-columns")


def add_specification_appendix(ctx: ReportContext) -> None:
    """``sec-spec-json``: the resolved specification as JSON."""
    doc = ctx.doc
    doc.heading("Resolved specification (JSON)", level=2, label="sec-spec-json")
    doc.paragraph(
        "Keys sorted; written compactly (no spaces after separators) this text has the SHA-256 recorded as the "
        "specification's hash.")
    # Quarto scans the raw text, code included, for shortcodes ("{{<") and inline expressions ("`r x`", "`{python}");
    # these occur only inside JSON strings (no brace of the structure follows another, no backtick is structure),
    # where the equivalent JSON escapes show the same specification without them.
    text = re.sub(r"`(?=\s*\{|r[\s#])", r"\\u0060", spec_json(ctx.run.spec)).replace("{{", "{\\u007b")
    doc.code_block(text, language="json")
