"""The demo runs each study in a worker process; an error raised there is raised again in the parent with its
message (and its own class when the class takes a message), so the CLI still prints one line and exits 2."""

from __future__ import annotations

import pytest

from cteimpact.cli.demo_tasks import raise_again as _raise_again
from cteimpact.errors import DataValidationError, DesignError, MissingColumnError


def test_error_taking_a_message_keeps_its_class() -> None:
    with pytest.raises(DesignError, match=r"^too few clusters: 3$"):
        _raise_again(DesignError, "too few clusters: 3")


def test_error_with_other_arguments_becomes_its_base_with_the_same_message() -> None:
    message = str(MissingColumnError("score", ["a", "b"]))
    with pytest.raises(DataValidationError) as caught:
        _raise_again(MissingColumnError, message)
    assert str(caught.value) == message
    assert not isinstance(caught.value, MissingColumnError)


def test_the_longest_chain_starts_first() -> None:
    """The credentials study's run and re-computation head the queue (the longest chains); a report comes after
    the verification it needs; an unknown study counts one second per task."""
    from pathlib import Path

    from cteimpact.cli.demo_tasks import CPU_SECONDS, StudyJob, priorities
    from cteimpact.pipeline.studies import SHIPPED_STUDIES

    jobs = [StudyJob(name, Path(f"{name}.toml"), Path(name), Path("r") / name, "cmd")
            for name in (*SHIPPED_STUDIES, "other")]
    rank = priorities(jobs)
    order = sorted(rank, key=lambda t: -rank[t])
    assert set(order[:2]) == {("ccpt-credentials-rd", "run"), ("ccpt-credentials-rd", "rerun")}
    cost = CPU_SECONDS["ccpt-credentials-rd"]
    assert rank[("ccpt-credentials-rd", "rerun")] == cost["rerun"] + cost["verify"] + cost["report"]
    for name in (*SHIPPED_STUDIES, "other"):
        assert rank[(name, "run")] > rank[(name, "verify")] > rank[(name, "report")] > 0
    assert rank[("other", "run")] == 3.0
