"""Numbers formatted for readers of a report: money, counts, effects, percentages, p-values, intervals.

Every function returns plain text (not markdown) and is deterministic. Missing values (``None``, NaN, ±inf)
become :data:`MISSING` unless another ``missing`` text is given. Negative numbers use the ASCII hyphen-minus, so a
number in a report can be searched for and pasted into software exactly as written. Rounding is Python's
(``format``), i.e. on the binary value, half to even.

Examples
--------
>>> format_money(1234567.891)
'$1,234,568'
>>> format_money(-2_500_000, compact=True)
'-$2.50 million'
>>> format_effect(-0.0423187, se=0.0121)
'-0.042'
>>> format_percent(0.0423)
'4.2%'
>>> format_p_value(0.00004)
'<0.001'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from cteimpact.errors import MissingColumnError, OptionError

if TYPE_CHECKING:
    import pandas as pd

    from cteimpact.provenance.suppression import SuppressedTable

__all__ = [
    "MISSING",
    "decimals_for_se",
    "default_formatter",
    "format_ci",
    "format_count",
    "format_effect",
    "format_frame",
    "format_full",
    "format_money",
    "format_number",
    "format_p_value",
    "format_percent",
    "format_percentage_points",
    "format_ratio",
    "format_suppressed",
]

MISSING = "—"
"""Text shown for a missing or non-finite value."""

_MAX_DECIMALS = 10
_SCIENTIFIC_BELOW = 1e-4


def _finite(x: Any) -> float | None:
    """``x`` as a finite float, or None when it is missing or not finite; an error for non-numbers."""
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, Real):
        try:
            import numpy as np

            if isinstance(x, np.generic) and np.issubdtype(type(x), np.number):
                x = float(x)
            else:
                raise TypeError
        except TypeError:
            try:
                import pandas as pd

                if pd.isna(x):
                    return None
            except (TypeError, ValueError):
                pass
            raise OptionError(f"cannot format {x!r} ({type(x).__name__}) as a number; pass a real number") from None
    value = float(x)
    return value if math.isfinite(value) else None


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _fixed(value: float, decimals: int, *, thousands: bool = True, signed: bool = False) -> str:
    """Fixed-point text with thousands separators; "-0.00" becomes "0.00"."""
    text = format(value, f"{',' if thousands else ''}.{decimals}f")
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]
    if signed and not text.startswith("-") and any(c in "123456789" for c in text):
        text = "+" + text
    return text


def _significant_decimals(value: float, digits: int) -> int:
    """Decimals that show ``value`` with ``digits`` significant digits, never rounding away its integer part."""
    if value == 0.0:
        return 0
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    decimals = min(decimals, _MAX_DECIMALS)
    # 0.09996 at 3 digits rounds to 0.100, which needs one decimal fewer than the unrounded magnitude suggests.
    rounded = round(abs(value), decimals)
    if decimals > 0 and rounded != 0.0 and math.floor(math.log10(rounded)) > magnitude:
        decimals -= 1
    return decimals


def format_number(
    x: Any,
    *,
    digits: int = 3,
    decimals: int | None = None,
    thousands: bool = True,
    signed: bool = False,
    missing: str = MISSING,
) -> str:
    """A number with ``digits`` significant digits (or exactly ``decimals`` decimals) and thousands separators.

    Significant digits never round away the integer part: ``12345.6`` with 3 digits is ``"12,346"``; integers
    (Python or numpy) are written without decimals; magnitudes below 1e-4 are written in scientific notation
    (``"1.20e-07"``, the form differences and tolerances of a re-computation need).
    ``signed=True`` writes a ``+`` before positive values (for changes and effects).
    """
    _check_int("digits", digits, 1, 17)
    if decimals is not None:
        _check_int("decimals", decimals, 0, _MAX_DECIMALS)
    value = _finite(x)
    if value is None:
        return missing
    if decimals is None and isinstance(x, Integral) and not isinstance(x, bool):
        decimals = 0  # an integer is exact: no trailing zeros
    if decimals is None and value != 0.0 and abs(value) < _SCIENTIFIC_BELOW:
        text = format(value, f".{digits - 1}e")  # 1.2e-07 rather than 0.000000120
        return "+" + text if signed and value > 0 else text
    places = decimals if decimals is not None else _significant_decimals(value, digits)
    return _fixed(value, places, thousands=thousands, signed=signed)


def format_count(n: Any, *, missing: str = MISSING) -> str:
    """A count with thousands separators: ``12345`` → ``"12,345"``; a non-integral value is an error."""
    value = _finite(n)
    if value is None:
        return missing
    if value != math.floor(value):
        raise OptionError(f"a count must be a whole number, got {n!r}; use format_number for other values")
    return _fixed(value, 0)


def format_money(
    x: Any,
    *,
    decimals: int = 0,
    currency: str = "$",
    compact: bool = False,
    signed: bool = False,
    missing: str = MISSING,
) -> str:
    """Money with the currency symbol and thousands separators: ``-1234.5`` → ``"-$1,235"``.

    ``compact=True`` writes large amounts in words with three significant digits: ``"$12.3 million"``,
    ``"$1.25 billion"`` (amounts under one million are written in full).
    """
    _check_int("decimals", decimals, 0, 4)
    value = _finite(x)
    if value is None:
        return missing
    if compact and abs(value) >= 1e6:
        words = ((1e6, "million"), (1e9, "billion"), (1e12, "trillion"))
        level = max(i for i, (scale, _) in enumerate(words) if abs(value) >= scale)
        scaled = abs(value) / words[level][0]
        if round(scaled, _significant_decimals(scaled, 3)) >= 1000.0 and level + 1 < len(words):
            level += 1  # 999.996 million is written 1.00 billion, not 1,000 million
            scaled = abs(value) / words[level][0]
        body = _fixed(scaled, _significant_decimals(scaled, 3))
        if "." not in body and scaled < 100.0:
            body = _fixed(scaled, 2 if scaled < 10.0 else 1)
        return _sign(value, body, signed) + currency + body + " " + words[level][1]
    body = _fixed(abs(value), decimals)
    return _sign(value, body, signed) + currency + body


def _sign(value: float, body: str, signed: bool) -> str:
    nonzero = any(c in "123456789" for c in body)
    if value < 0 and nonzero:
        return "-"
    if signed and value > 0 and nonzero:
        return "+"
    return ""


def decimals_for_se(se: Any, *, significant: int = 2) -> int | None:
    """Decimals at which a standard error shows ``significant`` significant digits (``0.0123`` → 3).

    The estimate is then written with the same decimals, so its last digit is the first uncertain one. Returns
    None when the standard error is missing, zero or not finite.
    """
    _check_int("significant", significant, 1, 6)
    value = _finite(se)
    if value is None or value <= 0.0:
        return None
    return _significant_decimals(value, significant)


def format_effect(
    x: Any,
    *,
    se: Any = None,
    digits: int = 3,
    decimals: int | None = None,
    signed: bool = False,
    missing: str = MISSING,
) -> str:
    """An effect estimate with sensible digits.

    With ``se`` the decimals are those at which the standard error has two significant digits (see
    :func:`decimals_for_se`); otherwise ``digits`` significant digits; ``decimals`` overrides both.
    """
    if decimals is None and se is not None:
        decimals = decimals_for_se(se)
    return format_number(x, digits=digits, decimals=decimals, signed=signed, missing=missing)


def format_ci(
    lower: Any,
    upper: Any,
    *,
    se: Any = None,
    digits: int = 3,
    decimals: int | None = None,
    brackets: str = "[]",
    missing: str = MISSING,
) -> str:
    """A confidence interval ``"[-0.061, -0.024]"``; decimals as in :func:`format_effect`.

    Without ``se`` or ``decimals``, both bounds use the decimals that give the narrower-magnitude bound ``digits``
    significant digits, so the two ends are written alike.
    """
    if len(brackets) != 2:
        raise OptionError(f"brackets must be two characters such as '[]' or '()', got {brackets!r}")
    lo, hi = _finite(lower), _finite(upper)
    if lo is None or hi is None:
        return missing
    if decimals is None and se is not None:
        decimals = decimals_for_se(se)
    if decimals is None:
        decimals = max(_significant_decimals(lo, digits), _significant_decimals(hi, digits))
    _check_int("decimals", decimals, 0, _MAX_DECIMALS)
    return f"{brackets[0]}{_fixed(lo, decimals)}, {_fixed(hi, decimals)}{brackets[1]}"


def _hundredfold(x: Any, unit: str, *, decimals: int, signed: bool, missing: str) -> str:
    """A proportion times 100 with ``decimals`` decimals, followed by ``unit``."""
    _check_int("decimals", decimals, 0, 6)
    value = _finite(x)
    if value is None:
        return missing
    return _fixed(100.0 * value, decimals, signed=signed) + unit


def format_percent(
    x: Any, *, decimals: int = 1, signed: bool = False, missing: str = MISSING
) -> str:
    """A proportion as a percentage: ``0.0423`` → ``"4.2%"``."""
    return _hundredfold(x, "%", decimals=decimals, signed=signed, missing=missing)


def format_percentage_points(
    x: Any, *, decimals: int = 1, signed: bool = True, missing: str = MISSING
) -> str:
    """A difference of proportions in percentage points: ``-0.0423`` → ``"-4.2 pp"`` (``+`` before gains)."""
    return _hundredfold(x, " pp", decimals=decimals, signed=signed, missing=missing)


def format_p_value(p: Any, *, decimals: int = 3, missing: str = MISSING) -> str:
    """A p-value: ``"0.042"``, and ``"<0.001"`` below the smallest value the decimals can show.

    A value outside [0, 1] is an error (it is not a p-value).
    """
    _check_int("decimals", decimals, 1, 6)
    value = _finite(p)
    if value is None:
        return missing
    if not 0.0 <= value <= 1.0:
        raise OptionError(f"a p-value must lie in [0, 1], got {p!r}")
    floor = 10.0 ** (-decimals)
    if value < floor:
        return "<" + _fixed(floor, decimals)
    return _fixed(value, decimals)


def format_ratio(x: Any, *, decimals: int = 2, missing: str = MISSING) -> str:
    """A ratio such as a benefit–cost ratio: ``2.3456`` → ``"2.35"``."""
    return format_number(x, decimals=decimals, missing=missing)


def format_full(x: Any, *, missing: str = "null") -> str:
    """The shortest text that reads back as exactly the same float: what ``results.json`` holds for ``x``.

    Used where a report must show a certified number digit for digit (the reproducibility appendix).
    """
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)  # JSON writes integers without a decimal point
    value = _finite(x)
    if value is None:
        return missing
    return repr(value)


def default_formatter(dtype: Any, *, missing: str = MISSING) -> Callable[[Any], str]:
    """The formatter a column gets when none is given: integers as counts, other numbers with three significant
    digits, anything else as text."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return str
    if pd.api.types.is_integer_dtype(dtype):
        return lambda v: format_count(v, missing=missing)
    if pd.api.types.is_numeric_dtype(dtype):
        return lambda v: format_number(v, missing=missing)
    return str


def format_frame(
    frame: pd.DataFrame,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    *,
    missing: str = MISSING,
    hidden: pd.DataFrame | None = None,
    marker: str = "",
) -> pd.DataFrame:
    """``frame`` as text, column by column: ``formatters[column]`` if given, else :func:`default_formatter`.

    Missing cells become ``missing``; cells flagged True in ``hidden`` (same shape) become ``marker``.
    """
    import pandas as pd

    formatters = dict(formatters or {})
    names = [str(c) for c in frame.columns]
    unknown = sorted(set(formatters) - set(names))
    if unknown:
        raise MissingColumnError(unknown[0], names)
    out = pd.DataFrame(index=frame.index)
    for position, col in enumerate(frame.columns):
        fmt = formatters.get(str(col)) or default_formatter(frame[col].dtype, missing=missing)
        values = frame.iloc[:, position].tolist()
        flags = hidden.iloc[:, position].tolist() if hidden is not None else [False] * len(values)
        texts = [
            marker if flag else (missing if _is_missing(v) else fmt(v))
            for v, flag in zip(values, flags, strict=True)
        ]
        out[col] = pd.Series(texts, index=frame.index, dtype=object)
    return out


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_suppressed(
    table: SuppressedTable,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    *,
    missing: str = MISSING,
) -> pd.DataFrame:
    """A suppressed table as text: each column through its formatter (integers as counts, other numbers with
    three significant digits, text as is), suppressed cells as the table's marker, other missing cells as
    ``missing``."""
    return format_frame(table.values, formatters, missing=missing, hidden=table.suppressed, marker=table.marker)
