"""Sample restrictions (``"cohort >= 2014"``): vectorised evaluation over a data frame, each recorded in the flow.

A restriction is written in the small language of :mod:`cteimpact.data.restriction_language` (its module
docstring has the grammar): column names, numbers, text in quotes, true/false, comparisons, ``and``/``or``/``not``,
``in [...]``, ``is missing``, arithmetic and parentheses. It is parsed into a syntax tree and evaluated here with
NumPy operations on whole columns; nothing in it is ever handed to Python's or pandas' ``eval``, so it cannot call
functions, read attributes or reach any object beyond the columns of the frame.

Missing values follow three-valued (Kleene) logic:

* a comparison, ``in [...]`` or arithmetic that involves a missing value is *unknown*; so is division (``/``,
  ``//``, ``%``) by zero, and arithmetic whose result is not a number (``inf - inf``);
* ``not unknown`` is unknown; ``false and unknown`` is false, ``true or unknown`` is true, any other combination
  with unknown is unknown;
* ``x is missing`` and ``x is not missing`` are always true or false;
* a row meets the restriction only if the whole restriction is *true*: unknown rows are excluded.

So ``dropout != 1`` excludes rows with a missing dropout (although NaN != 1 in NumPy), ``not (dropout == 1)``
does too, and ``dropout is missing or dropout == 0`` keeps rows whose dropout is missing or 0.

Types: numeric columns (NumPy or nullable integer and float), text columns (``str``/``string``/``object`` holding
text) and true/false columns (``bool``/``boolean``) are supported; a categorical column behaves as its values (the
order of its categories is not used), and an ``object`` column with no value at all is unknown everywhere. Text
compares with text in quotes (``==``/``!=``/``<``... in code-point order) and numbers with numbers; true/false
counts as 1/0 beside numbers. Arithmetic needs numbers; it is exact on integers (64-bit; a result that would
overflow is computed in floating point instead), ``/`` always gives a floating-point number, and infinite values
in the data are values, not missing. A condition (the whole restriction, and each operand of ``and``/``or``/``not``)
must be true/false, or a numeric column of 0/1 values, which stands for ``column == 1``. A restriction that names
no column is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.data.restriction_checks import RING_OPERATORS, RestrictionChecker
from cteimpact.data.restriction_language import (
    Column,
    InList,
    Node,
    ParsedRestriction,
    Sign,
    Value,
    parse_restriction,
)
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import OptionError

__all__ = ["apply_restrictions", "evaluate_restriction"]

_MISSING_NAMES = frozenset({"null", "NULL", "nan", "NaN", "NA", "na", "NaT", "none"})


@dataclass
class _Val:
    """An evaluated sub-expression.

    ``data`` holds the values (a 1-d array over rows, or a 0-d array for a constant); it is meaningless where
    ``missing`` is true (``None``: nothing missing). Text is an object array with missing entries filled by ``""``.
    A categorical column keeps ``codes`` and the evaluated ``categories`` so that a comparison with a constant
    runs on the categories, and a pandas string column keeps its ``series`` so that a comparison with a constant
    runs in pandas' (Arrow) string kernels; ``data`` is then filled only when needed.
    """

    kind: str  # "number", "text", "bool" or "null" (a column with no value at all)
    data: np.ndarray | None
    missing: np.ndarray | None
    label: str
    constant: bool
    codes: np.ndarray | None = None
    categories: _Val | None = field(default=None, repr=False)
    series: pd.Series | None = field(default=None, repr=False)

    def values(self) -> np.ndarray:
        if self.data is None and self.series is not None:
            self.data = self.series.to_numpy(dtype=object, na_value="")
        if self.data is None:
            if self.codes is None or self.categories is None:  # pragma: no cover (internal invariant)
                raise RuntimeError("a restriction value has neither data nor categories")
            cats = self.categories.values()
            self.data = cats.take(np.where(self.codes < 0, 0, self.codes)) if len(cats) else \
                np.zeros(len(self.codes), dtype=cats.dtype)
        return self.data


def _or(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


class _Evaluator(RestrictionChecker[_Val, np.ndarray]):
    """Evaluates one parsed restriction over one frame."""

    def __init__(self, frame: pd.DataFrame, parsed: ParsedRestriction) -> None:
        super().__init__(parsed)
        self.frame = frame
        self.n = len(frame)
        self._columns: dict[str, _Val] = {}

    # -- columns -------------------------------------------------------------------------------------------------
    def column_names(self) -> tuple[set[str], list[str]]:
        return {c for c in self.frame.columns if isinstance(c, str)}, [str(c) for c in self.frame.columns]

    def missing_column_hint(self, name: str, hint: str) -> str:
        if name in _MISSING_NAMES:
            hint += "; to test for missing values write '<column> is missing'"
        return hint

    def column(self, node: Column) -> _Val:
        if node.name not in self._columns:
            self._columns[node.name] = self._load(node)
        return self._columns[node.name]

    def _load(self, node: Column) -> _Val:
        name = node.name
        series = self.frame[name]
        if isinstance(series, pd.DataFrame):
            raise self.error(f"column '{name}' appears {series.shape[1]} times in the data; rename the copies",
                             name, node.start)
        label = f"column '{name}' ({series.dtype})"
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cats = self._from_series(pd.Series(dtype.categories), name, f"categories of {label}", node)
            codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
            missing = codes < 0
            kind = cats.kind if len(dtype.categories) else "null"
            return _Val(kind, None, missing if missing.any() else None, label, False, codes, cats)
        return self._from_series(series, name, label, node)

    def _from_series(self, series: pd.Series, name: str, label: str, node: Column) -> _Val:
        dtype = series.dtype
        isna = series.isna().to_numpy()
        missing = isna if isna.any() else None
        if pd.api.types.is_bool_dtype(dtype):
            return _Val("bool", series.to_numpy(dtype=bool, na_value=False), missing, label, False)
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            if isinstance(dtype, np.dtype):
                data = series.to_numpy()
            else:  # nullable Int64 / Float64 ...: values with the missing entries zeroed
                data = series.to_numpy(dtype=dtype.numpy_dtype, na_value=0)
                if data.dtype.kind == "f":
                    missing = _or(missing, np.isnan(data))
            return _Val("number", data, missing, label, False)
        if isinstance(dtype, pd.StringDtype):
            return _Val("text", None, missing, label, False, series=series)
        if dtype.kind == "O":
            inferred = pd.api.types.infer_dtype(series, skipna=True)
            if inferred == "string":
                return _Val("text", series.to_numpy(dtype=object, na_value=""), missing, label, False)
            if inferred == "boolean":
                return _Val("bool", series.to_numpy(dtype=bool, na_value=False), missing, label, False)
            if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
                numbers = pd.to_numeric(series, errors="coerce")
                if numbers.dtype.kind in "iuf":
                    return self._from_series(numbers, name, label, node)
            if inferred == "empty":
                return _Val("null", np.zeros(len(series)), np.ones(len(series), dtype=bool), label, False)
            raise self.error(f"{label} holds {inferred} values; a restriction can use columns of numbers, text "
                             "or true/false", name, node.start)
        raise self.error(f"{label} cannot be used in a restriction; a restriction can use columns of numbers, "
                         "text or true/false", name, node.start)

    # -- nodes ---------------------------------------------------------------------------------------------------
    def literal(self, node: Value) -> _Val:
        value = node.value
        if isinstance(value, bool):
            return _Val("bool", np.asarray(value), None, "", True)
        if isinstance(value, str):
            return _Val("text", np.asarray(value, dtype=object), None, "", True)
        return _Val("number", np.asarray(value), None, "", True)

    def numeric(self, node: Node, v: _Val, op: str, pos: int) -> np.ndarray:
        """The values of ``v`` for arithmetic (true/false as 1/0, integers as int64, floats as float64)."""
        self.check_numeric(node, v, op, pos)
        data = v.values()
        if data.dtype == np.uint64:  # int64 unless a value does not fit (then float64, as NumPy would mix them)
            fits = data.size == 0 or int(data.max()) < 2**63
            return data.astype(np.int64 if fits else np.float64)
        if data.dtype.kind in "biu":
            return data.astype(np.int64, copy=False)
        if data.dtype.kind == "f":
            return data.astype(np.float64, copy=False)
        return data

    def sign(self, node: Sign) -> _Val:
        v = self.visit(node.operand)
        data = self.numeric(node.operand, v, node.op, node.pos)
        if v.kind == "null":
            return v
        if node.op == "-" and data.dtype == np.int64 and (data == np.iinfo(np.int64).min).any():
            data = data.astype(np.float64)  # -(-2**63) does not fit in int64
        return _Val("number", -data if node.op == "-" else data, v.missing, "", v.constant)

    def no_number(self, a: np.ndarray, b: np.ndarray, constant: bool) -> _Val:
        shape = np.broadcast_shapes(a.shape, b.shape)
        return _Val("null", np.zeros(shape), np.ones(shape, dtype=bool), "", constant)

    def calculate(self, op: str, left: _Val, right: _Val, a: np.ndarray, b: np.ndarray) -> _Val:
        missing = _or(left.missing, right.missing)
        with np.errstate(all="ignore"):
            if op in RING_OPERATORS:
                out = RING_OPERATORS[op](a, b)
            else:
                zero = b == 0
                if op == "/":
                    out = np.true_divide(a, b)
                else:
                    safe = np.where(zero, 1, b) if out_is_int(a, b) else b
                    out = np.floor_divide(a, safe) if op == "//" else np.remainder(a, safe)
                if zero.any():
                    missing = _or(missing, np.broadcast_to(zero, np.broadcast_shapes(a.shape, b.shape)))
        out = np.asarray(out)
        if out.dtype.kind in "iu" and op in RING_OPERATORS:  # 64-bit overflow: fall back to floating point
            with np.errstate(all="ignore"):
                approx = RING_OPERATORS[op](a.astype(np.float64), b.astype(np.float64))
            if (np.abs(approx) >= 2.0**63).any():
                out = approx
        if out.dtype.kind == "f":
            nan = np.isnan(out)
            if nan.any():
                missing = _or(missing, nan)
        return _Val("number", out, missing, "", left.constant and right.constant)

    def compare_values(self, op: str, pos: int, ln: Node, left: _Val, rn: Node, right: _Val) -> _Val:
        # a categorical column against a constant: compare the categories, then look the result up by code
        for cat, other, flipped in ((left, right, False), (right, left, True)):
            if cat.codes is not None and cat.categories is not None and other.constant:
                cats = cat.categories
                res = _compare(op, other.values(), cats.values()) if flipped else \
                    _compare(op, cats.values(), other.values())
                res = np.asarray(res, dtype=bool)
                data = res.take(np.where(cat.codes < 0, 0, cat.codes)) if len(res) else \
                    np.zeros(len(cat.codes), dtype=bool)
                return _Val("bool", data, cat.missing, "", False)
        # a pandas string column against a constant: pandas' string kernels
        for col, other, flipped in ((left, right, False), (right, left, True)):
            if col.series is not None and other.constant:
                res = _compare(_FLIPPED[op] if flipped else op, col.series, other.values().item())
                return _Val("bool", res.to_numpy(dtype=bool, na_value=False), col.missing, "", False)
        a, b = left.values(), right.values()
        if {left.kind, right.kind} == {"bool", "number"}:
            a, b = (a.astype(np.int64) if a.dtype == bool else a), (b.astype(np.int64) if b.dtype == bool else b)
        try:
            out = _compare(op, a, b)
        except TypeError as exc:  # text columns holding values that do not compare (should not happen)
            raise self.error(f"'{op}' at position {pos} cannot compare {self.describe(ln, left)} with "
                             f"{self.describe(rn, right)}: {exc}", op, pos) from None
        return _Val("bool", np.asarray(out, dtype=bool), _or(left.missing, right.missing), "",
                    left.constant and right.constant)

    def membership(self, node: InList, t: _Val) -> _Val:
        items = [item.value for item in node.items]
        if t.codes is not None and t.categories is not None:
            res = _isin(t.categories.kind, t.categories.values(), items)
            data = res.take(np.where(t.codes < 0, 0, t.codes)) if len(res) else np.zeros(len(t.codes), dtype=bool)
        elif t.series is not None:
            data = t.series.isin(items).to_numpy(dtype=bool, na_value=False)
        else:
            data = _isin(t.kind, t.values(), items)
        return _Val("bool", ~data if node.negated else data, t.missing, "", t.constant)

    def is_missing(self, t: _Val, *, negated: bool) -> _Val:
        miss = np.zeros((), dtype=bool) if t.missing is None else t.missing
        return _Val("bool", ~miss if negated else miss.copy(), None, "", t.constant)

    def negate(self, t: _Val) -> _Val:
        return _Val("bool", ~t.values(), t.missing, "", t.constant)

    def combine(self, op: str, parts: list[_Val]) -> _Val:
        return parts[0] if len(parts) == 1 else _kleene(op, parts)

    def unknown(self, *terms: _Val) -> _Val:
        shapes = [v.missing.shape if v.missing is not None else np.shape(v.values()) for v in terms]
        shape = np.broadcast_shapes(*shapes)
        return _Val("bool", np.zeros(shape, dtype=bool), np.ones(shape, dtype=bool), "",
                    all(v.constant for v in terms))

    def binary(self, t: _Val) -> bool:
        data = t.values()
        known = data if t.missing is None else data[~np.broadcast_to(t.missing, data.shape)]
        return bool(np.isin(known, (0, 1)).all())

    def nonzero(self, t: _Val) -> _Val:
        return _Val("bool", t.values() != 0, t.missing, "", t.constant)

    def numbers_shown(self, t: _Val) -> str:
        return f"{t.values().dtype} values"

    # -- top level -----------------------------------------------------------------------------------------------
    def kept(self, t: _Val) -> np.ndarray:
        if t.kind == "null":
            t = _Val("bool", np.zeros(self.n, dtype=bool), None, "", False)
        elif t.kind == "number":
            t = self.nonzero(t)
        keep = np.broadcast_to(t.values(), (self.n,))
        if t.missing is not None:
            keep = keep & ~np.broadcast_to(t.missing, (self.n,))
        return np.array(keep, dtype=bool)


def out_is_int(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are both integer arrays (so division by zero must be avoided, not just flagged)."""
    return a.dtype.kind in "iu" and b.dtype.kind in "iu"


_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _compare(op: str, a: Any, b: Any) -> Any:
    if op == "==":
        return np.equal(a, b)
    if op == "!=":
        return np.not_equal(a, b)
    if op == "<":
        return np.less(a, b)
    if op == "<=":
        return np.less_equal(a, b)
    if op == ">":
        return np.greater(a, b)
    return np.greater_equal(a, b)


def _isin(kind: str, data: np.ndarray, items: Sequence[object]) -> np.ndarray:
    if not items:
        return np.zeros(data.shape, dtype=bool)
    if kind == "text":
        if data.ndim == 0:
            return np.asarray(data.item() in items)
        if len(items) <= 8:  # a few comparisons beat hashing every Python string
            out = np.zeros(data.shape, dtype=bool)
            for item in items:
                out |= np.asarray(data == item, dtype=bool)
            return out
        return pd.Series(data, copy=False).isin(items).to_numpy()
    values = np.asarray([int(x) if isinstance(x, bool) else x for x in items])
    return np.isin(data.astype(np.int64) if data.dtype == bool else data, values)


def _kleene(op: str, parts: list[_Val]) -> _Val:
    """Three-valued ``and``/``or`` of conditions: unknown (missing) unless the known operands decide."""
    true = false = None
    for p in parts:
        data = p.values()
        t = data if p.missing is None else data & ~p.missing
        f = ~data if p.missing is None else ~data & ~p.missing
        if true is None or false is None:
            true, false = t, f
        elif op == "and":
            true, false = true & t, false | f
        else:
            true, false = true | t, false & f
    assert true is not None and false is not None  # noqa: S101 (a Logical node has two or more operands)
    unknown = ~(true | false)
    return _Val("bool", true, unknown if unknown.any() else None, "", all(p.constant for p in parts))


def evaluate_restriction(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Evaluate a sample restriction over the columns of ``frame``: true for the rows that meet it.

    The restriction is written in the language described in :mod:`cteimpact.data.restriction_language` (column
    names, numbers, text in quotes, true/false, comparisons, and/or/not, ``in [...]``, ``is missing``, arithmetic)
    and evaluated with vectorised NumPy operations; it can never run code. Missing values follow three-valued
    logic (see :mod:`cteimpact.data.restrictions`): a row where the restriction is unknown because of a missing
    value does not meet it (``"dropout != 1"`` excludes rows with a missing dropout), whereas ``x is missing`` and
    ``x is not missing`` test missingness explicitly (``"x is missing or x > 3"`` keeps rows with a missing x).

    Parameters
    ----------
    frame
        The data.
    expression
        The restriction, such as ``"cohort >= award_year"``.

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per row of ``frame``.

    Raises
    ------
    RestrictionSyntaxError
        The expression uses anything outside the language, is malformed, too long or too deeply nested (the
        message names the offending token and its position). Nothing is evaluated.
    RestrictionError
        The expression names a column the data do not have (the closest name is suggested), mixes text and
        numbers, does arithmetic on text, names no column, or does not give true/false for each row.
    """
    if not isinstance(frame, pd.DataFrame):
        raise OptionError(f"sample restrictions apply to a pandas DataFrame, got {type(frame).__name__}")
    parsed = parse_restriction(expression)
    return _Evaluator(frame, parsed).run()


def apply_restrictions(
    frame: pd.DataFrame, flow: SampleFlow, expressions: Iterable[str]
) -> tuple[pd.DataFrame, SampleFlow]:
    """Apply each restriction in turn; each becomes one step of the flow (``restriction: <expression>``).

    Every expression is parsed before any is applied, so a malformed one fails before the data are touched.
    """
    if isinstance(expressions, str):
        raise OptionError(f"sample restrictions must be a list of expressions, got the single string {expressions!r}")
    expressions = list(expressions)
    for expr in expressions:
        parse_restriction(expr)
    for expr in expressions:
        keep = evaluate_restriction(frame, expr)
        frame, flow = flow.apply(frame, keep, f"restriction: {expr}")
    return frame, flow
