"""``cteimpact verify``: independently re-run a run directory and certify its numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["VERIFICATION_FAILED", "command"]

VERIFICATION_FAILED = 3
"""Exit code when a number does not match or an input or output changed."""

_MAX_ROWS = 40


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return repr(x)
    return "null" if x is None else str(x)


def _table(rows: list[Any]) -> str:
    header = ("value", "in record", "re-computed", "difference", "tolerance", "match")
    body = [(r.path, _fmt(r.recorded), _fmt(r.recomputed), "" if r.difference is None else f"{r.difference:.3g}",
             "" if r.rtol is None else f"rtol {r.rtol:g}, atol {r.atol:g}", "yes" if r.match else "NO")
            for r in rows]
    widths = [min(60, max(len(h), *(len(b[i]) for b in body))) for i, h in enumerate(header)] if body else []
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c[:w].ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


@click.command(name="verify")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the run's data file, if it moved since the run.")
@click.option("--certificate", "certificate_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the certificate (default RUN_DIR/certificate.json).")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-8, show_default=True,
              help="Relative tolerance of the number-by-number comparison.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-10, show_default=True,
              help="Absolute tolerance of the comparison.")
@click.option("--quiet", is_flag=True, help="Do not show progress.")
def command(run_dir: Path, data_root: Path | None, certificate_path: Path | None, rtol: float, atol: float,
            quiet: bool) -> int:
    """Re-hash the inputs of RUN_DIR, re-run its specification and compare every number of results.json.

    Prints the re-computation table (headline values and every mismatch; the certificate holds every row) and
    writes a validator's certificate. Exit code 0 when verified, 3 when any input changed or any number does not
    match, 2 for a directory that is not a run.
    """
    from cteimpact.pipeline.certificate import build_certificate, headline_rows
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.provenance.compare import TolerancePolicy
    from cteimpact.results.serialization import write_json

    v = verify_run(run_dir, data_root=data_root, policy=TolerancePolicy(rtol=rtol, atol=atol), progress=not quiet)
    click.echo("Inputs")
    for i in v.inputs:
        click.echo(f"  {i.role:<14} {i.status:<10} {Path(i.path).name}  sha256 {i.sha256_recorded[:16]}…  "
                   f"records {i.records if i.records is not None else '-'}")
    for p in v.outputs_changed:
        click.echo(f"  output {p}: differs from the hash in the manifest")
    heads = {f"design.estimates[{k}].{f}" for k, e in enumerate(v.recorded.get("design", {}).get("estimates", []))
             if e["label"] in {h["label"] for h in headline_rows(v.recorded)}
             for f in ("estimate", "std_error", "ci_lower", "ci_upper")}
    heads |= {"pricing.expected_payment", "pricing.payments.at_estimate", "pricing.p_any_payment",
              "pricing.benefit_cost_ratio", "pricing.break_even_effect"}
    shown = [r for r in v.comparison.rows if r.path in heads]
    mism = list(v.comparison.mismatches)
    click.echo("\nRe-computation (headline values)")
    click.echo(_table(shown))
    if mism:
        click.echo(f"\nMismatches ({len(mism):,}; first {min(len(mism), _MAX_ROWS)} shown)")
        click.echo(_table(mism[:_MAX_ROWS]))
    cmp = v.comparison
    click.echo(f"\nCompared {cmp.n_compared:,} values: {cmp.n_compared - len(mism):,} match, {len(mism):,} do not.")
    target = certificate_path or (run_dir / "certificate.json")
    write_json(build_certificate(v), target)
    verdict = "VERIFIED" if v.ok else "NOT VERIFIED: " + "; ".join(v.reasons)
    click.echo(f"{verdict}\ncertificate written to {target}")
    return 0 if v.ok else VERIFICATION_FAILED
