"""The demo runs each study in a worker process; an error raised there is raised again in the parent with its
message (and its own class when the class takes a message), so the CLI still prints one line and exits 2."""

from __future__ import annotations

import pytest

from cteimpact.cli.demo import _raise_again
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


def test_fewer_cores_than_studies_the_longest_keeps_its_core() -> None:
    from cteimpact.cli.demo import _YIELDING_NICENESS, _niceness
    from cteimpact.pipeline.studies import SHIPPED_STUDIES

    two = _niceness(list(SHIPPED_STUDIES), 2)
    assert two == {"ccpt-credentials-rd": 0, "ccpt-dropout-rd": _YIELDING_NICENESS,
                   "pathways-earnings-did": _YIELDING_NICENESS}
    one = _niceness(list(SHIPPED_STUDIES), 1)
    assert [n for n, v in one.items() if v == 0] == ["ccpt-credentials-rd"]
    assert _niceness(list(SHIPPED_STUDIES), 3) == dict.fromkeys(SHIPPED_STUDIES, 0)
    assert _niceness(list(SHIPPED_STUDIES), 16) == dict.fromkeys(SHIPPED_STUDIES, 0)


def test_lowering_the_priority_only_raises_niceness() -> None:
    import multiprocessing
    import os

    from cteimpact.cli.demo import _lower_priority

    def child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
        start = os.getpriority(os.PRIO_PROCESS, 0)
        _lower_priority(start + 3)
        raised = os.getpriority(os.PRIO_PROCESS, 0)
        _lower_priority(start + 1)  # lower than now: unchanged
        queue.put((start, raised, os.getpriority(os.PRIO_PROCESS, 0)))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    start, raised, after = queue.get(timeout=30)
    process.join(timeout=30)
    assert raised == min(start + 3, 19)
    assert after == raised
