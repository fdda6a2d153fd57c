"""Element-by-element comparison of a recorded results record with a re-computation, under a tolerance policy."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["ABSENT", "Comparison", "ComparisonRow", "TolerancePolicy", "ToleranceRule", "compare_records", "flatten",
           "leaf_differences"]


@dataclass(frozen=True, slots=True)
class ToleranceRule:
    """Tolerance for the numbers whose path matches ``pattern`` (shell-style, e.g. ``pricing.*``)."""

    pattern: str
    rtol: float
    atol: float
    reason: str = ""


@dataclass(frozen=True)
class TolerancePolicy:
    """How close a re-computed number must be to the recorded one: ``|a − b| ≤ atol + rtol·|recorded|``.

    The first matching rule applies, else the defaults. Text and true/false values must be equal. A re-run with
    the same inputs, specification, seed and software gives identical numbers; the default tolerances only absorb
    floating-point differences between machines (BLAS, CPU instruction sets).
    """

    rtol: float = 1e-8
    atol: float = 1e-10
    rules: tuple[ToleranceRule, ...] = field(default_factory=tuple)

    def for_path(self, path: str) -> tuple[float, float]:
        for rule in self.rules:
            if fnmatch.fnmatchcase(path, rule.pattern):
                return rule.rtol, rule.atol
        return self.rtol, self.atol

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": "|recomputed - recorded| <= atol + rtol * |recorded|; text and booleans must be equal",
            "default": {"rtol": self.rtol, "atol": self.atol},
            "rules": [{"pattern": r.pattern, "rtol": r.rtol, "atol": r.atol, "reason": r.reason} for r in self.rules],
        }


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts and lists as ``(path, value)``; paths like ``a.b[2].c``."""
    if isinstance(obj, Mapping):
        if not obj and prefix:
            yield prefix, {}
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        if not obj and prefix:
            yield prefix, []
        for i, v in enumerate(obj):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


ABSENT = "(absent)"
"""Stands for the value of a path that one of two records lacks."""


def leaf_differences(left: Any, right: Any) -> list[tuple[str, Any, Any]]:
    """``(path, left value, right value)`` of every leaf where two records differ in value or type (paths of one
    record only included, with :data:`ABSENT` for the other), in the order of ``left`` then ``right``."""
    a, b = dict(flatten(left)), dict(flatten(right))
    out = []
    for key in list(a) + [k for k in b if k not in a]:
        va, vb = a.get(key, ABSENT), b.get(key, ABSENT)
        if va != vb or type(va) is not type(vb):
            out.append((key, va, vb))
    return out


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One compared value."""

    path: str
    recorded: Any
    recomputed: Any
    difference: float | None
    rtol: float | None
    atol: float | None
    match: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "recorded": self.recorded, "recomputed": self.recomputed,
                "difference": self.difference, "rtol": self.rtol, "atol": self.atol, "match": self.match,
                "note": self.note}


@dataclass(frozen=True)
class Comparison:
    """All compared values and the verdict."""

    rows: tuple[ComparisonRow, ...]
    policy: TolerancePolicy

    @property
    def n_compared(self) -> int:
        return len(self.rows)

    @property
    def mismatches(self) -> tuple[ComparisonRow, ...]:
        return tuple(r for r in self.rows if not r.match)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.to_dict() for r in self.rows],
                            columns=["path", "recorded", "recomputed", "difference", "rtol", "atol", "match", "note"])


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _compare_leaf(path: str, a: Any, b: Any, policy: TolerancePolicy) -> ComparisonRow:
    if _is_number(a) and _is_number(b):
        rtol, atol = policy.for_path(path)
        fa, fb = float(a), float(b)
        diff = abs(fb - fa)
        ok = diff <= atol + rtol * abs(fa) if math.isfinite(diff) else fa == fb
        return ComparisonRow(path, a, b, diff, rtol, atol, ok)
    if a is None and b is None:
        return ComparisonRow(path, a, b, None, None, None, True)
    ok = type(a) is type(b) and a == b
    note = "" if ok else ("type differs" if type(a) is not type(b) else "value differs")
    return ComparisonRow(path, a, b, None, None, None, ok, note)


def compare_records(recorded: Any, recomputed: Any, policy: TolerancePolicy | None = None,
                    *, ignore: Sequence[str] = ()) -> Comparison:
    """Compare every leaf of two JSON-like records; paths present in only one are mismatches.

    ``ignore`` lists shell-style path patterns left out of the comparison (for example descriptive text that
    legitimately differs between machines).
    """
    policy = policy or TolerancePolicy()
    left = dict(flatten(recorded))
    right = dict(flatten(recomputed))
    rows: list[ComparisonRow] = []
    for path in list(left) + [p for p in right if p not in left]:
        if any(fnmatch.fnmatchcase(path, pat) for pat in ignore):
            continue
        if path not in right:
            rows.append(ComparisonRow(path, left[path], None, None, None, None, False, "missing in re-computation"))
        elif path not in left:
            rows.append(ComparisonRow(path, None, right[path], None, None, None, False, "not in the record"))
        else:
            rows.append(_compare_leaf(path, left[path], right[path], policy))
    return Comparison(tuple(rows), policy)
