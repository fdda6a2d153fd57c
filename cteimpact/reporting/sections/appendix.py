"""Reproducibility appendix: the commands that re-run, verify and re-report the study, the inputs with their
hashes, seeds, software versions, the certified values at full precision, and the resolved specification."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import MISSING, format_count, format_full
from cteimpact.reporting.markdown import md, one_line
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.specification import add_specification_appendix

__all__ = ["add_appendix", "certified_values", "recorded_run_path"]

_HEADLINE_FIELDS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")
_PRICING_FIELDS = (("expected_payment", "expected payment"), ("payments.at_estimate", "payment at the estimate"),
                   ("p_any_payment", "probability of any payment"), ("benefit_cost_ratio", "benefit–cost ratio"))


def recorded_run_path(manifest: Mapping[str, Any], fallback: str) -> str:
    """The run directory as the run's command named it (``--out``), so the commands shown do not depend on where
    the report is built from."""
    command = str(manifest.get("command") or "")
    try:
        parts = shlex.split(command)
    except ValueError:
        parts = command.split()
    for i, part in enumerate(parts):
        if part == "--out" and i + 1 < len(parts):
            return parts[i + 1]
        if part.startswith("--out="):
            return part.split("=", 1)[1]
    return fallback


def certified_values(ctx: ReportContext) -> list[dict[str, str]]:
    """The headline numbers with their path in ``results.json`` and their full-precision text."""
    run = ctx.run
    labels = list(run.outcomes)
    for e in (run.pricing or {}).get("estimates") or []:
        if isinstance(e, Mapping) and e.get("label") and e["label"] not in labels:
            labels.append(str(e["label"]))
    rows = []
    for label in labels:
        index = run.estimate_index(label)
        row = run.estimate(label)
        if index is None or row is None:
            continue
        for f in _HEADLINE_FIELDS:
            rows.append({"Estimate": label, "Quantity": f.replace("_", " "),
                         "Path in results.json": f"design.estimates[{index}].{f}", "Value": format_full(row.get(f))})
    pricing = run.pricing or {}
    for path, what in _PRICING_FIELDS:
        value: Any = pricing
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            rows.append({"Estimate": "pricing", "Quantity": what, "Path in results.json": f"pricing.{path}",
                         "Value": format_full(value)})
    return rows


def add_appendix(ctx: ReportContext) -> None:
    """``sec-reproducibility`` and its subsections."""
    run = ctx.run
    doc = ctx.doc
    manifest = run.manifest
    doc.heading("Reproducibility", label="sec-reproducibility")
    run_path = recorded_run_path(manifest, run.root.name)
    doc.paragraph("The run is reproducible from its inputs: the same inputs, specification and seed give the same "
                  "bytes in results.json. These commands re-run the study, check an existing run number by number "
                  "(a validator's re-computation) and rebuild this report:")
    commands = [str(manifest.get("command") or f"cteimpact run SPEC --out {run_path}"),
                f"cteimpact verify {shlex.quote(run_path)}", f"cteimpact report {shlex.quote(run_path)}"]
    doc.code_block("\n".join(one_line(c) for c in commands), language="sh")
    doc.paragraph(md("If the data have moved, give their folder to the verifier with {}; a changed input is "
                     "reported as such.", ctx.code("--data-root")))

    cert = run.certificate
    if cert is not None:
        rc = cert.get("recomputation") or {}
        doc.paragraph(md("Verification: the validator's certificate reports the verdict **{}** after comparing {} "
                         "values ({} matched, {} did not).", cert.get("verdict"), format_count(rc.get("compared")),
                         format_count(rc.get("matched")), format_count(rc.get("mismatched"))))

    doc.heading("Inputs", level=2, label="sec-inputs")
    inputs = [i for i in manifest.get("inputs") or [] if isinstance(i, Mapping)]
    if inputs:
        frame = pd.DataFrame([{"Role": str(i.get("role")), "File": PurePosixPath(str(i.get("path"))).name,
                               "Records": format_count(i.get("records")), "Bytes": format_count(i.get("bytes")),
                               "SHA-256": str(i.get("sha256") or MISSING)} for i in inputs])
        ctx.table(frame, caption="Inputs of the run with their hashes", label="tbl-inputs", code=["SHA-256"],
                  align={"Records": "right", "Bytes": "right"},
                  note="Paths as recorded: " + "; ".join(str(i.get("path")) for i in inputs) + ".")
    outputs = [o for o in manifest.get("outputs") or [] if isinstance(o, Mapping)]
    results_hash = next((o.get("sha256") for o in outputs if o.get("path") == "results.json"), None)
    if outputs:
        doc.paragraph(md("The manifest hashes all {} outputs of the run (results, tables, figures); results.json has "
                         "SHA-256 {}.", len(outputs), ctx.code(results_hash or MISSING)))

    doc.heading("Seeds and software", level=2, label="sec-software")
    seed = manifest.get("seed") or {}
    derived = seed.get("derived") or {}
    spec_hash = manifest.get("spec_sha256") or run.results.get("spec_sha256")
    doc.paragraph(md("Specification SHA-256 {}; master seed {}, from which every random stream is derived:",
                     ctx.code(spec_hash), ctx.code(seed.get("master"))))
    if derived:
        doc.bullets([md("{}: {}", k, ctx.code(v)) for k, v in derived.items()])
    code = manifest.get("code") or {}
    env = manifest.get("environment") or {}
    commit = code.get("git_commit")
    git = md(" (git commit {}{})", ctx.code(commit), ", with uncommitted changes" if code.get("git_dirty") else "")
    doc.paragraph(md("cteimpact {}{}; Python {} ({}, {}).", code.get("cteimpact") or MISSING, git if commit else "",
                     env.get("python") or MISSING, env.get("implementation") or "", env.get("platform") or ""))
    packages = env.get("packages") or {}
    if packages:
        frame = pd.DataFrame([{"Package": str(k), "Version": str(v) if v is not None else "not installed"}
                              for k, v in packages.items()])
        ctx.table(frame, caption="Versions of the numeric and supporting packages of the run",
                  label="tbl-packages", code=["Version"])

    doc.heading("Certified values at full precision", level=2, label="sec-full-precision")
    rows = certified_values(ctx)
    if rows:
        doc.paragraph("The headline numbers exactly as results.json holds them (the shortest text that reads back as "
                      "the same binary value), with the path a validator's re-computation table uses.")
        ctx.table(pd.DataFrame(rows), caption="Headline values at full precision", label="tbl-full-precision",
                  code=["Path in results.json", "Value"], align={"Value": "right"})
    add_specification_appendix(ctx)
