"""The work of ``cteimpact demo`` as tasks on as many worker processes as there are cores.

Each shipped study is four tasks: ``run`` (``cteimpact run``), ``rerun`` (the verification's re-computation of the
same specification, contract and data, computed at the same time as the run, into a folder of its own), ``verify``
(``cteimpact verify`` of the run against that re-computation: every input re-hashed, every number and output
compared; it needs ``run`` and ``rerun``) and ``report`` (it needs ``verify``). A ready task with the longest work
left after it starts first (:func:`priorities`, from the CPU seconds each task took on the 2-core machine,
:data:`CPU_SECONDS`), so the longest study does not wait behind the shorter ones and the cores stay busy.

The re-computation is the one ``cteimpact verify`` would compute (:func:`cteimpact.pipeline.run.execute` of the
prepared inputs, with the run's command); :func:`cteimpact.pipeline.verify.verify_run` accepts it only if it read the
files the verification locates and was computed by this software on this platform.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["CPU_SECONDS", "Settings", "StudyJob", "TaskDone", "TaskKind", "priorities", "raise_again", "run_tasks"]

TaskKind = Literal["run", "rerun", "verify", "report"]
KINDS: tuple[TaskKind, ...] = ("run", "rerun", "verify", "report")
NEEDS: dict[TaskKind, tuple[TaskKind, ...]] = {"run": (), "rerun": (), "verify": ("run", "rerun"),
                                               "report": ("verify",)}

CPU_SECONDS: dict[str, dict[TaskKind, float]] = {
    "ccpt-credentials-rd": {"run": 13.1, "rerun": 13.6, "verify": 0.4, "report": 7.7},
    "ccpt-dropout-rd": {"run": 6.4, "rerun": 6.4, "verify": 0.35, "report": 4.9},
    "pathways-earnings-did": {"run": 2.6, "rerun": 2.9, "verify": 0.3, "report": 4.3},
}
"""CPU seconds of each task of the shipped studies at the demo's default scale (measured one at a time on the 2-core
machine, December 2026, interpreter start excluded; the RD runs re-measured after the cuts of issue 16, the other
tasks scaled by their change inside the demo, which leaves the order of the tasks as it was); only their order
matters. Another study counts one second per task."""


@dataclass(frozen=True)
class StudyJob:
    """One study of the demo: its specification, run directory, the folder of its re-computation (removed once
    verified) and the command its manifest records."""

    name: str
    spec: Path
    run_dir: Path
    rerun_dir: Path
    command: str


@dataclass(frozen=True)
class Settings:
    """What every task shares."""

    data: Path
    overwrite: bool
    validator: Any
    to: tuple[str, ...]
    engine: str


@dataclass(frozen=True)
class TaskDone:
    """A finished task: how long it took, what it reported and the warnings it raised (shown once by the parent)."""

    study: str
    kind: TaskKind
    seconds: float
    payload: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[tuple[type[Warning], str], ...] = ()


def priorities(jobs: Iterable[StudyJob]) -> dict[tuple[str, TaskKind], float]:
    """Each task's priority: its CPU seconds plus the longest chain of tasks that needs it (the critical path from
    it to the end of its study)."""
    out: dict[tuple[str, TaskKind], float] = {}
    for job in jobs:
        cost = CPU_SECONDS.get(job.name, {})

        def seconds(kind: TaskKind, _cost: dict[TaskKind, float] = cost) -> float:
            return _cost.get(kind, 1.0)

        out[(job.name, "report")] = seconds("report")
        out[(job.name, "verify")] = seconds("verify") + out[(job.name, "report")]
        out[(job.name, "run")] = seconds("run") + out[(job.name, "verify")]
        out[(job.name, "rerun")] = seconds("rerun") + out[(job.name, "verify")]
    return out


def _headline(results: dict[str, Any]) -> str:
    from cteimpact.cli.options import headline_line

    line = headline_line(results)
    lines = [f"    headline: {line}"] if line else []
    pricing = results.get("pricing")
    if pricing:
        lines.append(f"    expected payment {pricing['expected_payment']:,.0f}; P(any payment) "
                     f"{pricing['p_any_payment']:.2f}; benefit-cost ratio {pricing['benefit_cost_ratio']:.2f}")
    return "\n".join(lines)


def _run(job: StudyJob, settings: Settings) -> dict[str, Any]:
    from cteimpact.pipeline.run import run_analysis

    record = run_analysis(job.spec, job.run_dir, data_root=settings.data, progress=False,
                          overwrite=settings.overwrite, command=job.command)
    return {"title": str(record.results["study"]["title"]), "headline": _headline(record.results)}


def _rerun(job: StudyJob, settings: Settings) -> dict[str, Any]:
    from cteimpact.pipeline.run import execute, prepare_run

    execute(prepare_run(job.spec, data_root=settings.data), job.rerun_dir, progress=False, command=job.command)
    return {}


def _verify(job: StudyJob, settings: Settings) -> dict[str, Any]:
    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.results.serialization import write_json

    try:
        verification = verify_run(job.run_dir, progress=False, rerun=job.rerun_dir)
    finally:
        shutil.rmtree(job.rerun_dir, ignore_errors=True)
    write_json(build_certificate(verification, validator=settings.validator), job.run_dir / "certificate.json")
    return {"verified": verification.ok, "n_compared": verification.comparison.n_compared}


def _report(job: StudyJob, settings: Settings) -> dict[str, Any]:
    from cteimpact.reporting.run_reports import report_run

    reports = report_run(job.run_dir, to=list(settings.to), engine=settings.engine)  # type: ignore[arg-type]
    return {"reports": tuple(str(path) for render in reports.renders.values() for path in render.outputs.values()),
            "contents": reports.contents}


_TASKS: dict[TaskKind, Callable[[StudyJob, Settings], dict[str, Any]]] = {
    "run": _run, "rerun": _rerun, "verify": _verify, "report": _report}


def _task(kind: TaskKind, job: StudyJob, settings: Settings) -> TaskDone | tuple[type[BaseException], str]:
    """One task in a worker process; a cteimpact error comes back as its class and message (some error classes take
    other arguments than a message, so they are not re-created by pickling)."""
    from cteimpact.errors import CteImpactError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # handed back: the parent shows each once, as `cteimpact run` would
        started = time.perf_counter()
        try:
            payload = _TASKS[kind](job, settings)
        except CteImpactError as exc:
            return type(exc), str(exc)
        seconds = time.perf_counter() - started
    return TaskDone(job.name, kind, seconds, payload, tuple((w.category, str(w.message)) for w in caught))


def raise_again(category: type[BaseException], message: str) -> None:
    """Raise a worker's cteimpact error here: its own class when it takes a message, else its nearest such base."""
    for cls in category.__mro__:
        try:
            error = cls(message)
        except TypeError:
            continue
        raise error


def run_tasks(jobs: list[StudyJob], settings: Settings, *, context: multiprocessing.context.BaseContext,
              workers: int, on_done: Callable[[TaskDone], None]) -> dict[tuple[str, TaskKind], TaskDone]:
    """Every task of ``jobs`` on ``workers`` processes of ``context``, each ready task by :func:`priorities`;
    ``on_done`` is called in this process as each task finishes. The first error of a task is raised here as it was
    raised there, after the tasks running are cancelled or finished."""
    rank = priorities(jobs)
    by_name = {job.name: job for job in jobs}
    pending = {(job.name, kind) for job in jobs for kind in KINDS}
    done: dict[tuple[str, TaskKind], TaskDone] = {}
    running: dict[Future[Any], tuple[str, TaskKind]] = {}
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        while pending or running:
            ready = sorted((t for t in pending if all((t[0], need) in done for need in NEEDS[t[1]])),
                           key=lambda t: (-rank[t], t))
            for task in ready[:max(0, workers - len(running))]:
                pending.discard(task)
                running[pool.submit(_task, task[1], by_name[task[0]], settings)] = task
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.pop(future)
                outcome = future.result()
                if isinstance(outcome, tuple):
                    for other in running:
                        other.cancel()
                    raise_again(*outcome)
                    continue  # pragma: no cover (raise_again raises)
                done[(outcome.study, outcome.kind)] = outcome
                on_done(outcome)
    return done
