"""Options declared once: a frozen dataclass of an estimator's options is the single source of its Python keywords,
its TOML specification section, its command-line options (with their help) and the ``options`` its results record.

Each field of such a dataclass is declared with :func:`option` (default, help text and, where the command line needs
one, a parser of text). From the dataclass:

* :func:`build_options` checks the keywords a Python call gave (an unknown one is named with the closest valid name,
  or with the design it belongs to) and builds the frozen options, whose ``__post_init__`` holds every rule;
* :func:`spec_section` makes the pydantic model of the TOML section (unknown keys refused with the same message;
  values checked by the same ``__post_init__``);
* :func:`click_options` adds one command-line option per field (``--name``, a choice for a ``Literal``,
  ``--name/--no-name`` for a flag) with the field's help.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

import click
from pydantic import BaseModel, ConfigDict, create_model, model_validator

from cteimpact.errors import OptionError

__all__ = ["RETIRED", "DeclaredOption", "Elsewhere", "OptionsSection", "build_options", "by_declaration",
           "click_options", "declared", "option", "options_table", "spec_section", "unknown_option_message"]

T = TypeVar("T")


def option(default: Any, help: str, *, parse: Callable[[str], Any] | None = None) -> Any:
    """A declared option: its default, its help text (shown by ``--help`` and in the docs) and, for values the
    command line gives as text that is not a plain number or choice (``--h 4.5,6``), the parser of that text."""
    return dataclasses.field(default=default, metadata={"help": help, "parse": parse})


@dataclasses.dataclass(frozen=True)
class DeclaredOption:
    """One declared option, as the interfaces see it."""

    name: str
    annotation: Any
    default: Any
    help: str
    parse: Callable[[str], Any] | None

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The values of a ``Literal`` (optional or not), else None."""
        for arg in (self.annotation, *_non_none(self.annotation)):
            if get_origin(arg) is Literal:
                return get_args(arg)
        return None

    @property
    def base(self) -> type | None:
        """``bool``, ``int`` or ``float`` for a plain (optional) scalar, else None."""
        args = _non_none(self.annotation)
        return args[0] if len(args) == 1 and args[0] in (bool, int, float) else None


def _non_none(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def declared(cls: type) -> tuple[DeclaredOption, ...]:
    """The declared options of the dataclass ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with option()")
        out.append(DeclaredOption(f.name, hints[f.name], f.default, f.metadata["help"], f.metadata.get("parse")))
    return tuple(out)


Elsewhere = Mapping[str, Iterable[str]] | Callable[[], Mapping[str, Iterable[str]]] | None
"""Where else options are valid (``{"a difference-in-differences design": names}``), or a function giving it
(called only when an option is unknown, so that naming it costs no import)."""


RETIRED: Mapping[str, tuple[str, str, str]] = {
    "alpha": ("level", "0.95", "the confidence level is {new} = 1 - alpha (for alpha = 0.05, {example})"),
    "window_level": ("window_alpha", "0.15", "the size of the balance tests that select the local-randomisation "
                     "window is {new} (a test's size, not a confidence level; for example {example})"),
}
"""Names that do not mean what they say where they are given, with the option to use instead, an example value of
it and why (``{new}``: the option; ``{example}``: it set to the value, as the interface writes it): ``alpha``
where a confidence level is meant (the level is ``level`` in every design; ``alpha`` names the size of a test only
where a test is asked for, such as ``pretrend_power(alpha=...)`` or the RD checks' verdicts), and ``window_level``,
which was the size of the window-selection tests (``window_alpha``). Said wherever the new name is valid, whatever
interface gave the old one."""


def _retired(name: str, valid: list[str], where: str, others: Mapping[str, Iterable[str]]) -> str | None:
    flag = name.startswith("-")  # a command-line flag: the new one as a flag too
    bare = name.lstrip("-").replace("-", "_") if flag else name
    if bare not in RETIRED:
        return None
    new, value, why = RETIRED[bare]
    shown = "--" + new.replace("_", "-") if flag else new
    if shown in valid:
        there = ""
    else:  # the new name is an option of another function or section
        there = next((f", an option of {other}" for other, names in others.items() if shown in set(names)), "")
        if not there:
            return None
    example = f"{shown} {value}" if flag else f"{shown} = {value}"
    return f"'{name}' is not an option of {where}: " + why.format(new=f"'{shown}'", example=example) + there


def unknown_option_message(name: str, valid: Iterable[str], *, where: str, elsewhere: Elsewhere = None) -> str:
    """The one message for an unknown option, whatever interface gave it: what to use instead of a name that means
    something else here (:data:`RETIRED`), else the closest valid name, or the design (or section) it belongs to
    when it is valid there."""
    valid = list(valid)
    others = elsewhere() if callable(elsewhere) else (elsewhere or {})
    retired = _retired(name, valid, where, others)
    if retired is not None:
        return retired
    for other, names in others.items():
        if name in set(names):
            return f"option '{name}' is not valid for {where}: it belongs to {other}"
    bare = {v.lstrip("-"): v for v in valid}  # compare flags without their dashes, which every flag shares
    close = difflib.get_close_matches(name.lstrip("-"), list(bare), n=1, cutoff=0.6)
    hint = f"; did you mean '{bare[close[0]]}'?" if close else f"; valid options: {', '.join(sorted(valid))}"
    return f"unknown option '{name}' for {where}{hint}"


def build_options(cls: type[T], given: Mapping[str, Any], *, where: str, base: T | None = None,
                  elsewhere: Elsewhere = None, also: Iterable[str] = ()) -> T:
    """The options ``cls`` from the keywords ``given`` (over ``base``, or the defaults), after naming any unknown one
    (``also``: the other keywords valid where the options are given, among which the closest name is looked for).

    Raises
    ------
    OptionError
        An unknown keyword (:func:`unknown_option_message`), or a value the options' own rules refuse.
    """
    names = [o.name for o in declared(cls)]
    for key in given:
        if key not in names:
            raise OptionError(unknown_option_message(key, [*names, *also], where=where, elsewhere=elsewhere))
    if base is not None:
        return dataclasses.replace(base, **dict(given))  # type: ignore[type-var]
    return cls(**dict(given))


class OptionsSection(BaseModel):
    """Base of the TOML sections made by :func:`spec_section`: unknown keys refused, values checked by building the
    declared options (the same rules as a Python call), ``to_options()`` the frozen options."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)  # as ConfigModel
    options_class: ClassVar[type] = object

    @model_validator(mode="after")
    def _v_options(self) -> OptionsSection:
        try:
            self.to_options()
        except OptionError as exc:
            raise ValueError(str(exc)) from None
        return self

    def to_options(self) -> Any:
        """The frozen options these values declare."""
        names = {f.name for f in dataclasses.fields(self.options_class)}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.model_dump().items() if k in names}
        return self.options_class(**values)


def spec_section(cls: type, model_name: str, *, where: str, exclude: Iterable[str] = ()) -> type[OptionsSection]:
    """The pydantic model of the TOML section holding the options ``cls``: one key per option with its type and
    default (see :class:`OptionsSection`); options in ``exclude`` are set by the pipeline, not by the section
    (their defaults until it does)."""
    skip = set(exclude)
    fields: dict[str, Any] = {}
    for o in declared(cls):
        if o.name in skip:
            continue
        default = list(o.default) if isinstance(o.default, tuple) else o.default
        fields[o.name] = (_spec_annotation(o.annotation), default)
    model: type[OptionsSection] = create_model(model_name, __base__=OptionsSection, **fields)
    model.options_class = cls
    model.__doc__ = f"{where}: the options of :class:`{cls.__module__}.{cls.__name__}`, declared there."
    return model


def _spec_annotation(annotation: Any) -> Any:
    """TOML has arrays, not tuples: a tuple in a type becomes a list of the same items."""
    origin = get_origin(annotation)
    if origin is tuple:
        args = get_args(annotation)
        return list[args[0]]  # type: ignore[valid-type]
    if origin in (Union, types.UnionType):
        return Union[tuple(_spec_annotation(a) for a in get_args(annotation))]  # noqa: UP007
    return annotation


def click_options(cls: type, *, exclude: Iterable[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding one command-line option per declared option of ``cls`` (except ``exclude``): the
    command receives them under their option names."""
    skip = set(exclude)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed([o for o in declared(cls) if o.name not in skip]):
            f = _click_option(o)(f)
        return f

    return decorate


def _click_option(o: DeclaredOption) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    default = o.default
    if o.base is bool:
        return click.option(f"{o.cli_flag}/--no-{o.cli_flag[2:]}", o.name, default=bool(default), show_default=True,
                            help=o.help)
    if o.choices is not None:
        return click.option(o.cli_flag, o.name, type=click.Choice([str(c) for c in o.choices]), default=default,
                            show_default=default is not None, help=o.help)
    if o.parse is not None:
        parse = o.parse

        def convert(ctx: click.Context | None, param: click.Parameter, value: Any) -> Any:
            if value is None:
                return default  # not given: the declared default
            try:
                return parse(value)
            except (ValueError, OptionError) as exc:
                raise OptionError(f"{o.cli_flag} {exc}") from None

        return click.option(o.cli_flag, o.name, default=None, callback=convert, help=o.help)
    if o.base in (int, float):
        return click.option(o.cli_flag, o.name, type=o.base, default=default, show_default=default is not None,
                            help=o.help)
    raise TypeError(f"option '{o.name}' has no command-line form; declare a parser with option(parse=...)")


def by_declaration(values: Mapping[str, Any], *declarations: type) -> dict[type, dict[str, Any]]:
    """The values of a command's generated options (:func:`click_options`), split by the declaration each comes
    from."""
    out: dict[type, dict[str, Any]] = {}
    for cls in declarations:
        names = {o.name for o in declared(cls)}
        out[cls] = {k: v for k, v in values.items() if k in names}
    return out


def options_table(cls: type, *, section: str) -> str:
    """A Markdown table of the declared options of ``cls`` as each interface names them (Python keyword, TOML key
    of ``section``, command-line flag), with default and help: generated from the one declaration."""
    rows = ["| Python keyword | TOML key | Command line | Default | Meaning |", "|:--|:--|:--|:--|:--|"]
    for o in declared(cls):
        flag = f"`{o.cli_flag}/--no-{o.cli_flag[2:]}`" if o.base is bool else f"`{o.cli_flag}`"
        choices = f" One of {', '.join(f'`{c}`' for c in o.choices)}." if o.choices else ""
        rows.append(f"| `{o.name}` | `{section}.{o.name}` | {flag} | `{o.default!r}` | {o.help}{choices} |")
    return "\n".join(rows)
