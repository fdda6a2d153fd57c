"""Sample restrictions written as expressions (``"cohort >= 2014"``), each recorded in the sample flow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError

__all__ = ["apply_restrictions", "evaluate_restriction"]


_BACKTICKED = re.compile(r"`([^`]*)`")
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _referenced_columns(frame: pd.DataFrame, expression: str) -> list[str]:
    """The columns of ``frame`` that ``expression`` names (bare or in backticks), in frame order."""
    names = set(_BACKTICKED.findall(expression))
    plain = _BACKTICKED.sub(" __backticked__ ", expression)
    try:
        names |= {node.id for node in ast.walk(ast.parse(plain, mode="eval")) if isinstance(node, ast.Name)}
    except SyntaxError:  # pandas-only syntax (``@local``): fall back to the words outside string literals
        names |= set(_NAME.findall(_STRING_LITERAL.sub(" ", plain)))
    return [c for c in frame.columns if isinstance(c, str) and c in names]


def evaluate_restriction(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Evaluate a boolean ``expression`` over the columns of ``frame`` (pandas ``eval`` syntax).

    Rows where the expression is missing (it involves a missing value) count as not meeting it: a row with a
    missing value in any column the expression names does not meet it, whatever the operators (so
    ``"dropout != 1"`` excludes rows with a missing dropout, although NumPy's NaN compares unequal to 1).

    Raises
    ------
    OptionError
        The expression cannot be evaluated, names an unknown column, or does not give true/false per row.
    """
    try:
        result = frame.eval(expression, engine="python")
    except Exception as exc:  # pandas raises many types (UndefinedVariableError, SyntaxError, TypeError...)
        raise OptionError(f"sample restriction '{expression}' cannot be evaluated: {exc}") from None
    if not isinstance(result, pd.Series) or len(result) != len(frame):
        raise OptionError(f"sample restriction '{expression}' must give true or false for each row")
    if not pd.api.types.is_bool_dtype(result.dtype):
        if not result.dropna().isin([True, False]).all():
            raise OptionError(f"sample restriction '{expression}' gives {result.dtype} values, not true/false")
        result = result.astype("boolean")
    keep = result.fillna(False).to_numpy(dtype=bool)
    used = _referenced_columns(frame, expression)
    if used:
        keep = keep & frame[used].notna().all(axis=1).to_numpy()
    return keep


def apply_restrictions(
    frame: pd.DataFrame, flow: SampleFlow, expressions: Iterable[str]
) -> tuple[pd.DataFrame, SampleFlow]:
    """Apply each restriction in turn; each becomes one step of the flow (``restriction: <expression>``)."""
    for expr in expressions:
        keep = evaluate_restriction(frame, expr)
        frame, flow = flow.apply(frame, keep, f"restriction: {expr}")
    return frame, flow
