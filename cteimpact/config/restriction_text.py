"""A restriction of the restriction language as a specification value: its syntax checked when the file is read.

``[sample] restrictions``, ``[surrogate] training`` and ``[equity] baseline``/``after`` are all written in the
restriction language of :mod:`cteimpact.data.restriction_language`; a malformed one fails when the specification is
validated, before any data are loaded, with the language's one-line message.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from cteimpact.data.restriction_language import parse_restriction
from cteimpact.errors import CteImpactError

__all__ = ["RestrictionText"]


def _check_syntax(expr: str) -> str:
    try:
        parse_restriction(expr)
    except CteImpactError as exc:
        raise ValueError(str(exc)) from None
    return expr


RestrictionText = Annotated[str, AfterValidator(_check_syntax)]
"""A string that parses as a restriction (the annotation pydantic validates)."""
