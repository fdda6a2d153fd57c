"""Low-level pieces of Quarto (pandoc) markdown: escaping, attributes, pipe tables, YAML front matter.

These functions write text only; :mod:`cteimpact.reporting.document` decides what goes where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cteimpact.errors import OptionError

__all__ = ["Align", "attributes", "escape_markdown", "front_matter", "one_line", "pipe_table"]

Align = Literal["left", "right", "center", "default"]

# Characters with a meaning in pandoc markdown wherever they appear (pandoc lets any ASCII punctuation be escaped).
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>$@#|~^&])")
# Line starts that would begin a list, a definition or a heading.
_LINE_START = re.compile(r"^(\s*)(?:([-+:=])|(\d+)([.)]))(?=\s|$)")


_LINE_SPACE = re.compile("[^\\S\u00a0\u2007\u202f]+")


def one_line(text: object) -> str:
    """``text`` on one line: runs of white space (line breaks included) become one space; no-break spaces (U+00A0,
    U+2007, U+202F, as between a number and its unit) are kept."""
    return _LINE_SPACE.sub(" ", str(text)).strip(" ")


def escape_markdown(text: object) -> str:
    """``text`` as literal markdown: every character that markdown would read as markup is backslash-escaped,
    and line breaks become spaces (a table cell or a paragraph of data-derived text stays one line).

    ``"$1,234 | n=12 *all*"`` → ``"\\$1,234 \\| n=12 \\*all\\*"``.
    """
    escaped = _INLINE_SPECIAL.sub(r"\\\1", one_line(text))
    return _LINE_START.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)), escaped
    )


def _quote_attribute(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


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
