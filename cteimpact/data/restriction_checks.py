"""What every evaluator of a sample restriction shares, whatever runs it: the walk over the syntax tree, the checks
of columns and of value kinds, and the messages.

A parsed restriction (:mod:`cteimpact.data.restriction_language`) is evaluated on pandas
(:mod:`cteimpact.data.restrictions`: NumPy arrays) or by a database engine (:mod:`cteimpact.backends.restrictions`:
an Ibis expression). Both follow the same rules, so both refuse the same restrictions with the same messages:

* every column the restriction names must be in the data;
* each sub-expression has a kind: ``number``, ``text``, ``bool`` (true/false) or ``null`` (a column with no value
  at all); text compares only with text and numbers (true/false counting as 1/0) only with numbers; arithmetic
  needs numbers; the items of ``in [...]`` match the kind of the value tested;
* a condition (the whole restriction, and each operand of ``and``/``or``/``not``) is true/false, or numbers that are
  all 0 or 1 (standing for ``== 1``); a restriction that names no column is refused.

:class:`RestrictionChecker` holds these rules; an evaluator subclasses it with its own kind of term (anything with
a ``kind``, a ``label`` and a ``constant`` flag) and implements only how a term is computed.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from typing import Any, Generic, Protocol, TypeVar

from cteimpact.data.restriction_language import (
    Arithmetic,
    Column,
    Comparison,
    InList,
    IsMissing,
    Logical,
    Node,
    Not,
    ParsedRestriction,
    Sign,
    Value,
    restriction_message,
    shown_expression,
    shown_token,
)
from cteimpact.errors import MissingColumnError, RestrictionError

__all__ = ["RING_OPERATORS", "RestrictionChecker", "Term", "kind_label"]


class Term(Protocol):
    """An evaluated sub-expression as the checks see it."""

    @property
    def kind(self) -> str:
        """``"number"``, ``"text"``, ``"bool"`` or ``"null"`` (no value at all)."""

    @property
    def label(self) -> str:
        """How messages name a column (``column 'x' (int64)``); empty for other terms."""

    @property
    def constant(self) -> bool:
        """Whether the term is the same for every row (built from literals only)."""


T = TypeVar("T", bound=Term)
R = TypeVar("R")


RING_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {"+": operator.add, "-": operator.sub, "*": operator.mul}
"""``+``, ``-`` and ``*``: the arithmetic that needs no care about division by zero (``/``, ``//`` and ``%`` do)."""


def kind_label(kind: str) -> str:
    """The kind of a term as messages say it."""
    return {"number": "numbers", "text": "text", "bool": "true/false", "null": "only missing values"}[kind]


class RestrictionChecker(ABC, Generic[T, R]):
    """Evaluates one parsed restriction: the tree walk and the checks; subclasses compute the terms (``T``) and the
    rows kept (``R``).

    Parameters
    ----------
    parsed
        The parsed restriction.
    """

    def __init__(self, parsed: ParsedRestriction) -> None:
        self.parsed = parsed
        self.expression = parsed.expression

    # -- messages ----------------------------------------------------------------------------------------------------
    def error(self, detail: str, token: str | None = None, position: int | None = None) -> RestrictionError:
        """An error about a part of the restriction (the message quotes the restriction)."""
        return RestrictionError(restriction_message(self.expression, detail), expression=self.expression,
                                token=token, position=position)

    def top(self, detail: str) -> RestrictionError:
        """An error about the restriction as a whole."""
        return RestrictionError(f"sample restriction '{shown_expression(self.expression)}' {detail}",
                                expression=self.expression)

    def source(self, node: Node) -> str:
        """The source text of ``node``, as messages show it."""
        return shown_token(self.expression[node.start:node.end])

    def describe(self, node: Node, t: T) -> str:
        """How messages name ``node`` (its column, its literal, or its source text with its kind)."""
        if isinstance(node, Column):
            return t.label
        if isinstance(node, Value):
            kind = "the text" if isinstance(node.value, str) else "" if isinstance(node.value, bool) else "the number"
            return f"{kind} {self.source(node)}".strip()
        return f"'{self.source(node)}' ({kind_label(t.kind)})"

    # -- checks ------------------------------------------------------------------------------------------------------
    def check_columns(self, present: Collection[str], available: Sequence[str]) -> None:
        """Every column the restriction names is in ``present`` (``available``: the names a message suggests from)."""
        for name, pos in self.parsed.columns:
            if name not in present:
                hint = str(MissingColumnError(name, list(available)))
                hint = hint.replace(f"column '{name}'", f"column '{shown_token(name)}' at position {pos}", 1)
                raise self.error(self.missing_column_hint(name, hint), name, pos)

    def missing_column_hint(self, name: str, hint: str) -> str:
        """The message of a missing column ``name``, given the shared one (subclasses add where the data are)."""
        return hint

    def check_numeric(self, node: Node, t: T, op: str, pos: int) -> None:
        """Arithmetic (``op`` at ``pos``) needs numbers (true/false counts as 1/0)."""
        if t.kind == "text":
            raise self.error(f"'{op}' at position {pos} needs numbers, but {self.describe(node, t)} holds text",
                             op, pos)

    def check_comparable(self, op: str, pos: int, ln: Node, left: T, rn: Node, right: T) -> None:
        """Text compares with text, numbers (and true/false) with numbers."""
        kinds = {left.kind, right.kind}
        if "text" in kinds and kinds != {"text"}:
            what = "text" if left.kind == "text" else kind_label(left.kind)
            raise self.error(f"'{op}' at position {pos} compares {self.describe(ln, left)} with "
                             f"{self.describe(rn, right)}; compare {what} with {what}"
                             + (" (numbers in quotes are text)" if kinds == {"text", "number"} else ""), op, pos)

    def check_items(self, node: InList, t: T) -> None:
        """The items of ``in [...]`` are text for text, numbers or true/false otherwise."""
        word = "not in" if node.negated else "in"
        for item in node.items:
            is_text = isinstance(item.value, str)
            if is_text != (t.kind == "text"):
                raise self.error(
                    f"{'the text' if is_text else 'the value'} {self.source(item)} at position {item.start} in the "
                    f"list after '{word}' does not match {self.describe(node.operand, t)}; list "
                    f"{'text in quotes' if t.kind == 'text' else 'numbers or true/false'}",
                    self.source(item), item.start)

    # -- the walk ----------------------------------------------------------------------------------------------------
    def run(self) -> R:
        """The rows that meet the restriction (after every check)."""
        self.check_columns(*self.column_names())
        if not self.parsed.columns:
            raise self.top("must give true or false for each row: it names no column")
        t = self.visit(self.parsed.tree)
        if t.kind == "number" and not self.binary(t):
            raise self.top(f"gives {self.numbers_shown(t)}, not true/false; compare them with a number, "
                           "e.g. '... > 0'")
        if t.kind == "text":
            raise self.top("gives text values, not true/false; compare them, e.g. x == 'A'")
        return self.kept(t)

    def visit(self, node: Node) -> T:
        """The term of ``node``."""
        if isinstance(node, Column):
            return self.column(node)
        if isinstance(node, Value):
            return self.literal(node)
        if isinstance(node, Sign):
            return self.sign(node)
        if isinstance(node, Arithmetic):
            return self.arithmetic(node)
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, IsMissing):
            return self.is_missing(self.visit(node.operand), negated=node.negated)
        if isinstance(node, Not):
            return self.negate(self.condition(node.operand, "not"))
        if isinstance(node, Logical):
            return self.combine(node.op, [self.condition(o, node.op) for o in node.operands])
        raise TypeError(f"unknown syntax node {type(node).__name__}")  # pragma: no cover (the parser makes no other)

    def arithmetic(self, node: Arithmetic) -> T:
        """``left op right``: both checked to be numbers; no value where either holds none, else computed."""
        left, right = self.visit(node.left), self.visit(node.right)
        a = self.numeric(node.left, left, node.op, node.pos)
        b = self.numeric(node.right, right, node.op, node.pos)
        if left.kind == "null" or right.kind == "null":
            return self.no_number(a, b, left.constant and right.constant)
        return self.calculate(node.op, left, right, a, b)

    def comparison(self, node: Comparison) -> T:
        """A chain ``a < b <= c``: every adjacent pair, combined with ``and`` (each operand evaluated once)."""
        terms = [self.visit(o) for o in node.operands]
        pairs = [self.compare(op, pos, node.operands[k], terms[k], node.operands[k + 1], terms[k + 1])
                 for k, (op, pos) in enumerate(zip(node.ops, node.positions, strict=True))]
        return self.combine("and", pairs)

    def compare(self, op: str, pos: int, ln: Node, left: T, rn: Node, right: T) -> T:
        """``left op right``: unknown where either holds no value, else checked and computed."""
        if left.kind == "null" or right.kind == "null":
            return self.unknown(left, right)
        self.check_comparable(op, pos, ln, left, rn, right)
        return self.compare_values(op, pos, ln, left, rn, right)

    def in_list(self, node: InList) -> T:
        """``operand [not] in [...]``: unknown where the operand holds no value, else checked and computed."""
        t = self.visit(node.operand)
        if t.kind == "null":
            return self.unknown(t)
        self.check_items(node, t)
        return self.membership(node, t)

    def condition(self, node: Node, role: str) -> T:
        """``node`` as true/false (``role``: the operator it is an operand of): numbers that are all 0 or 1 stand
        for ``== 1``; other numbers and text are refused."""
        t = self.visit(node)
        if t.kind == "bool":
            return t
        if t.kind == "null":
            return self.unknown(t)
        what = self.describe(node, t)
        if t.kind == "number":
            if self.binary(t):
                return self.nonzero(t)
            raise self.error(f"{what} is used as true/false ({role}) but holds numbers other than 0 and 1; compare "
                             "it, e.g. x > 0", shown_token(self.source(node)), node.start)
        raise self.error(f"{what} is used as true/false ({role}) but holds text; compare it, e.g. x == 'A'",
                         shown_token(self.source(node)), node.start)

    # -- what an evaluator computes --------------------------------------------------------------------------------
    @abstractmethod
    def column_names(self) -> tuple[Collection[str], Sequence[str]]:
        """The column names a restriction may use, and the names a missing column's message suggests from."""

    @abstractmethod
    def column(self, node: Column) -> T:
        """The term of a column."""

    @abstractmethod
    def literal(self, node: Value) -> T:
        """The term of a literal."""

    @abstractmethod
    def sign(self, node: Sign) -> T:
        """Unary ``-``/``+``."""

    @abstractmethod
    def numeric(self, node: Node, t: T, op: str, pos: int) -> Any:
        """The values of ``t`` (the operand ``node`` of ``op`` at ``pos``) for arithmetic, checked
        (:meth:`check_numeric`): true/false as 1/0."""

    @abstractmethod
    def no_number(self, a: Any, b: Any, constant: bool) -> T:
        """The ``null`` term of arithmetic with an operand that holds no value (``a``, ``b``: the operands' values)."""

    @abstractmethod
    def calculate(self, op: str, left: T, right: T, a: Any, b: Any) -> T:
        """``a op b`` for ``+ - * / // %`` (``a``, ``b``: the values of the terms ``left`` and ``right``)."""

    @abstractmethod
    def compare_values(self, op: str, pos: int, ln: Node, left: T, rn: Node, right: T) -> T:
        """``left op right`` of comparable terms that hold values."""

    @abstractmethod
    def membership(self, node: InList, t: T) -> T:
        """``t [not] in [...]`` (items checked)."""

    @abstractmethod
    def is_missing(self, t: T, *, negated: bool) -> T:
        """``t is [not] missing``: always true or false."""

    @abstractmethod
    def negate(self, t: T) -> T:
        """``not t`` of a condition (unknown stays unknown)."""

    @abstractmethod
    def combine(self, op: str, parts: list[T]) -> T:
        """Three-valued ``and``/``or`` of one or more conditions."""

    @abstractmethod
    def unknown(self, *terms: T) -> T:
        """A condition unknown on every row of ``terms`` (constant if they all are)."""

    @abstractmethod
    def binary(self, t: T) -> bool:
        """Whether the known values of a number term are all 0 or 1."""

    @abstractmethod
    def nonzero(self, t: T) -> T:
        """A number term holding 0 and 1 as true/false (``!= 0``)."""

    @abstractmethod
    def numbers_shown(self, t: T) -> str:
        """How the message refusing a restriction that gives numbers other than 0 and 1 names them."""

    @abstractmethod
    def kept(self, t: T) -> R:
        """The rows kept: true where the restriction's term (true/false, 0/1 numbers or null) is true."""
