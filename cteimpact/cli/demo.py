"""``cteimpact demo``: synthetic data → the three shipped studies → verification → reports."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import click

from cteimpact.cli.demo_tasks import Settings, StudyJob, TaskDone, TaskKind, run_tasks

__all__ = ["command"]


_WORKER_MODULES = ("cteimpact.pipeline.run", "cteimpact.pipeline.verify", "cteimpact.pipeline.certificate",
                   "cteimpact.reporting.run_reports", "cteimpact.rd.estimator", "cteimpact.did.estimator",
                   "cteimpact.equity.run", "cteimpact.rd.adapters.preload", "cteimpact.reporting.pandoc_typst",
                   "cteimpact.reporting.preload", "matplotlib.pyplot", "cteimpact.cli.worker_preload")
"""Imported once by the fork server, in this order, so that the workers forked from it start with them loaded; the
last (:mod:`cteimpact.cli.worker_preload`) freezes the objects the others made, out of the garbage collector's way."""


def _start_workers() -> multiprocessing.context.BaseContext:
    """The workers' context: a fork server (a fresh process: no thread pools inherited from this one) that imports
    the pipeline once while this process writes the synthetic data; each study's worker is forked from it."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_WORKER_MODULES))
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return context


def _run_studies(jobs: list[StudyJob], settings: Settings, *, context: multiprocessing.context.BaseContext,
                 quiet: bool) -> dict[tuple[str, TaskKind], TaskDone]:
    """Every task of every study (:mod:`cteimpact.cli.demo_tasks`) on as many worker processes as there are cores;
    each task's warnings shown once here, and each study's times when its reports are written."""
    started = time.perf_counter()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    finished: dict[tuple[str, TaskKind], TaskDone] = {}

    def on_done(task: TaskDone) -> None:
        finished[(task.study, task.kind)] = task
        for category, message in task.warnings:
            warnings.warn(message, category, stacklevel=1)
        if not quiet and task.kind == "report":
            times = {kind: finished[(task.study, kind)].seconds for kind in ("run", "rerun", "verify", "report")}
            click.echo(f"[demo] {task.study}: run {times['run']:.1f} s and its re-computation {times['rerun']:.1f} s, "
                       f"verification {times['verify']:.1f} s, reports {times['report']:.1f} s "
                       f"(finished {time.perf_counter() - started:.1f} s after the studies started)", err=True)

    return run_tasks(jobs, settings, context=context, workers=min(cores, 2 * len(jobs)), on_done=on_done)


def _synthesise(data: Path, *, seed: int, scale: float) -> None:
    """The synthetic data (:func:`cteimpact.synth.generate`, its RD truth in a forked process), with the objects that
    exist now frozen (:func:`gc.freeze`; unfrozen after): the garbage collector's full collections, here and in the
    forked process, traverse only the objects the generator makes, not every imported module's (the files are the
    same: nothing the generator computes depends on when the collector runs)."""
    from cteimpact.synth import generate

    gc.freeze()
    try:
        generate(data, seed=seed, scale=scale, truth_process=True)
    finally:
        gc.unfreeze()


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
    _synthesise(data, seed=seed, scale=scale)
    _took("synthetic data", started, quiet)
    specs = copy_shipped_studies(out_dir / "analyses")
    # the demo's certificates name who verified: the validator of the environment (CTEIMPACT_VALIDATOR), else the
    # demo itself, so that no reader takes them for a person's signature
    validator = Validator.from_environment()
    if validator.name is None:
        validator = Validator("automated re-computation by cteimpact demo (no person has signed)",
                              validator.organisation or "cteimpact worked example")
    # the three studies are independent (each writes its own run directory): their tasks (run, the verification's
    # re-computation at the same time, verification, reports) share the cores; each run's files are the same as
    # when run alone
    reruns = Path(tempfile.mkdtemp(prefix="cteimpact-demo-rerun-"))
    jobs = [StudyJob(name, specs[name], out_dir / "runs" / name, reruns / name,
                     f"cteimpact run analyses/{specs[name].name} --data-root data --out runs/{name}"
                     + (" --overwrite" if overwrite else "")) for name in SHIPPED_STUDIES]
    if not quiet:
        click.echo(f"running the {len(jobs)} studies, each verified and reported, in worker processes", err=True)
    settings = Settings(data=data, overwrite=overwrite, validator=validator, to=tuple(to), engine=engine)
    try:
        done = _run_studies(jobs, settings, context=context, quiet=quiet)
    finally:
        shutil.rmtree(reruns, ignore_errors=True)
    verdicts = {}
    contents = []
    for job in jobs:
        ran, verified, reported = (done[(job.name, kind)].payload for kind in ("run", "verify", "report"))
        verdicts[job.name] = verified["verified"]
        contents.append(reported["contents"])
        click.echo(f"\n{ran['title']}")
        click.echo(ran["headline"])
        click.echo(f"    verification: {'verified' if verified['verified'] else 'NOT VERIFIED'} "
                   f"({verified['n_compared']:,} values re-computed)")
        for path in reported["reports"]:
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
