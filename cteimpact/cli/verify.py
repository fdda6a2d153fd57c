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
@click.option("--spec", "spec", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The specification file you received (default: the location recorded in the manifest).")
@click.option("--contract", "contract", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The contract file you received (default: the one the specification names).")
@click.option("--data", "data", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The data file you received (default: the location recorded in the manifest).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder the specification's data path is relative to (instead of --data).")
@click.option("--certificate", "certificate_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the certificate (default RUN_DIR/certificate.json).")
@click.option("--accept-environment", is_flag=True,
              help="Accept differences of software or platform between the run and this verification (they are "
                   "listed in the certificate); numbers are then compared within --rtol/--atol.")
@click.option("--rtol", type=click.FloatRange(min=0), default=None,
              help="Relative tolerance of the number-by-number comparison (default: 0 in the run's environment, "
                   "1e-8 in an accepted other environment).")
@click.option("--atol", type=click.FloatRange(min=0), default=None,
              help="Absolute tolerance (default: 0 in the run's environment, 1e-10 in an accepted other one).")
@click.option("--validator", default=None,
              help="Who verifies (person or office), recorded in the certificate (default: $CTEIMPACT_VALIDATOR).")
@click.option("--validator-organisation", default=None,
              help="The validator's organisation (default: $CTEIMPACT_VALIDATOR_ORGANISATION).")
@click.option("--quiet", is_flag=True, help="Do not show progress.")
def command(run_dir: Path, spec: Path | None, contract: Path | None, data: Path | None, data_root: Path | None,
            certificate_path: Path | None, accept_environment: bool, rtol: float | None, atol: float | None,
            validator: str | None, validator_organisation: str | None, quiet: bool) -> int:
    """Re-compute RUN_DIR from the specification, contract and data you received and compare everything.

    The specification and contract are loaded from their files (--spec, --contract, or where the manifest says),
    re-hashed, and compared with the copy embedded in the manifest; the study is re-run and every number of
    results.json, every table cell and every figure is compared with what RUN_DIR holds; files the run did not
    write are listed; a different software version or platform is a finding unless --accept-environment. Prints
    the findings and the re-computation table and writes a validator's certificate. Exit code 0 when verified, 3
    when anything differs, 2 for a directory that is not a complete run or inputs that cannot be found.
    """
    from cteimpact.cli.options import check_output_file, headline_line
    from cteimpact.pipeline.certificate import Validator, build_certificate, headline_rows
    from cteimpact.pipeline.run_directory import lock_run_directory
    from cteimpact.pipeline.verify import CERTIFICATE_NAME, verify_run
    from cteimpact.provenance.compare import TolerancePolicy
    from cteimpact.results.serialization import write_json

    if data is not None and data_root is not None:
        raise click.BadParameter("give --data or --data-root, not both", param_hint="--data")
    target = certificate_path or (run_dir / CERTIFICATE_NAME)
    if certificate_path is not None:
        check_output_file(certificate_path, "--certificate")
    policy = None
    if rtol is not None or atol is not None:
        default = TolerancePolicy()
        policy = TolerancePolicy(rtol=default.rtol if rtol is None else rtol,
                                 atol=default.atol if atol is None else atol)
    with lock_run_directory(run_dir):
        v = verify_run(run_dir, spec=spec, contract=contract, data=data, data_root=data_root, policy=policy,
                       accept_environment=accept_environment, progress=not quiet)
        click.echo("Inputs")
        for i in v.inputs:
            click.echo(f"  {i.role:<14} {i.status:<10} {i.path}  ({i.source})  sha256 "
                       f"{(i.sha256_received or '-')[:16]}…  records {i.records if i.records is not None else '-'}")
        if v.environment.get("differences"):
            state = "accepted" if v.environment.get("accepted") else "NOT accepted"
            click.echo(f"\nEnvironment differs from the run's ({state}):")
            for d in v.environment["differences"][:_MAX_ROWS]:
                click.echo(f"  {d}")
        if v.findings:
            click.echo(f"\nFindings ({len(v.findings):,})")
            for f in v.findings[:_MAX_ROWS]:
                click.echo(f"  [{f.kind}] {f.message}")
            if len(v.findings) > _MAX_ROWS:
                click.echo(f"  ... {len(v.findings) - _MAX_ROWS:,} more in the certificate")
        heads = {f"design.estimates[{k}].{f}"
                 for k, e in enumerate(v.recorded.get("design", {}).get("estimates", []))
                 if isinstance(e, dict) and e.get("label") in {h["label"] for h in headline_rows(v.recorded)}
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
        click.echo(f"\nCompared {cmp.n_compared:,} values ({v.environment.get('comparison')}): "
                   f"{cmp.n_compared - len(mism):,} match, {len(mism):,} do not; {v.outputs_compared:,} output "
                   "files regenerated and compared.")
        line = headline_line(v.recomputed.results)
        if line:
            click.echo(f"Headline (re-computed): {line}")
        write_json(build_certificate(v, validator=Validator.from_environment(validator, validator_organisation)),
                   target)
    verdict = "VERIFIED" if v.ok else "NOT VERIFIED: " + "; ".join(v.reasons[:5]) + (
        f"; and {len(v.reasons) - 5} more" if len(v.reasons) > 5 else "")
    click.echo(f"{verdict}\ncertificate written to {target}")
    return 0 if v.ok else VERIFICATION_FAILED
