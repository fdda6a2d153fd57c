"""The report templates: a sandboxed Jinja2 environment whose every output is literal markdown unless it is the
report's own markup, and whose numbers come only through the formatting filters of :mod:`.numbers`.

The templates are ``cteimpact/reporting/templates/{impact,certificate}.qmd.j2`` with one partial per section
(``impact/*.qmd.j2``, ``certificate/*.qmd.j2``). A study may give a folder of its own (``[report] templates`` in its
specification): a file there with the name of one of ours replaces it, and further section files in its
``impact/`` or ``certificate/`` folder are added before the appendices. Study templates are untrusted input like the
rest of a run: they are read only from their folder (no link, no ``..``, only ``*.qmd.j2`` files), run in Jinja2's
immutable sandbox, and their SHA-256 is recorded in the manifest's report entry.

Escaping is automatic: every value a template writes (``{{ value }}``) is escaped as literal markdown by the
environment's ``finalize`` hook, unless it is markup the templates themselves produced (a macro, a ``{% set %}``
block, a formatting filter). A number written without a filter, a missing attribute (``StrictUndefined``) or a
number the records do not hold (:class:`~cteimpact.reporting.numbers.OrphanNumberError`) stops the build.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.sandbox
from jinja2.loaders import split_template_path
from markupsafe import Markup

from cteimpact.records import Num, Record, Text
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.facts import slug
from cteimpact.reporting.formatting import MISSING
from cteimpact.reporting.markdown import Markdown, escape_inline, escape_markdown
from cteimpact.reporting.numbers import HIDDEN, Ledger

__all__ = ["MAX_TEMPLATE_BYTES", "ReportTemplateError", "StudyTemplates", "render_template"]

MAX_TEMPLATE_BYTES = 256 * 1024
"""Largest study template read."""
_SUFFIX = ".qmd.j2"


class ReportTemplateError(ReportContentError):
    """A report template cannot be read or filled: a syntax error, an attribute or variable that does not exist
    (a missing number), a number without a formatting filter, something the sandbox forbids, a study template that
    is a link or lies outside its folder."""


# -- loading ----------------------------------------------------------------------------------------------------------

@dataclass
class StudyTemplates(jinja2.BaseLoader):
    """A study's template folder: only regular ``*.qmd.j2`` files inside it, never through a link.

    ``used`` maps each template read to its SHA-256 (recorded in the manifest's report entry).
    """

    folder: Path
    used: dict[str, str] = field(default_factory=dict)

    def _path(self, name: str) -> Path | None:
        pieces = split_template_path(name)  # refuses "..": TemplateNotFound
        if not name.endswith(_SUFFIX):
            return None
        path = self.folder
        for piece in pieces:
            path = path / piece
            if path.is_symlink():
                raise ReportTemplateError(
                    f"study template {name!r} in '{self.folder.name}' goes through a symbolic link; study templates "
                    "are read only from their own folder: replace the link by the file")
        return path if path.is_file() else None

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self._path(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise ReportTemplateError(f"study template {template!r} has {size:,} bytes, more than the "
                                      f"{MAX_TEMPLATE_BYTES:,} a report reads")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportTemplateError(f"study template {template!r} is not UTF-8 text") from None
        self.used[template] = hashlib.sha256(data).hexdigest()
        return text, template, lambda: False

    def extra_sections(self, kind: str, ours: set[str]) -> list[str]:
        """Section templates of the study's ``kind`` folder that add to ours (by name)."""
        folder = self.folder / kind
        if folder.is_symlink() or not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(_SUFFIX) and not p.name.startswith("_"))
        return [f"{kind}/{n}" for n in names if f"{kind}/{n}" not in ours and self._path(f"{kind}/{n}")]


# -- escaping and filters ---------------------------------------------------------------------------------------------

def _finalize(ledger: Ledger) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        if isinstance(value, Markup):  # the templates' own markup (a macro, a block), values in it escaped
            return value
        if isinstance(value, Markdown):
            return Markup(str(value))
        if value is None:
            return Markup(escape_markdown(MISSING))
        if value is HIDDEN:
            return Markup(escape_markdown("‡"))
        if isinstance(value, (bool, int, float)):
            where = f" ({value.path})" if isinstance(value, Num) else ""
            raise ReportTemplateError(f"a template writes the number {value!r}{where} without a formatting filter "
                                      "(|effect, |pct, |count...), which would not record where it came from")
        if isinstance(value, Text):
            ledger.text(value)
        if isinstance(value, str):
            return Markup(escape_inline(value))
        if isinstance(value, jinja2.Undefined):
            return value
        raise ReportTemplateError(f"a template writes a {type(value).__name__} where text belongs")
    return finalize


def _keep_path(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    """A text filter (``lower``, ``capitalize``) that keeps a recorded text's path."""
    def apply(value: Any) -> Any:
        out = fn(str(value))
        return Text(out, value.path) if isinstance(value, Text) else out
    return apply


def _quoted(markdown: str) -> str:
    """An attribute value in double quotes (a callout's title, read as markdown)."""
    text = " ".join(markdown.split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label_parts(label: Any) -> tuple[Any, str, Any]:
    """An estimate label split for naming: ``dropout[female=1]`` → (``dropout``, ``"subgroup"``, ``female = 1``);
    ``dropout[reduced_form]`` → (``dropout``, ``"reduced_form"``, None); texts keep the label's path."""
    text = str(label)
    path = label.path if isinstance(label, Text) else ""
    column, _, rest = text.partition("[")
    suffix = rest[:-1] if rest.endswith("]") else ""
    key, eq, value = suffix.partition("=")
    if not eq or value == "overall":
        return Text(column, path), suffix, None
    kind = key if key in ("cutoff", "event", "group", "calendar") else "subgroup"
    detail = value if kind != "subgroup" else f"{key} = {value}"
    return Text(column, path), kind, Text(detail, path)


def _list_path(items: Any) -> str:
    """The path of a recorded list (from the path of its first item)."""
    first = items[0] if items else None
    path = getattr(first, "path", None) or getattr(first, "where", None) or ""
    return str(path).rsplit("[", 1)[0] if path else ""


def _filters(ledger: Ledger, currency: str) -> dict[str, Callable[..., Any]]:
    show = ledger.show

    def unit(o: Any) -> dict[str, Any]:
        return {"kind": o.kind, "currency": o.currency}

    def count_of(record: Any, name: str, **where: Any) -> Markdown:
        items = getattr(record, name)
        if isinstance(record, Record) and record.where:
            path = f"{record.where}.{name}" if not record.where.endswith(":") else f"{record.where}{name}"
        else:
            path = getattr(items, "path", "")
        return show("length", {"items": items}, paths={"items": path}, **({"where": where} if where else {}))

    def first_upper(value: Any) -> Any:
        text = str(value)[:1].upper() + str(value)[1:]
        return Text(text, value.path) if isinstance(value, Text) else text

    return {
        "effect": lambda x, o, se=None, signed=False: show("effect", {"x": x, "se": se}, signed=signed, **unit(o)),
        "se": lambda x, o: show("se", {"x": x}, **unit(o)),
        "ci": lambda lower, upper, o, se=None: show("ci", {"lower": lower, "upper": upper, "se": se}, **unit(o)),
        "size": lambda x, o, se=None: show("size", {"x": x, "se": se}, **unit(o)),
        "level": lambda x, o: show("level", {"x": x}, **unit(o)),
        "pct": lambda x, decimals=1, signed=False: show("percent", {"x": x}, decimals=decimals, signed=signed),
        "money": lambda x, compact=False, signed=False: show("money", {"x": x}, currency=currency, compact=compact,
                                                             signed=signed),
        "count": lambda x: show("count", {"x": x}),
        "num": lambda x, digits=3, decimals=None, signed=False: show("number", {"x": x}, digits=digits,
                                                                      decimals=decimals, signed=signed),
        "p": lambda x: show("p", {"x": x}),
        "p_text": lambda x: show("p_text", {"x": x}),
        "ratio": lambda x: show("ratio", {"x": x}),
        "full": lambda x: Markdown(f"`{show('full', {'x': x})}`") if x is not None and x is not HIDDEN
        else show("full", {"x": x}),
        "year": lambda x: show("year", {"x": x}),
        "ordinal": lambda x: show("ordinal", {"x": x}),
        "plain": lambda x: show("plain", {"x": x}),
        "rate": lambda x, decimals=0: show("rate", {"x": x}, decimals=decimals),
        "count_of": count_of,
        "code": ledger.code,
        "slug": lambda *parts: Markdown(slug(*parts)),
        "lower": _keep_path(str.lower),
        "words": _keep_path(lambda t: t.replace("_", " ")),
        "note_text": _keep_path(lambda t: t.split(": ", 1)[-1]),
        "position": lambda items, index: show("position", {"items": items}, index=index,
                                              paths={"items": _list_path(items)}),
        "path": ledger.path_code,
        "label_parts": _label_parts,
        "attr": lambda value: Markup(_quoted(str(value) if isinstance(value, Markup) else _finalize(ledger)(value))),
        "first_upper": first_upper,
        "join": lambda items, sep=", ": Markup(sep).join(
            Markup(str(i)) if isinstance(i, (Markup, Markdown)) else _finalize(ledger)(i) for i in items),
    }


class _CompiledTemplates(jinja2.BytecodeCache):
    """The compiled code of the templates read in this process, kept in memory (at most :attr:`LIMIT` templates).

    Each report builds its own sandboxed environment (its filters are bound to its ledger), and an environment
    compiles every template it reads. Every environment here is built by :func:`_environment` with the same
    settings, so the code compiled from a source is the same whichever environment compiled it; Jinja2 stores it
    under the template's name and file name and reuses it only while the source's checksum is unchanged (a
    study template that replaces one of ours has another source, so it is compiled from its own)."""

    LIMIT = 512

    def __init__(self) -> None:
        self._code: dict[str, tuple[str | None, bytes]] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            stored = self._code.get(bucket.key)
        if stored is not None and stored[0] == bucket.checksum:
            bucket.bytecode_from_string(stored[1])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            if len(self._code) >= self.LIMIT and bucket.key not in self._code:
                self._code.pop(next(iter(self._code)))
            self._code[bucket.key] = (bucket.checksum, bucket.bytecode_to_string())


_COMPILED = _CompiledTemplates()


def _environment(loader: jinja2.BaseLoader, ledger: Ledger, currency: str) -> jinja2.Environment:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, finalize=_finalize(ledger),
        bytecode_cache=_COMPILED,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        comment_start_string="{##", comment_end_string="##}")  # "{#sec-x}" is a markdown attribute, not a comment
    for unsafe in ("safe", "forceescape", "xmlattr", "urlize", "tojson", "pprint"):
        env.filters.pop(unsafe, None)
    env.filters.update(_filters(ledger, currency))
    return env


def _where(exc: BaseException) -> str:
    name = getattr(exc, "name", None) or getattr(exc, "filename", None)
    line = getattr(exc, "lineno", None)
    if name:
        return f" ({name}{f', line {line}' if line else ''})"
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(_SUFFIX):
            name = frame.filename.replace("\\", "/").rsplit("/templates/", 1)[-1]
            return f" ({name}, line {frame.lineno})"
    return ""


def compile_package_templates() -> int:
    """Compile every report template of the package into the in-memory cache (:class:`_CompiledTemplates`), so that
    processes forked afterwards (the workers of ``cteimpact demo``) render without compiling; returns how many."""
    package = jinja2.PackageLoader("cteimpact.reporting", "templates")
    env = _environment(package, Ledger(), "$")
    names = [n for n in package.list_templates() if n.endswith(_SUFFIX)]
    for name in names:
        env.get_template(name)
    return len(names)


def render_template(kind: str, context: Mapping[str, Any], *, ledger: Ledger, currency: str = "$",
                    study: StudyTemplates | None = None) -> str:
    """Fill the ``kind`` report (``"impact"`` or ``"certificate"``) from ``context`` and return its markdown.

    Raises
    ------
    ReportTemplateError
        A template cannot be read or filled (see the class).
    OrphanNumberError
        A number without a recorded source would be shown.
    """
    package = jinja2.PackageLoader("cteimpact.reporting", "templates")
    loader: jinja2.BaseLoader = jinja2.ChoiceLoader([study, package]) if study is not None else package
    env = _environment(loader, ledger, currency)
    ours = set(package.list_templates())
    extra = study.extra_sections(kind, ours) if study is not None else []
    try:
        template = env.get_template(f"{kind}{_SUFFIX}")
        text = template.render(**context, extra_sections=extra)
    except ReportContentError as exc:
        raise type(exc)(f"{exc}{_where(exc)}") from None
    except jinja2.TemplateNotFound as exc:
        raise ReportTemplateError(f"report template {exc.name!r} not found (templates are *{_SUFFIX} files inside "
                                  "the study's template folder or cteimpact's own)") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ReportTemplateError(f"report template {exc.name or '?'}, line {exc.lineno}: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise ReportTemplateError(f"a report template tried something the sandbox forbids{_where(exc)}: "
                                  f"{str(exc)[:200]}") from None
    except jinja2.UndefinedError as exc:
        raise ReportTemplateError(f"a report template uses something the report does not have{_where(exc)}: "
                                  f"{str(exc)[:200]}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ReportTemplateError(f"a report template failed{_where(exc)}: {type(exc).__name__}: "
                                  f"{str(exc)[:200]}") from None
    return re.sub(r"\n{3,}", "\n\n", str(text)).strip() + "\n"
