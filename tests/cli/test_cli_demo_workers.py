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
