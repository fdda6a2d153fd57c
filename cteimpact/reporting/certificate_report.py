"""The validator's certificate of a verified run, as Quarto markdown (from ``certificate.json``).

Sections: verdict; scope; inputs received with their hashes and record counts; the headline results as
re-computed; the re-computation (summary by part of the record, the headline values, every mismatch; the full
table stays in ``certificate.json``); thresholds and the payment due; the tolerance policy; software; attestation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from cteimpact.reporting.document import QmdDocument
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.formatting import (
    MISSING,
    format_count,
    format_full,
    format_number,
    format_p_value,
    format_percent,
)
from cteimpact.reporting.impact_report import BuiltReport
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import RunContents, finite
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.pricing_words import money, outcome_name, threshold_text
from cteimpact.reporting.wording import ci_type_name, verdict_name

__all__ = ["MAX_MISMATCH_ROWS", "build_certificate_report"]

MAX_MISMATCH_ROWS = 60
"""Mismatches listed in the certificate report (all of them are in certificate.json)."""

_HEADLINE_FIELDS = ("estimate", "std_error", "ci_lower", "ci_upper")
_PRICING_PATHS = ("pricing.expected_payment", "pricing.payments.at_estimate", "pricing.p_any_payment",
                  "pricing.benefit_cost_ratio", "pricing.break_even_effect")


def _section_of(path: str) -> str:
    """The part of the record a compared value belongs to: ``design.estimates[3].estimate`` → ``design.estimates``,
    ``seeds.rd.local_randomization`` → ``seeds``."""
    parts = re.sub(r"\[\d+\]", "", path).split(".")
    return ".".join(parts[:2]) if parts[0] in ("design", "pricing") and len(parts) > 1 else parts[0]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return format_full(v)
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "…"


def _tolerance(r: Mapping[str, Any]) -> str:
    if r.get("rtol") is None and r.get("atol") is None:
        return "equal"
    return f"rtol {r.get('rtol'):g}, atol {r.get('atol'):g}"


def _rows_frame(rows: list[Mapping[str, Any]], labels: Mapping[int, str] | None = None) -> pd.DataFrame:
    def estimate_of(path: str) -> str:
        m = re.match(r"design\.estimates\[(\d+)\]", path)
        if m and labels is not None:
            return labels.get(int(m.group(1)), MISSING)
        return path.split(".")[0].split("[")[0]

    return pd.DataFrame([{"Estimate": estimate_of(str(r.get("path"))), "Value": str(r.get("path")),
                          "Recorded": _value(r.get("recorded")),
                          "Re-computed": _value(r.get("recomputed")),
                          "Difference": MISSING if finite(r.get("difference")) is None
                          else format_number(finite(r.get("difference")), digits=2),
                          "Tolerance": _tolerance(r), "Match": "yes" if r.get("match") else "NO"}
                         for r in rows])


def _verdict(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    verified = cert.get("verdict") == "verified"
    rc = cert.get("recomputation") or {}
    doc.heading("Verdict", label="sec-verdict")
    body = md("**{}.** {} values of results.json were re-computed from the inputs: {} match, {} do not.",
              str(cert.get("verdict") or "unknown").upper(), format_count(rc.get("compared")),
              format_count(rc.get("matched")), format_count(rc.get("mismatched")))
    reasons = [str(r) for r in cert.get("reasons") or []]
    if reasons:
        body += Markdown("\n\n") + Markdown("\n").join(md("- {}", r) for r in reasons)
    doc.callout(body, kind="tip" if verified else "caution",
                title="The run is verified" if verified else "The run is NOT verified")
    study = cert.get("study") or {}
    spec = cert.get("specification") or {}
    seed = (spec.get("seed") or {}).get("master")
    doc.bullets([
        md("Study: *{}* ({})", study.get("title") or study.get("name") or MISSING,
           ctx.code(study.get("name") or MISSING)),
        md("Run directory as verified: {}", ctx.code(cert.get("run_directory") or MISSING)),
        md("Specification SHA-256: {}", ctx.code(spec.get("sha256") or MISSING)),
        md("Master seed: {}", ctx.code(seed)),
    ])
    recorded_hash = ctx.run.results.get("spec_sha256")
    if spec.get("sha256") and recorded_hash and spec.get("sha256") != recorded_hash:
        doc.callout(md("The certificate was issued for specification {}, but the run's results.json now records {}: "
                       "the certificate does not apply to these results. Verify the run again.",
                       ctx.code(spec.get("sha256")), ctx.code(recorded_hash)),
                    kind="warning", title="Certificate out of date")
    elif verified:
        stale = []
        for h in cert.get("headline") or []:
            row = ctx.run.estimate(str(h.get("label")))
            if row is not None and any(row.get(f) != h.get(f) for f in _HEADLINE_FIELDS):
                stale.append(str(h.get("label")))
        if stale:
            doc.callout(md("results.json has changed since verification for {}: the certificate does not apply to "
                           "the current file. Verify the run again.", Markdown(", ").join(ctx.code(s) for s in stale)),
                        kind="warning", title="Certificate out of date")


def _scope(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    doc.heading("Scope", label="sec-scope")
    doc.paragraph(str(cert.get("scope") or "Re-computation of the run's results."))
    doc.paragraph("The certificate attests that the numbers follow from the inputs and the specification. It does not "
                  "judge whether the design is appropriate: the design's validity checks and the standards checklist "
                  "are in the impact report.")


def _inputs(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    doc.heading("Inputs received", label="sec-inputs-received")
    rows = []
    for i in cert.get("inputs") or []:
        if not isinstance(i, Mapping):
            continue
        rows.append({"Role": str(i.get("role")), "File": PurePosixPath(str(i.get("path"))).name,
                     "Records": format_count(i.get("records")), "Bytes": format_count(i.get("bytes")),
                     "Status": str(i.get("status") or MISSING).upper() if i.get("status") != "unchanged"
                     else "unchanged", "SHA-256 recorded": str(i.get("sha256_recorded") or MISSING)})
    if rows:
        ctx.table(pd.DataFrame(rows), caption="Inputs received, re-hashed", label="tbl-inputs-received",
                  code=["SHA-256 recorded"], align={"Records": "right", "Bytes": "right"},
                  note="unchanged: the SHA-256 of the file received equals the hash in the run's manifest, so it is "
                       "the file the evaluator used. Paths as received: "
                       + "; ".join(str(i.get("path")) for i in cert.get("inputs") or []) + ".")
    changed = [i for i in cert.get("inputs") or [] if isinstance(i, Mapping) and i.get("status") != "unchanged"]
    if changed:
        doc.bullets([md("{}: received {}", PurePosixPath(str(i.get("path"))).name,
                        ctx.code(i.get("sha256_received") or "nothing (file missing)")) for i in changed])
    outputs = cert.get("outputs_changed") or []
    if outputs:
        doc.paragraph(md("Outputs that differ from the hashes in the manifest: {}.",
                         Markdown(", ").join(ctx.code(o) for o in outputs)))
    else:
        doc.paragraph("Every output of the run matches the hash recorded in its manifest.")


def _headline(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    rows = []
    for h in cert.get("headline") or []:
        if not isinstance(h, Mapping):
            continue
        info = ctx.info_for_label(str(h.get("label")))
        se = h.get("std_error")
        rows.append({"Estimate": str(h.get("label")), "Meaning": str(h.get("term") or ""),
                     "Value": info.effect(h.get("estimate"), se), "SE": info.se(se),
                     "CI": info.ci(h.get("ci_lower"), h.get("ci_upper"), se),
                     "Interval": ci_type_name(h.get("ci_type")), "p": format_p_value(finite(h.get("p_value"))),
                     "Effective N": format_count(finite(h.get("n_effective")))})
    if not rows:
        return
    ctx.doc.heading("Headline results as re-computed", label="sec-headline")
    frame = pd.DataFrame(rows).rename(columns={"CI": f"{ctx.level_text} CI"})
    ctx.table(frame, caption="The primary estimates and the estimates the contract pays on, as re-computed",
              label="tbl-headline", align=dict.fromkeys(("Value", "SE", f"{ctx.level_text} CI", "p"), "right"))


def _recomputation(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    rc = cert.get("recomputation") or {}
    rows = [r for r in rc.get("rows") or [] if isinstance(r, Mapping)]
    doc.heading("Re-computation", label="sec-recomputation")
    doc.paragraph(md("Every value of results.json was compared with its re-computation: {} values, {} within "
                     "tolerance, {} outside it. The full table, one row per value, is in certificate.json; {} "
                     "summarises it by part of the record.", format_count(rc.get("compared")),
                     format_count(rc.get("matched")), format_count(rc.get("mismatched")),
                     ctx.ref("tbl-recomputation-parts")))
    parts: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        parts.setdefault(_section_of(str(r.get("path"))), []).append(r)
    summary = []
    for name, items in parts.items():
        diffs = [abs(d) for d in (finite(r.get("difference")) for r in items) if d is not None]
        summary.append({"Part of results.json": name, "Values": format_count(len(items)),
                        "Match": format_count(sum(1 for r in items if r.get("match"))),
                        "Do not match": format_count(sum(1 for r in items if not r.get("match"))),
                        "Largest difference": format_number(max(diffs), digits=2) if diffs else MISSING})
    if summary:
        frame = pd.DataFrame(summary)
        ctx.table(frame, caption="Values compared, by part of the record", label="tbl-recomputation-parts",
                  code=["Part of results.json"],
                  align=dict.fromkeys(("Values", "Match", "Do not match", "Largest difference"), "right"),
                  note="Largest difference: the largest |re-computed − recorded| among the numbers of that part.")
    by_path = {str(r.get("path")): r for r in rows}
    head_paths = []
    for h in cert.get("headline") or []:
        index = ctx.run.estimate_index(str(h.get("label")))
        if index is not None:
            head_paths += [f"design.estimates[{index}].{f}" for f in _HEADLINE_FIELDS]
    head_paths += list(_PRICING_PATHS)
    head_rows = [by_path[p] for p in head_paths if p in by_path]
    labels = {i: str(e.get("label")) for i, e in enumerate(ctx.run.estimates)}
    if head_rows:
        frame = _rows_frame(head_rows, labels)
        ctx.table(frame, caption="Headline values: recorded and re-computed", label="tbl-recomputation-headline",
                  code=["Value", "Recorded", "Re-computed"], align={"Difference": "right"},
                  note="Recorded: the value in the evaluator's results.json; re-computed: the verifier's, both at "
                       "full precision. Difference: re-computed − recorded.")
    mismatches = [r for r in rows if not r.get("match")]
    if mismatches:
        shown = mismatches[:MAX_MISMATCH_ROWS]
        frame = _rows_frame(shown, labels)
        more = len(mismatches) - len(shown)
        ctx.table(frame, caption="Values that do not match", label="tbl-mismatches",
                  code=["Value", "Recorded", "Re-computed"], align={"Difference": "right"},
                  note=(f"The first {len(shown)} of {len(mismatches)}; every mismatch is in certificate.json."
                        if more else "Every value outside its tolerance."))
    else:
        doc.paragraph("No value is outside its tolerance.")


def _payment(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    due = cert.get("payment_due")
    ths = [t for t in cert.get("thresholds") or [] if isinstance(t, Mapping)]
    if due is None and not ths:
        return
    doc.heading("Thresholds and payment due", label="sec-payment-due")
    if ths:
        frame = pd.DataFrame([{"Outcome": outcome_name(t.get("outcome")), "Condition": threshold_text(ctx, t),
                               "Met at the estimate": "YES" if t.get("met_at_estimate") else (
                                   "no" if t.get("met_at_estimate") is False else MISSING),
                               "P(met)": format_percent(finite(t.get("p_met"))),
                               "Below the MDE": "yes" if t.get("below_mde") else "no"} for t in ths])
        ctx.table(frame, caption="Payment thresholds at the re-computed estimate", label="tbl-cert-thresholds",
                  widths=[16, 46, 14, 10, 14],
                  note="Met at the estimate: whether the certified point estimate triggers the payment condition. "
                       "P(met): its probability over the estimate's uncertainty (for information).")
    if isinstance(due, Mapping):
        payors = due.get("by_payor_at_estimate") or {}
        total = money(ctx, due.get("total_at_estimate"))
        npv_payors = due.get("by_payor_npv_at_estimate") or {}
        by_payor = "; by payor: " + ", ".join(
            f"{k} {money(ctx, v)}" + (f" ({money(ctx, npv_payors[k])} in present value)" if k in npv_payors else "")
            for k, v in payors.items()) if payors else ""
        doc.callout(md("**{}** in total ({} in present value){}.", total, money(ctx, due.get("npv_at_estimate")),
                       by_payor),
                    kind="important", title=f"Payment due at the certified estimate ({due.get('currency')})")
        years = due.get("by_year_at_estimate") or []
        if years:
            frame = pd.DataFrame({"Contract year": [str(i) for i in range(len(years))],
                                  "Payment due": [money(ctx, v) for v in years]})
            ctx.table(frame, caption="Payment due by contract year (nominal)", label="tbl-cert-payment-years",
                      align={"Payment due": "right"})


def _tolerance_policy(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    pol = cert.get("tolerance_policy") or {}
    doc.heading("Tolerance policy", label="sec-tolerance")
    default = pol.get("default") or {}
    doc.paragraph(md("Rule: {}. Default tolerances: rtol {}, atol {}. A re-run with the same inputs, specification, "
                     "seed and software gives identical numbers; the tolerances absorb only floating-point differences "
                     "between machines.", ctx.code(pol.get("rule") or MISSING),
                     ctx.code(format_full(default.get("rtol"))), ctx.code(format_full(default.get("atol")))))
    rules = [r for r in pol.get("rules") or [] if isinstance(r, Mapping)]
    if rules:
        frame = pd.DataFrame([{"Values": str(r.get("pattern")), "rtol": format_full(r.get("rtol")),
                               "atol": format_full(r.get("atol")), "Reason": str(r.get("reason") or "")}
                              for r in rules])
        ctx.table(frame, caption="Tolerances for particular values", label="tbl-tolerance-rules",
                  code=["Values", "rtol", "atol"])


def _software(ctx: ReportContext, cert: Mapping[str, Any]) -> None:
    doc = ctx.doc
    sw = cert.get("software") or {}
    doc.heading("Software", label="sec-cert-software")

    def who(v: Mapping[str, Any] | None) -> str:
        v = v or {}
        text = f"cteimpact {v.get('cteimpact') or MISSING}"
        if v.get("git_commit"):
            text += f", git commit {v['git_commit']}" + (" with uncommitted changes" if v.get("git_dirty") else "")
        return text

    frame = pd.DataFrame([{"Party": "evaluator (run)", "Software": who(sw.get("evaluator"))},
                          {"Party": "verifier", "Software": who(sw.get("verifier"))}])
    ctx.table(frame, caption="Software of the evaluator and of the verifier", label="tbl-cert-software",
              code=["Software"])
    env = sw.get("verifier_environment") or {}
    packages = env.get("packages") or {}
    if packages:
        doc.paragraph(f"Verifier's environment: Python {env.get('python') or MISSING} ({env.get('platform') or ''}); "
                      + ", ".join(f"{k} {v if v is not None else 'not installed'}" for k, v in packages.items())
                      + ".")


def build_certificate_report(run: RunContents) -> BuiltReport:
    """The validator's certificate of ``run`` (which must hold ``certificate.json``)."""
    cert = run.certificate
    if cert is None:
        raise ReportContentError(
            f"'{run.root}' has no certificate.json: run 'cteimpact verify {run.root}' before building the "
            "validator's certificate")
    study = cert.get("study") or run.study
    title = f"Validator's certificate: {study.get('title') or study.get('name') or 'run'}"
    document = QmdDocument(title, subtitle=f"Verdict: {verdict_name(cert.get('verdict'))}", toc=True, toc_depth=1)
    ctx = ReportContext(run, document)
    doc = ctx.doc
    _verdict(ctx, cert)
    _scope(ctx, cert)
    _inputs(ctx, cert)
    _headline(ctx, cert)
    _recomputation(ctx, cert)
    _payment(ctx, cert)
    _tolerance_policy(ctx, cert)
    _software(ctx, cert)
    doc.heading("Attestation", label="sec-attestation")
    doc.raw(md("> {}", cert.get("attestation") or ""))
    doc.paragraph(md("Verdict: **{}**.", cert.get("verdict") or "unknown"))
    return BuiltReport(document, dict(ctx.figures))
