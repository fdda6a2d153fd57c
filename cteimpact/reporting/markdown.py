"""Low-level pieces of Quarto (pandoc) markdown: escaping, attributes, pipe tables, YAML front matter.

These functions write text only; :mod:`cteimpact.reporting.document` decides what goes where.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from cteimpact.errors import OptionError

__all__ = [
    "Align",
    "Markdown",
    "as_markdown",
    "attributes",
    "code_block",
    "code_span",
    "escape_inline",
    "escape_markdown",
    "front_matter",
    "md",
    "one_line",
    "pipe_table",
    "safe_text",
]

Align = Literal["left", "right", "center", "default"]

# Characters with a meaning in pandoc (and Quarto) markdown wherever they appear; pandoc lets any ASCII punctuation
# be backslash-escaped. ``{`` and ``}`` open attributes (``{=html}`` after a code span makes it raw HTML) and Quarto
# shortcodes (``{{< include >}}``).
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>{}$@#|~^&])")
# Line starts that would begin a list (``-``, ``+``, ``1.``, ``a)``, ``(iv)``), a definition, a fenced div (``:``) or
# a setext underline (``=``).
# (A capital letter and a period start a list only before two spaces, which one line never has: "A. Author" stays.)
_LINE_START = re.compile(
    r"^(\s*)(?:([-+:=])|(\(?(?:\d+|[a-z]|[ivxlcdmIVXLCDM]{2,}|[A-Z](?=\))|[IVXLCDM](?=\))))([.)]))(?=\s|$|[-+:=])")
# Control characters and the invisible characters that reorder text (bidirectional overrides and isolates): data
# that carries them could make a number read differently from the one written, so they are shown as U+FFFD.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                           "\u2066-\u2069\ufeff\ufff9-\ufffb]")

_LINE_SPACE = re.compile("[^\\S\u00a0\u2007\u202f]+")


def safe_text(text: object) -> str:
    """``str(text)`` with control characters and the invisible characters that reorder text (bidirectional
    overrides) replaced by U+FFFD; tabs and line breaks are kept."""
    return _UNSAFE_CHARS.sub("\ufffd", str(text))


def one_line(text: object) -> str:
    """``text`` on one line: runs of white space (line breaks included) become one space; no-break spaces (U+00A0,
    U+2007, U+202F, as between a number and its unit) are kept."""
    return _LINE_SPACE.sub(" ", str(text)).strip(" ")


def _escape(text: object, *, strip: bool) -> str:
    flat = _LINE_SPACE.sub(" ", safe_text(text))
    escaped = _INLINE_SPECIAL.sub(r"\\\1", flat.strip(" ") if strip else flat)
    return _LINE_START.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)), escaped
    )


def escape_markdown(text: object) -> str:
    """``text`` as literal markdown: every character that markdown would read as markup is backslash-escaped,
    line breaks become spaces (a table cell or a paragraph of data-derived text stays one line) and control
    characters become U+FFFD.

    ``"$1,234 | n=12 *all*"`` → ``"\\$1,234 \\| n=12 \\*all\\*"``.
    """
    return _escape(text, strip=True)


def escape_inline(text: object) -> str:
    """As :func:`escape_markdown`, keeping the spaces at its ends (a piece of a sentence or a table row)."""
    return _escape(text, strip=False)


class Markdown(str):
    """Markdown written by cteimpact itself: the one kind of text the report builders pass on as markup.

    Every other string is text and is escaped on its way into a document (:func:`as_markdown`). Joining and
    concatenating keep the distinction: ``Markdown("**") + "a*b" + Markdown("**")`` escapes ``a*b`` only, and
    ``Markdown("; ").join(items)`` escapes the items that are not :class:`Markdown`. Build markup with :func:`md`,
    never by calling ``Markdown`` on text that holds data.
    """

    __slots__ = ()

    def __add__(self, other: object) -> Markdown:
        if not isinstance(other, str):
            return NotImplemented
        return Markdown(str.__add__(self, _field(other)))

    def __radd__(self, other: object) -> Markdown:
        if not isinstance(other, str):
            return NotImplemented
        return Markdown(str.__add__(_field(other), self))

    def join(self, iterable: Iterable[object], /) -> Markdown:
        """The items joined by this markup; items that are not :class:`Markdown` are escaped."""
        return Markdown(str.join(self, [_field(item) for item in iterable]))


def _field(value: object) -> str:
    """``value`` as a piece of markup inside a larger one: :class:`Markdown` as is, anything else escaped (spaces at
    its ends kept)."""
    return value if isinstance(value, Markdown) else _escape(value, strip=False)


def as_markdown(value: object) -> Markdown:
    """``value`` when it is :class:`Markdown`, else ``value`` as literal text (escaped, on one line)."""
    return value if isinstance(value, Markdown) else Markdown(escape_markdown(value))


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        text = format(value, format_spec)
        return text if isinstance(value, Markdown) else _escape(text, strip=False)


_FORMATTER = _Formatter()


def md(template: str, /, *args: object, **kwargs: object) -> Markdown:
    """Markup from a template written by cteimpact: ``template.format(*args, **kwargs)`` with every value that is not
    :class:`Markdown` escaped.

    ``md("**{}.** {} ({})", "Dropout", "*fell*", doc.ref("tbl-x"))`` → ``"**Dropout.** \\*fell\\* (@tbl-x)"``.
    The template itself must be a literal (never an f-string that interpolates data).
    """
    return Markdown(_FORMATTER.vformat(template, args, kwargs))


# What Quarto (or knitr) would run or expand even inside code, as they scan the raw text: an inline expression
# (`` `{python} x` ``, `` `r x` ``, also nested in longer code), a code cell (```` ```{r} ````) or a shortcode
# (``{{< include … >}}``).
_BLOCK_HAZARD = re.compile(r"\{\{|`\s*\{|`r[\s#]")
_CODE_HAZARD = re.compile(_BLOCK_HAZARD.pattern + r"|^\s*\{|^\s*r[\s#]")


def code_span(text: object) -> Markdown:
    """``text`` as inline code on one line, copied exactly by every renderer (a fence longer than any backtick run
    inside it).

    Text that Quarto would execute or expand inside inline code (a leading ``{python}`` or ``r``, a ``{{<``
    shortcode) is written as escaped plain text instead, so it still reads literally.
    """
    body = one_line(safe_text(text))
    if _CODE_HAZARD.search(body):
        return as_markdown(body)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return Markdown(f"{fence}{pad}{body}{pad}{fence}")


def code_block(text: object, *, language: str) -> Markdown:
    """A fenced code block showing ``text`` literally (line breaks kept, control characters shown as U+FFFD), with
    a fence longer than any backtick run inside it.

    Text that Quarto would expand or run even in a code block (a ``{{<`` shortcode, an inline expression such as
    `` `r x` ``) is written as escaped plain text instead, one line per line of ``text``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_+-]+", language):
        raise OptionError(f"a code block's language must be letters, digits, '_', '+' or '-', got {language!r}")
    body = safe_text(text).replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    if _BLOCK_HAZARD.search(body):
        return Markdown("\\\n").join(as_markdown(line) for line in body.split("\n"))
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    return Markdown(f"{fence} {language}\n{body}\n{fence}")


def _quote_attribute(value: str) -> str:
    text = one_line(safe_text(value))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attributes(identifier: str | None = None, classes: Sequence[str] = (), **pairs: str | None) -> str:
    """A pandoc attribute block: ``attributes("fig-x", width="80%")`` → ``'{#fig-x width="80%"}'``.

    Keyword names use ``_`` for ``-`` (``fig_alt`` → ``fig-alt``); None values are left out. Returns ``""`` when
    there is nothing to write.
    """
    parts = []
    if identifier:
        parts.append("#" + identifier)
    parts.extend("." + c for c in classes)
    parts.extend(f"{k.replace('_', '-')}={_quote_attribute(v)}" for k, v in pairs.items() if v is not None)
    return "{" + " ".join(parts) + "}" if parts else ""


def _cell(text: object) -> str:
    # a pipe not already escaped would end the cell
    return re.sub(r"(?<!\\)((?:\\\\)*)\|", r"\1\\|", one_line(text))


def pipe_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[Align]) -> str:
    """A pipe table from cells that are already markdown (escape data with :func:`escape_markdown` first).

    The dashes under each header are as many as the column's widest cell, so when a row is longer than pandoc's
    72 columns and pandoc sets relative column widths, each column gets room in proportion to its content.
    """
    n = len(header)
    if n == 0:
        raise OptionError("a table needs at least one column")
    if len(align) != n:
        raise OptionError(f"align has {len(align)} entries for a table of {n} columns")
    bad = [i for i, row in enumerate(rows) if len(row) != n]
    if bad:
        raise OptionError(f"row {bad[0]} has {len(rows[bad[0]])} cells for a table of {n} columns")
    head = [_cell(h) for h in header]
    body = [[_cell(c) for c in row] for row in rows]
    widths = [max([3, len(head[j]), *(len(r[j]) for r in body)]) for j in range(n)]
    rules = []
    for j, a in enumerate(align):
        w = widths[j]
        if a == "left":
            rules.append(":" + "-" * (w - 1))
        elif a == "right":
            rules.append("-" * (w - 1) + ":")
        elif a == "center":
            rules.append(":" + "-" * (w - 2) + ":")
        elif a == "default":
            rules.append("-" * w)
        else:
            raise OptionError(f"align must be 'left', 'right', 'center' or 'default', got {a!r}")

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(cells)) + " |"

    return "\n".join([line(head), line(rules), *(line(r) for r in body)])


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(key)):
                raise OptionError(f"front matter key {key!r} must be letters, digits, '-' or '_'")
            if isinstance(item, Mapping) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 2))
            elif isinstance(item, (list, tuple)) and item:
                lines.append(f"{pad}{key}:")
                for element in item:
                    if isinstance(element, Mapping):
                        sub = _yaml_lines(element, indent + 4)
                        lines.append(f"{pad}  - {sub[0].lstrip()}")
                        lines.extend(sub[1:])
                    else:
                        lines.append(f"{pad}  - {_yaml_scalar(element)}")
            elif isinstance(item, (Mapping, list, tuple)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(item, Mapping) else '[]'}")
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(item)}")
        return lines
    raise OptionError(f"front matter must be a mapping, got {type(value).__name__}")


def front_matter(metadata: Mapping[str, Any]) -> str:
    """YAML front matter (``---`` … ``---``) for a mapping of strings, numbers, booleans, lists and mappings.

    Strings are written double-quoted, so no value can be misread as another YAML type. Pandoc reads string values
    as markdown: escape text that must appear literally.
    """
    return "\n".join(["---", *_yaml_lines(metadata, 0), "---"])
