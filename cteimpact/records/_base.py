"""The machinery of the typed readers: values that know where they came from, records read from JSON by their
annotations, and the error that names the JSON path of a value of the wrong type.

Every number read is a :class:`Num` (a ``float`` that carries its JSON path, e.g.
``results.json:design.estimates[3].estimate``) and every text a :class:`Text` (a ``str`` with its path). Arithmetic
on them gives plain ``float``/``str``: a quantity computed from records has no path, so whoever shows it (the report)
can tell a recorded number from a derived one.

A record class is a frozen dataclass deriving from :class:`Record`; its fields are annotated with the types below and
read by :meth:`Record.from_dict` from the JSON key of the same name (or ``field(metadata={"key": ...})``). Keys a
record does not declare are ignored (later versions add fields); a declared key that is absent or ``null`` gives
``None`` (or an empty tuple/map), unless the field has no default, which makes it required.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self, TypeVar, Union

from cteimpact.errors import RunDirectoryError

__all__ = ["KEY_SUFFIX", "Leaf", "Num", "Record", "RecordError", "RecordMap", "Scalar", "Text", "join_path",
           "read_record"]


class RecordError(RunDirectoryError):
    """A record of a run directory holds a value of a type the run never writes there (a text where an object or a
    number belongs, a list where a number belongs): a hand-edited or hostile file.

    Attributes
    ----------
    path
        The JSON path of the value (``results.json:design.estimates[3].estimate``).
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class Num(float):
    """A number read from a record, with its JSON path (``path``) and the value exactly as the JSON wrote it
    (``raw``: an ``int`` stays exact beyond 2**53, where a float would round it)."""

    __slots__ = ("path", "raw")
    path: str
    raw: int | float

    def __new__(cls, value: float, path: str = "", *, integer: bool = False) -> Self:
        obj = super().__new__(cls, value)
        obj.path = path
        obj.raw = int(value) if integer and isinstance(value, float) else value
        return obj

    @property
    def integer(self) -> bool:
        """Whether the JSON wrote the number as an integer."""
        return isinstance(self.raw, int)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Num, (self.raw, self.path))


class Text(str):
    """A text read from a record, with its JSON path (``path``)."""

    __slots__ = ("path",)
    path: str

    def __new__(cls, value: str, path: str = "") -> Self:
        obj = super().__new__(cls, value)
        obj.path = path
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (str(self), self.path))


Scalar = Union[Num, Text, bool]  # noqa: UP007 - a runtime union the reader dispatches on
"""A value that may be a number, a text or a switch (a subgroup's level, a parameter's value)."""


class Leaf:
    """Field type of a value that may be anything JSON holds (a value compared by a re-computation): a number, text
    or switch is read as :class:`Num`, :class:`Text` or ``bool``; ``null``, lists and objects are kept as parsed."""

KEY_SUFFIX = "~key"
"""Ends the path of a map's key (the key itself, not the value under it): ``pricing.payors.state~key``."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEYS: dict[str, bool] = {}
"""Keys already seen → whether they are identifiers (the same field names recur in every record)."""
V = TypeVar("V")


def join_path(path: str, key: str | int) -> str:
    """``path`` extended by an object key (``a.b``, ``a["0.03"]``) or an array index (``a[2]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    plain = _PLAIN_KEYS.get(key)
    if plain is None:
        plain = bool(_IDENTIFIER.fullmatch(key))
        if len(_PLAIN_KEYS) < 100_000:
            _PLAIN_KEYS[key] = plain
    if plain:
        return f"{path}.{key}" if path and not path.endswith(":") else f"{path}{key}"
    return f'{path}["{key}"]'


class RecordMap(Mapping[str, V]):
    """A JSON object with keys chosen by the run (payors, checks, outcomes): text keys (each a :class:`Text` with
    its path) → values read as the map's value type. Read-only."""

    __slots__ = ("_items", "path")

    def __init__(self, items: Mapping[str, V] | None = None, path: str = "") -> None:
        self._items = dict(items or {})
        self.path = path

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RecordMap({self._items!r})"


def _what(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a switch (true/false)"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a text ({''.join(c if c.isprintable() else '?' for c in shown)!r})"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _refuse(path: str, value: Any, expected: str) -> RecordError:
    return RecordError(f"{path} is {_what(value)} where {expected} belongs; re-create the run with 'cteimpact run' "
                       "(and 'cteimpact verify')", path=path)


def _name(tp: Any) -> str:
    if tp is Num:
        return "a number"
    if tp is Text:
        return "a text"
    if tp is bool:
        return "a switch (true/false)"
    if isinstance(tp, type) and issubclass(tp, Record):
        return "an object"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin in (Mapping, RecordMap):
        return "an object"
    if origin in (Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp) if a is not type(None))
    return "a value"


def read_value(tp: Any, value: Any, path: str) -> Any:
    """``value`` (parsed JSON) read as the type ``tp`` (see the module docstring); :class:`RecordError` naming
    ``path`` when it has another type."""
    return _reader(tp)(value, path)


_Reader = Callable[[Any, str], Any]
_READERS: dict[Any, _Reader] = {}
_ACCEPTORS: dict[Any, Callable[[Any], bool]] = {}


def _reader(tp: Any) -> _Reader:
    """The reader of type ``tp``, made once per type (a run's records hold hundreds of thousands of values: the
    type's dispatch is not worked out again for each)."""
    try:
        return _READERS[tp]
    except KeyError:
        reader = _READERS[tp] = _make_reader(tp)
        return reader
    except TypeError:  # an unhashable annotation: made for this value only
        return _make_reader(tp)


def _read_num(value: Any, path: str) -> Num:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _refuse(path, value, "a number")
    return Num(value, path)


def _read_text(value: Any, path: str) -> Text:
    if not isinstance(value, str):
        raise _refuse(path, value, "a text")
    return Text(value, path)


def _read_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(path, value, "a switch (true/false)")
    return value


def _read_any(value: Any, path: str) -> Any:
    return value


def _read_leaf(value: Any, path: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return Num(value, path)
    if isinstance(value, str):
        return Text(value, path)
    return value


def _make_reader(tp: Any) -> _Reader:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        nullable = type(None) in options
        members = [(_acceptor(o), _reader(o)) for o in options if o is not type(None)]

        def read_union(value: Any, path: str) -> Any:
            if value is None:
                if nullable:
                    return None
                raise _refuse(path, value, _name(tp))
            for accepts, read in members:
                if accepts(value):
                    return read(value, path)
            raise _refuse(path, value, _name(tp))
        return read_union
    for simple, read in ((Num, _read_num), (Text, _read_text), (bool, _read_bool), (Any, _read_any),
                         (Leaf, _read_leaf)):
        if tp is simple:
            return read
    if isinstance(tp, type) and issubclass(tp, Record):
        record = tp

        def read_record_value(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise _refuse(path, value, "an object")
            return record.from_dict(value, path=path)
        return read_record_value
    if origin is tuple:
        (item,) = (a for a in typing.get_args(tp) if a is not Ellipsis)
        read_item = _reader(item)

        def read_tuple(value: Any, path: str) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise _refuse(path, value, "a list")
            return tuple(read_item(v, f"{path}[{i}]") for i, v in enumerate(value))
        return read_tuple
    if origin in (Mapping, RecordMap):
        _, item = typing.get_args(tp)
        read_entry = _reader(item)

        def read_map(value: Any, path: str) -> RecordMap[Any]:
            if not isinstance(value, dict):
                raise _refuse(path, value, "an object")
            return RecordMap({Text(str(k), join_path(path, str(k)) + KEY_SUFFIX):
                              read_entry(v, join_path(path, str(k))) for k, v in value.items()}, path)
        return read_map

    def unreadable(value: Any, path: str) -> Any:
        raise TypeError(f"the record reader cannot read the type {tp!r}")  # a bug in a record class
    return unreadable


def _accepts(tp: Any, value: Any) -> bool:
    """Whether ``value`` has the JSON type ``tp`` reads (used to choose a member of a union)."""
    return _acceptor(tp)(value)


def _acceptor(tp: Any) -> Callable[[Any], bool]:
    try:
        return _ACCEPTORS[tp]
    except KeyError:
        accepts = _ACCEPTORS[tp] = _make_acceptor(tp)
        return accepts
    except TypeError:
        return _make_acceptor(tp)


def _make_acceptor(tp: Any) -> Callable[[Any], bool]:
    if tp is Num:
        return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is Text:
        return lambda value: isinstance(value, str)
    if tp is bool:
        return lambda value: isinstance(value, bool)
    if isinstance(tp, type) and issubclass(tp, Record):
        return lambda value: isinstance(value, dict)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return lambda value: isinstance(value, list)
    if origin in (Mapping, RecordMap):
        return lambda value: isinstance(value, dict)
    return lambda value: tp is Any


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the typed records: ``from_dict`` reads a JSON object by the class's field annotations."""

    where: str = dataclasses.field(default="", kw_only=True, repr=False, compare=False)
    """Where the record sits (``results.json:design.details.fits[2]``)."""

    _hints: ClassVar[dict[type, dict[str, Any]]] = {}

    @classmethod
    def _fields(cls) -> dict[str, Any]:
        if cls not in Record._hints:
            Record._hints[cls] = typing.get_type_hints(cls)
        return Record._hints[cls]

    _plans: ClassVar[dict[type, list[tuple[dataclasses.Field[Any], str, _Reader]]]] = {}

    @classmethod
    def _plan(cls) -> list[tuple[dataclasses.Field[Any], str, _Reader]]:
        """The fields ``from_dict`` reads, each with its JSON key and the reader of its type (worked out once)."""
        plan = Record._plans.get(cls)
        if plan is None:
            hints = cls._fields()
            plan = Record._plans[cls] = [(f, f.metadata.get("key", f.name), _reader(hints[f.name]))
                                         for f in dataclasses.fields(cls) if f.name != "where" and f.init]
        return plan

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "") -> Self:
        """Read ``data`` (a parsed JSON object) at ``path``.

        Raises
        ------
        RecordError
            ``data`` is not an object, or one of its declared keys holds a value of another type.
        """
        if not isinstance(data, dict):
            raise _refuse(path or "the record", data, "an object")
        values: dict[str, Any] = {}
        for f, key, read in cls._plan():
            where = join_path(path, key)
            if key not in data or data[key] is None:
                if f.default is not dataclasses.MISSING:
                    values[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    values[f.name] = f.default_factory()
                else:
                    raise RecordError(f"{where} is missing; re-create the run with 'cteimpact run' (and "
                                      "'cteimpact verify')", path=where)
                continue
            values[f.name] = read(data[key], where)
        return cls(**values, where=path)


R = TypeVar("R", bound=Record)


def read_record(cls: type[R], data: Any, source: str) -> R:
    """``cls.from_dict(data)`` for a whole file ``source`` (``"results.json"``): paths start ``source:``."""
    return cls.from_dict(data, path=f"{source}:")
