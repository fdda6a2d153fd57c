"""cteimpact's TOML files (analysis specifications, payment contracts, economic defaults): reading, strict models and
one-line errors.

Reading (:func:`read_toml`, :func:`parse_toml`)
    A file is UTF-8 text, with or without a byte-order mark. A file saved in another encoding, a missing file and a
    TOML syntax error each give one :class:`~cteimpact.errors.SpecificationError` line naming the file, and the line
    and column where they can be told.

Strict models (:class:`ConfigModel`)
    The base of every model a TOML file is validated into: unknown keys are errors, values are immutable, numbers
    are never read from text (``seed = "123"`` is refused, not converted), a whole number is required where one is
    meant (``seed = 2.0`` is refused; a decimal number accepts ``25000``), ``true``/``false`` only for switches,
    and ``inf``/``nan`` (valid TOML floats) are refused everywhere.

Errors (:func:`validate`, :func:`describe_validation_error`)
    A pydantic validation error becomes one line: the key path as written in the file
    (``outcomes[0].payment.price``), what is wrong, the value found and, where there is one, the closest valid key
    or the allowed values. With several problems the first is reported and the others are counted.
"""

from __future__ import annotations

import codecs
import difflib
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from cteimpact.config.declared import OptionsSection, unknown_option_message
from cteimpact.errors import SpecificationError

__all__ = [
    "ConfigModel",
    "describe_input",
    "describe_validation_error",
    "parse_toml",
    "read_toml",
    "validate",
]

M = TypeVar("M", bound=BaseModel)


# ----------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------

_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
               (codecs.BOM_UTF16_BE, "UTF-16"))


def read_toml(path: str | Path, *, what: str) -> dict[str, Any]:
    """Read a TOML file into a dictionary.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"contract"``, ``"analysis specification"``).

    Raises
    ------
    SpecificationError
        The file does not exist, is a folder, is not UTF-8 text, or is not valid TOML (one line, naming the file
        and the line).
    """
    p = Path(path)
    if p.is_dir():
        raise SpecificationError(f"{what} '{p}' is a folder; give the TOML file")
    if not p.is_file():
        raise SpecificationError(f"{what} file '{p}' does not exist")
    return parse_toml(p.read_bytes(), source=f"{what} '{p.name}'")


def parse_toml(content: bytes | str, *, source: str) -> dict[str, Any]:
    """Parse TOML text (bytes are decoded as UTF-8; a leading byte-order mark is ignored).

    ``source`` names the text in messages (``"contract 'x.toml'"``).
    """
    if isinstance(content, bytes):
        for bom, name in _OTHER_BOMS:
            if content.startswith(bom):
                raise SpecificationError(f"{source} is {name} text; save it as UTF-8")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = content[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise SpecificationError(
                f"{source} is not UTF-8 text: byte 0x{content[exc.start]:02x} at line {line}, column {column} cannot "
                "be read; save the file as UTF-8"
            ) from None
    else:
        text = content
    text = text.removeprefix("\ufeff")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecificationError(f"{source} is not valid TOML: {' '.join(str(exc).split())}") from None


# ----------------------------------------------------------------------------------------------------------------
# Strict models
# ----------------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Tuples as lists, other mappings as dicts and numpy scalars as Python numbers, so that strict validation
    accepts data built in Python as it accepts the same data read from TOML or JSON."""
    if isinstance(value, BaseModel):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class ConfigModel(BaseModel):
    """Base of the models of cteimpact's TOML files (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _plain_input(cls, data: Any) -> Any:
        return _plain(data) if isinstance(data, Mapping) else data


# ----------------------------------------------------------------------------------------------------------------
# Validation errors
# ----------------------------------------------------------------------------------------------------------------


def validate(model: type[M], data: Mapping[str, Any], *, source: str) -> M:
    """Validate ``data`` into ``model``; any problem raises one :class:`SpecificationError` line starting with
    ``source`` (``"contract 'x.toml'"``)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecificationError(f"{source}: {describe_validation_error(exc, model)}") from None


_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "text (in quotes)",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "dataclass_type": "a table",
}
_CONSTRAINT = {
    "greater_than_equal": "must be >= {ge}", "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}", "less_than": "must be < {lt}", "multiple_of": "must be a multiple of "
    "{multiple_of}",
}


def _strip(tp: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_type(model: type[BaseModel], key: str) -> Any:
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f.annotation
    return None


def _literals(tp: Any) -> tuple[Any, ...]:
    tp = _strip(tp)
    return get_args(tp) if get_origin(tp) is Literal else ()


def _tag_values(model: type[BaseModel], field: str | None = None) -> tuple[Any, ...]:
    """Values of the model's Literal fields (of ``field`` only, if given): the tags of a tagged union."""
    out: tuple[Any, ...] = ()
    for name, f in model.model_fields.items():
        if field is None or field in (name, f.alias):
            out += _literals(f.annotation)
    return out


def _union_members(tp: Any) -> list[Any] | None:
    tp = _strip(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [_strip(m) for m in get_args(tp) if m is not type(None)]
    return None


_UNKNOWN = object()


def _child(tp: Any, item: int | str) -> tuple[Any, bool]:
    """Type of ``tp``'s member ``item`` and whether ``item`` is part of the key path (union tags are not)."""
    if tp is _UNKNOWN:
        return _UNKNOWN, True
    members = _union_members(tp)
    if members is not None:
        if isinstance(item, str):
            for m in members:
                if _is_model(m) and item in _tag_values(m):
                    return m, False
            for m in members:
                if _is_model(m) and _field_type(m, item) is not None:
                    return _field_type(m, item), True
            return tp, False  # a type tag such as 'float' or 'list[float]'
        for m in members:
            if get_origin(m) in (list, tuple):
                return _child(m, item)
        return _UNKNOWN, True
    tp = _strip(tp)
    origin = get_origin(tp)
    if isinstance(item, int):
        if origin in (list, tuple):
            args = get_args(tp)
            return (args[0] if args else Any), True
        return _UNKNOWN, True
    if _is_model(tp):
        child = _field_type(tp, item)
        return (_UNKNOWN if child is None else child), True
    if origin in (dict, Mapping):
        args = get_args(tp)
        return (args[1] if len(args) == 2 else Any), True
    return _UNKNOWN, True


def _walk(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, Any, Any]:
    """The key path of ``loc`` as written in the file, the type at its parent and the type at ``loc``."""
    parts: list[str] = []
    parent: Any = _UNKNOWN
    tp: Any = root
    for item in loc:
        parent = tp
        tp, shown = _child(tp, item)
        if not shown:
            continue
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif tp is _UNKNOWN and (item.startswith(("function-", "constrained-")) or "[" in item):
            continue  # a pydantic type tag outside the known types
        else:
            parts.append(str(item))
    return ".".join(parts), parent, tp


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    if value is None:
        return "nothing"
    return repr(value)


def _number(value: Any) -> str:
    """A bound as a reader writes it: ``0``, ``0.5``, ``1e+15``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _looks_like(text: str, expected: str) -> bool:
    s = text.strip().replace("_", "")
    if expected == "a whole number":
        return re.fullmatch(r"[+-]?\d+", s) is not None
    if expected == "a number":
        try:
            float(s)
        except ValueError:
            return False
        return True
    if expected == "true or false":
        return s.lower() in ("true", "false")
    return False


def describe_input(value: Any, expected: str) -> str:
    """``"expected a whole number, got the text '123' (remove the quotes)"``: what was expected and what the file
    holds, with the fix when it is obvious."""
    if isinstance(value, str):
        got = f"the text {value!r}"
        kinds = [expected] if expected == "true or false" else expected.split(" or ")
        if expected == "a list":
            got += f' (write ["{value}"] for a list of one)'
        elif any(_looks_like(value, k) for k in kinds):
            got += " (remove the quotes)" if value.strip() in ("true", "false") or expected != "true or false" \
                else " (write true or false, lower case, without quotes)"
    elif expected == "a whole number" and isinstance(value, float) and not isinstance(value, bool) \
            and value.is_integer():
        got = f"{value!r} (write {int(value)})"
    elif expected == "a number" and isinstance(value, bool):
        got = f"{_toml_value(value)} (write a number)"
    else:
        got = _toml_value(value)
    return f"expected {expected}, got {got}"


@dataclass(frozen=True)
class _Problem:
    """One validation error, located: its kind, context, input, path, and the models around it."""

    err: Mapping[str, Any]
    kind: str
    ctx: Mapping[str, Any]
    value: Any
    path: str
    parent: Any
    here: Any
    siblings: list[Mapping[str, Any]]

    @property
    def at(self) -> str:
        return f"{self.path}: " if self.path else ""


def _unknown_key(p: _Problem) -> str:
    key = str(tuple(p.err.get("loc", ()))[-1])
    parent = _strip(p.parent)  # an optional section (local_randomization: ... | None) is its model
    allowed = _keys(parent) if _is_model(parent) else []
    if isinstance(parent, type) and issubclass(parent, OptionsSection):  # declared options: the one message
        section = p.path.rpartition(".")[0]
        return unknown_option_message(key, allowed, where=f"[{section}]" if section else "the specification")
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = (f"; did you mean '{close[0]}'?" if close
            else f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    return f"unknown key '{p.path}'{hint}"


def _union_tag(p: _Problem) -> str:
    disc = str(p.ctx.get("discriminator", "type")).strip("'\"")
    members = _union_members(p.here) or []
    tags = [t for m in members if _is_model(m) for t in _tag_values(m, disc)]
    listed = ", ".join(repr(t) for t in tags) or str(p.ctx.get("expected_tags", ""))
    where = f"{p.path}.{disc}" if p.path else disc
    if p.kind == "union_tag_not_found":
        return f"key '{where}' is required; it must be one of {listed}"
    tag = p.ctx.get("tag")
    close = difflib.get_close_matches(str(tag), [str(t) for t in tags], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{where} must be one of {listed}, got {tag!r}{hint}"


def _literal(p: _Problem) -> str:
    options = [str(t) for t in _literals(p.here)] or re.findall(r"'([^']*)'", str(p.ctx.get("expected", "")))
    close = difflib.get_close_matches(str(p.value), options, n=1) if isinstance(p.value, str) else []
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{p.path} = {_toml_value(p.value)} is not allowed; allowed values: {p.ctx.get('expected', '')}{hint}"


def _wrong_type(p: _Problem) -> str:
    expected = [_EXPECTED[str(e.get("type"))] for e in p.siblings if str(e.get("type")) in _EXPECTED]
    return p.at + describe_input(p.value, " or ".join(dict.fromkeys(expected or [_EXPECTED[p.kind]])))


def _constraint(p: _Problem) -> str:
    bounds = {k: _number(v) for k, v in p.ctx.items()}
    return f"{p.at}{_CONSTRAINT[p.kind].format(**bounds)}, got {_toml_value(p.value)}"


def _length(p: _Problem) -> str:
    actual = int(p.ctx.get("actual_length", 0))
    if p.kind == "too_long":
        n = int(p.ctx.get("max_length", 0))
        return f"{p.at}takes at most {n} entr{'y' if n == 1 else 'ies'}, got {actual}"
    n = int(p.ctx.get("min_length", 1))
    if p.kind == "string_too_short":
        return f"{p.at}must not be empty" if n == 1 else f"{p.at}needs at least {n} characters"
    return f"{p.at}needs at least {n} entr{'y' if n == 1 else 'ies'}, got {actual}"


def _value_error(p: _Problem) -> str:
    text = " ".join(str(p.ctx.get("error", p.err.get("msg", ""))).split()).removeprefix("Value error, ")
    if isinstance(p.here, type) and issubclass(p.here, OptionsSection):  # a declared option's rule names its key
        first = re.match(r"[a-z_]+", text)
        if first and first.group(0) in p.here.model_fields:
            return f"{p.path}.{first.group(0)}: {text}" if p.path else f"{first.group(0)}: {text}"
    return p.at + text


_MESSAGES: dict[str, Callable[[_Problem], str]] = {
    "extra_forbidden": _unknown_key,
    "missing": lambda p: f"key '{p.path}' is required",
    "union_tag_invalid": _union_tag,
    "union_tag_not_found": _union_tag,
    "literal_error": _literal,
    "finite_number": lambda p: f"{p.at}must be a finite number, got {_toml_value(p.value)}",
    "too_short": _length,
    "string_too_short": _length,
    "too_long": _length,
    "value_error": _value_error,
    "assertion_error": _value_error,
}
"""Validation error kind → the function writing its one-line message (type and constraint errors: see below)."""


def _message(err: Mapping[str, Any], root: type[BaseModel], siblings: list[Mapping[str, Any]]) -> str:
    kind = str(err.get("type", ""))
    path, parent, here = _walk(root, tuple(err.get("loc", ())))
    p = _Problem(err, kind, err.get("ctx") or {}, err.get("input"), path, parent, here, siblings)
    if kind in _MESSAGES:
        return _MESSAGES[kind](p)
    if kind in _EXPECTED:
        return _wrong_type(p)
    if kind in _CONSTRAINT:
        return _constraint(p)
    return p.at + str(err.get("msg", kind))


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """One line describing ``exc`` raised validating ``root``: the first problem, and how many others there are.

    An unknown key is reported first: it is usually a misspelling that also explains a "required" key.
    """
    errors = exc.errors()
    by_path: dict[str, list[Mapping[str, Any]]] = {}
    for e in errors:
        by_path.setdefault(_walk(root, tuple(e.get("loc", ())))[0], []).append(e)
    # one problem per key: the type errors of the members of a union (a number or a list) are one problem
    problems = list(by_path.values())
    problems.sort(key=lambda g: g[0].get("type") != "extra_forbidden")
    first = problems[0]
    more = len(problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return " ".join(_message(first[0], root, first).split()) + tail
