"""``cteimpact demo``: synthetic data → the three shipped studies → verification → reports."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

__all__ = ["command"]


def _headline(results: dict) -> str:
    from cteimpact.cli.options import headline_line

    line = headline_line(results)
    lines = [f"    headline: {line}"] if line else []
    pricing = results.get("pricing")
    if pricing:
        lines.append(f"    expected payment {pricing['expected_payment']:,.0f}; P(any payment) "
                     f"{pricing['p_any_payment']:.2f}; benefit-cost ratio {pricing['benefit_cost_ratio']:.2f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class _StudyOutcome:
    """What the demo prints of one study, returned by its worker process."""

    name: str
    title: str
    headline: str
    verified: bool
    n_compared: int
    reports: tuple[str, ...]
    contents: Any
    timings: tuple[tuple[str, float], ...]
    warnings: tuple[tuple[type[Warning], str], ...]


_WORK_SECONDS: dict[str, float] = {"ccpt-credentials-rd": 38.0, "ccpt-dropout-rd": 22.5, "pathways-earnings-did": 13.0}
"""CPU seconds each shipped study takes to run, verify and report at the demo's default scale (measured on the
2-core machine, December 2026); only their order matters: it decides which studies wait for a core."""

_YIELDING_NICENESS = 5
"""Niceness of the studies that yield their core to the longest one when there are fewer cores than studies."""


def _niceness(names: list[str], cores: int) -> dict[str, int]:
    """Scheduling priority of each study's worker: with fewer cores than studies the ``cores - 1`` longest studies
    keep the normal priority and the others share the last core at a lower one, so the longest study (which ends
    the demo) is not slowed by the shorter ones. With enough cores every study has the normal priority."""
    if cores >= len(names):
        return dict.fromkeys(names, 0)
    longest = sorted(names, key=lambda n: -_WORK_SECONDS.get(n, 0.0))[:max(cores - 1, 1)]
    return {name: 0 if name in longest else _YIELDING_NICENESS for name in names}


def _lower_priority(niceness: int) -> None:
    """Raise this process's niceness to ``niceness`` (never lowers it; where the platform has no niceness, nothing)."""
    if niceness <= 0 or not hasattr(os, "getpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if niceness > current:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError:
        return


def _study(name: str, spec: Path, run_dir: Path, data: Path, overwrite: bool, validator: Any, to: list[str],
           engine: str, niceness: int = 0) -> _StudyOutcome | tuple[type[BaseException], str]:
    """Run, verify and report one shipped study (in a worker process, at ``niceness``); a cteimpact error comes back
    as its class and message (some error classes take other arguments than a message, so they are not re-created by
    pickling)."""
    from cteimpact.errors import CteImpactError

    _lower_priority(niceness)
    try:
        return _run_verify_report(name, spec, run_dir, data, overwrite, validator, to, engine)
    except CteImpactError as exc:
        return type(exc), str(exc)


def _raise_again(category: type[BaseException], message: str) -> None:
    """Raise a worker's cteimpact error here: its own class when it takes a message, else its nearest such base."""
    for cls in category.__mro__:
        try:
            error = cls(message)
        except TypeError:
            continue
        raise error


def _run_verify_report(name: str, spec: Path, run_dir: Path, data: Path, overwrite: bool, validator: Any,
                       to: list[str], engine: str) -> _StudyOutcome:
    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.run import run_analysis
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.reporting.run_reports import report_run
    from cteimpact.results.serialization import write_json

    timings = []
    # warnings are handed back to the parent, which shows each once (as `cteimpact run` would)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        record = run_analysis(spec, run_dir, data_root=data, progress=False, overwrite=overwrite,
                              command=f"cteimpact run analyses/{spec.name} --data-root data --out runs/{name}"
                                      + (" --overwrite" if overwrite else ""))
        timings.append(("run", time.perf_counter() - started))
        started = time.perf_counter()
        verification = verify_run(run_dir, progress=False)
        write_json(build_certificate(verification, validator=validator), run_dir / "certificate.json")
        timings.append(("verification", time.perf_counter() - started))
        started = time.perf_counter()
        reports = report_run(run_dir, to=to, engine=engine)  # type: ignore[arg-type]
        timings.append(("reports", time.perf_counter() - started))
    return _StudyOutcome(
        name=name, title=str(record.results["study"]["title"]),
        headline=_headline(json.loads((run_dir / "results.json").read_text(encoding="utf-8"))),
        verified=verification.ok, n_compared=verification.comparison.n_compared,
        reports=tuple(str(path) for render in reports.renders.values() for path in render.outputs.values()),
        contents=reports.contents, timings=tuple(timings),
        warnings=tuple((w.category, str(w.message)) for w in caught))


_WORKER_MODULES = ("cteimpact.pipeline.run", "cteimpact.pipeline.verify", "cteimpact.pipeline.certificate",
                   "cteimpact.reporting.run_reports", "cteimpact.rd.estimator", "cteimpact.did.estimator",
                   "cteimpact.equity.run", "matplotlib.pyplot")
"""Imported once by the fork server, so that the workers forked from it start with them loaded."""


def _start_workers() -> multiprocessing.context.BaseContext:
    """The workers' context: a fork server (a fresh process: no thread pools inherited from this one) that imports
    the pipeline once while this process writes the synthetic data; each study's worker is forked from it."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_WORKER_MODULES))
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return context


def _run_studies(jobs: list[tuple[str, Path, Path]], *, context: multiprocessing.context.BaseContext, data: Path,
                 overwrite: bool, validator: Any, to: list[str], engine: str, quiet: bool) -> list[_StudyOutcome]:
    """Each study in a worker process of ``context``; results in the order of ``jobs``; the first error of a study
    is raised here as it was raised there."""
    started = time.perf_counter()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    niceness = _niceness([name for name, _, _ in jobs], cores)
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = {pool.submit(_study, name, spec, run_dir, data, overwrite, validator, to, engine,
                               niceness[name]): name
                   for name, spec, run_dir in jobs}
        done: dict[str, _StudyOutcome] = {}
        for future in as_completed(futures):
            study = future.result()
            if isinstance(study, tuple):
                _raise_again(*study)
                continue
            done[study.name] = study
            for category, message in study.warnings:
                warnings.warn(message, category, stacklevel=1)
            if not quiet:
                steps = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in study.timings)
                click.echo(f"[demo] {study.name}: {steps} (finished {time.perf_counter() - started:.1f} s after "
                           "the studies started)", err=True)
    return [done[name] for name, _, _ in jobs]


def _took(what: str, started: float, quiet: bool) -> None:
    """Progress on stderr: how long a stage of the demo took (the run's own steps report theirs)."""
    if not quiet:
        click.echo(f"[demo] {what}: done in {time.perf_counter() - started:.1f} s", err=True)


@click.command(name="demo")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the synthetic data, the runs of the shipped studies and their reports.")
@click.option("--seed", default=7, show_default=True, type=click.IntRange(min=0), help="Seed of the synthetic data.")
@click.option("--scale", default=0.25, show_default=True, type=click.FloatRange(min=0.01, max=50),
              help="Size of the synthetic data (see `cteimpact synth --help`).")
@click.option("--to", "formats", default="html,pdf", show_default=True, help="Report formats.")
@click.option("--engine", type=click.Choice(["fallback", "quarto", "auto"]), default="fallback", show_default=True,
              help="Report renderer (fallback: pandoc + typst from PyPI; quarto; auto: quarto when installed).")
@click.option("--overwrite", is_flag=True, help="Replace the runs of an earlier demo in OUT.")
@click.option("--quiet", is_flag=True, help="Do not show progress.")
def command(out_dir: Path, seed: int, scale: float, formats: str, engine: str, overwrite: bool, quiet: bool) -> int:
    """Run the whole workflow on synthetic data calibrated to the California Career Pathways Trust.

    Writes OUT/data (students, wage records, district panel, truth.json) and OUT/analyses (copies of the shipped
    specifications and contracts, so that the runs record paths inside OUT), then for each shipped study
    (ccpt-dropout-rd: grant-cutoff RD on dropout and graduation; pathways-earnings-did: staggered pathway launches
    on earnings; ccpt-credentials-rd: grant-cutoff RD on credentials, pathway completion and postsecondary
    enrollment, by protected group, with the projected effect on earnings at 26 and an equity-premium rate card) a
    run directory OUT/runs/STUDY with results.json, manifest.json, figures, tables, a verification
    certificate and the HTML/PDF reports; OUT/index.html links the reports with each study's headline estimate and
    its estimates against the true effects (truth.json). The certificates name the validator of
    CTEIMPACT_VALIDATOR, else the demo's automated re-computation. OUT can be handed on whole: `cteimpact verify
    OUT/runs/STUDY` re-computes a run from the files inside it.
    """
    from cteimpact.pipeline.certificate import Validator
    from cteimpact.pipeline.studies import SHIPPED_STUDIES, copy_shipped_studies
    from cteimpact.synth import generate

    to = [f.strip() for f in formats.split(",") if f.strip()]
    earlier = [out_dir / "runs" / name for name in SHIPPED_STUDIES if (out_dir / "runs" / name).exists()]
    if earlier and not overwrite:
        from cteimpact.errors import RunDirectoryError

        raise RunDirectoryError(f"'{out_dir}' holds the runs of an earlier demo ({earlier[0].name}); pass "
                                "--overwrite to replace them, or choose a new folder")
    data = out_dir / "data"
    if not quiet:
        click.echo(f"synthetic data (seed {seed}, scale {scale:g}) -> {data}", err=True)
    context = _start_workers()
    started = time.perf_counter()
    generate(data, seed=seed, scale=scale)
    _took("synthetic data", started, quiet)
    specs = copy_shipped_studies(out_dir / "analyses")
    # the demo's certificates name who verified: the validator of the environment (CTEIMPACT_VALIDATOR), else the
    # demo itself, so that no reader takes them for a person's signature
    validator = Validator.from_environment()
    if validator.name is None:
        validator = Validator("automated re-computation by cteimpact demo (no person has signed)",
                              validator.organisation or "cteimpact worked example")
    # the three studies are independent (each writes its own run directory): run, verify and report each in a
    # worker process of its own, so the two cores are used; each run's files are the same as when run alone
    jobs = [(name, specs[name], out_dir / "runs" / name) for name in SHIPPED_STUDIES]
    if not quiet:
        click.echo(f"running the {len(jobs)} studies, each verified and reported, in {len(jobs)} worker processes",
                   err=True)
    outcomes = _run_studies(jobs, context=context, data=data, overwrite=overwrite, validator=validator, to=to,
                            engine=engine, quiet=quiet)
    verdicts = {}
    contents = []
    for (name, _spec, _run_dir), study in zip(jobs, outcomes, strict=True):
        verdicts[name] = study.verified
        contents.append(study.contents)
        click.echo(f"\n{study.title}")
        click.echo(study.headline)
        click.echo(f"    verification: {'verified' if study.verified else 'NOT VERIFIED'} "
                   f"({study.n_compared:,} values re-computed)")
        for path in study.reports:
            click.echo(f"    report: {path}")
    from cteimpact.reporting.demo_index import write_demo_index

    started = time.perf_counter()
    index = write_demo_index(out_dir, [out_dir / "runs" / name for name in SHIPPED_STUDIES], contents=contents)
    _took("index of the reports", started, quiet)
    click.echo(f"\nindex of the reports: {index}")
    truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    rd = truth["rd"]["estimands"]["dropout"]["pooled"]
    did = truth["did"]["outcomes"]["earnings_age19"]["district_panel"]["aggregates"]
    click.echo(f"\nTrue effects in the synthetic data (truth.json): award on dropout {rd['itt']:.4f} "
               f"({rd['relative_itt']:.1%} relative), participation on dropout (LATE) {rd['late']:.4f}; "
               f"pathway launches on earnings at 19 (simple ATT) {did['simple']:,.0f}")
    return 0 if all(verdicts.values()) else 3
