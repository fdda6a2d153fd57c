"""The sample-restriction language: a tokenizer and a recursive-descent parser into a small syntax tree.

A sample restriction (``--where`` on ``cteimpact rd`` and ``cteimpact did``, ``[sample] restrictions`` in an
analysis specification) is a condition on the columns of the data, such as ``cohort >= award_year`` or
``grade in [9, 10] and dropout is not missing``. The language is deliberately small: it can name columns, write
numbers, text and true/false, compare, combine conditions and do arithmetic, and nothing else. It cannot call
functions, read attributes, index, or reach any Python object, so a restriction cannot run code or read files
whatever it says. The parser here only builds the tree; :mod:`cteimpact.data.restrictions` evaluates it.

Grammar (EBNF; keywords are case-sensitive, white space between tokens is ignored)::

    restriction = disjunction ;
    disjunction = conjunction { ( "or" | "|" ) conjunction } ;
    conjunction = negation { ( "and" | "&" ) negation } ;
    negation    = ( "not" | "~" ) negation | test ;
    test        = sum [ compare_op sum { compare_op sum }     (* a < b <= c means a < b and b <= c *)
                      | [ "not" ] "in" list
                      | "is" [ "not" ] "missing" ] ;
    compare_op  = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
    sum         = product { ( "+" | "-" ) product } ;
    product     = sign { ( "*" | "/" | "//" | "%" ) sign } ;
    sign        = ( "-" | "+" ) sign | atom ;
    atom        = column | number | text | boolean | "(" disjunction ")" ;
    list        = "[" [ item { "," item } [ "," ] ] "]" ;
    item        = [ "-" | "+" ] number | text | boolean ;
    column      = name | "`" character other than "`" { character other than "`" } "`" ;
    name        = ( letter | "_" ) { letter | digit | "_" } ;     (* not a keyword *)
    number      = ( digits [ "." [ digits ] ] | "." digits ) [ ( "e" | "E" ) [ "+" | "-" ] digits ] ;
    text        = "'" { character | escape } "'" | '"' { character | escape } '"' ;
    escape      = "\\\\" | "\\'" | '\\"' | "\\n" | "\\t" ;
    boolean     = "true" | "false" | "True" | "False" ;

``&``, ``|`` and ``~`` are the same as ``and``, ``or`` and ``not``, with the same (low) precedence, as in pandas'
``query``: ``a > 1 & b < 2`` means ``(a > 1) and (b < 2)``. From loosest to tightest binding: ``or``, ``and``,
``not``, the tests (comparisons, ``in``, ``is missing``), ``+ -``, ``* / // %``, unary ``-``/``+``.

Keywords (``and or not in is missing true false True False``) and Python's own keywords (``lambda``, ``None``,
``import``, ...) cannot be bare column names; write such a column, or one whose name has spaces or punctuation,
in backticks: ```first.treat` >= 2004``, ```class` == 'A'``. A column name cannot contain a backtick.

Examples::

    cohort >= award_year
    cohort <= award_year + 3
    2014 <= cohort < 2018
    grade in [9, 10, 11] and `school type` != 'charter'
    not (dropout is missing) or grade == 12
    wages / hours > 15.5

Limits: at most :data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting (parentheses, ``not``,
signs and chained operators), so hostile input fails with a clear error rather than exhausting the stack.
Anything outside the grammar raises :class:`~cteimpact.errors.RestrictionSyntaxError` naming the offending
token and its position (counted from 0).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal, NamedTuple

from cteimpact.errors import RestrictionSyntaxError

__all__ = [
    "ALLOWED",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Arithmetic",
    "Column",
    "Comparison",
    "InList",
    "IsMissing",
    "Logical",
    "Node",
    "Not",
    "ParsedRestriction",
    "Sign",
    "Value",
    "parse_restriction",
    "restriction_message",
    "shown_expression",
    "shown_token",
]

MAX_LENGTH = 10_000
"""Longest restriction accepted, in characters."""

MAX_DEPTH = 50
"""Deepest nesting accepted (parentheses, ``not``, signs and operator chains such as ``a + b + c``)."""

ALLOWED = ("a restriction may use column names, numbers, text in quotes, true/false, comparisons, and/or/not, "
           "in [...], is missing and + - * /")
"""The reminder every syntax error ends with."""

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "missing", "true", "false", "True", "False"})
_PYTHON_KEYWORDS = frozenset(keyword.kwlist) - KEYWORDS
_MISSING_WORDS = frozenset({"None", "null", "NULL", "nan", "NaN", "NA", "na", "NaT"})

# operators, longest first; the forbidden ones are listed so that the error names the whole operator
_OPERATORS = ("//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", "&", "|",
              "~")
_FORBIDDEN = {
    "**": "powers are not supported",
    "<<": "", ">>": "", ":=": "", "->": "",
    "&&": "write 'and'", "||": "write 'or'",
    "=": "compare with '=='",
    "!": "write 'not' or '!='",
    "@": "a restriction cannot refer to Python variables",
    ".": "a restriction cannot read attributes",
    ":": "", ";": "", "^": "", "{": "", "}": "", "\\": "", "$": "", "?": "", "#": "",
}
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_SPACE = " \t\r\n"
_STRING_PREFIXES = frozenset({"f", "r", "b", "u", "t", "fr", "rf", "br", "rb", "tr", "rt"})

Kind = Literal["name", "column", "number", "text", "keyword", "op", "end"]


class Token(NamedTuple):
    """One token: its kind, its source text, where it starts, and its value (numbers, text, column names)."""

    kind: Kind
    text: str
    pos: int
    value: object = None


# -- syntax tree -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of the syntax tree; ``start`` and ``end`` delimit its source text, ``depth`` its nesting."""

    start: int
    end: int
    depth: int


@dataclass(frozen=True)
class Column(Node):
    """A column of the data."""

    name: str


@dataclass(frozen=True)
class Value(Node):
    """A literal: a number (int or float), text (str) or a boolean."""

    value: int | float | str | bool


@dataclass(frozen=True)
class Sign(Node):
    """Unary ``-`` or ``+`` applied to a value."""

    op: Literal["-", "+"]
    operand: Node
    pos: int


@dataclass(frozen=True)
class Arithmetic(Node):
    """``left op right`` for ``+ - * / // %``; ``pos`` is the operator's position."""

    op: Literal["+", "-", "*", "/", "//", "%"]
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class Comparison(Node):
    """``a op1 b op2 c ...``: a chain of comparisons, true where every adjacent pair holds."""

    ops: tuple[Literal["==", "!=", "<", "<=", ">", ">="], ...]
    operands: tuple[Node, ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class InList(Node):
    """``operand [not] in [items]``."""

    operand: Node
    items: tuple[Value, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class IsMissing(Node):
    """``operand is [not] missing``."""

    operand: Node
    negated: bool
    pos: int


@dataclass(frozen=True)
class Not(Node):
    """``not operand`` (or ``~operand``)."""

    operand: Node
    pos: int


@dataclass(frozen=True)
class Logical(Node):
    """``a and b and ...`` or ``a or b or ...`` (``&`` and ``|`` are the same)."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class ParsedRestriction:
    """A parsed restriction: its source, its syntax tree and the columns it names (with their positions)."""

    expression: str
    tree: Node
    columns: tuple[tuple[str, int], ...]


# -- messages --------------------------------------------------------------------------------------------------------


def _printable(text: str, limit: int) -> str:
    """``text`` on one line (control and other unprintable characters escaped), cut to ``limit`` characters."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def shown_expression(expression: str) -> str:
    """A restriction as quoted in messages: on one line, shortened to 60 characters."""
    return _printable(expression, 60)


def restriction_message(expression: str, detail: str) -> str:
    """``sample restriction '<expression>' cannot be evaluated: <detail>`` (long expressions shortened)."""
    return f"sample restriction '{shown_expression(expression)}' cannot be evaluated: {detail}"


def shown_token(text: str) -> str:
    """A token as quoted in messages (unprintable characters escaped, long tokens shortened)."""
    return _printable(text, 30)


class _Fail:
    """Raises syntax errors for one expression."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __call__(self, token: str, pos: int, problem: str = "is not allowed", hint: str = "") -> RestrictionSyntaxError:
        detail = f"'{shown_token(token)}' at position {pos} {problem}"
        detail += f"; {hint}" if hint else f"; {ALLOWED}"
        return RestrictionSyntaxError(restriction_message(self.expression, detail), expression=self.expression,
                                      token=token, position=pos)


# -- tokenizer -------------------------------------------------------------------------------------------------------


def _is_name_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _dotted_end(expression: str, k: int) -> int:
    """Where a run of name characters and dots starting at ``k`` ends (to quote a whole ``a.b.c`` or ``1.2.3``)."""
    n = len(expression)
    while k < n and (_is_name_char(expression[k]) or expression[k] == "."):
        k += 1
    return k


def _check_word(expression: str, i: int, j: int, fail: _Fail) -> None:
    """Refuse the word ``expression[i:j]`` where it starts a prefixed string (``f'...'``), is a Python keyword,
    or reads an attribute (``a.b``)."""
    n = len(expression)
    word = expression[i:j]
    if j < n and expression[j] in "'\"" and word.lower() in _STRING_PREFIXES:
        raise fail(word + expression[j], i, "is not allowed", "text is written in plain quotes, "
                   "without a prefix such as f, r or b")
    if word in _MISSING_WORDS and word in _PYTHON_KEYWORDS:
        raise fail(word, i, "is not allowed", "test for missing values with 'is missing' or 'is not missing'")
    if word in _PYTHON_KEYWORDS:
        raise fail(word, i, "is not allowed", f"write `{word}` in backticks for a column of that name; " + ALLOWED)
    if j + 1 < n and expression[j] == "." and _is_name_start(expression[j + 1]):
        k = _dotted_end(expression, j + 1)
        raise fail(".", j, "is not allowed", "a restriction cannot read attributes; for a column named "
                   f"'{shown_token(expression[i:k])}' write `{shown_token(expression[i:k])}`")


def _scan_word(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """A keyword or a bare column name starting at ``i``, and the position after it."""
    n = len(expression)
    j = i + 1
    while j < n and _is_name_char(expression[j]):
        j += 1
    _check_word(expression, i, j, fail)
    word = expression[i:j]
    return Token("keyword" if word in KEYWORDS else "name", word, i, word), j


def _starts_number(expression: str, i: int) -> bool:
    """Whether a number starts at ``i`` (a digit, or a point followed by a digit)."""
    ch = expression[i]
    return ch.isdigit() or (ch == "." and i + 1 < len(expression) and expression[i + 1].isdigit())


def _scan_number(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """A number starting at ``i``, and the position after it; a number run into a name or a point is refused."""
    n = len(expression)
    m = _NUMBER.match(expression, i)
    j = m.end() if m is not None else i
    if m is None or (j < n and (_is_name_char(expression[j]) or expression[j] == ".")):
        k = _dotted_end(expression, max(j, i + 1))
        raise fail(expression[i:k], i, "is not a number", "numbers are written like 3, -2.5 or 1e6")
    text = expression[i:j]
    return Token("number", text, i, _number(text)), j


def _scan_text(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """Quoted text starting at ``i``, and the position after its closing quote."""
    value, j = _text(expression, i, fail)
    return Token("text", expression[i:j], i, value), j


def _scan_column(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """A column name in backticks starting at ``i``, and the position after the closing backtick."""
    j = expression.find("`", i + 1)
    if j < 0:
        raise fail("`", i, "has no closing backtick", "write a column name with spaces or punctuation as "
                   "`name`")
    if j == i + 1:
        raise fail("``", i, "is an empty column name")
    return Token("column", expression[i:j + 1], i, expression[i + 1:j]), j + 1


def _scan_operator(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """An operator starting at ``i``, and the position after it; a forbidden operator, or any other character,
    is refused."""
    for op in _FORBIDDEN:  # before the allowed operators: '**' is not two '*', '>>' not two '>'
        if expression.startswith(op, i) and not any(
                expression.startswith(a, i) and len(a) >= len(op) for a in _OPERATORS):
            hint = _FORBIDDEN[op]
            raise fail(op, i, "is not allowed", f"{hint}; {ALLOWED}" if hint else "")
    for op in _OPERATORS:
        if expression.startswith(op, i):
            return Token("op", op, i), i + len(op)
    raise fail(expression[i], i)


def _scan(expression: str, i: int, fail: _Fail) -> tuple[Token, int]:
    """The token starting at ``i`` (not white space), and the position after it."""
    ch = expression[i]
    if _is_name_start(ch):
        return _scan_word(expression, i, fail)
    if _starts_number(expression, i):
        return _scan_number(expression, i, fail)
    if ch in "'\"":
        return _scan_text(expression, i, fail)
    if ch == "`":
        return _scan_column(expression, i, fail)
    return _scan_operator(expression, i, fail)


def tokenize(expression: str) -> Iterator[Token]:
    """The tokens of ``expression``, ending with an ``end`` token; raise on reaching anything outside the language.

    A generator: the parser pulls tokens as it needs them, so the error reported is always the leftmost problem.
    """
    fail = _Fail(expression)
    i, n = 0, len(expression)
    while i < n:
        if expression[i] in _SPACE:
            i += 1
            continue
        token, i = _scan(expression, i, fail)
        yield token
    yield Token("end", "", n)


def _number(text: str) -> int | float:
    if not any(c in text for c in ".eE"):
        value = int(text)
        if value < 2**63:
            return value
    return float(text)


def _text(expression: str, start: int, fail: _Fail) -> tuple[str, int]:
    """The value of the quoted text starting at ``start`` and the position after its closing quote."""
    quote = expression[start]
    out: list[str] = []
    i, n = start + 1, len(expression)
    while i < n:
        ch = expression[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            esc = expression[i + 1]
            if esc not in _ESCAPES:
                raise fail("\\" + esc, i, "is not a known escape", "inside quotes write \\\\ for a backslash, "
                           "\\' or \\\" for a quote, \\n and \\t for a new line and a tab")
            out.append(_ESCAPES[esc])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise fail(quote, start, "opens text that is never closed", f"end the text with {quote}")


# -- parser ----------------------------------------------------------------------------------------------------------

_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    """Recursive descent over the token list; every rule returns a node."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._stream = tokenize(expression)
        self.tokens: list[Token] = []
        self.i = 0
        self.nesting = 0
        self.fail = _Fail(expression)
        self.columns: list[tuple[str, int]] = []

    # helpers
    def _peek(self, ahead: int = 0) -> Token:
        while len(self.tokens) <= self.i + ahead:
            if self.tokens and self.tokens[-1].kind == "end":
                return self.tokens[-1]
            self.tokens.append(next(self._stream))
        return self.tokens[self.i + ahead]

    @property
    def tok(self) -> Token:
        return self._peek()

    def _is(self, kind: str, *texts: str) -> bool:
        t = self.tok
        return t.kind == kind and (not texts or t.text in texts)

    def _next(self) -> Token:
        t = self._peek()
        self.i += 1
        return t

    def _enter(self, t: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self._too_deep(t)

    def _too_deep(self, t: Token) -> RestrictionSyntaxError:
        return self.fail(t.text, t.pos, f"nests more than {MAX_DEPTH} levels deep", "simplify the restriction")

    def _node_depth(self, t: Token, *children: Node) -> int:
        depth = 1 + max(c.depth for c in children)
        if depth + self.nesting > MAX_DEPTH:
            raise self._too_deep(t)
        return depth

    def unexpected(self, t: Token) -> RestrictionSyntaxError:
        if t.kind == "end":
            prev = self.tokens[self.i - 1] if self.i > 0 else None
            if prev is None:
                return RestrictionSyntaxError(restriction_message(self.expression, "the restriction is empty"),
                                              expression=self.expression, token="", position=0)
            return self.fail(prev.text, prev.pos, "ends the restriction too early",
                             "a column, number or text in quotes must follow it")
        prev = self.tokens[self.i - 1] if self.i > 0 else None
        after_value = prev is not None and (prev.kind in ("name", "column", "number", "text")
                                            or prev.text in (")", "]", "missing", "true", "false", "True", "False"))
        if t.text == "(" and after_value:
            return self.fail("(", t.pos, "is not allowed", "a restriction cannot call functions; " + ALLOWED)
        if t.text == "[" and after_value:
            return self.fail("[", t.pos, "is not allowed", "a restriction cannot index or slice; " + ALLOWED)
        if t.text == "missing":
            return self.fail(t.text, t.pos, "is not expected here",
                             "write 'x is missing' or 'x is not missing' (or `missing` for a column of that name)")
        return self.fail(t.text, t.pos, "is not expected here")

    # rules
    def parse(self) -> Node:
        node = self.disjunction()
        if not self._is("end"):
            raise self.unexpected(self.tok)
        return node

    def _logical(self, op: Literal["and", "or"], symbol: str, sub: str) -> Node:
        rule = getattr(self, sub)
        first = rule()
        operands, positions = [first], []
        while self._is("keyword", op) or self._is("op", symbol):
            positions.append(self._next().pos)
            operands.append(rule())
        if len(operands) == 1:
            return first
        t = Token("keyword", op, positions[0])
        return Logical(first.start, operands[-1].end, self._node_depth(t, *operands), op, tuple(operands),
                       tuple(positions))

    def disjunction(self) -> Node:
        return self._logical("or", "|", "conjunction")

    def conjunction(self) -> Node:
        return self._logical("and", "&", "negation")

    def negation(self) -> Node:
        if self._is("keyword", "not") or self._is("op", "~"):
            t = self._next()
            self._enter(t)
            operand = self.negation()
            self.nesting -= 1
            return Not(t.pos, operand.end, self._node_depth(t, operand), operand, t.pos)
        return self.test()

    def test(self) -> Node:
        left = self.sum()
        if self._is("op", *_COMPARE):
            ops: list[str] = []
            operands, positions = [left], []
            while self._is("op", *_COMPARE):
                t = self._next()
                ops.append(t.text)
                positions.append(t.pos)
                operands.append(self.sum())
            first = Token("op", ops[0], positions[0])
            return Comparison(left.start, operands[-1].end, self._node_depth(first, *operands),
                              tuple(ops), tuple(operands), tuple(positions))  # type: ignore[arg-type]
        if (self._is("keyword", "not") and self._peek(1).text == "in") or self._is("keyword", "in"):
            negated = self._is("keyword", "not")
            t = self._next()
            if negated:
                self._next()
            items, end = self.item_list()
            return InList(left.start, end, self._node_depth(t, left), left, tuple(items), negated, t.pos)
        if self._is("keyword", "is"):
            t = self._next()
            negated = self._is("keyword", "not")
            if negated:
                self._next()
            if not self._is("keyword", "missing"):
                bad = self.tok
                if bad.kind == "end":
                    raise self.fail(t.text, t.pos, "ends the restriction too early",
                                    "'is' must be followed by 'missing' or 'not missing'")
                raise self.fail(bad.text, bad.pos, "is not allowed after 'is'",
                                "'is' must be followed by 'missing' or 'not missing'")
            end = self._next().pos + len("missing")
            return IsMissing(left.start, end, self._node_depth(t, left), left, negated, t.pos)
        return left

    def item_list(self) -> tuple[list[Value], int]:
        if not self._is("op", "["):
            t = self.tok
            if t.kind == "end":
                raise self.unexpected(t)
            raise self.fail(t.text, t.pos, "is not allowed after 'in'", "write the values in square brackets, "
                            "e.g. grade in [9, 10]")
        bracket = self._next()
        items: list[Value] = []
        while not self._is("op", "]"):
            if self._is("end"):
                raise self.fail("[", bracket.pos, "is never closed", "add the missing ']'")
            items.append(self.item())
            if self._is("op", ","):
                self._next()
            elif self._is("end"):
                raise self.fail("[", bracket.pos, "is never closed", "add the missing ']'")
            elif not self._is("op", "]"):
                raise self.unexpected(self.tok)
        end = self._next().pos + 1
        return items, end

    def item(self) -> Value:
        t = self.tok
        sign = 1
        if self._is("op", "-", "+"):
            sign = -1 if t.text == "-" else 1
            self._next()
            if not self._is("number"):
                raise self.fail(self.tok.text or t.text, self.tok.pos if self.tok.kind != "end" else t.pos,
                                "is not allowed in a list", "a list holds numbers, text in quotes or true/false")
        u = self._next()
        if u.kind == "number":
            value = u.value * sign  # type: ignore[operator]
            return Value(t.pos, u.pos + len(u.text), 1, value)
        if u.kind == "text":
            return Value(u.pos, u.pos + len(u.text), 1, str(u.value))
        if u.kind == "keyword" and u.text in ("true", "false", "True", "False"):
            return Value(u.pos, u.pos + len(u.text), 1, u.text in ("true", "True"))
        if u.kind == "end":
            self.i -= 1
            raise self.unexpected(u)
        raise self.fail(u.text, u.pos, "is not allowed in a list", "a list holds numbers, text in quotes or true/false")

    def _binary(self, ops: tuple[str, ...], sub: str) -> Node:
        rule = getattr(self, sub)
        left = rule()
        while self._is("op", *ops):
            t = self._next()
            right = rule()
            left = Arithmetic(left.start, right.end, self._node_depth(t, left, right), t.text,  # type: ignore[arg-type]
                              left, right, t.pos)
        return left

    def sum(self) -> Node:
        return self._binary(("+", "-"), "product")

    def product(self) -> Node:
        return self._binary(("*", "/", "//", "%"), "sign")

    def sign(self) -> Node:
        if self._is("op", "-", "+"):
            t = self._next()
            self._enter(t)
            operand = self.sign()
            self.nesting -= 1
            if isinstance(operand, Value) and isinstance(operand.value, int | float) \
                    and not isinstance(operand.value, bool):
                return Value(t.pos, operand.end, operand.depth, -operand.value if t.text == "-" else operand.value)
            return Sign(t.pos, operand.end, self._node_depth(t, operand), t.text, operand,  # type: ignore[arg-type]
                        t.pos)
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if t.kind in ("name", "column"):
            self._next()
            self.columns.append((str(t.value), t.pos))
            return Column(t.pos, t.pos + len(t.text), 1, str(t.value))
        if t.kind == "number":
            self._next()
            return Value(t.pos, t.pos + len(t.text), 1, t.value)  # type: ignore[arg-type]
        if t.kind == "text":
            self._next()
            return Value(t.pos, t.pos + len(t.text), 1, str(t.value))
        if t.kind == "keyword" and t.text in ("true", "false", "True", "False"):
            self._next()
            return Value(t.pos, t.pos + len(t.text), 1, t.text in ("true", "True"))
        if self._is("op", "("):
            self._next()
            self._enter(t)
            inner = self.disjunction()
            self.nesting -= 1
            if not self._is("op", ")"):
                if self._is("end"):
                    raise self.fail("(", t.pos, "is never closed", "add the missing ')'")
                raise self.unexpected(self.tok)
            close = self._next()
            return _respan(inner, t.pos, close.pos + 1)
        raise self.unexpected(t)


def _respan(node: Node, start: int, end: int) -> Node:
    """``node`` with its source span widened to include the parentheses around it."""
    return replace(node, start=start, end=end)


def parse_restriction(expression: str) -> ParsedRestriction:
    """Parse a sample restriction (see the module docstring for the grammar).

    Raises
    ------
    RestrictionSyntaxError
        The expression is not text, is empty or too long, nests too deeply, or uses anything outside the
        grammar; the message names the offending token and its position.
    """
    if not isinstance(expression, str):
        raise RestrictionSyntaxError(f"a sample restriction must be text, got {type(expression).__name__}",
                                     expression=None, token=None, position=None)
    if len(expression) > MAX_LENGTH:
        raise RestrictionSyntaxError(
            restriction_message(expression, f"the restriction is {len(expression):,} characters long, more than the "
                                f"{MAX_LENGTH:,} allowed"), expression=expression, token=None, position=MAX_LENGTH)
    return _parse(expression)


@lru_cache(maxsize=512)
def _parse(expression: str) -> ParsedRestriction:
    parser = _Parser(expression)
    tree = parser.parse()
    return ParsedRestriction(expression, tree, tuple(parser.columns))
