"""How many processes the RD diagnostics use: the caller's ``n_jobs``, else the process's default
(``set_default_jobs``, which ``cteimpact demo`` sets to 1 in its workers), else by the cores and the data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cteimpact.errors import OptionError
from cteimpact.rd import _parallel
from cteimpact.rd._parallel import PARALLEL_MIN_ROWS, resolve_jobs, set_default_jobs


@pytest.fixture(autouse=True)
def _restore_default() -> Iterator[None]:
    before = _parallel._DEFAULT_JOBS
    yield
    _parallel._DEFAULT_JOBS = before


def test_the_default_applies_only_when_the_caller_gives_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    set_default_jobs(None)
    assert resolve_jobs(None, PARALLEL_MIN_ROWS) == 2
    assert resolve_jobs(None, PARALLEL_MIN_ROWS - 1) == 1
    set_default_jobs(1)
    assert resolve_jobs(None, 10 * PARALLEL_MIN_ROWS) == 1
    assert resolve_jobs(3, 10 * PARALLEL_MIN_ROWS) == 3
    set_default_jobs(None)
    assert resolve_jobs(None, 10 * PARALLEL_MIN_ROWS) == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_default_that_is_not_a_whole_number_of_at_least_one_is_refused(bad: object) -> None:
    with pytest.raises(OptionError, match="default number of worker processes"):
        set_default_jobs(bad)  # type: ignore[arg-type]
    assert _parallel._DEFAULT_JOBS is None or _parallel._DEFAULT_JOBS >= 1


def test_the_demo_workers_fit_in_their_own_process() -> None:
    """The fork server's last preloaded module sets one process per fit for every worker forked from it."""
    import json
    import subprocess
    import sys

    code = ("import json, cteimpact.cli.worker_preload; from cteimpact.rd._parallel import resolve_jobs; "
            "print(json.dumps(resolve_jobs(None, 10**9)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == 1
