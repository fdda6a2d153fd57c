"""Run independent fits side by side in worker processes.

The diagnostic suite of an RD analysis is a set of independent fits (the density test, covariate balance,
placebo cutoffs, a bandwidth grid...). :class:`TaskRunner` runs them in a small process pool when there is more
than one core and enough data to repay the start-up; otherwise in the calling process. Workers receive only the
window arrays a fit needs, and results are pure functions of their inputs, so sequential and parallel runs give
identical numbers. A task that raises a :class:`~cteimpact.errors.CteImpactError` returns it as
:class:`TaskFailure` so one failing placebo cutoff does not stop the others.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cteimpact.errors import CteImpactError, OptionError

__all__ = ["TaskFailure", "TaskRunner", "resolve_jobs", "set_default_jobs"]

PARALLEL_MIN_ROWS = 20_000
"""Below this many rows the fits take milliseconds and a process pool costs more than it saves."""


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """A task that raised a cteimpact error: its type name and message."""

    error: str
    message: str


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings of worker fits are reported through their results
        try:
            return fn(*args, **kwargs)
        except CteImpactError as exc:
            return TaskFailure(type(exc).__name__, str(exc))


_DEFAULT_JOBS: int | None = None
"""The number of worker processes of fits whose caller gives none (:func:`set_default_jobs`); ``None``: by the cores
and the size of the data."""


def set_default_jobs(n_jobs: int | None) -> None:
    """Set the number of worker processes of every later fit in this process whose caller gives none (``None``: by
    the cores and the size of the data, the default).

    ``cteimpact demo`` sets 1 in its workers: they already run as many tasks as there are cores side by side, so a
    pool of processes inside a task would only add the cost of forking and of sending the data (about 0.3 CPU-second
    per RD run of the shipped studies). The results do not depend on it (see the module docstring).
    """
    global _DEFAULT_JOBS
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1):
        raise OptionError(f"the default number of worker processes must be a whole number of at least 1 or None, "
                          f"got {n_jobs!r}")
    _DEFAULT_JOBS = n_jobs


def resolve_jobs(n_jobs: int | None, n_rows: int) -> int:
    """Number of worker processes: ``n_jobs`` if given, else the default set by :func:`set_default_jobs`, else 2
    when the data are large and 2 cores exist."""
    if n_jobs is None:
        n_jobs = _DEFAULT_JOBS
    if n_jobs is not None:
        if int(n_jobs) < 1:
            raise OptionError(f"n_jobs must be at least 1, got {n_jobs}")
        return int(n_jobs)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if (cores >= 2 and n_rows >= PARALLEL_MIN_ROWS) else 1


class TaskRunner:
    """Submit tasks; ``result()`` of the returned futures gives the value or a :class:`TaskFailure`.

    With ``n_jobs == 1`` each task runs immediately in the calling process. With more, a process pool is started
    on first use (``fork`` where available, so workers inherit the imported packages and start in milliseconds).
    Use as a context manager so the pool is shut down.
    """

    def __init__(self, n_jobs: int = 1) -> None:
        self.n_jobs = int(n_jobs)
        self._pool: Executor | None = None

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _executor(self) -> Executor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if ("fork" in methods and sys.platform.startswith("linux")) else None
            ctx = multiprocessing.get_context(method)
            self._pool = ProcessPoolExecutor(max_workers=self.n_jobs, mp_context=ctx)
        return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.n_jobs <= 1:
            fut: Future[Any] = Future()
            fut.set_result(_guarded(fn, args, kwargs))
            return fut
        return self._executor().submit(_guarded, fn, args, kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
