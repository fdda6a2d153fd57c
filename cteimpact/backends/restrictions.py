"""Sample restrictions evaluated by the engine: the parsed restriction translated into an Ibis expression.

The restriction is parsed by :func:`cteimpact.data.restriction_language.parse_restriction` (the same parser as the
pandas path, so a malformed restriction fails the same way before any query runs) and its syntax tree is turned into
an Ibis boolean expression; nothing the user wrote is ever passed to the engine as SQL text or evaluated.

The translation keeps the semantics of :mod:`cteimpact.data.restrictions`, so the engine's counts equal the pandas
path's:

* missing values follow three-valued logic, which is SQL's own (a comparison with NULL is unknown, ``and``/``or``
  are Kleene's, and a row is kept only where the restriction is true); a floating-point NaN counts as missing, as in
  pandas;
* division (``/``, ``//``, ``%``) by zero is unknown; ``/`` always gives a floating-point number; ``//`` and ``%``
  follow Python (the remainder takes the sign of the divisor, unlike SQL's ``%``);
* integer columns are computed as 64-bit integers, true/false as 1/0 beside numbers;
* text compares with text and numbers with numbers, anything else is the same :class:`RestrictionError`;
* a number used as a condition must hold only 0 and 1 (checked by a count in the engine) and stands for ``== 1``.

Not reproduced: the pandas path's fallback to floating point when 64-bit integer arithmetic overflows (an engine
raises its own overflow error, reported as :class:`~cteimpact.backends.errors.BackendFeatureError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cteimpact.backends.errors import BackendFeatureError
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

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["restriction_expression"]


@dataclass(frozen=True)
class _Term:
    """A translated sub-expression: its kind (``number``, ``text``, ``bool``, ``null``), the Ibis expression, whether
    it is a constant, and how messages describe it."""

    kind: str
    expr: Any
    constant: bool
    label: str = ""


class _Translator(RestrictionChecker[_Term, Any]):
    """Translates one parsed restriction over one Ibis table."""

    def __init__(self, table: ir.Table, parsed: ParsedRestriction, *, backend: str, table_name: str,
                 rows: ir.Table | None = None) -> None:
        super().__init__(parsed)
        self.table = table
        self.rows = table if rows is None else rows
        self.backend = backend
        self.table_name = table_name
        self.schema = table.schema()

    # -- columns and literals ----------------------------------------------------------------------------------------
    def column_names(self) -> tuple[list[str], list[str]]:
        names = list(self.schema.names)
        return names, names

    def missing_column_hint(self, name: str, hint: str) -> str:
        return hint.replace(" is not in the data", f" is not in table '{self.table_name}' ({self.backend})", 1)

    def column(self, node: Column) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        col = self.table[node.name]
        dtype = self.schema[node.name]
        label = f"column '{node.name}' ({dtype})"
        if dtype.is_boolean():
            return _Term("bool", col, False, label)
        if dtype.is_integer():
            return _Term("number", col.cast(dt.int64), False, label)
        if dtype.is_floating() or dtype.is_decimal():
            value = col.cast(dt.float64)
            return _Term("number", ibis.ifelse(value.isnan(), ibis.null(dt.float64), value), False, label)
        if dtype.is_string():
            return _Term("text", col, False, label)
        if dtype.is_null():
            return _Term("null", ibis.null(dt.float64), False, label)
        raise self.error(f"{label} cannot be used in a restriction; a restriction can use columns of numbers, text or "
                         "true/false", node.name, node.start)

    def literal(self, node: Value) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        value = node.value
        if isinstance(value, bool):
            return _Term("bool", ibis.literal(value, type=dt.boolean), True)
        if isinstance(value, str):
            return _Term("text", ibis.literal(value, type=dt.string), True)
        if isinstance(value, int):
            return _Term("number", ibis.literal(value, type=dt.int64), True)
        return _Term("number", ibis.literal(value, type=dt.float64), True)

    # -- nodes -----------------------------------------------------------------------------------------------------
    def numeric(self, node: Node, t: _Term, op: str, pos: int) -> Any:
        import ibis.expr.datatypes as dt

        self.check_numeric(node, t, op, pos)
        if t.kind == "bool":
            return t.expr.cast(dt.int64)
        return t.expr

    def sign(self, node: Sign) -> _Term:
        t = self.visit(node.operand)
        value = self.numeric(node.operand, t, node.op, node.pos)
        return _Term("number", -value if node.op == "-" else value, t.constant)

    def no_number(self, a: Any, b: Any, constant: bool) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        return _Term("null", ibis.null(dt.float64), constant)

    def calculate(self, op: str, left: _Term, right: _Term, a: Any, b: Any) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        integers = a.type().is_integer() and b.type().is_integer()
        if op in RING_OPERATORS:
            out = RING_OPERATORS[op](a, b)
        else:
            zero = b == 0
            b = ibis.ifelse(zero, ibis.literal(1, type=b.type()), b)  # never divide by zero, even a constant zero
            af, bf = a.cast(dt.float64), b.cast(dt.float64)
            if op == "/":
                out = af / bf
            elif op == "//":
                out = (af / bf).floor()
                out = out.cast(dt.int64) if integers else out.cast(dt.float64)
            else:  # Python's remainder: the sign of the divisor
                out = ((a % b) + b) % b
            out = ibis.ifelse(zero, ibis.null(out.type()), out)
        if out.type().is_floating():
            out = ibis.ifelse(out.isnan(), ibis.null(dt.float64), out)
        return _Term("number", out, left.constant and right.constant)

    def compare_values(self, op: str, pos: int, ln: Node, left: _Term, rn: Node, right: _Term) -> _Term:
        import ibis.expr.datatypes as dt

        a, b = left.expr, right.expr
        if {left.kind, right.kind} == {"bool", "number"}:
            a = a.cast(dt.int64) if left.kind == "bool" else a
            b = b.cast(dt.int64) if right.kind == "bool" else b
        result = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return _Term("bool", result, left.constant and right.constant)

    def membership(self, node: InList, t: _Term) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        value = t.expr.cast(dt.int64) if t.kind == "bool" else t.expr
        items = [int(i.value) if isinstance(i.value, bool) else i.value for i in node.items]
        if not items:  # unknown where the value is missing, else false ('in') or true ('not in')
            test = ibis.ifelse(value.isnull(), ibis.null(dt.boolean), ibis.literal(node.negated))
        else:
            test = value.notin(items) if node.negated else value.isin(items)
        return _Term("bool", test, t.constant)

    def is_missing(self, t: _Term, *, negated: bool) -> _Term:
        import ibis.expr.datatypes as dt

        test = t.expr.notnull() if negated else t.expr.isnull()
        return _Term("bool", test.cast(dt.boolean), t.constant)

    def negate(self, t: _Term) -> _Term:
        return _Term("bool", ~t.expr, t.constant)

    def combine(self, op: str, parts: list[_Term]) -> _Term:
        out = parts[0].expr
        for p in parts[1:]:
            out = (out & p.expr) if op == "and" else (out | p.expr)
        return _Term("bool", out, all(p.constant for p in parts))

    def unknown(self, *terms: _Term) -> _Term:
        import ibis
        import ibis.expr.datatypes as dt

        return _Term("bool", ibis.null(dt.boolean), all(t.constant for t in terms))

    def binary(self, t: _Term) -> bool:
        """Whether ``t`` holds only 0 and 1 where known, over the rows (of the whole table): counted by the engine."""
        bad = t.expr.notnull() & t.expr.notin([0, 1])
        return not int(_execute(self.rows.filter(bad).count(), self.backend, self.table_name))

    def nonzero(self, t: _Term) -> _Term:
        return _Term("bool", t.expr != 0, t.constant)

    def numbers_shown(self, t: _Term) -> str:
        return "numbers other than 0 and 1"

    def kept(self, t: _Term) -> Any:
        if t.kind == "number":
            return t.expr != 0
        if t.kind == "null":
            import ibis
            import ibis.expr.datatypes as dt

            return ibis.literal(False, type=dt.boolean)
        return t.expr


def _execute(expr: Any, backend: str, table: str) -> Any:
    """Run ``expr`` on its engine; an engine error becomes :class:`BackendFeatureError` naming backend and table."""
    try:
        return expr.execute()
    except Exception as exc:  # each engine raises its own classes
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendFeatureError(f"{backend} could not evaluate a query on table '{table}': {detail}",
                                  backend=backend, table=table) from None


def restriction_expression(table: ir.Table, expression: str, *, backend: str = "duckdb",
                           table_name: str = "table", rows: ir.Table | None = None) -> ir.BooleanValue:
    """The Ibis boolean expression of a sample restriction over ``table``: true for the rows that meet it (a row
    where it is unknown because of a missing value is not true, so ``table.filter(...)`` excludes it).

    Parameters
    ----------
    table
        The Ibis table the restriction refers to.
    expression
        The restriction (see :mod:`cteimpact.data.restriction_language`).
    backend, table_name
        Named in messages.
    rows
        The rows over which a number used as a condition must hold only 0 and 1 (default: all of ``table``; the
        rows the restrictions before this one kept, when restrictions are applied in turn).

    Raises
    ------
    RestrictionSyntaxError
        The expression is outside the restriction language (nothing was sent to the engine).
    RestrictionError
        A column the table does not have, text compared with numbers, a number other than 0/1 used as a condition.
    """
    parsed = parse_restriction(expression)
    return _Translator(table, parsed, backend=backend, table_name=table_name, rows=rows).run()
