"""Sample restrictions written as expressions (``"cohort >= 2014"``), each recorded in the sample flow."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError

__all__ = ["apply_restrictions", "evaluate_restriction"]


def evaluate_restriction(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Evaluate a boolean ``expression`` over the columns of ``frame`` (pandas ``eval`` syntax).

    Rows where the expression is missing (it involves a missing value) count as not meeting it.

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
    if not (pd.api.types.is_bool_dtype(result.dtype) or result.dropna().isin([True, False]).all()):
        raise OptionError(f"sample restriction '{expression}' gives {result.dtype} values, not true/false")
    return result.fillna(False).to_numpy(dtype=bool)


def apply_restrictions(
    frame: pd.DataFrame, flow: SampleFlow, expressions: Iterable[str]
) -> tuple[pd.DataFrame, SampleFlow]:
    """Apply each restriction in turn; each becomes one step of the flow (``restriction: <expression>``)."""
    for expr in expressions:
        keep = evaluate_restriction(frame, expr)
        frame, flow = flow.apply(frame, keep, f"restriction: {expr}")
    return frame, flow
