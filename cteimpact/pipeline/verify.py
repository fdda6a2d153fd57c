"""``cteimpact verify``: re-compute a run from what the validator received and compare everything.

What is trusted and what is not: ``manifest.json`` and every file of the run directory come from whoever ran the
study. Verification therefore

1. loads the specification and the contract **from their files** (the paths the validator gives with ``--spec``,
   ``--contract``, ``--data``/``--data-root``, else the locations the manifest records, relative to the run
   directory), re-hashes them and the data against the manifest, and lists every key where the copy of the
   specification embedded in the manifest differs from those files;
2. re-runs the study from those files into a temporary folder and compares every number of ``results.json``, every
   cell of every table and every pixel of every figure with what it received (outputs are regenerated, never trusted
   by their recorded hash), lists files the run did not write, and checks the manifest's own records (output hashes,
   seeds, study);
3. compares the software and platform of the run with its own; a difference is a finding unless the validator
   accepts it (``accept_environment``). In the same environment numbers must be identical (a re-run gives the same
   bytes); across environments they are compared under the tolerance policy.

The verdict is "verified" only when there is no finding and every number matches.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cteimpact.backends.connection import is_duckdb_file
from cteimpact.config.paths import resolve_inside
from cteimpact.errors import RunDirectoryError
from cteimpact.pipeline.run import PreparedRun, RunRecord, execute, prepare_spec
from cteimpact.pipeline.run_directory import MANIFEST_NAME, RESULTS_NAME, open_run
from cteimpact.pipeline.spec import load_spec
from cteimpact.provenance.compare import Comparison, TolerancePolicy, compare_records, leaf_differences
from cteimpact.provenance.environment import code_version, environment_differences, environment_versions
from cteimpact.provenance.file_compare import compare_output
from cteimpact.provenance.hashing import sha256_file

__all__ = ["CERTIFICATE_NAME", "EXACT", "Finding", "InputCheck", "Verification", "verify_run"]

CERTIFICATE_NAME = "certificate.json"
EXACT = TolerancePolicy(rtol=0.0, atol=0.0)
"""Identical numbers: the policy when the run and the verification share software and platform."""

FindingKind = Literal["input", "specification", "output", "extra_file", "manifest", "environment"]

_MANIFEST_KEYS = ("schema", "study", "command", "run_date", "specification", "spec_sha256", "seed", "inputs",
                  "environment", "code", "outputs", "report")
_SHOWN_KEYS = 8


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a run is not verified: its kind, what it concerns and a sentence saying what differs."""

    kind: FindingKind
    subject: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


@dataclass(frozen=True, slots=True)
class InputCheck:
    """One input file of the run, located, re-hashed and compared with the manifest.

    ``source`` says who named the file: ``"validator"`` (a command-line option), ``"manifest"`` (the location the
    run recorded) or ``"package"`` (a contract shipped with cteimpact).
    """

    role: str
    path: str
    """Where the file is, relative to the run directory (or ``example:NAME`` for a shipped contract)."""
    source: str
    sha256_recorded: str | None
    sha256_received: str | None
    records: int | None
    bytes: int | None

    @property
    def status(self) -> str:
        if self.sha256_received is None:
            return "missing"
        if self.sha256_recorded is None:
            return "not in the manifest"
        return "unchanged" if self.sha256_received == self.sha256_recorded else "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "path": self.path, "source": self.source, "records": self.records,
                "bytes": self.bytes, "sha256_recorded": self.sha256_recorded,
                "sha256_received": self.sha256_received, "status": self.status}


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a run directory.

    Attributes
    ----------
    findings
        Every difference other than the number-by-number comparison of ``results.json`` (changed inputs, an
        embedded specification that differs from the files, outputs that differ from their re-computation, files
        the run did not write, manifest records that are not the run's, a different environment).
    comparison
        ``results.json`` against its re-computation, value by value.
    environment
        ``{"run": ..., "verifier": ..., "differences": [...], "accepted": bool, "same": bool}``.
    """

    run_dir: Path
    manifest: dict[str, Any]
    recorded: dict[str, Any]
    inputs: tuple[InputCheck, ...]
    findings: tuple[Finding, ...]
    comparison: Comparison
    recomputed: RunRecord
    environment: dict[str, Any] = field(default_factory=dict)
    outputs_compared: int = 0

    @property
    def ok(self) -> bool:
        return self.comparison.ok and not self.findings

    @property
    def outputs_changed(self) -> tuple[str, ...]:
        """Outputs that differ from their re-computation or their recorded hash, or are missing."""
        return tuple(f.subject for f in self.findings if f.kind == "output")

    @property
    def reasons(self) -> list[str]:
        out = [f.message for f in self.findings]
        n = len(self.comparison.mismatches)
        if n:
            first = self.comparison.mismatches[0].path
            out.append(f"{n:,} of {self.comparison.n_compared:,} values of results.json do not match the "
                       f"re-computation (first: {first})")
        return out


# -- locating the inputs ---------------------------------------------------------------------------------------


def _recorded_inputs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in manifest.get("inputs") or []:
        if isinstance(item, dict) and isinstance(item.get("role"), str):
            found.setdefault(item["role"], item)
    return found


def _recorded_location(run_dir: Path, entry: dict[str, Any] | None, role: str, option: str) -> Path:
    path = entry.get("path") if entry else None
    if not isinstance(path, str) or not path:
        raise RunDirectoryError(f"manifest.json of '{run_dir}' records no {role} file; pass {option} with the "
                                f"{role} you received")
    located = Path(path) if Path(path).is_absolute() else run_dir / path
    if not located.is_file():
        raise RunDirectoryError(
            f"the {role} file recorded in manifest.json ('{path}', relative to the run directory) is not there; "
            f"pass {option} with the {role} you received")
    return located


@dataclass(frozen=True)
class _Located:
    prep: PreparedRun
    sources: dict[str, str]


def _recorded_limit(entry: dict[str, Any]) -> int | None:
    """The pull limit the run used (its data entry's ``max_rows_pulled``): it decides whether a design was computed in
    the engine (:mod:`cteimpact.pipeline.engine_design`), so the re-run uses it too; ``None`` when not recorded."""
    limit = entry.get("max_rows_pulled")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def _locate(run_dir: Path, recorded: dict[str, dict[str, Any]], *, spec: Path | None, contract: Path | None,
            data: Path | None, data_root: Path | None) -> _Located:
    sources = {"specification": "validator" if spec is not None else "manifest"}
    spec_path = spec if spec is not None else _recorded_location(run_dir, recorded.get("specification"),
                                                                 "specification", "--spec")
    if not spec_path.is_file():
        raise RunDirectoryError(f"specification file '{spec_path}' does not exist")
    parsed = load_spec(spec_path)
    entry = recorded.get("data") or {}
    table = entry.get("table") if isinstance(entry.get("table"), str) and parsed.data.table is None else None
    if parsed.data.backend not in (None, "duckdb") and parsed.data.path is None:  # a server's (or Spark's) table
        sources["data"] = "specification"
        prep = prepare_spec(parsed, spec_path=spec_path.absolute(), data_root=spec_path.parent, contract_path=contract,
                            table=table, max_rows_pulled=_recorded_limit(entry))
        return _Located(prep, sources)
    if data is not None:
        data_path, sources["data"] = data, "validator"
    elif data_root is not None and parsed.data.path is not None:
        data_path, sources["data"] = resolve_inside(data_root, parsed.data.path, "data.path"), "validator"
    else:
        if entry.get("backend") and not entry.get("path"):  # a server's table given on the run's command line
            raise RunDirectoryError(
                f"the run read table '{entry.get('table')}' from backend '{entry.get('backend')}' named on its "
                "command line; to verify it, name them in the specification ([data] backend, table, "
                "connection_env) and pass it with --spec")
        data_path, sources["data"] = _recorded_location(run_dir, recorded.get("data"), "data", "--data-root"), \
            "manifest"
    if not data_path.is_file():
        raise RunDirectoryError(f"the run's data file is not at '{data_path}'; pass --data-root with the folder "
                                "that holds it (or --data with the file)")
    # a CSV or Parquet file the run read through DuckDB (above its size threshold) is read through DuckDB again; one
    # Spark read is read by Spark again
    through_duckdb = entry.get("backend") == "duckdb" and not is_duckdb_file(data_path)
    backend = "spark" if entry.get("backend") == "spark" and parsed.data.backend is None else None
    prep = prepare_spec(parsed, spec_path=spec_path.absolute(), data_root=data_path.parent,
                        data_path=data_path.absolute(), contract_path=contract,
                        table=table if is_duckdb_file(data_path) else None,
                        duckdb_above_mb=0.0 if through_duckdb else None, backend=backend,
                        max_rows_pulled=_recorded_limit(entry))
    if prep.contract_path is not None:
        shipped = bool(prep.contract_source and prep.contract_source.startswith("example:"))
        sources["contract"] = "validator" if contract is not None else ("package" if shipped else "specification")
    return _Located(prep, sources)


def _input_checks(located: _Located, recorded: dict[str, dict[str, Any]],
                  run_dir: Path) -> tuple[list[InputCheck], list[Finding]]:
    prep = located.prep
    files = {"data": prep.data_path, "contract": prep.contract_path, "specification": prep.spec_path,
             "truth": None if prep.synthetic is None else prep.synthetic.path}
    checks: list[InputCheck] = []
    findings: list[Finding] = []
    for role, path in files.items():
        entry = recorded.get(role)
        if role == "data" and path is None and prep.source is not None:
            continue  # a table on a server: its rows' hash is compared after the re-run (_manifest_findings)
        if path is None:
            if entry is not None:
                findings.append(Finding("input", role, f"the manifest records a {role} file "
                                                       f"('{entry.get('name') or entry.get('path')}') that the "
                                                       "specification does not use"))
            continue
        sha = entry.get("sha256") if entry else None
        shown = located.prep.contract_source if located.sources.get(role) == "package" else \
            Path(os.path.relpath(path.absolute(), run_dir.absolute())).as_posix()
        source = located.sources.get(role, "data folder" if role == "truth" else "manifest")
        check = InputCheck(role, str(shown), source,
                           sha if isinstance(sha, str) else None, sha256_file(path) if path.is_file() else None,
                           entry.get("records") if entry else None, entry.get("bytes") if entry else None)
        checks.append(check)
        if check.status != "unchanged":
            findings.append(Finding("input", role, f"input {role} ({path.name}) is {check.status}"))
    return checks, findings


# -- comparing ---------------------------------------------------------------------------------------------------


def _differing_keys(embedded: Any, files: Any) -> list[str]:
    return [f"{key} (embedded {_short(a)}, files {_short(b)})" for key, a, b in leaf_differences(embedded, files)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _specification_findings(manifest: dict[str, Any], prep: PreparedRun) -> list[Finding]:
    keys = _differing_keys(manifest.get("specification"), prep.resolved)
    if not keys:
        return []
    shown = "; ".join(keys[:_SHOWN_KEYS]) + (f"; and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS
                                              else "")
    return [Finding("specification", "manifest.specification",
                    f"the specification embedded in manifest.json differs from the specification and contract files "
                    f"in {len(keys)} key(s): {shown}")]


def _walk(run_dir: Path) -> tuple[list[str], list[str]]:
    """Files and symbolic links under ``run_dir`` (relative POSIX paths), not following links."""
    files: list[str] = []
    links: list[str] = []
    for folder, dirs, names in os.walk(run_dir, followlinks=False):
        base = Path(folder)
        for d in list(dirs):
            if (base / d).is_symlink():
                links.append((base / d).relative_to(run_dir).as_posix())
                dirs.remove(d)
        for name in names:
            rel = (base / name).relative_to(run_dir).as_posix()
            (links if (base / name).is_symlink() else files).append(rel)
    return sorted(files), sorted(links)


def _report_files(manifest: dict[str, Any]) -> dict[str, str | None]:
    report = manifest.get("report")
    if not isinstance(report, dict):
        return {}
    out: dict[str, str | None] = {}
    for f in report.get("files") or []:
        if isinstance(f, dict) and isinstance(f.get("path"), str) and f["path"].startswith("report/"):
            sha = f.get("sha256")
            out[f["path"]] = sha if isinstance(sha, str) else None
    return out


def _output_findings(run_dir: Path, rerun_dir: Path, manifest: dict[str, Any], recomputed: dict[str, Any],
                     policy: TolerancePolicy) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    regenerated = [o["path"] for o in recomputed["outputs"]]
    received, links = _walk(run_dir)
    present = set(received)
    for rel in links:
        findings.append(Finding("extra_file", rel, f"{rel} is a symbolic link; a run writes none"))
    compared = 0
    for rel in regenerated:
        if rel not in present:
            findings.append(Finding("output", rel, f"output {rel} is missing"))
            continue
        compared += 1
        if rel == RESULTS_NAME:
            continue  # compared value by value
        diff = compare_output(rel, run_dir / rel, rerun_dir / rel, policy)
        if diff is not None:
            findings.append(Finding("output", rel, f"output {diff.message}"))
    recorded_outputs = manifest.get("outputs")
    listed: dict[str, Any] = {}
    if isinstance(recorded_outputs, list):
        listed = {str(o.get("path")): o.get("sha256") for o in recorded_outputs if isinstance(o, dict)}
    for rel in sorted(set(listed) - set(regenerated)):
        findings.append(Finding("manifest", rel, f"manifest.json lists an output {rel[:120]} that the run does not "
                                                 "write"))
    for rel in regenerated:
        if rel in listed and rel in present and listed[rel] != sha256_file(run_dir / rel):
            findings.append(Finding("manifest", rel, f"manifest.json records a SHA-256 for {rel} that is not the "
                                                     "file's"))
        elif rel not in listed:
            findings.append(Finding("manifest", rel, f"manifest.json does not list the output {rel}"))
    reports = _report_files(manifest)
    allowed = set(regenerated) | {MANIFEST_NAME, "certificate.json"} | set(reports)
    for rel in received:
        if rel not in allowed:
            findings.append(Finding("extra_file", rel, f"{rel} was not written by the run"))
    for rel, sha in reports.items():
        if rel not in present:
            findings.append(Finding("output", rel, f"report file {rel} listed in manifest.json is missing"))
        elif sha != sha256_file(run_dir / rel):
            findings.append(Finding("output", rel, f"report file {rel} changed after 'cteimpact report' wrote it"))
    return findings, compared


def _manifest_findings(manifest: dict[str, Any], rerun: dict[str, Any]) -> list[Finding]:
    findings = [Finding("manifest", key, f"manifest.json has a key '{key[:60]}' that a run does not write")
                for key in manifest if key not in _MANIFEST_KEYS]
    for key in ("schema", "study", "spec_sha256", "seed"):
        if manifest.get(key) != rerun.get(key):
            findings.append(Finding("manifest", key, f"manifest.json {key} is {_short(manifest.get(key))}; the "
                                                     f"re-run records {_short(rerun.get(key))}"))
    recorded = _recorded_inputs(manifest)
    for entry in rerun["inputs"]:
        mine = recorded.get(entry["role"], {})
        keys = ("bytes", "records", "rows_sha256", "table_digest") if "rows_sha256" in entry or "rows_sha256" in \
            mine else ("bytes", "records")
        for key in keys:
            if mine.get(key) != entry.get(key):
                findings.append(Finding("manifest", f"inputs.{entry['role']}.{key}",
                                        f"manifest.json records {key} = {_short(mine.get(key))} for the "
                                        f"{entry['role']} file; it has {_short(entry.get(key))}"))
    return findings


def _environment(manifest: dict[str, Any], accept: bool) -> tuple[dict[str, Any], list[Finding]]:
    run = {"environment": manifest.get("environment"), "code": manifest.get("code")}
    here = {"environment": environment_versions(), "code": code_version()}
    differences = environment_differences(run, here)
    info = {"run": run, "verifier": here, "differences": differences, "accepted": bool(differences and accept),
            "same": not differences}
    if not differences or accept:
        return info, []
    shown = "; ".join(differences[:_SHOWN_KEYS]) + (f"; and {len(differences) - _SHOWN_KEYS} more"
                                                     if len(differences) > _SHOWN_KEYS else "")
    return info, [Finding("environment", "environment",
                          f"the run's software or platform differs from this verification's in {len(differences)} "
                          f"field(s): {shown} (re-verify with --accept-environment to compare numbers within "
                          "tolerance after reviewing them)")]


def verify_run(run_dir: str | Path, *, spec: str | Path | None = None, contract: str | Path | None = None,
               data: str | Path | None = None, data_root: str | Path | None = None,
               policy: TolerancePolicy | None = None, accept_environment: bool = False,
               progress: bool = True, rerun: str | Path | None = None) -> Verification:
    """Verify the run directory ``run_dir`` (see the module docstring).

    Parameters
    ----------
    run_dir
        A directory written by ``cteimpact run``.
    spec, contract, data
        The specification, contract and data files the validator received (default: the locations recorded in
        the manifest; the contract named by the specification).
    data_root
        Folder the specification's ``data.path`` is relative to (instead of ``data``).
    policy
        Tolerances of the number-by-number comparison. Default: identical numbers when the software and platform
        are the run's, :class:`TolerancePolicy` defaults when a different environment is accepted.
    accept_environment
        Accept a difference of software or platform between the run and this verification (it is still recorded).
    rerun
        A re-computation already written, used instead of computing one here: a run directory that
        :func:`~cteimpact.pipeline.run.execute` wrote from the specification, contract and data this verification
        locates, with the run's command (``cteimpact demo`` computes it while the run is computed). It is accepted
        only if it read those files (their SHA-256 as re-hashed here) and was computed by this software on this
        platform; otherwise each difference is a finding. It is not itself verified: give only one you computed.

    Raises
    ------
    RunDirectoryError
        Not a complete run directory, or an input file that cannot be found.
    SpecificationError, DataValidationError, OptionError
        The specification, contract or data received cannot be used to re-run the study.
    """
    run_dir = Path(run_dir)
    opened = open_run(run_dir, check_outputs=False)
    manifest, recorded = opened.manifest, opened.results
    inputs = _recorded_inputs(manifest)
    located = _locate(run_dir, inputs, spec=None if spec is None else Path(spec),
                      contract=None if contract is None else Path(contract), data=None if data is None else Path(data),
                      data_root=None if data_root is None else Path(data_root))
    checks, findings = _input_checks(located, inputs, run_dir)
    findings += _specification_findings(manifest, located.prep)
    environment, env_findings = _environment(manifest, accept_environment)
    findings += env_findings
    if policy is None:
        policy = EXACT if environment["same"] else TolerancePolicy()
    environment["comparison"] = "identical numbers" if policy == EXACT else "within the tolerance policy"
    command = manifest.get("command")
    if rerun is None:
        with tempfile.TemporaryDirectory(prefix="cteimpact-verify-") as tmp:
            recomputed = execute(located.prep, Path(tmp) / "rerun", progress=progress,
                                 command=command if isinstance(command, str) else None)
            output_findings, n_outputs = _output_findings(run_dir, recomputed.out_dir, manifest,
                                                          recomputed.manifest, policy)
    else:
        opened_rerun = open_run(Path(rerun), check_outputs=True)
        recomputed = RunRecord(Path(rerun), opened_rerun.results, opened_rerun.manifest)
        findings += _rerun_findings(recomputed.manifest, checks, command)
        output_findings, n_outputs = _output_findings(run_dir, recomputed.out_dir, manifest, recomputed.manifest,
                                                      policy)
    findings += output_findings
    findings += _manifest_findings(manifest, recomputed.manifest)
    comparison = compare_records(recorded, recomputed.results, policy)
    return Verification(run_dir, manifest, recorded, tuple(checks), tuple(findings), comparison, recomputed,
                        environment, n_outputs)


def _rerun_findings(rerun: dict[str, Any], checks: list[InputCheck], command: Any) -> list[Finding]:
    """Whether a re-computation given to :func:`verify_run` read the files located for this verification (their
    SHA-256 as re-hashed here), ran the run's command, and was computed by this software on this platform."""
    findings: list[Finding] = []
    received = {c.role: c.sha256_received for c in checks}
    entries = {e.get("role"): e for e in rerun.get("inputs") or [] if isinstance(e, dict)}
    for role, sha in received.items():
        theirs = (entries.get(role) or {}).get("sha256")
        if theirs != sha:
            findings.append(Finding("input", role, f"the re-computation given read another {role} file (SHA-256 "
                                                   f"{_short(theirs)}, here {_short(sha)})"))
    if rerun.get("command") != command:
        findings.append(Finding("manifest", "command", f"the re-computation given ran {_short(rerun.get('command'))}"
                                                       f"; the run ran {_short(command)}"))
    if rerun.get("environment") != environment_versions() or rerun.get("code") != code_version():
        findings.append(Finding("environment", "re-computation", "the re-computation given was computed by other "
                                                                 "software or on another platform than this "
                                                                 "verification"))
    return findings
